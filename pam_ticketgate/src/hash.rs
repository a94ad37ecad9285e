//! Salted Argon2id hashes (PHC strings) for credential history and offline PINs.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::secret::Secret;

/// Hashes `secret` with a fresh random salt (OS CSPRNG).
pub fn hash(secret: &Secret) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(secret.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("argon2: {e}"))
}

/// True when `secret` matches the PHC string `phc`; a malformed string never matches.
pub fn verify(secret: &Secret, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.expose().as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_and_verify() {
        let s = Secret::new("Tr0ub4dor&3".into());
        let (a, b) = (hash(&s).unwrap(), hash(&s).unwrap());
        assert_ne!(a, b, "fresh salt each time");
        assert!(a.starts_with("$argon2id$"));
        assert!(!a.contains("Tr0ub4dor"));
        assert!(verify(&s, &a) && verify(&s, &b));
        assert!(!verify(&Secret::new("other".into()), &a));
        assert!(!verify(&s, "not a hash"));
    }
}
