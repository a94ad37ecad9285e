//! Host tokens: loading the `[[host]]` token files safely and checking bearer tokens in constant time.

use crate::config::HostEntry;
use crate::credentials::CredentialError;
use crate::secret::Secret;
use fs_trust::{Owner, Problem, Rule, SecretError};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use std::fmt;
use std::path::PathBuf;
use subtle::ConstantTimeEq;

/// Shortest token accepted from a token file.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why a token file was refused.
#[derive(Debug)]
pub enum TokenFileError {
    /// The file (or a directory leading to it) could not be opened or read.
    Unreadable {
        host: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file or a directory leading to it is not one only root (or the server's user) can
    /// have written, or group or others may read it (see [`secret_rule`]).
    Untrusted {
        host: String,
        path: PathBuf,
        refused: fs_trust::Refused,
    },
    /// Empty or too short to be a real secret.
    TooShort { host: String, path: PathBuf },
    /// Not a token file at all (larger than a secret file may be).
    Unusable {
        host: String,
        path: PathBuf,
        error: SecretError,
    },
    /// The random key for hashing tokens could not be drawn.
    Random(getrandom::Error),
    /// `token_file = "credential:NAME"` names no credential systemd loaded.
    Credential {
        host: String,
        error: CredentialError,
    },
}

impl fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { host, path, source } => write!(
                f,
                "[[host]] {host:?}: cannot read token_file {}: {source}{}",
                path.display(),
                crate::credentials::permission_hint(source)
            ),
            Self::Untrusted {
                host,
                path,
                refused,
            } => write!(
                f,
                "[[host]] {host:?}: token_file {} refused: {refused}",
                path.display()
            ),
            Self::TooShort { host, path } => write!(
                f,
                "[[host]] {host:?}: token_file {} holds fewer than {MIN_TOKEN_LEN} characters; generate one with: head -c 32 /dev/urandom | base64 > {}",
                path.display(),
                path.display()
            ),
            Self::Unusable { host, path, error } => write!(
                f,
                "[[host]] {host:?}: token_file {}: {error}",
                path.display()
            ),
            Self::Random(e) => write!(f, "cannot draw random bytes from the OS: {e}"),
            Self::Credential { host, error } => {
                write!(f, "[[host]] {host:?}: token_file {error}")
            }
        }
    }
}

impl std::error::Error for TokenFileError {}

/// The effective user id of this process.
fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory we own and cannot fail (POSIX).
    unsafe { libc::geteuid() }
}

/// The rule for a secret-bearing file (token, TLS key), the module's own rule with two
/// allowances the server has always had: the server's own user may own it, and a symbolic link
/// in a checked directory is followed (certbot's `live/` keys are links).
pub fn secret_rule() -> Rule {
    Rule::SECRET
        .owned_by_root_or(effective_uid())
        .following_links()
}

/// The rule for a public file the server trusts (its config, its TLS certificate).
pub fn public_rule() -> Rule {
    Rule::PUBLIC.owned_by_root_or(effective_uid())
}

/// The owners accepted for the server's directories (`data_dir`).
pub fn dir_owner() -> Owner {
    Owner::RootOr(effective_uid())
}

struct Host {
    name: String,
    tag: [u8; 20],
    /// `None`: any service ID.
    service_ids: Option<Vec<String>>,
}

/// The hosts allowed to call `/v1/attempt`, holding only keyed hashes of their tokens.
pub struct HostTokens {
    key: Secret,
    hosts: Vec<Host>,
}

impl fmt::Debug for HostTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        f.debug_struct("HostTokens")
            .field("hosts", &names)
            .finish_non_exhaustive()
    }
}

impl HostTokens {
    /// Reads every host's token file, refusing unreadable, too-open or foreign-owned ones.
    pub fn load(entries: &[HostEntry]) -> Result<Self, TokenFileError> {
        let mut tokens = Vec::with_capacity(entries.len());
        for e in entries {
            let host = e.name.clone();
            let path = crate::credentials::locate(&e.token_file).map_err(|error| {
                TokenFileError::Credential {
                    host: host.clone(),
                    error,
                }
            })?;
            // The reader the PAM module and the CLI use: the token is the file's first line,
            // without surrounding white space.
            let rule = crate::credentials::secret_rule_for(&e.token_file);
            let token = match fs_trust::read_secret(&path, rule) {
                Ok(token) => token,
                Err(SecretError::Refused(fs_trust::Refused {
                    problem: Problem::Io(source),
                    ..
                }))
                | Err(SecretError::Read(source)) => {
                    return Err(TokenFileError::Unreadable { host, path, source });
                }
                Err(SecretError::Refused(refused)) => {
                    return Err(TokenFileError::Untrusted {
                        host,
                        path,
                        refused,
                    });
                }
                Err(SecretError::Empty) => return Err(TokenFileError::TooShort { host, path }),
                Err(error @ (SecretError::TooLarge(_) | SecretError::NotText)) => {
                    return Err(TokenFileError::Unusable { host, path, error });
                }
            };
            if token.len() < MIN_TOKEN_LEN {
                return Err(TokenFileError::TooShort { host, path });
            }
            tokens.push((host, Secret::new(token.to_vec())));
        }
        let mut table = Self::from_tokens(tokens).map_err(TokenFileError::Random)?;
        for (h, e) in table.hosts.iter_mut().zip(entries) {
            h.service_ids.clone_from(&e.service_ids);
        }
        Ok(table)
    }

