//! One user's passwd entry (`getpwnam_r`) and group names (`getgrouplist`, `getgrgid_r`).

use std::ffi::CString;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{Gid, Group, User, getgrouplist};
use serde::{Serialize, Serializer};

use crate::error::NssError;
use crate::gecos::Gecos;

/// A user as NSS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The login name as NSS spells it (a directory may fold case).
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Numeric primary group id.
    pub gid: u32,
    /// Home directory.
    #[serde(serialize_with = "path_lossy")]
    pub home: PathBuf,
    /// Login shell.
    #[serde(serialize_with = "path_lossy")]
    pub shell: PathBuf,
    /// The GECOS field, split.
    pub gecos: Gecos,
}

/// Paths from NSS are bytes; JSON output must not fail on one that is not UTF-8.
fn path_lossy<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

impl From<User> for Account {
    fn from(user: User) -> Account {
        Account {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
            shell: user.shell,
            gecos: Gecos::parse(&user.gecos.to_string_lossy()),
        }
    }
}

/// POSIX lets `get*_r` report "no such entry" as one of these instead of a null result
/// (getpwnam(3)); glibc does so when an NSS source in the chain is unavailable.
fn means_not_found(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::ENOENT | Errno::ESRCH | Errno::EBADF | Errno::EPERM
    )
}

/// Looks a user up through NSS with one `getpwnam_r`.
///
/// `Ok(None)` for a user no NSS source knows, and for names that cannot be one: empty, or
/// containing a NUL byte (they are never passed to NSS).
pub fn lookup_user(name: &str) -> Result<Option<Account>, NssError> {
    if name.is_empty() || name.contains('\0') {
        return Ok(None);
    }
    match User::from_name(name) {
        Ok(user) => Ok(user.map(Account::from)),
        Err(errno) if means_not_found(errno) => Ok(None),
        Err(errno) => Err(NssError::UserLookup {
            name: name.to_owned(),
            errno: errno as i32,
        }),
    }
}

/// The names of the account's groups: primary first, then supplementary, each name once.
///
/// A group id that NSS cannot name is given as its number.
pub fn group_names(account: &Account) -> Result<Vec<String>, NssError> {
    let list_error = |errno: Errno| NssError::GroupList {
        name: account.name.clone(),
        errno: errno as i32,
    };
    let user = CString::new(account.name.as_bytes()).map_err(|_| list_error(Errno::EINVAL))?;
    let primary = Gid::from_raw(account.gid);
    let gids = getgrouplist(&user, primary).map_err(list_error)?;

    let mut names = vec![group_name(primary)?];
    for gid in gids.into_iter().filter(|gid| *gid != primary) {
        let name = group_name(gid)?;
        // Two gids may share a name; a handful of groups makes a linear scan the cheap choice.
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

fn group_name(gid: Gid) -> Result<String, NssError> {
    match Group::from_gid(gid) {
        Ok(Some(group)) => Ok(group.name),
        Ok(None) => Ok(gid.to_string()),
        Err(errno) if means_not_found(errno) => Ok(gid.to_string()),
        Err(errno) => Err(NssError::GroupLookup {
            gid: gid.as_raw(),
            errno: errno as i32,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_zero_with_home_root() {
        let root = lookup_user("root").unwrap().expect("root must exist");
        assert_eq!(root.name, "root");
        assert_eq!(root.uid, 0);
        assert_eq!(root.gid, 0);
        assert_eq!(root.home, PathBuf::from("/root"));
    }

    #[test]
    fn root_groups_start_with_root() {
        let root = lookup_user("root").unwrap().unwrap();
        let groups = group_names(&root).unwrap();
        assert_eq!(
            groups.first().map(String::as_str),
            Some("root"),
            "{groups:?}"
        );
    }

    #[test]
    fn unknown_user_is_none() {
        assert_eq!(lookup_user("no-such-user-ticketgate-7f3a").unwrap(), None);
    }

    #[test]
    fn impossible_names_are_none_without_asking_nss() {
        assert_eq!(lookup_user("").unwrap(), None);
        assert_eq!(lookup_user("root\0").unwrap(), None);
        assert_eq!(lookup_user("ro\0ot").unwrap(), None);
    }

    #[test]
    fn gid_without_a_name_is_given_as_its_number() {
        let account = Account {
            name: "no-such-user-ticketgate-7f3a".into(),
            uid: 4_000_000_001,
            gid: 4_000_000_002,
            home: "/nonexistent".into(),
            shell: "/bin/false".into(),
            gecos: Gecos::default(),
        };
        assert_eq!(group_names(&account).unwrap(), vec!["4000000002"]);
    }

    #[test]
    fn account_name_with_nul_is_a_group_list_error() {
        let account = Account {
            name: "ro\0ot".into(),
            uid: 0,
            gid: 0,
            home: "/root".into(),
            shell: "/bin/sh".into(),
            gecos: Gecos::default(),
        };
        assert_eq!(
            group_names(&account),
            Err(NssError::GroupList {
                name: "ro\0ot".into(),
                errno: Errno::EINVAL as i32
            })
        );
    }

    #[test]
    fn non_utf8_home_still_serialises() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let account = Account {
            name: "x".into(),
            uid: 1,
            gid: 1,
            home: PathBuf::from(OsStr::from_bytes(b"/home/\xffx")),
            shell: "/bin/sh".into(),
            gecos: Gecos::default(),
        };
        let json = serde_json::to_value(&account).unwrap();
        assert_eq!(json["home"], "/home/\u{fffd}x");
    }
}
