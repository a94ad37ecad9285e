//! Account names as the module stores them: any name NSS can answer becomes a safe file stem
//! (every byte outside `[A-Za-z0-9._-]`, and a leading `.` or `-`, percent-encoded), so a name is either
//! gated under its own file or, when even its encoding cannot be a file name, refused.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Longest name accepted; glibc and shadow limit names far below this.
const MAX_LEN: usize = 256;

/// Longest file stem: `<stem>.state` and the temporary `.<stem>.state.<random>` beside it must
/// fit NAME_MAX (255 bytes).
const MAX_STEM: usize = 200;

/// A user name that is safe to turn into a file name (log lines quote it: it may hold any
/// character but NUL).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// Accepts 1-256 bytes without NUL whose file stem fits a file name.
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.len() > MAX_LEN {
            return Err(format!(
                "user name of {} bytes (must be 1-{MAX_LEN})",
                name.len()
            ));
        }
        if name.contains('\0') {
            return Err("user name contains a NUL byte".into());
        }
        let user = Self(name.to_string());
        let stem = user.file_stem().len();
        if stem > MAX_STEM {
            return Err(format!(
                "user name encodes to a {stem}-byte file name (at most {MAX_STEM})"
            ));
        }
        Ok(user)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file stem: the name with every byte outside `[A-Za-z0-9._-]` percent-encoded, and a
    /// leading `.` or `-` too, so `@`, spaces, tabs and non-ASCII directory names map one-to-one onto
    /// safe file names that are never hidden, `.` or `..`.
    pub fn file_stem(&self) -> String {
        encode(&self.0)
    }

    /// Inverse of [`file_stem`](Self::file_stem); `None` for names this module did not write.
    pub fn from_file_stem(stem: &str) -> Option<Self> {
        let name = percent_decode_str(stem).decode_utf8().ok()?;
        let name = Self::parse(&name).ok()?;
        // Only the one spelling `file_stem` writes (upper-case hex, nothing encoded that need
        // not be): decoding alone also accepts `%2f` and a stray `%`.
        (name.file_stem() == stem).then_some(name)
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bytes a stem keeps as they are: ASCII letters and digits, `_`, `.` and `-`.
const STEM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'.').remove(b'-');

/// The first byte of a stem: `.` and `-` are encoded too, so a stem is never hidden, `.`, `..`
/// or an option.
const STEM_START: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_');

/// The percent-encoding of [`UserName::file_stem`] for any name: printable ASCII that maps back
/// to the name, so a log line can name an account whose name it cannot show in clear.
/// Upper-case hex, as the state files on disk are named.
pub fn encode(name: &str) -> String {
    // A first byte that is not ASCII starts a multi-byte character, which both sets encode.
    let (first, rest) = name.split_at_checked(1).unwrap_or(("", name));
    let mut out = String::with_capacity(name.len());
    out.extend(utf8_percent_encode(first, STEM_START));
    out.extend(utf8_percent_encode(rest, STEM));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_stored_are_refused() {
        for bad in ["", "a\0b", &"x".repeat(257), &"é".repeat(40)] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn odd_names_nss_may_know_become_safe_stems() {
        // Issue 12: these used to be "unknown" and skipped every gate.
        for name in [
            ".dotuser",
            "..",
            ".",
            "-rf",
            "a/b",
            "../etc/passwd",
            "tab\tuser",
            "a\nb",
        ] {
            let u = UserName::parse(name).unwrap();
            let stem = u.file_stem();
            assert!(!stem.starts_with('.') && !stem.starts_with('-'), "{stem}");
            assert!(!stem.contains('/'), "{stem}");
            assert_eq!(UserName::from_file_stem(&stem).unwrap(), u, "{name:?}");
        }
        assert_eq!(UserName::parse(".x").unwrap().file_stem(), "%2Ex");
        assert_eq!(UserName::parse("a.b").unwrap().file_stem(), "a.b");
        assert!(UserName::parse(&"x".repeat(200)).is_ok());
        assert!(UserName::parse(&"x".repeat(201)).is_err());
    }

    /// The hand-written encoder state files were named with before issue 13.
    fn stem_as_first_written(name: &str) -> String {
        let mut out = String::new();
        for (i, b) in name.bytes().enumerate() {
            if b.is_ascii_alphanumeric() || b == b'_' || (matches!(b, b'.' | b'-') && i > 0) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    #[test]
    fn stems_stay_byte_for_byte_what_is_on_disk_issue_13() {
        let ascii: Vec<char> = (1u8..=127).map(char::from).collect();
        let mut names: Vec<String> = Vec::new();
        for a in &ascii {
            names.push(a.to_string());
            for b in &ascii {
                names.push(format!("{a}{b}x"));
            }
        }
        for odd in [
            "é",
            "éa",
            "-é",
            ".日本",
            "ü.-",
            "a\u{7f}",
            "\u{80}",
            "x\u{10ffff}",
        ] {
            names.push(odd.to_string());
        }
        for name in &names {
            assert_eq!(encode(name), stem_as_first_written(name), "{name:?}");
        }
        assert_eq!(encode(""), "");
    }

    #[test]
    fn directory_names_become_safe_stems_and_back() {
        for name in [
            "alice",
            "john smith@CORP.EXAMPLE",
            "jürgen",
            "a%b",
            "svc_web-01.x",
        ] {
            let u = UserName::parse(name).unwrap();
            let stem = u.file_stem();
            assert!(
                stem.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".%_-".contains(&b)),
                "{stem}"
            );
            assert_eq!(UserName::from_file_stem(&stem).unwrap(), u);
        }
        assert_eq!(UserName::parse("a b").unwrap().file_stem(), "a%20b");
        assert!(UserName::from_file_stem("a%2").is_none());
        assert!(
            UserName::from_file_stem("a%2f").is_none(),
            "only our own upper-case encoding"
        );
    }
}
