//! Secret bytes (TOTP secrets, host tokens): zeroized on drop, never printed.

use std::fmt;
use zeroize::Zeroizing;

/// Secret bytes whose `Debug` is redacted and whose memory is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes that must never reach a log line or an error string.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Fresh random bytes from the operating system's CSPRNG.
    pub fn random(len: usize) -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new(vec![0_u8; len]);
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The secret bytes themselves; callers must not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn random_secrets_differ() {
        let a = Secret::random(20).unwrap();
        let b = Secret::random(20).unwrap();
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a, b);
    }
}
