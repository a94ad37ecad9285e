//! What a valid configuration may still get wrong on this host: no scope at all, an audit file
//! whose directory is missing, scope users and groups NSS does not know. Warnings only: the
//! module runs with such a file, it just does less than the administrator meant.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;
use crate::directory::DirectoryError;

/// What the warnings ask of the host, behind a trait so tests need no NSS or files.
pub trait Host {
    /// NSS knows a user of this name.
    fn knows_user(&self, name: &str) -> Result<bool, DirectoryError>;
    /// NSS knows a group of this name.
    fn knows_group(&self, name: &str) -> Result<bool, DirectoryError>;
    fn is_dir(&self, path: &Path) -> bool;
}

/// This host: NSS as configured in `/etc/nsswitch.conf`, and its file system.
pub struct ThisHost;

impl Host for ThisHost {
    fn knows_user(&self, name: &str) -> Result<bool, DirectoryError> {
        Ok(nss_helper::lookup_user(name)?.is_some())
    }

    fn knows_group(&self, name: &str) -> Result<bool, DirectoryError> {
        nix::unistd::Group::from_name(name)
            .map(|g| g.is_some())
            .map_err(|source| DirectoryError::Group {
                name: name.to_string(),
                source,
            })
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
}

/// One warning about a configuration file, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: PathBuf,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "config {}: warning: {}: {}",
            self.path.display(),
            self.key,
            self.message
        )
    }
}

/// The warnings for `config` on `host`.
pub fn warnings(config: &Config, host: &dyn Host) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |key: String, message: String| {
        out.push(Warning {
            path: config.path.clone(),
            key,
            message,
        });
    };
    if config.scopes.is_empty() {
        warn(
            "scope".into(),
            "no [[scope]]: the module covers no login, so no gate is on (add a [[scope]])".into(),
        );
    }
    if let Some(file) = &config.module.audit_file
        && let Some(dir) = file.parent().filter(|d| !host.is_dir(d))
    {
        warn(
            "module.audit_file".into(),
            format!(
                "the directory {} does not exist, so audit events reach syslog only (create it: \
                 install -d -m 0750 {})",
                dir.display(),
                dir.display()
            ),
        );
    }
    for scope in &config.scopes {
        let key = |field: &str| format!("scope[{}].{field}", scope.index);
        if scope.mode == super::ScopeMode::Report {
            warn(
                key("mode"),
                "is \"report\": this scope protects nothing yet (its gates only log would_refuse \
                 events; see `ticketgate report`); set mode = \"enforce\" when the report is clean"
                    .into(),
            );
        }
        let users = scope
            .users
            .iter()
            .map(|n| ("users", "user", n, host.knows_user(n)));
        let groups = scope
            .groups
            .iter()
            .map(|n| ("groups", "group", n, host.knows_group(n)));
        for (field, what, name, known) in users.chain(groups) {
            match known {
                Ok(true) => {}
                Ok(false) => warn(
                    key(field),
                    format!(
                        "NSS knows no {what} \"{name}\", so this scope never matches it (a \
                         typo, or a directory that is not reachable?)"
                    ),
                ),
                Err(e) => warn(key(field), format!("cannot ask NSS about \"{name}\": {e}")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    impl Host for Fake {
        fn knows_user(&self, name: &str) -> Result<bool, DirectoryError> {
            match name {
                "broken" => Err(DirectoryError::Nss(nss_helper::NssError::UserLookup {
                    name: name.into(),
                    errno: libc::ETIMEDOUT,
                })),
                n => Ok(n == "alice"),
            }
        }
        fn knows_group(&self, name: &str) -> Result<bool, DirectoryError> {
            Ok(name == "wheel")
        }
        fn is_dir(&self, path: &Path) -> bool {
            path == Path::new("/var/log/ticketgate")
        }
    }

    fn config(body: &str) -> Config {
        let text = format!("version = 1\n{body}");
        Config::parse(Path::new("/etc/t.toml"), &text).unwrap()
    }

    fn messages(body: &str) -> Vec<String> {
        warnings(&config(body), &Fake)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_good_configuration_has_no_warnings() {
        let body = "[module]\naudit_file = \"/var/log/ticketgate/audit.jsonl\"\n\
                    [[scope]]\nusers = [\"alice\"]\ngroups = [\"wheel\"]\n";
        assert_eq!(messages(body), Vec::<String>::new());
    }

    #[test]
    fn no_scope_is_a_warning() {
        assert_eq!(
            messages(""),
            [
                "config /etc/t.toml: warning: scope: no [[scope]]: the module covers no login, so no \
              gate is on (add a [[scope]])"
            ]
        );
    }

    #[test]
    fn an_audit_file_in_a_missing_directory_is_a_warning() {
        let found = messages("[module]\naudit_file = \"/var/log/tg/audit.jsonl\"\n[[scope]]\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("module.audit_file: the directory /var/log/tg does not exist"),
            "{found:?}"
        );
    }

    #[test]
    fn a_scope_in_report_mode_is_a_warning() {
        let found = messages("[[scope]]\nusers = [\"alice\"]\nmode = \"report\"\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("scope[1].mode: is \"report\": this scope protects nothing yet"),
            "{found:?}"
        );
        assert!(messages("[[scope]]\nusers = [\"alice\"]\nmode = \"enforce\"\n").is_empty());
    }

    #[test]
    fn scope_names_nss_does_not_know_are_warnings() {
        let found = messages(
            "[[scope]]\nusers = [\"alice\", \"alcie\"]\n[[scope]]\ngroups = [\"wheel\", \"whee1\"]\nusers = [\"broken\"]\n",
        );
        assert_eq!(
            found,
            [
                "config /etc/t.toml: warning: scope[1].users: NSS knows no user \"alcie\", so this \
                 scope never matches it (a typo, or a directory that is not reachable?)",
                "config /etc/t.toml: warning: scope[2].users: cannot ask NSS about \"broken\": \
                 looking up user \"broken\" through NSS failed: Connection timed out (errno 110); \
                 check the passwd/group lines of /etc/nsswitch.conf and that the directory \
                 service they name (sssd, nslcd, winbind) is running",
                "config /etc/t.toml: warning: scope[2].groups: NSS knows no group \"whee1\", so \
                 this scope never matches it (a typo, or a directory that is not reachable?)",
            ]
        );
    }
}