    /// Builds the table from names and tokens already in memory.
    pub fn from_tokens(tokens: Vec<(String, Secret)>) -> Result<Self, getrandom::Error> {
        let key = Secret::random(32)?;
        let hosts = tokens
            .into_iter()
            .map(|(name, token)| Host {
                tag: tag(&key, token.expose()),
                name,
                service_ids: None,
            })
            .collect();
        Ok(Self { key, hosts })
    }

    /// The name of the host whose token this is, checked against every host in constant time.
    ///
    /// Both sides are hashed with a per-process key first, so neither content nor length leaks.
    pub fn authenticate(&self, presented: &[u8]) -> Option<&str> {
        let presented = tag(&self.key, presented);
        let mut found = None;
        for h in &self.hosts {
            if bool::from(h.tag.ct_eq(&presented)) {
                found = Some(h.name.as_str());
            }
        }
        found
    }

    /// Restricts `host` to `service_ids` (what `[[host]] service_ids` does; for tests).
    pub fn restrict(&mut self, host: &str, service_ids: Vec<String>) {
        if let Some(h) = self.hosts.iter_mut().find(|h| h.name == host) {
            h.service_ids = Some(service_ids);
        }
    }

    /// Whether `host` may use `service_id` (any, when its `service_ids` is not set).
    pub fn allows(&self, host: &str, service_id: &str) -> bool {
        self.hosts.iter().find(|h| h.name == host).is_some_and(|h| {
            h.service_ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|id| id == service_id))
        })
    }

    /// The hosts without `service_ids`: they may use any service ID.
    pub fn unrestricted(&self) -> impl Iterator<Item = &str> {
        self.hosts
            .iter()
            .filter(|h| h.service_ids.is_none())
            .map(|h| h.name.as_str())
    }

    /// The token from an `Authorization: Bearer …` header value.
    pub fn bearer(header: Option<&[u8]>) -> Option<&[u8]> {
        let value = header?;
        let rest = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "))?;
        Some(rest.trim_ascii())
    }

    /// How many hosts are configured.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// True when no host is configured.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

fn tag(key: &Secret, token: &[u8]) -> [u8; 20] {
    let mut out = [0_u8; 20];
    if let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key.expose()) {
        mac.update(token);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn table() -> HostTokens {
        HostTokens::from_tokens(vec![
            (
                "web01".into(),
                Secret::new(b"0123456789abcdef-web01".to_vec()),
            ),
            (
                "db01".into(),
                Secret::new(b"0123456789abcdef-db01".to_vec()),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn right_token_names_its_host_and_wrong_ones_none() {
        let t = table();
        assert_eq!(t.authenticate(b"0123456789abcdef-db01"), Some("db01"));
        assert_eq!(t.authenticate(b"0123456789abcdef-web01"), Some("web01"));
        assert_eq!(t.authenticate(b"0123456789abcdef-web0"), None);
        assert_eq!(t.authenticate(b""), None);
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(HostTokens::bearer(Some(b"Bearer abc ")), Some(&b"abc"[..]));
        assert_eq!(HostTokens::bearer(Some(b"Basic abc")), None);
        assert_eq!(HostTokens::bearer(None), None);
    }

    #[test]
    fn debug_lists_names_only() {
        let dbg = format!("{:?}", table());
        assert!(
            dbg.contains("web01") && !dbg.contains("0123456789abcdef"),
            "{dbg}"
        );
    }

    fn token_file(mode: u32, content: &[u8]) -> (tempfile::TempDir, HostEntry) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (
            dir,
            HostEntry {
                name: "web01".into(),
                token_file: path,
                service_ids: None,
            },
        )
    }

    #[test]
    fn token_files_must_be_private_and_long_enough() {
        let (_d, ok) = token_file(0o600, b"0123456789abcdef\n");
        let t = HostTokens::load(&[ok]).unwrap();
        assert_eq!(t.authenticate(b"0123456789abcdef"), Some("web01"));
        // The same reader as the module's: the first line, trimmed; what follows is not part
        // of the token.
        let (_d, two) = token_file(0o600, b"  0123456789abcdef \n# issued 2026-12\n");
        let t = HostTokens::load(&[two]).unwrap();
        assert_eq!(t.authenticate(b"0123456789abcdef"), Some("web01"));
        assert_eq!(t.authenticate(b"0123456789abcdef \n# issued 2026-12"), None);

        let (_d, open) = token_file(0o644, b"0123456789abcdef\n");
        let err = HostTokens::load(&[open]).unwrap_err().to_string();
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );

        let (_d, short) = token_file(0o600, b"short\n");
        let err = HostTokens::load(&[short]).unwrap_err().to_string();
        assert!(err.contains("fewer than 16"), "{err}");

        let missing = HostEntry {
            name: "x".into(),
            token_file: "/nonexistent/t".into(),
            service_ids: None,
        };
        let err = HostTokens::load(&[missing]).unwrap_err().to_string();
        assert!(
            err.contains("cannot read token_file /nonexistent/t"),
            "{err}"
        );
    }

    /// Issue 12 (item 6): a token file in a directory others can write could be replaced
    /// (the token is what makes a host's attempts count); it is refused like the module's own
    /// secret files, naming the directory.
    #[test]
    fn token_file_in_a_directory_others_can_write_is_refused_issue_12() {
        let (d, entry) = token_file(0o600, b"0123456789abcdef\n");
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = HostTokens::load(&[entry]).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}: mode 0777", d.path().display())),
            "{err}"
        );
    }
}
