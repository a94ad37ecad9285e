//! Whether a user is local (a line of /etc/passwd) or known only to a directory through NSS.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;

use crate::account::lookup_user;
use crate::error::NssError;

/// The system passwd file that decides what "local" means.
pub const PASSWD_FILE: &str = "/etc/passwd";

/// Where a user's account comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Listed in /etc/passwd.
    Local,
    /// Known to NSS only (LDAP, SSSD, winbind, extrausers, ...).
    Directory,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Local => "local",
            Source::Directory => "directory",
        })
    }
}

/// Whether /etc/passwd lists `name` (read directly, not through NSS).
pub fn is_local_user(name: &str) -> Result<bool, NssError> {
    is_local_user_in(name, Path::new(PASSWD_FILE))
}

/// Whether the passwd-format file `passwd` lists `name`.
///
/// Blank lines, `#` comments and NIS compat lines (`+...`, `-...`) list nobody; a name that
/// cannot appear in a passwd file (empty, or with `:`, a newline or NUL) is never local.
pub fn is_local_user_in(name: &str, passwd: &Path) -> Result<bool, NssError> {
    if name.is_empty() || name.contains([':', '\n', '\0']) {
        return Ok(false);
    }
    let read_error = |err: std::io::Error| NssError::PasswdFile {
        path: passwd.to_owned(),
        reason: err.to_string(),
    };
    let mut reader = BufReader::new(File::open(passwd).map_err(read_error)?);
    // Bytes, not lines of text: one non-UTF-8 entry must not hide the others.
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
            return Ok(false);
        }
        if listed_name(&line) == Some(name.as_bytes()) {
            return Ok(true);
        }
    }
}

/// The user name a passwd line lists, parsed the way glibc's files backend reads it.
fn listed_name(line: &[u8]) -> Option<&[u8]> {
    let line = line.trim_ascii_start();
    match line.first() {
        None | Some(b'#' | b'+' | b'-') => None,
        Some(_) => line
            .split(|b| *b == b':')
            .next()
            .filter(|_| line.contains(&b':')),
    }
}

/// Whether `name` is local or a directory user; [`NssError::UnknownUser`] when neither knows it.
///
/// Local users cost one file read; others one NSS lookup more.
pub fn source(name: &str) -> Result<Source, NssError> {
    if is_local_user(name)? {
        return Ok(Source::Local);
    }
    match lookup_user(name)? {
        Some(_) => Ok(Source::Directory),
        None => Err(NssError::UnknownUser {
            name: name.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    const PASSWD: &str = "\
# local accounts
root:x:0:0:root:/root:/bin/bash

alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
   bob:x:1001:1001::/home/bob:/bin/sh
#carol:x:1002:1002::/home/carol:/bin/sh
+dave
-erin:
+@admins::::::
+::::::
frank
";

    fn passwd_file(dir: &TempDir, text: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join("passwd");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn listed_users_are_local() {
        let dir = TempDir::new("listed");
        let passwd = passwd_file(&dir, PASSWD.as_bytes());
        assert!(is_local_user_in("root", &passwd).unwrap());
        assert!(is_local_user_in("alice", &passwd).unwrap());
        assert!(is_local_user_in("bob", &passwd).unwrap(), "leading blanks");
    }

    #[test]
    fn name_prefixes_do_not_match() {
        let dir = TempDir::new("prefix");
        let passwd = passwd_file(&dir, PASSWD.as_bytes());
        assert!(!is_local_user_in("ali", &passwd).unwrap());
        assert!(!is_local_user_in("alicex", &passwd).unwrap());
        assert!(!is_local_user_in("roo", &passwd).unwrap());
        assert!(!is_local_user_in("x", &passwd).unwrap());
    }

    #[test]
    fn commented_out_users_are_not_local() {
        let dir = TempDir::new("comment");
        let passwd = passwd_file(&dir, PASSWD.as_bytes());
        assert!(!is_local_user_in("carol", &passwd).unwrap());
        assert!(!is_local_user_in("#carol", &passwd).unwrap());
    }

    #[test]
    fn nis_compat_lines_are_not_local() {
        let dir = TempDir::new("nis");
        let passwd = passwd_file(&dir, PASSWD.as_bytes());
        for name in ["dave", "+dave", "erin", "-erin", "+@admins", "@admins", "+"] {
            assert!(!is_local_user_in(name, &passwd).unwrap(), "{name}");
        }
    }

    #[test]
    fn lines_without_a_colon_list_nobody() {
        let dir = TempDir::new("nocolon");
        let passwd = passwd_file(&dir, PASSWD.as_bytes());
        assert!(!is_local_user_in("frank", &passwd).unwrap());
    }

    #[test]
    fn impossible_names_are_never_local() {
        let dir = TempDir::new("impossible");
        let passwd = passwd_file(&dir, b":x:5:5::/:/bin/sh\nroot:x:0:0::/root:/bin/sh\n");
        assert!(!is_local_user_in("", &passwd).unwrap());
        assert!(!is_local_user_in("root:x", &passwd).unwrap());
        assert!(!is_local_user_in("root\0", &passwd).unwrap());
    }

    #[test]
    fn non_utf8_lines_do_not_hide_later_users() {
        let dir = TempDir::new("utf8");
        let passwd = passwd_file(
            &dir,
            b"g\xffst:x:9:9:\xff:/:/bin/sh\nzed:x:10:10::/home/zed:/bin/sh",
        );
        assert!(
            is_local_user_in("zed", &passwd).unwrap(),
            "last line without newline"
        );
    }

    #[test]
    fn missing_passwd_file_is_an_error_naming_it() {
        let dir = TempDir::new("missing");
        let path = dir.path().join("absent");
        let err = is_local_user_in("root", &path).unwrap_err();
        assert!(
            matches!(&err, NssError::PasswdFile { path: p, .. } if *p == path),
            "{err:?}"
        );
        assert!(err.to_string().contains("absent"), "{err}");
    }

    #[test]
    fn root_is_local_on_this_system() {
        assert!(is_local_user("root").unwrap());
        assert_eq!(source("root").unwrap(), Source::Local);
    }

    #[test]
    fn unknown_user_has_no_source() {
        let name = "no-such-user-ticketgate-7f3a";
        assert_eq!(
            source(name),
            Err(NssError::UnknownUser { name: name.into() })
        );
    }

    #[test]
    fn source_serialises_lowercase() {
        assert_eq!(serde_json::to_string(&Source::Local).unwrap(), "\"local\"");
        assert_eq!(
            serde_json::to_string(&Source::Directory).unwrap(),
            "\"directory\""
        );
    }
}
