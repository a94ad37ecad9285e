//! systemd credentials: a secret the config names as `credential:NAME` is read from
//! `$CREDENTIALS_DIRECTORY/NAME`, where systemd put it (`LoadCredential=`) for this service only.
//!
//! A plain path keeps meaning that file, so a server started by hand or outside systemd reads
//! its files as before. A credential file passes the same trust rule as any other secret file
//! (its owner may be root or the server's user; group and others have no access): systemd 252
//! makes it mode 0400 and owned by the service's user, in a directory only that user can read.
//! Where the credentials filesystem has ACLs (newer systemd mounts a tmpfs), the file stays
//! root's with an ACL letting only the service's user read it; that passes too, for a
//! credential only ([`secret_rule_for`]).

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// The prefix that makes a file setting name a systemd credential instead of a path.
pub const PREFIX: &str = "credential:";
/// The variable systemd sets to the directory holding this service's credentials.
pub const DIRECTORY_VAR: &str = "CREDENTIALS_DIRECTORY";
/// The longest credential name systemd accepts (a file name, NAME_MAX).
pub const MAX_NAME_LEN: usize = 255;

/// The unit's `LoadCredential=ID:DIRECTORY` lines: each file FILE of DIRECTORY becomes the
/// credential `ID_FILE`.
pub const UNIT_DIRECTORIES: &[(&str, &str)] = &[
    ("hosts", "/etc/ticketgate-server/hosts"),
    ("tls", "/etc/ticketgate-server/tls"),
    ("db", "/etc/ticketgate-server/db"),
];

/// Credentials the unit loads from one file each (`LoadCredential=ID:FILE`), commented out in
/// the shipped unit until the feature is configured (systemd refuses to start a unit whose
/// credential file is missing): `task_key` for `[agent] task_key_file`.
pub const UNIT_FILES: &[(&str, &str)] = &[("task_key", "/etc/ticketgate-server/task.key")];

/// The file the unit loads as credential `name` (`db_postgres.url` gives
/// `/etc/ticketgate-server/db/postgres.url`), for an administrator's command run outside the
/// service; `None` when no `LoadCredential=` line of the unit makes that name.
pub fn unit_source(name: &str) -> Option<PathBuf> {
    if !valid_name(name) {
        return None;
    }
    if let Some((_, file)) = UNIT_FILES.iter().find(|(id, _)| *id == name) {
        return Some(PathBuf::from(file));
    }
    UNIT_DIRECTORIES.iter().find_map(|(id, dir)| {
        name.strip_prefix(id)
            .and_then(|rest| rest.strip_prefix('_'))
            .filter(|file| !file.is_empty())
            .map(|file| Path::new(dir).join(file))
    })
}

/// Why a `credential:NAME` could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    /// The name is empty, too long, `.`/`..`, or holds `/` or a control character.
    BadName(String),
    /// `$CREDENTIALS_DIRECTORY` is unset or empty: not started by systemd with `LoadCredential=`.
    NoDirectory(String),
    /// `$CREDENTIALS_DIRECTORY` has no file of this name.
    Missing { name: String, path: PathBuf },
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName(name) => write!(
                f,
                "{PREFIX}{name:?} is not a credential name (1-{MAX_NAME_LEN} bytes, no '/', no control characters, not . or ..)"
            ),
            Self::NoDirectory(name) => write!(
                f,
                "{PREFIX}{name} is named but ${DIRECTORY_VAR} is not set: start the server with \
                 systemd and LoadCredential= (see ticketgate-server.service), or name the file's \
                 path instead"
            ),
            Self::Missing { name, path } => write!(
                f,
                "{PREFIX}{name}: {} does not exist: the unit's LoadCredential= lines load no \
                 credential of that name (LoadCredential=hosts:/etc/ticketgate-server/hosts makes \
                 hosts_FILE of each FILE in that directory)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CredentialError {}

/// The credential `path` names (`credential:NAME` gives `NAME`), or `None` for a plain path.
pub fn name(path: &Path) -> Option<&str> {
    path.to_str().and_then(|p| p.strip_prefix(PREFIX))
}

/// Whether systemd would accept `name` as a credential name (a plain file name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// What to add to "permission denied" on a secret file: the server no longer runs as root (the
/// unit's user cannot read root's 0600 files), so the way out is a credential.
pub fn permission_hint(error: &std::io::Error) -> &'static str {
    if error.kind() == std::io::ErrorKind::PermissionDenied {
        " (the server runs as its own user, which cannot read root's files: let the unit load \
         the file with LoadCredential= and name it credential:NAME, e.g. a file in \
         /etc/ticketgate-server/hosts as credential:hosts_FILE)"
    } else {
        ""
    }
}

