//! `verify_password`'s comparison: libcrypt's `crypt_rn` hashes the password with the shadow
//! hash's own setting (yescrypt, SHA-512, bcrypt, … whatever libcrypt knows) and the result is
//! compared with the hash in constant time. No PAM call: nothing is counted, no gate runs.
//! libcrypt is linked by this crate only; the PAM module does not depend on it.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use pam_ticketgate::secret::Secret;

#[link(name = "crypt")]
unsafe extern "C" {
    /// libxcrypt: `char *crypt_rn(const char *phrase, const char *setting, void *data, int size)`;
    /// NULL on failure, otherwise a pointer into `data`.
    fn crypt_rn(
        phrase: *const c_char,
        setting: *const c_char,
        data: *mut c_void,
        size: c_int,
    ) -> *mut c_char;
}

/// Larger than libxcrypt's `struct crypt_data` (32 KiB and a little more).
const DATA_SIZE: usize = 64 * 1024;

/// What the shadow hash says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match,
    Mismatch,
    /// The account is locked (`!` or `*` hash): no password matches.
    Locked,
    /// The hash is empty: no password is set (a mismatch, never a match).
    Empty,
    /// libcrypt does not know the hash's method or the hash is malformed.
    Unusable,
}

/// Compares `password` with the crypt(3) hash `hash`.
pub fn verify(password: &Secret, hash: &str) -> Verdict {
    if hash.is_empty() {
        return Verdict::Empty;
    }
    if hash.starts_with('!') || hash.starts_with('*') {
        return Verdict::Locked;
    }
    // The phrase NUL-terminated in a buffer that is zeroed when dropped (a CString is not).
    if password.expose().contains('\0') {
        return Verdict::Mismatch;
    }
    let mut phrase = Zeroizing::new(Vec::with_capacity(password.expose().len() + 1));
    phrase.extend_from_slice(password.expose().as_bytes());
    phrase.push(0);
    let Ok(setting) = CString::new(hash) else {
        return Verdict::Unusable;
    };
    let mut data = Zeroizing::new(vec![0u8; DATA_SIZE]);
    let size = c_int::try_from(data.len()).unwrap_or(c_int::MAX);
    // SAFETY: `phrase` and `setting` are NUL-terminated and live across the call; `data` is a
    // zeroed buffer of `size` bytes (more than `struct crypt_data`), owned here and not moved
    // while the returned pointer (into it) is read below.
    let out = unsafe {
        crypt_rn(
            phrase.as_ptr().cast(),
            setting.as_ptr(),
            data.as_mut_ptr().cast(),
            size,
        )
    };
    if out.is_null() {
        return Verdict::Unusable;
    }
    // SAFETY: non-NULL, crypt_rn returns a NUL-terminated string inside `data`, which is alive.
    let computed = unsafe { CStr::from_ptr(out) }.to_bytes();
    // A failure token ("*0"/"*1") never equals a real hash.
    if computed.len() == hash.len() && bool::from(computed.ct_eq(hash.as_bytes())) {
        Verdict::Match
    } else {
        Verdict::Mismatch
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn s(p: &str) -> Secret {
        Secret::new(p.to_string())
    }

    // Made with `openssl passwd -6 -salt saltsalt 'Blue-Heron-77'`.
    const SHA512: &str = "$6$saltsalt$3kaL/yEIHtTCv/hYLbobPym/1I4iyhiZuZLI1j9HRM8/oPS2ebHvdYsXiBPANQypSK0OSDDJ3AhgojrWlfWXu/";

    #[test]
    fn sha512_matches_only_its_password() {
        assert_eq!(verify(&s("Blue-Heron-77"), SHA512), Verdict::Match);
        assert_eq!(verify(&s("Blue-Heron-78"), SHA512), Verdict::Mismatch);
    }

    #[test]
    fn locked_empty_and_unknown_hashes_never_match() {
        assert_eq!(verify(&s("x"), ""), Verdict::Empty);
        assert_eq!(verify(&s("x"), &format!("!{SHA512}")), Verdict::Locked);
        assert_eq!(verify(&s("x"), "*"), Verdict::Locked);
        assert_eq!(verify(&s("x"), "$zz$nope$"), Verdict::Unusable);
        assert_eq!(verify(&s("a\0b"), SHA512), Verdict::Mismatch);
    }
}
