//! Host tokens: loading the `[[host]]` token files safely and checking bearer tokens in constant time.

use crate::config::HostEntry;
use crate::secret::Secret;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// Shortest token accepted from a token file.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why a token file was refused.
#[derive(Debug)]
pub enum TokenFileError {
    /// The file could not be opened or read.
    Unreadable {
        host: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a regular file.
    NotAFile { host: String, path: PathBuf },
    /// Group or others may read or write it.
    TooOpen {
        host: String,
        path: PathBuf,
        mode: u32,
    },
    /// Owned by someone other than root or the server's own user.
    WrongOwner {
        host: String,
        path: PathBuf,
        uid: u32,
    },
    /// Empty or too short to be a real secret.
    TooShort { host: String, path: PathBuf },
    /// The random key for hashing tokens could not be drawn.
    Random(getrandom::Error),
}

impl fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { host, path, source } => write!(
                f,
                "[[host]] {host:?}: cannot read token_file {}: {source}",
                path.display()
            ),
            Self::NotAFile { host, path } => write!(
                f,
                "[[host]] {host:?}: token_file {} is not a regular file",
                path.display()
            ),
            Self::TooOpen { host, path, mode } => write!(
                f,
                "[[host]] {host:?}: token_file {} is open to group or others (mode {mode:04o}); run: chmod 600 {}",
                path.display(),
                path.display()
            ),
            Self::WrongOwner { host, path, uid } => write!(
                f,
                "[[host]] {host:?}: token_file {} is owned by uid {uid}, not root or the server's user; run: chown root {}",
                path.display(),
                path.display()
            ),
            Self::TooShort { host, path } => write!(
                f,
                "[[host]] {host:?}: token_file {} holds fewer than {MIN_TOKEN_LEN} characters; generate one with: head -c 32 /dev/urandom | base64 > {}",
                path.display(),
                path.display()
            ),
            Self::Random(e) => write!(f, "cannot draw random bytes from the OS: {e}"),
        }
    }
}

impl std::error::Error for TokenFileError {}

/// The effective user id of this process.
fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory we own and cannot fail (POSIX).
    unsafe { libc::geteuid() }
}

/// What is wrong with a secret-bearing file (token or TLS key).
#[derive(Debug)]
pub enum SecretFileProblem {
    /// It cannot be inspected.
    Unreadable(std::io::Error),
    /// Not a regular file.
    NotAFile,
    /// Mode allows group or others (the mode is given).
    TooOpen(u32),
    /// Owned by this uid instead of root or the server's user.
    WrongOwner(u32),
}

/// Checks a secret-bearing file: regular, owned by root or us, mode 0600 or stricter.
pub fn check_secret_file(path: &Path) -> Result<(), SecretFileProblem> {
    let meta = std::fs::metadata(path).map_err(SecretFileProblem::Unreadable)?;
    if !meta.is_file() {
        return Err(SecretFileProblem::NotAFile);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretFileProblem::TooOpen(mode));
    }
    let uid = meta.uid();
    if uid != 0 && uid != effective_uid() {
        return Err(SecretFileProblem::WrongOwner(uid));
    }
    Ok(())
}

struct Host {
    name: String,
    tag: [u8; 20],
}

/// The hosts allowed to call `/v1/attempt`, holding only keyed hashes of their tokens.
pub struct HostTokens {
    key: Secret,
    hosts: Vec<Host>,
}

impl fmt::Debug for HostTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        f.debug_struct("HostTokens")
            .field("hosts", &names)
            .finish_non_exhaustive()
    }
}

impl HostTokens {
    /// Reads every host's token file, refusing unreadable, too-open or foreign-owned ones.
    pub fn load(entries: &[HostEntry]) -> Result<Self, TokenFileError> {
        let mut tokens = Vec::with_capacity(entries.len());
        for e in entries {
            let host = e.name.clone();
            let path = e.token_file.clone();
            match check_secret_file(&path) {
                Ok(()) => {}
                Err(SecretFileProblem::Unreadable(source)) => {
                    return Err(TokenFileError::Unreadable { host, path, source });
                }
                Err(SecretFileProblem::NotAFile) => {
                    return Err(TokenFileError::NotAFile { host, path });
                }
                Err(SecretFileProblem::TooOpen(mode)) => {
                    return Err(TokenFileError::TooOpen { host, path, mode });
                }
                Err(SecretFileProblem::WrongOwner(uid)) => {
                    return Err(TokenFileError::WrongOwner { host, path, uid });
                }
            }
            let bytes =
                Secret::new(
                    std::fs::read(&path).map_err(|source| TokenFileError::Unreadable {
                        host: host.clone(),
                        path: path.clone(),
                        source,
                    })?,
                );
            let token = trim_ascii_whitespace(bytes.expose());
            if token.len() < MIN_TOKEN_LEN {
                return Err(TokenFileError::TooShort { host, path });
            }
            tokens.push((host, Secret::new(token.to_vec())));
        }
        Self::from_tokens(tokens).map_err(TokenFileError::Random)
    }

