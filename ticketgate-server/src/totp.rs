//! TOTP (RFC 6238 over RFC 4226): SHA-1, 30-second steps, 6 digits, one step of skew either way.

use crate::clock::since_epoch;
use crate::secret::Secret;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use std::time::SystemTime;
use subtle::ConstantTimeEq;

/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Bytes of a freshly generated secret (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;

/// The time step (RFC 6238 `T`) that contains `now`.
pub fn step_at(now: SystemTime) -> u64 {
    since_epoch(now).as_secs() / STEP_SECS
}

/// The code for one time step, zero-padded to six digits.
pub fn code_for_step(secret: &Secret, step: u64) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty code never matches.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.expose()) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest.get(19).copied().unwrap_or(0) & 0x0f);
    let mut word = [0_u8; 4];
    for (i, b) in word.iter_mut().enumerate() {
        *b = digest.get(offset + i).copied().unwrap_or(0);
    }
    let binary = u32::from_be_bytes(word) & 0x7fff_ffff;
    format!("{:06}", binary % 10_u32.pow(DIGITS))
}

/// The step a typed code belongs to, among `now`'s step and its two neighbours, considering only
/// steps after `last_used` (so a code is accepted once). The comparison is constant-time.
pub fn matching_step(
    secret: &Secret,
    code: &str,
    now: SystemTime,
    last_used: Option<u64>,
) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in [
        current.saturating_sub(1),
        current,
        current.saturating_add(1),
    ] {
        let fresh = last_used.is_none_or(|used| step > used);
        let same: bool = code_for_step(secret, step)
            .as_bytes()
            .ct_eq(code.as_bytes())
            .into();
        if same && fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// Base32 (RFC 4648, no padding) as authenticator apps expect in `otpauth://` URIs.
pub fn secret_base32(secret: &Secret) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(data_encoding::BASE32_NOPAD.encode(secret.expose()))
}

/// Decodes a base32 secret (padding and case tolerated), as typed or scanned.
pub fn secret_from_base32(text: &str) -> Option<Secret> {
    let cleaned: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
        text.trim_end_matches('=')
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    data_encoding::BASE32_NOPAD
        .decode(cleaned.as_bytes())
        .ok()
        .map(Secret::new)
}

/// What an `otpauth://` component keeps as it is: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one `otpauth://` component (upper-case hex).
fn uri_component(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// The provisioning URI (Google Authenticator key-URI format) an authenticator app scans.
pub fn otpauth_uri(secret: &Secret, issuer: &str, account: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!(
        "otpauth://totp/{issuer_e}:{account_e}?secret={secret}&issuer={issuer_e}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        issuer_e = uri_component(issuer),
        account_e = uri_component(account),
        secret = secret_base32(secret).as_str(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn uri_components_keep_only_unreserved_characters() {
        let all: String = (1u8..=127).map(char::from).chain(['é', '日']).collect();
        let want: String = all
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(uri_component(&all), want);
    }

    fn rfc_secret() -> Secret {
        Secret::new(b"12345678901234567890".to_vec())
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn rfc6238_sha1_vectors_truncated_to_six_digits() {
        // RFC 6238 appendix B (8 digits); the 6-digit code is the last six.
        for (secs, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_for_step(&rfc_secret(), step_at(at(secs))), eight[2..]);
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = ["755224", "287082", "359152", "969429", "338314"];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(code_for_step(&rfc_secret(), counter as u64), *code);
        }
    }

    #[test]
    fn accepts_one_step_of_skew_either_way_but_not_two() {
        let now = at(1_000_000_020);
        let step = step_at(now);
        let s = rfc_secret();
        for (delta, ok) in [
            (-2_i64, false),
            (-1, true),
            (0, true),
            (1, true),
            (2, false),
        ] {
            let code = code_for_step(&s, step.checked_add_signed(delta).unwrap());
            assert_eq!(
                matching_step(&s, &code, now, None).is_some(),
                ok,
                "delta {delta}"
            );
        }
    }

    #[test]
    fn a_used_step_and_older_steps_are_refused() {
        let now = at(1_000_000_020);
        let step = step_at(now);
        let s = rfc_secret();
        let code = code_for_step(&s, step);
        assert_eq!(matching_step(&s, &code, now, None), Some(step));
        assert_eq!(matching_step(&s, &code, now, Some(step)), None);
        let next = code_for_step(&s, step + 1);
        assert_eq!(matching_step(&s, &next, now, Some(step)), Some(step + 1));
    }

    #[test]
    fn malformed_codes_never_match() {
        let s = rfc_secret();
        for code in ["", "12345", "1234567", "abcdef", " 12345"] {
            assert_eq!(matching_step(&s, code, at(59), None), None, "{code:?}");
        }
    }

    #[test]
    fn base32_round_trip_and_uri() {
        let s = rfc_secret();
        assert_eq!(
            secret_base32(&s).as_str(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        let back = secret_from_base32("gezdgnbvgy3tqojqgezdgnbvgy3tqojq").unwrap();
        assert_eq!(back, s);
        let uri = otpauth_uri(&s, "ticketgate", "alice@web 01");
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/ticketgate:alice%40web%2001?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ticketgate&algorithm=SHA1&digits=6&period=30"
        );
    }
}
