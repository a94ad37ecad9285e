//! Errors from NSS lookups and from reading the local passwd file.

use std::fmt;
use std::path::PathBuf;

use nix::errno::Errno;
use serde::Serialize;

/// Why an account fact could not be established. An unknown user is not an error for
/// [`lookup_user`](crate::lookup_user); it is one for [`source`](crate::source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum NssError {
    /// `getpwnam_r` failed (NSS module missing, directory unreachable, ...).
    UserLookup {
        /// The login name asked for.
        name: String,
        /// The `errno` the lookup returned.
        errno: i32,
    },
    /// `getgrouplist` failed for a user.
    GroupList {
        /// The login name whose groups were asked for.
        name: String,
        /// The `errno` the lookup returned.
        errno: i32,
    },
    /// `getgrgid_r` failed for a group id.
    GroupLookup {
        /// The group id being named.
        gid: u32,
        /// The `errno` the lookup returned.
        errno: i32,
    },
    /// The local passwd file could not be read.
    PasswdFile {
        /// The file that was read.
        path: PathBuf,
        /// The I/O error, as text.
        reason: String,
    },
    /// Neither the passwd file nor NSS knows this user.
    UnknownUser {
        /// The login name asked for.
        name: String,
    },
}

impl NssError {
    pub(crate) fn errno_text(errno: i32) -> String {
        format!("{} (errno {errno})", Errno::from_raw(errno).desc())
    }
}

const CHECK_NSS: &str = "check the passwd/group lines of /etc/nsswitch.conf and that the directory service they name (sssd, nslcd, winbind) is running";

impl fmt::Display for NssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NssError::UserLookup { name, errno } => write!(
                f,
                "looking up user {name:?} through NSS failed: {}; {CHECK_NSS}",
                Self::errno_text(*errno)
            ),
            NssError::GroupList { name, errno } => write!(
                f,
                "listing the groups of user {name:?} through NSS failed: {}; {CHECK_NSS}",
                Self::errno_text(*errno)
            ),
            NssError::GroupLookup { gid, errno } => write!(
                f,
                "looking up group id {gid} through NSS failed: {}; {CHECK_NSS}",
                Self::errno_text(*errno)
            ),
            NssError::PasswdFile { path, reason } => write!(
                f,
                "cannot read {}: {reason}; check that it exists and is readable",
                path.display()
            ),
            NssError::UnknownUser { name } => write!(
                f,
                "no such user {name:?}: neither /etc/passwd nor NSS knows this name"
            ),
        }
    }
}

impl std::error::Error for NssError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_messages_name_the_error_and_what_to_check() {
        let err = NssError::UserLookup {
            name: "alice".into(),
            errno: Errno::EIO as i32,
        };
        let text = err.to_string();
        assert!(text.contains("\"alice\""), "{text}");
        assert!(text.contains("I/O error (errno 5)"), "{text}");
        assert!(text.contains("/etc/nsswitch.conf"), "{text}");
    }

    #[test]
    fn passwd_file_message_names_the_file() {
        let err = NssError::PasswdFile {
            path: "/nope/passwd".into(),
            reason: "No such file or directory (os error 2)".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot read /nope/passwd: No such file or directory (os error 2); check that it exists and is readable"
        );
    }
}
