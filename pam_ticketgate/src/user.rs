//! User names as they arrive from PAM, checked before they become file names.

use std::fmt;

/// Longest name accepted; glibc and shadow limit names far below this.
const MAX_LEN: usize = 256;

/// A user name that is safe to log and to turn into a file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// Accepts 1-256 bytes of printable characters, no `/`, not starting with `.` or `-`.
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.len() > MAX_LEN {
            return Err(format!(
                "user name of {} bytes (must be 1-{MAX_LEN})",
                name.len()
            ));
        }
        if name.starts_with('.') || name.starts_with('-') {
            return Err("user name starts with '.' or '-'".into());
        }
        if name.chars().any(|c| c.is_control() || c == '/') {
            return Err("user name contains '/' or a control character".into());
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file stem: the name with every byte outside `[A-Za-z0-9._-]` percent-encoded,
    /// so `@`, spaces and non-ASCII directory names map one-to-one onto safe file names.
    pub fn file_stem(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// Inverse of [`file_stem`](Self::file_stem); `None` for names this module did not write.
    pub fn from_file_stem(stem: &str) -> Option<Self> {
        let bytes = stem.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b == b'%' {
                let hex = stem.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(b);
                i += 1;
            }
        }
        let name = Self::parse(&String::from_utf8(out).ok()?).ok()?;
        (name.file_stem() == stem).then_some(name)
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_are_refused() {
        for bad in [
            "",
            "..",
            ".hidden",
            "-rf",
            "a/b",
            "../etc/passwd",
            "a\nb",
            "a\0b",
            &"x".repeat(257),
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
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
