//! Credential rules (Cisco credential policy): minimum length and the trivial-password and
//! trivial-PIN checks. Pure functions of the credential, the policy and the account's facts.

mod password;
mod pin;

use std::fmt;

use crate::config::Policy;
use crate::directory::Account;

pub use password::check_password_rules;
pub use pin::check_pin_rules;

/// A refused credential: which rule, and one line saying why (never the credential itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Stable rule name for the audit trail (`rule=…`).
    pub rule: &'static str,
    pub message: String,
}

impl Violation {
    pub(crate) fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks a new password against `policy` (min_length, then the trivial rules when `check_trivial`).
pub fn check_password(password: &str, policy: &Policy, account: &Account) -> Result<(), Violation> {
    check_length(password, policy)?;
    if policy.check_trivial {
        check_password_rules(password, account)?;
    }
    Ok(())
}

/// Checks a new PIN against `policy` (min_length, digits only, then the trivial-PIN rules when
/// `check_trivial`).
pub fn check_pin(pin: &str, policy: &Policy, account: &Account) -> Result<(), Violation> {
    check_length(pin, policy)?;
    if !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(Violation::new(
            "pin_digits",
            "A PIN may contain digits only.",
        ));
    }
    if policy.check_trivial {
        check_pin_rules(pin, account)?;
    }
    Ok(())
}

fn check_length(credential: &str, policy: &Policy) -> Result<(), Violation> {
    let n = credential.chars().count();
    let min = usize::try_from(policy.min_length).unwrap_or(usize::MAX);
    if n < min {
        return Err(Violation::new(
            "min_length",
            format!("Too short: at least {min} characters are required."),
        ));
    }
    Ok(())
}

/// Lower-cased words of the GECOS full name with at least three letters.
pub(crate) fn name_words(account: &Account) -> Vec<String> {
    account
        .gecos
        .full_name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect()
}

/// The digits of the GECOS work phone (the extension), if it has at least three.
pub(crate) fn extension(account: &Account) -> Option<String> {
    let digits: String = account
        .gecos
        .work_phone
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (digits.len() >= 3).then_some(digits)
}

/// True when `s` holds a run of `len` or more characters that rise or fall by one each step
/// (`1234`, `dcba`, `ABCDEFG`, `654321`), compared case-insensitively.
pub(crate) fn has_consecutive_run(s: &str, len: usize) -> bool {
    let chars: Vec<u32> = s
        .chars()
        .map(|c| u32::from(c.to_ascii_lowercase()))
        .collect();
    let mut up = 1;
    let mut down = 1;
    for pair in chars.windows(2) {
        let (a, b) = match pair {
            [a, b] => (*a, *b),
            _ => continue,
        };
        up = if b == a.wrapping_add(1) { up + 1 } else { 1 };
        down = if a == b.wrapping_add(1) { down + 1 } else { 1 };
        if up >= len || down >= len {
            return true;
        }
    }
    false
}

/// True when some character appears `n` or more times in a row.
pub(crate) fn has_repeat(s: &str, n: usize) -> bool {
    let mut run = 0;
    let mut prev = None;
    for c in s.chars() {
        run = if Some(c) == prev { run + 1 } else { 1 };
        prev = Some(c);
        if run >= n {
            return true;
        }
    }
    false
}

#[cfg(test)]
pub(crate) fn account(name: &str, gecos: &str) -> Account {
    Account {
        name: name.into(),
        uid: 1000,
        gid: 1000,
        home: "/home/x".into(),
        shell: "/bin/sh".into(),
        gecos: nss_helper::Gecos::parse(gecos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_digits_come_first() {
        let a = account("ann", "");
        let p = Policy {
            min_length: 8,
            ..Policy::password_default()
        };
        assert_eq!(
            check_password("Ab1!", &p, &a).unwrap_err().rule,
            "min_length"
        );
        let pin = Policy::pin_default();
        assert_eq!(check_pin("12a4", &pin, &a).unwrap_err().rule, "pin_digits");
        assert_eq!(check_pin("284", &pin, &a).unwrap_err().rule, "min_length");
    }

    #[test]
    fn check_trivial_false_keeps_only_length() {
        let a = account("ann", "");
        let p = Policy {
            check_trivial: false,
            min_length: 4,
            ..Policy::password_default()
        };
        assert!(check_password("aaaa", &p, &a).is_ok());
        let pin = Policy {
            check_trivial: false,
            ..Policy::pin_default()
        };
        assert!(check_pin("1111", &pin, &a).is_ok());
        assert!(
            check_pin("111a", &pin, &a).is_err(),
            "digits only even without check_trivial"
        );
    }

    #[test]
    fn runs_and_repeats() {
        assert!(has_consecutive_run("xx654321yy", 4));
        assert!(has_consecutive_run("ABCDEFG", 4));
        assert!(has_consecutive_run("aBcD", 4));
        assert!(!has_consecutive_run("abd", 3));
        assert!(!has_consecutive_run("135", 3));
        assert!(has_repeat("paaass", 3));
        assert!(!has_repeat("paass", 3));
    }
}
