//! Reading a secret file (a password, an API token, a host token): the one reader the PAM
//! module, the `ticketgate` CLI and `ticketgate-server` share, so a secret file means the
//! same thing to each of them.
//!
//! The file must pass the caller's [`Rule`] (for the module: root-owned, no access for group or
//! others, named directly, in directories only root can change), checked on the descriptor it
//! is read from. The secret is its **first line**, without surrounding white space; the rest of
//! the file is ignored (a comment may follow). Everything read is zeroed when dropped.

use std::fmt;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::{Refused, Rule, open_with_metadata};

/// The largest secret file read: a token or a password is far shorter.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a secret file gave no secret.
#[derive(Debug)]
pub enum SecretError {
    /// The file, or a directory leading to it, fails the rule, or cannot be opened.
    Refused(Refused),
    /// Reading the opened file failed.
    Read(std::io::Error),
    /// Larger than [`MAX_SECRET_BYTES`].
    TooLarge(u64),
    /// The first line holds nothing but white space.
    Empty,
    /// [`read_secret_text`]: the first line is not UTF-8.
    NotText,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(r) => write!(f, "{r}"),
            Self::Read(e) => write!(f, "cannot read it: {e}"),
            Self::TooLarge(n) => write!(
                f,
                "{n} bytes, more than the {MAX_SECRET_BYTES} a secret file may hold"
            ),
            Self::Empty => write!(f, "its first line is empty"),
            Self::NotText => write!(f, "its first line is not UTF-8 text"),
        }
    }
}

impl std::error::Error for SecretError {}

/// The secret in `path` once it passes `rule`: its first line, without surrounding ASCII white
/// space, in memory zeroed on drop. The file is read into one buffer of its size that is never
/// grown (so no copy is left behind by a reallocation) and zeroed too.
pub fn read_secret(path: &Path, rule: Rule) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let (mut file, meta) = open_with_metadata(path, rule).map_err(SecretError::Refused)?;
    if meta.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge(meta.len()));
    }
    // One byte more than the size, to see a file that grew since fstat.
    let size = usize::try_from(meta.len()).unwrap_or(0);
    let mut buf = Zeroizing::new(vec![0u8; size + 1]);
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SecretError::Read(e)),
        }
    }
    if filled > size {
        return Err(SecretError::TooLarge(
            u64::try_from(filled).unwrap_or(u64::MAX),
        ));
    }
    let text = buf.get(..filled).unwrap_or_default();
    let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let secret = line.trim_ascii();
    if secret.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(Zeroizing::new(secret.to_vec()))
}

/// [`read_secret`] for a secret that must be text (a password or token sent in a header).
pub fn read_secret_text(path: &Path, rule: Rule) -> Result<Zeroizing<String>, SecretError> {
    let bytes = read_secret(path, rule)?;
    // Checked in place: the only copy made is the one returned, zeroed on drop.
    let text = std::str::from_utf8(&bytes).map_err(|_| SecretError::NotText)?;
    Ok(Zeroizing::new(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn secret_file(dir: &Path, text: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join("secret");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        d
    }

    #[test]
    fn the_secret_is_the_first_line_trimmed() {
        let d = dir();
        for (text, want) in [
            (&b"s3cret\n"[..], &b"s3cret"[..]),
            (b"  s3cret \r\n# a comment\nsecond line\n", b"s3cret"),
            (b"pass word with spaces", b"pass word with spaces"),
            (b"\xff\xfe binary\n", b"\xff\xfe binary"),
        ] {
            let p = secret_file(d.path(), text, 0o600);
            assert_eq!(read_secret(&p, Rule::SECRET).unwrap().as_slice(), want);
        }
        let p = secret_file(d.path(), b" t0ken \n", 0o600);
        assert_eq!(
            read_secret_text(&p, Rule::SECRET).unwrap().as_str(),
            "t0ken"
        );
        let p = secret_file(d.path(), b"\xff\xfe\n", 0o600);
        assert!(matches!(
            read_secret_text(&p, Rule::SECRET),
            Err(SecretError::NotText)
        ));
    }

    #[test]
    fn empty_too_large_and_open_files_are_refused() {
        let d = dir();
        for text in [&b""[..], b"\n", b"   \nsecond\n"] {
            let p = secret_file(d.path(), text, 0o600);
            assert!(
                matches!(read_secret(&p, Rule::SECRET), Err(SecretError::Empty)),
                "{text:?}"
            );
        }
        let big = vec![b'x'; usize::try_from(MAX_SECRET_BYTES).unwrap() + 1];
        let p = secret_file(d.path(), &big, 0o600);
        assert!(matches!(
            read_secret(&p, Rule::SECRET),
            Err(SecretError::TooLarge(_))
        ));
        let p = secret_file(d.path(), b"s3cret\n", 0o640);
        let e = read_secret(&p, Rule::SECRET).unwrap_err();
        assert!(matches!(e, SecretError::Refused(_)), "{e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        let missing = d.path().join("missing");
        assert!(matches!(
            read_secret(&missing, Rule::SECRET),
            Err(SecretError::Refused(_))
        ));
    }

    #[test]
    fn a_symbolic_link_to_a_good_secret_is_refused() {
        let d = dir();
        let p = secret_file(d.path(), b"s3cret\n", 0o600);
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(matches!(
            read_secret(&link, Rule::SECRET),
            Err(SecretError::Refused(_))
        ));
    }
}