/// Checks a configured file setting: a plain path, or a valid `credential:NAME`.
pub fn check_setting(path: &Path) -> Result<(), CredentialError> {
    match name(path) {
        Some(n) if !valid_name(n) => Err(CredentialError::BadName(n.to_owned())),
        _ => Ok(()),
    }
}

/// The trust rule for the secret a setting names: the server's secret rule, and for a credential
/// also a root-owned file that an ACL lets only the server's user read (how systemd hands over
/// credentials where the credentials filesystem has ACLs: mode 0400 plus `user:SERVICE:r`).
pub fn secret_rule_for(setting: &Path) -> fs_trust::Rule {
    let rule = crate::hosts::secret_rule();
    match (name(setting), rule.owner) {
        (Some(_), fs_trust::Owner::RootOr(me)) => rule.acl_reader_may_be(me),
        _ => rule,
    }
}

/// The file to read for a configured setting: a plain path as it is, `credential:NAME` as
/// `$CREDENTIALS_DIRECTORY/NAME` (read from this process's environment).
pub fn locate(path: &Path) -> Result<PathBuf, CredentialError> {
    locate_in(path, std::env::var_os(DIRECTORY_VAR).as_deref())
}

/// [`locate`] with the credentials directory given (`None`: the variable is unset).
pub fn locate_in(path: &Path, directory: Option<&OsStr>) -> Result<PathBuf, CredentialError> {
    let Some(n) = name(path) else {
        return Ok(path.to_path_buf());
    };
    if !valid_name(n) {
        return Err(CredentialError::BadName(n.to_owned()));
    }
    let dir = directory
        .filter(|d| !d.is_empty())
        .ok_or_else(|| CredentialError::NoDirectory(n.to_owned()))?;
    let file = Path::new(dir).join(n);
    // Only "not there" is answered here; every other problem (owner, mode, a link, an
    // unreadable directory) is the trust check's to report when the file is opened.
    match std::fs::symlink_metadata(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CredentialError::Missing {
            name: n.to_owned(),
            path: file,
        }),
        _ => Ok(file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_path_is_left_alone_whatever_the_environment() {
        let p = Path::new("/etc/ticketgate-server/hosts/web01.token");
        assert_eq!(locate_in(p, None).unwrap(), p);
        assert_eq!(locate_in(p, Some(OsStr::new("/nonexistent"))).unwrap(), p);
        assert_eq!(name(p), None);
        assert!(check_setting(p).is_ok());
    }

    #[test]
    fn a_credential_is_found_in_the_credentials_directory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("hosts_web01.token"), "t\n").unwrap();
        let got = locate_in(
            Path::new("credential:hosts_web01.token"),
            Some(d.path().as_os_str()),
        )
        .unwrap();
        assert_eq!(got, d.path().join("hosts_web01.token"));
    }

    #[test]
    fn a_credential_without_the_directory_or_the_file_is_refused_by_name() {
        let p = Path::new("credential:hosts_web01.token");
        for unset in [None, Some(OsStr::new(""))] {
            let e = locate_in(p, unset).unwrap_err();
            assert_eq!(e, CredentialError::NoDirectory("hosts_web01.token".into()));
            let text = e.to_string();
            assert!(
                text.contains("credential:hosts_web01.token")
                    && text.contains("$CREDENTIALS_DIRECTORY is not set"),
                "{text}"
            );
        }
        let d = tempfile::tempdir().unwrap();
        let e = locate_in(p, Some(d.path().as_os_str())).unwrap_err();
        assert!(matches!(e, CredentialError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn bad_credential_names_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let long = format!("credential:{}", "x".repeat(MAX_NAME_LEN + 1));
        for bad in [
            "credential:",
            "credential:.",
            "credential:..",
            "credential:../etc/shadow",
            "credential:a/b",
            "credential:a\nb",
            long.as_str(),
        ] {
            let p = Path::new(bad);
            assert!(
                matches!(check_setting(p), Err(CredentialError::BadName(_))),
                "{bad:?}"
            );
            assert!(
                matches!(
                    locate_in(p, Some(d.path().as_os_str())),
                    Err(CredentialError::BadName(_))
                ),
                "{bad:?}"
            );
        }
    }

    fn repo_file(rel: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
    }

    #[test]
    fn credentials_in_the_config_are_kept_as_names_and_bad_ones_are_refused_by_key() {
        let text = "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\
                    tls_cert = \"credential:tls_fullchain.pem\"\ntls_key = \"credential:tls_privkey.pem\"\n\
                    [[host]]\nname = \"web01\"\ntoken_file = \"credential:hosts_web01.token\"\n\
                    [[host]]\nname = \"db01\"\ntoken_file = \"db01.token\"\n";
        let c = crate::config::Config::parse(Path::new("/etc/x/server.toml"), text).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.key, Path::new("credential:tls_privkey.pem"));
        assert_eq!(tls.cert, Path::new("credential:tls_fullchain.pem"));
        assert_eq!(
            c.hosts[0].token_file,
            Path::new("credential:hosts_web01.token")
        );
        // A plain relative path is still anchored at the config's directory.
        assert_eq!(c.hosts[1].token_file, Path::new("/etc/x/db01.token"));
        let bad = text.replace("credential:hosts_web01.token", "credential:../web01.token");
        let e = crate::config::Config::parse(Path::new("/etc/x/server.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`host[0].token_file`") && e.contains("not a credential name"),
            "{e}"
        );
    }

    /// Every credential the example config names comes from a LoadCredential= line of the unit.
    #[test]
    fn the_example_config_names_credentials_the_unit_loads() {
        let unit = repo_file("conf/ticketgate-server.service");
        let loaded: Vec<(&str, &str)> = unit
            .lines()
            .filter_map(|l| l.strip_prefix("LoadCredential="))
            .map(|l| l.split_once(':').unwrap())
            .collect();
        assert_eq!(loaded, UNIT_DIRECTORIES);
        // One-file credentials are commented out in the unit, to be enabled with their feature.
        for (id, file) in UNIT_FILES {
            let line = format!("#LoadCredential={id}:{file}");
            assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
        }
        let example = repo_file("conf/server.toml");
        let named: Vec<&str> = example
            .split(PREFIX)
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert!(named.contains(&"hosts_web01.token"), "{named:?}");
        assert!(named.contains(&"tls_privkey.pem"), "{named:?}");
        assert!(named.contains(&"db_postgres.url"), "{named:?}");
        assert!(named.contains(&"task_key"), "{named:?}");
        for n in named {
            assert!(valid_name(n), "{n}");
            assert!(
                UNIT_FILES.iter().any(|(id, _)| *id == n)
                    || loaded
                        .iter()
                        .any(|(id, _)| n.starts_with(&format!("{id}_"))),
                "{n} is loaded by no LoadCredential= line"
            );
        }
    }

    #[test]
    fn a_credential_name_maps_to_the_file_the_unit_loads() {
        assert_eq!(
            unit_source("task_key"),
            Some(PathBuf::from("/etc/ticketgate-server/task.key"))
        );
        assert_eq!(
            unit_source("db_postgres.url"),
            Some(PathBuf::from("/etc/ticketgate-server/db/postgres.url"))
        );
        assert_eq!(
            unit_source("hosts_web01.token"),
            Some(PathBuf::from("/etc/ticketgate-server/hosts/web01.token"))
        );
        for unknown in ["db_", "db", "other_x", "dbx_y", "db_a/b", ""] {
            assert_eq!(unit_source(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn only_a_credential_gets_the_acl_allowance() {
        let plain = secret_rule_for(Path::new("/etc/ticketgate-server/hosts/web01.token"));
        assert_eq!(plain, crate::hosts::secret_rule());
        let cred = secret_rule_for(Path::new("credential:hosts_web01.token"));
        assert_eq!(cred.owner, crate::hosts::secret_rule().owner);
        assert_eq!(cred.links, crate::hosts::secret_rule().links);
        let fs_trust::Owner::RootOr(me) = cred.owner else {
            panic!("the server's rule accepts its own user")
        };
        assert_eq!(cred.access, fs_trust::Access::NoneButAclReaderIs(me));
    }

    #[test]
    fn permission_denied_points_at_credentials() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(permission_hint(&denied).contains("credential:hosts_FILE"));
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(permission_hint(&missing), "");
    }
}
