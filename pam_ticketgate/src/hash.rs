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

/// The most memory (KiB), passes and lanes a stored hash may ask for. The module writes
/// `Argon2::default()` hashes (19 456 KiB, 2 passes, 1 lane); these limits leave room for
/// stronger ones while keeping one check far below a second and 64 MiB.
const MAX_M_KIB: u32 = 65_536;
const MAX_T: u32 = 8;
const MAX_P: u32 = 4;

/// Parses a stored PHC string whose Argon2 parameters are within the module's limits: a
/// corrupt or planted file must not make a login allocate gigabytes or spin for minutes (the
/// parameters come from the string itself).
pub fn parse(phc: &str) -> Result<PasswordHash<'_>, String> {
    let hash = PasswordHash::new(phc).map_err(|e| format!("not a hash: {e}"))?;
    // Checked on the text before argon2 reads them: its own check multiplies p by 8 in u32
    // (an overflow panic in builds with overflow checks).
    let over = |name: &str, max: u32| hash.params.get_decimal(name).is_some_and(|v| v > max);
    if over("m", MAX_M_KIB) || over("t", MAX_T) || over("p", MAX_P) {
        return Err(format!(
            "Argon2 parameters {} exceed the module's limits (m<={MAX_M_KIB}, t<={MAX_T}, p<={MAX_P})",
            hash.params
        ));
    }
    argon2::Params::try_from(&hash).map_err(|e| format!("not an Argon2 hash: {e}"))?;
    Ok(hash)
}

/// True when `secret` matches the PHC string `phc`; a malformed string, or one asking for
/// more than [`parse`] allows, never matches.
pub fn verify(secret: &Secret, phc: &str) -> bool {
    parse(phc).is_ok_and(|h| {
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

    /// Issue 7 (fuzzing, run_files): the parameters come from the stored string, and one
    /// asking for m=124512456 KiB made the check allocate 127 GB and abort the process (an
    /// allocation failure is not a panic: no catch_unwind saves the login). Such a string now
    /// never matches and is never computed.
    #[test]
    fn a_hash_asking_for_gigabytes_is_refused_not_computed_issue_7() {
        let s = Secret::new("hunter2".into());
        for phc in [
            "$argon2id$v=19$m=124512456,t=1$sRzYWxx0$aGFzaGhhc2ho2g",
            "$argon2id$v=19$m=19456,t=4294967295,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
            "$argon2id$v=19$m=19456,t=2,p=255$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
            // argon2 0.5.3 itself overflows on 8 * p (found by the fuzzer after the fix above).
            "$argon2id$v=19$m=29191,t=2,p=1000104782$1hoYXNoaGFzaG96c2g",
        ] {
            assert!(parse(phc).unwrap_err().contains("exceed"), "{phc}");
            assert!(!verify(&s, phc));
        }
        let ours = hash(&s).unwrap();
        assert!(parse(&ours).is_ok() && verify(&s, &ours));
    }
}
