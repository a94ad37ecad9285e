//! Account facts the gates need (exists? uid? groups? local?), behind a trait so tests can
//! describe users without touching NSS. The real one asks NSS through `nss-helper`.

use std::collections::BTreeMap;

pub use nss_helper::Account;

/// Where account facts come from.
pub trait Directory {
    /// The account, `None` when NSS does not know the name.
    fn lookup(&self, user: &str) -> Result<Option<Account>, String>;
    /// Primary and supplementary group names.
    fn groups(&self, account: &Account) -> Result<Vec<String>, String>;
    /// Listed in `/etc/passwd` (as opposed to LDAP/SSSD).
    fn is_local(&self, user: &str) -> Result<bool, String>;
}

/// NSS, as configured in `/etc/nsswitch.conf`.
pub struct Nss;

impl Directory for Nss {
    fn lookup(&self, user: &str) -> Result<Option<Account>, String> {
        nss_helper::lookup_user(user).map_err(|e| e.to_string())
    }

    fn groups(&self, account: &Account) -> Result<Vec<String>, String> {
        nss_helper::group_names(account).map_err(|e| e.to_string())
    }

    fn is_local(&self, user: &str) -> Result<bool, String> {
        nss_helper::is_local_user(user).map_err(|e| e.to_string())
    }
}

/// Users described in memory, for tests: name → (uid, groups, local).
#[derive(Default)]
pub struct MemDirectory {
    pub users: BTreeMap<String, (u32, Vec<String>, bool)>,
}

impl MemDirectory {
    pub fn with(mut self, name: &str, uid: u32, groups: &[&str], local: bool) -> Self {
        self.users.insert(
            name.into(),
            (uid, groups.iter().map(|g| g.to_string()).collect(), local),
        );
        self
    }
}

impl Directory for MemDirectory {
    fn lookup(&self, user: &str) -> Result<Option<Account>, String> {
        Ok(self.users.get(user).map(|(uid, _, _)| Account {
            name: user.into(),
            uid: *uid,
            gid: *uid,
            home: format!("/home/{user}").into(),
            shell: "/bin/sh".into(),
            gecos: nss_helper::Gecos::parse(""),
        }))
    }

    fn groups(&self, account: &Account) -> Result<Vec<String>, String> {
        Ok(self
            .users
            .get(&account.name)
            .map(|u| u.1.clone())
            .unwrap_or_default())
    }

    fn is_local(&self, user: &str) -> Result<bool, String> {
        Ok(self.users.get(user).is_some_and(|u| u.2))
    }
}
