//! Offline PINs for `[offline] login_protect = "hybrid"`: one Argon2id hash per user in `state_dir/<user>.pin` (root, 0600).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};

use crate::secret::Secret;
use crate::user::UserName;

/// Why a PIN could not be stored or checked.
#[derive(Debug)]
pub enum PinError {
    /// The user has no offline PIN: `ticketgate offline-pin set USER`.
    NotSet,
    /// The PIN file exists but cannot be trusted or read (owner, mode, symlink, content).
    Unusable { path: PathBuf, detail: String },
    /// Writing failed.
    Write { path: PathBuf, detail: String },
    /// Hashing failed (random source, parameters).
    Hash(String),
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinError::NotSet => f.write_str(
                "no offline PIN is set for this user; run: ticketgate offline-pin set USER",
            ),
            PinError::Unusable { path, detail } => write!(
                f,
                "offline PIN file {}: {detail}; set it again with ticketgate offline-pin set",
                path.display()
            ),
            PinError::Write { path, detail } => {
                write!(
                    f,
                    "cannot write offline PIN file {}: {detail}",
                    path.display()
                )
            }
            PinError::Hash(e) => write!(f, "cannot hash the PIN: {e}"),
        }
    }
}

impl std::error::Error for PinError {}

fn path_of(state_dir: &Path, user: &UserName) -> PathBuf {
    state_dir.join(format!("{}.pin", user.file_stem()))
}

/// Hashes `pin` (Argon2id, random salt) and stores it for `user`, replacing any earlier PIN.
/// The caller checks the PIN rules first.
pub fn set(state_dir: &Path, user: &UserName, pin: &Secret) -> Result<(), PinError> {
    let mut salt_bytes = [0u8; 16];
    getrandom::fill(&mut salt_bytes).map_err(|e| PinError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| PinError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password(pin.expose().as_bytes(), &salt)
        .map_err(|e| PinError::Hash(e.to_string()))?
        .to_string();
    let path = path_of(state_dir, user);
    crate::fsutil::replace(&path, format!("{hash}\n").as_bytes(), true).map_err(|e| {
        PinError::Write {
            path: path.clone(),
            detail: e.to_string(),
        }
    })
}

/// Removes `user`'s offline PIN (no error when there is none).
pub fn remove(state_dir: &Path, user: &UserName) -> Result<(), PinError> {
    let path = path_of(state_dir, user);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PinError::Write {
            path,
            detail: e.to_string(),
        }),
        _ => Ok(()),
    }
}

/// True when `pin` is `user`'s offline PIN.
pub fn verify(state_dir: &Path, user: &UserName, pin: &Secret) -> Result<bool, PinError> {
    let path = path_of(state_dir, user);
    let unusable = |detail: String| PinError::Unusable {
        path: path.clone(),
        detail,
    };
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PinError::NotSet),
        Err(e) => return Err(unusable(e.to_string())),
    };
    crate::fsutil::check_opened(&meta, crate::fsutil::Rule::SECRET)
        .map_err(|p| unusable(p.to_string()))?;
    let text = fs::read_to_string(&path).map_err(|e| unusable(e.to_string()))?;
    let hash = crate::hash::parse(text.trim()).map_err(unusable)?;
    Ok(Argon2::default()
        .verify_password(pin.expose().as_bytes(), &hash)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn alice() -> UserName {
        UserName::parse("alice").unwrap()
    }

    #[test]
    fn set_then_verify() {
        crate::test_support::needs_root!("set_then_verify");
        let d = tempfile::tempdir().unwrap();
        set(d.path(), &alice(), &Secret::new("482916".into())).unwrap();
        assert!(verify(d.path(), &alice(), &Secret::new("482916".into())).unwrap());
        assert!(!verify(d.path(), &alice(), &Secret::new("482917".into())).unwrap());
        let text = fs::read_to_string(d.path().join("alice.pin")).unwrap();
        assert!(text.starts_with("$argon2id$"), "{text}");
        assert!(!text.contains("482916"));
        assert_eq!(
            fs::metadata(d.path().join("alice.pin")).unwrap().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn no_pin_is_not_set_and_remove_clears_it() {
        let d = tempfile::tempdir().unwrap();
        let pin = Secret::new("482916".into());
        assert!(matches!(
            verify(d.path(), &alice(), &pin),
            Err(PinError::NotSet)
        ));
        set(d.path(), &alice(), &pin).unwrap();
        remove(d.path(), &alice()).unwrap();
        assert!(matches!(
            verify(d.path(), &alice(), &pin),
            Err(PinError::NotSet)
        ));
        remove(d.path(), &alice()).unwrap();
    }

    #[test]
    fn tampered_or_loose_files_are_unusable() {
        crate::test_support::needs_root!("tampered_or_loose_files_are_unusable");
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let pin = Secret::new("482916".into());
        fs::write(d.path().join("alice.pin"), "plain 482916").unwrap();
        fs::set_permissions(
            d.path().join("alice.pin"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert!(matches!(
            verify(d.path(), &alice(), &pin),
            Err(PinError::Unusable { .. })
        ));
        set(d.path(), &alice(), &pin).unwrap();
        fs::set_permissions(
            d.path().join("alice.pin"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let e = verify(d.path(), &alice(), &pin).unwrap_err();
        assert!(
            e.to_string().contains("mode 0644") && e.to_string().contains("chmod 600"),
            "{e}"
        );
    }
}
