//! One-time enrollment codes (`ticketgate-server enroll --code USER`): the administrator hands
//! the user a short random code; the user redeems it on the phone page, where the server draws
//! the TOTP secret. Only the code's SHA-256 is stored; a code dies at its expiry or after
//! `MAX_TRIES` wrong tries (a wrong code, or a wrong first TOTP code when confirming).

use crate::clock::since_epoch;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;

/// The characters a code is drawn from: digits and capitals without 0, 1, I and O (32, so each
/// character carries 5 bits without bias).
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Characters in a code (60 bits).
pub const LEN: usize = 12;
/// Wrong tries after which a code is dead.
pub const MAX_TRIES: u32 = 5;
/// How long a code lives unless `--ttl` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
/// The longest `--ttl` accepted: the code is a bearer secret until it expires.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A fresh code, e.g. `K7QM-2XHD-9RWB` (dashes for reading only).
pub fn generate() -> Result<zeroize::Zeroizing<String>, getrandom::Error> {
    let mut bytes = zeroize::Zeroizing::new([0_u8; LEN]);
    getrandom::fill(bytes.as_mut_slice())?;
    let mut code = zeroize::Zeroizing::new(String::with_capacity(LEN + LEN / 4));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        let c = ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'2');
        code.push(char::from(c));
    }
    Ok(code)
}

/// The code as typed, reduced to what is hashed: upper case, without spaces and dashes.
pub fn normalize(typed: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(
        typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    )
}

/// What the store keeps of a code: SHA-256 of its normalized form.
pub fn hash(typed: &str) -> [u8; 32] {
    Sha256::digest(normalize(typed).as_bytes()).into()
}

/// Why a typed code is refused (the `reason` of `enroll_code_refused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No pending code for this user.
    NoCode,
    /// The code's time is up.
    Expired,
    /// `MAX_TRIES` wrong tries already.
    Dead,
    /// The code does not match.
    WrongCode,
    /// Confirming before the code was redeemed (no secret drawn yet).
    NotRedeemed,
    /// The first TOTP code does not match the new secret.
    WrongTotp,
    /// The user got an enrollment meanwhile (an administrator's `enroll`).
    AlreadyEnrolled,
}

impl Refused {
    /// The log's word for it.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NoCode => "no_code",
            Self::Expired => "expired",
            Self::Dead => "too_many_tries",
            Self::WrongCode => "wrong_code",
            Self::NotRedeemed => "not_redeemed",
            Self::WrongTotp => "wrong_totp",
            Self::AlreadyEnrolled => "already_enrolled",
        }
    }

    /// True when this refusal counts as one of the code's wrong tries.
    pub fn is_wrong_try(self) -> bool {
        matches!(self, Self::WrongCode | Self::WrongTotp)
    }
}

/// The checks both stores make on a stored code before anything else: expiry (the code is good
/// while `now` is before `expires`, in seconds since the epoch), the try count, the hash.
pub fn judge(
    stored_hash: &[u8],
    expires: u64,
    tries: u32,
    typed_hash: &[u8; 32],
    now: SystemTime,
) -> Result<(), Refused> {
    if since_epoch(now).as_secs() >= expires {
        return Err(Refused::Expired);
    }
    if tries >= MAX_TRIES {
        return Err(Refused::Dead);
    }
    if !bool::from(stored_hash.ct_eq(typed_hash.as_slice())) {
        return Err(Refused::WrongCode);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn codes_are_long_random_and_from_the_alphabet() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(*a, *b);
        let bare = normalize(&a);
        assert_eq!(bare.len(), LEN);
        assert!(bare.bytes().all(|c| ALPHABET.contains(&c)), "{}", *a);
        assert_eq!(a.matches('-').count(), 2, "{}", *a);
    }

    #[test]
    fn typing_variants_hash_alike() {
        assert_eq!(hash("K7QM-2XHD-9RWB"), hash(" k7qm 2xhd9rwb "));
        assert_ne!(hash("K7QM-2XHD-9RWB"), hash("K7QM-2XHD-9RWC"));
    }

    #[test]
    fn judge_checks_expiry_at_the_second_then_tries_then_the_hash() {
        let h = hash("ABCD-EFGH-JKLM");
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(judge(&h, 1000, 0, &h, at(999)), Ok(()));
        assert_eq!(judge(&h, 1000, 0, &h, at(1000)), Err(Refused::Expired));
        assert_eq!(judge(&h, 1000, 5, &h, at(10)), Err(Refused::Dead));
        assert_eq!(judge(&h, 1000, 4, &h, at(10)), Ok(()));
        assert_eq!(
            judge(&h, 1000, 0, &hash("x"), at(10)),
            Err(Refused::WrongCode)
        );
    }
}
