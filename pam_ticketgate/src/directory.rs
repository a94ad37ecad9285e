//! Account facts the gates need (exists? uid? groups? local?), behind a trait so tests can
//! describe users without touching NSS. The real one asks NSS through `nss-helper`.

use std::collections::BTreeMap;
use std::fmt;

pub use nss_helper::{Account, NssError};

/// Why an account fact could not be established (an unknown user is not an error).
#[derive(Debug)]
pub enum DirectoryError {
    /// NSS failed: a module missing, a directory unreachable, the passwd file unreadable.
    Nss(NssError),
    /// The shadow entry could not be read.
    Shadow {
        user: String,
        source: std::io::Error,
    },
    /// A group could not be looked up by name.
    Group { name: String, source: nix::Error },
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nss(e) => write!(f, "{e}"),
            Self::Shadow { user, source } => write!(f, "shadow entry of {user}: {source}"),
            Self::Group { name, source } => write!(f, "group {name}: {source}"),
        }
    }
}

impl std::error::Error for DirectoryError {}

impl From<NssError> for DirectoryError {
    fn from(e: NssError) -> Self {
        Self::Nss(e)
    }
}

/// Where account facts come from.
pub trait Directory {
    /// The account, `None` when NSS does not know the name.
    fn lookup(&self, user: &str) -> Result<Option<Account>, DirectoryError>;
    /// Primary and supplementary group names.
    fn groups(&self, account: &Account) -> Result<Vec<String>, DirectoryError>;
    /// Listed in `/etc/passwd` (as opposed to LDAP/SSSD).
    fn is_local(&self, user: &str) -> Result<bool, DirectoryError>;
    /// The account's shadow entry (root only), `None` when no shadow source knows it.
    fn shadow(&self, _user: &str) -> Result<Option<Shadow>, DirectoryError> {
        Ok(None)
    }
}

/// What the module reads of a shadow entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// The password hash as stored; compared before and after a change, never logged.
    pub hash: crate::secret::Secret,
    /// `sp_lstchg`: days since 1970 of the last change; `Some(0)` = must change at next login
    /// (`passwd -e`); `None` = not set (aging off).
    pub last_change_day: Option<i64>,
}

impl Shadow {
    /// The last change as epoch seconds (the start of that day), when it is a real day.
    pub fn last_change(&self) -> Option<i64> {
        self.last_change_day
            .filter(|d| *d > 0)
            .map(|d| d.saturating_mul(86_400))
    }

    /// `passwd -e`: the last-change day is 0.
    pub fn must_change(&self) -> bool {
        self.last_change_day == Some(0)
    }
}

/// NSS, as configured in `/etc/nsswitch.conf`.
pub struct Nss;

impl Directory for Nss {
    fn lookup(&self, user: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(nss_helper::lookup_user(user)?)
    }

    fn groups(&self, account: &Account) -> Result<Vec<String>, DirectoryError> {
        Ok(nss_helper::group_names(account)?)
    }

    fn shadow(&self, user: &str) -> Result<Option<Shadow>, DirectoryError> {
        match crate::ffi::shadow_entry(user) {
            Ok(entry) => Ok(entry.map(|(hash, day)| Shadow {
                hash,
                last_change_day: (day >= 0).then_some(day),
            })),
            Err(source) => Err(DirectoryError::Shadow {
                user: user.to_string(),
                source,
            }),
        }
    }

    fn is_local(&self, user: &str) -> Result<bool, DirectoryError> {
        Ok(nss_helper::is_local_user(user)?)
    }
}

/// Users described in memory, for tests: name → (uid, groups, local), aliases a directory
/// answers for a name (`ALICE`, `alice@corp.example` → `alice`), and shadow entries (changeable
/// through `&self`, as `pam_unix` changes the real one between two module lines).
#[derive(Default)]
pub struct MemDirectory {
    pub users: BTreeMap<String, (u32, Vec<String>, bool)>,
    pub aliases: BTreeMap<String, String>,
    pub shadows: std::cell::RefCell<BTreeMap<String, Shadow>>,
}

impl MemDirectory {
    pub fn with(mut self, name: &str, uid: u32, groups: &[&str], local: bool) -> Self {
        self.users.insert(
            name.into(),
            (uid, groups.iter().map(|g| g.to_string()).collect(), local),
        );
        self
    }

    /// `alias` is answered with `name`'s account.
    pub fn alias(mut self, alias: &str, name: &str) -> Self {
        self.aliases.insert(alias.into(), name.into());
        self
    }

    /// Sets (or replaces) `name`'s shadow entry.
    pub fn set_shadow(&self, name: &str, hash: &str, last_change_day: Option<i64>) {
        self.shadows.borrow_mut().insert(
            name.into(),
            Shadow {
                hash: crate::secret::Secret::new(hash.into()),
                last_change_day,
            },
        );
    }

    fn canonical<'a>(&'a self, user: &'a str) -> &'a str {
        self.aliases.get(user).map_or(user, String::as_str)
    }
}

impl Directory for MemDirectory {
    fn lookup(&self, user: &str) -> Result<Option<Account>, DirectoryError> {
        let name = self.canonical(user);
        Ok(self.users.get(name).map(|(uid, _, _)| Account {
            name: name.into(),
            uid: *uid,
            gid: *uid,
            home: format!("/home/{name}").into(),
            shell: "/bin/sh".into(),
            gecos: nss_helper::Gecos::parse(""),
        }))
    }

    fn groups(&self, account: &Account) -> Result<Vec<String>, DirectoryError> {
        Ok(self
            .users
            .get(&account.name)
            .map(|u| u.1.clone())
            .unwrap_or_default())
    }

    fn is_local(&self, user: &str) -> Result<bool, DirectoryError> {
        Ok(self.users.get(self.canonical(user)).is_some_and(|u| u.2))
    }

    fn shadow(&self, user: &str) -> Result<Option<Shadow>, DirectoryError> {
        Ok(self.shadows.borrow().get(self.canonical(user)).cloned())
    }
}
