//! Which `[[scope]]` covers a login: the first whose users/groups, services and hosts all match.

use crate::config::{Config, Scope};
use crate::directory::{Account, Directory, DirectoryError};

/// This host's names, for `hosts` patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNames {
    pub short: String,
    pub fqdn: String,
}

impl HostNames {
    /// From the kernel's host name, and `/etc/hosts` for the fully qualified one. No DNS query:
    /// a login must not wait on a resolver.
    pub fn of_this_host() -> Self {
        let name = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        Self::from_parts(&name, &hosts)
    }

    pub fn from_parts(name: &str, etc_hosts: &str) -> Self {
        let short = name.split('.').next().unwrap_or_default().to_string();
        if name.contains('.') {
            return Self {
                short,
                fqdn: name.to_string(),
            };
        }
        let fqdn = etc_hosts
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default())
            .filter(|l| l.split_whitespace().skip(1).any(|n| n == name))
            .flat_map(|l| l.split_whitespace().skip(1))
            .find(|n| n.starts_with(&format!("{short}.")))
            .unwrap_or(name)
            .to_string();
        Self { short, fqdn }
    }
}

/// The scope that covers `user` on `service`, or `None` (the module leaves the login alone).
/// `service: None` ignores the services lists (the CLI asks "which policy applies to this user").
/// Groups are asked of the directory only when a scope needs them.
pub fn select<'c>(
    config: &'c Config,
    user: &str,
    account: Option<&Account>,
    service: Option<&str>,
    host: &HostNames,
    directory: &dyn Directory,
) -> Result<Option<&'c Scope>, DirectoryError> {
    let mut groups: Option<Vec<String>> = None;
    for scope in &config.scopes {
        if let Some(service) = service
            && !scope.services.is_empty()
            && !scope.services.iter().any(|s| s == service)
        {
            continue;
        }
        if let Some(h) = &scope.hosts
            && !h.matches_any(&[&host.short, &host.fqdn])
        {
            continue;
        }
        let everyone = scope.users.is_empty() && scope.groups.is_empty();
        let by_user = scope.users.iter().any(|u| u == user);
        let by_group = !by_user && !scope.groups.is_empty() && {
            if groups.is_none() {
                groups = Some(match account {
                    Some(a) => directory.groups(a)?,
                    None => Vec::new(),
                });
            }
            groups
                .as_ref()
                .is_some_and(|gs| gs.iter().any(|g| scope.groups.contains(g)))
        };
        if everyone || by_user || by_group {
            return Ok(Some(scope));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::MemDirectory;
    use std::path::Path;

    const CONF: &str = r#"
version = 1
[[scope]]
users = ["root"]
groups = ["wheel"]
services = ["sshd", "su"]
hosts = "*.prod.example.com;db01"
policy = "admins"
[[scope]]
services = ["login"]
[policy.admins]
failed_logon = 5
"#;

    fn pick(user: &str, service: &str, host: &str) -> Option<usize> {
        let c = Config::parse(Path::new("t.toml"), CONF).unwrap();
        let dir = MemDirectory::default()
            .with("root", 0, &["root"], true)
            .with("ann", 1000, &["ann", "wheel"], true)
            .with("bob", 1001, &["bob"], true);
        let account = dir.lookup(user).unwrap();
        let host = HostNames::from_parts(host, "");
        select(&c, user, account.as_ref(), Some(service), &host, &dir)
            .unwrap()
            .map(|s| s.index)
    }

    #[test]
    fn first_matching_scope_wins() {
        assert_eq!(pick("root", "sshd", "web1.prod.example.com"), Some(1));
        assert_eq!(
            pick("ann", "su", "db01"),
            Some(1),
            "supplementary group wheel"
        );
        assert_eq!(pick("bob", "login", "db01"), Some(2));
    }

    #[test]
    fn no_matching_scope_leaves_the_login_alone() {
        assert_eq!(
            pick("bob", "sshd", "db01"),
            None,
            "bob is not root or wheel"
        );
        assert_eq!(pick("root", "sudo", "db01"), None, "service not listed");
        assert_eq!(
            pick("root", "sshd", "web1.test.example.com"),
            None,
            "host not listed"
        );
        assert_eq!(pick("nosuchuser", "sshd", "db01"), None);
    }

    #[test]
    fn fqdn_comes_from_etc_hosts_when_the_hostname_is_short() {
        let h = HostNames::from_parts(
            "db01",
            "127.0.0.1 localhost\n10.0.0.5 db01.prod.example.com db01 # main\n",
        );
        assert_eq!(
            h,
            HostNames {
                short: "db01".into(),
                fqdn: "db01.prod.example.com".into()
            }
        );
        let h = HostNames::from_parts("web1.prod.example.com", "");
        assert_eq!(h.short, "web1");
        assert_eq!(HostNames::from_parts("db01", "").fqdn, "db01");
    }
}