    /// Builds the table from names and tokens already in memory.
    pub fn from_tokens(tokens: Vec<(String, Secret)>) -> Result<Self, getrandom::Error> {
        let key = Secret::random(32)?;
        let hosts = tokens
            .into_iter()
            .map(|(name, token)| Host {
                tag: tag(&key, token.expose()),
                name,
            })
            .collect();
        Ok(Self { key, hosts })
    }

    /// The name of the host whose token this is, checked against every host in constant time.
    ///
    /// Both sides are hashed with a per-process key first, so neither content nor length leaks.
    pub fn authenticate(&self, presented: &[u8]) -> Option<&str> {
        let presented = tag(&self.key, presented);
        let mut found = None;
        for h in &self.hosts {
            if bool::from(h.tag.ct_eq(&presented)) {
                found = Some(h.name.as_str());
            }
        }
        found
    }

    /// The token from an `Authorization: Bearer …` header value.
    pub fn bearer(header: Option<&[u8]>) -> Option<&[u8]> {
        let value = header?;
        let rest = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "))?;
        Some(trim_ascii_whitespace(rest))
    }

    /// How many hosts are configured.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// True when no host is configured.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

fn tag(key: &Secret, token: &[u8]) -> [u8; 20] {
    let mut out = [0_u8; 20];
    if let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key.expose()) {
        mac.update(token);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

fn trim_ascii_whitespace(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn table() -> HostTokens {
        HostTokens::from_tokens(vec![
            (
                "web01".into(),
                Secret::new(b"0123456789abcdef-web01".to_vec()),
            ),
            (
                "db01".into(),
                Secret::new(b"0123456789abcdef-db01".to_vec()),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn right_token_names_its_host_and_wrong_ones_none() {
        let t = table();
        assert_eq!(t.authenticate(b"0123456789abcdef-db01"), Some("db01"));
        assert_eq!(t.authenticate(b"0123456789abcdef-web01"), Some("web01"));
        assert_eq!(t.authenticate(b"0123456789abcdef-web0"), None);
        assert_eq!(t.authenticate(b""), None);
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(HostTokens::bearer(Some(b"Bearer abc ")), Some(&b"abc"[..]));
        assert_eq!(HostTokens::bearer(Some(b"Basic abc")), None);
        assert_eq!(HostTokens::bearer(None), None);
    }

    #[test]
    fn debug_lists_names_only() {
        let dbg = format!("{:?}", table());
        assert!(
            dbg.contains("web01") && !dbg.contains("0123456789abcdef"),
            "{dbg}"
        );
    }

    fn token_file(mode: u32, content: &[u8]) -> (tempfile::TempDir, HostEntry) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (
            dir,
            HostEntry {
                name: "web01".into(),
                token_file: path,
            },
        )
    }

    #[test]
    fn token_files_must_be_private_and_long_enough() {
        let (_d, ok) = token_file(0o600, b"0123456789abcdef\n");
        let t = HostTokens::load(&[ok]).unwrap();
        assert_eq!(t.authenticate(b"0123456789abcdef"), Some("web01"));

        let (_d, open) = token_file(0o644, b"0123456789abcdef\n");
        let err = HostTokens::load(&[open]).unwrap_err().to_string();
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );

        let (_d, short) = token_file(0o600, b"short\n");
        let err = HostTokens::load(&[short]).unwrap_err().to_string();
        assert!(err.contains("fewer than 16"), "{err}");

        let missing = HostEntry {
            name: "x".into(),
            token_file: "/nonexistent/t".into(),
        };
        let err = HostTokens::load(&[missing]).unwrap_err().to_string();
        assert!(
            err.contains("cannot read token_file /nonexistent/t"),
            "{err}"
        );
    }
}
