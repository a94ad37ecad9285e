//! Trivial-PIN rules: repeats, too few distinct digits, repeated groups, straight keypad lines,
//! runs of consecutive digits, the extension / mailbox, and dial-by-name digits.

use super::{Violation, extension, has_consecutive_run, has_repeat, name_words};
use crate::directory::Account;

/// Straight lines on a phone keypad (rows, columns, diagonals; `0` sits below `8`).
const KEYPAD_LINES: [&str; 8] = ["123", "456", "789", "147", "2580", "369", "159", "357"];

/// The trivial-PIN rules (min_length and digits-only are checked by the caller).
pub fn check_pin_rules(pin: &str, account: &Account) -> Result<(), Violation> {
    if has_repeat(pin, 3) {
        return Err(Violation::new(
            "repeated_digits",
            "No digit may appear three or more times in a row.",
        ));
    }
    let mut distinct: Vec<char> = pin.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 3 {
        return Err(Violation::new(
            "distinct_digits",
            "Use at least three different digits.",
        ));
    }
    if is_repeated_group(pin) {
        return Err(Violation::new(
            "repeated_group",
            "The PIN must not repeat a group of digits (such as 408408).",
        ));
    }
    if is_keypad_line(pin) {
        return Err(Violation::new(
            "keypad_line",
            "The PIN must not be a straight line on the keypad.",
        ));
    }
    if has_consecutive_run(pin, 4) {
        return Err(Violation::new(
            "consecutive_digits",
            "The PIN must not contain runs of consecutive digits (such as 1234).",
        ));
    }
    for (rule, number) in [
        ("contains_extension", extension(account)),
        ("contains_mailbox", mailbox(account)),
    ] {
        if let Some(n) = number {
            let reversed: String = n.chars().rev().collect();
            if pin.contains(&n) || pin.contains(&reversed) {
                return Err(Violation::new(
                    rule,
                    "The PIN must not contain your extension or mailbox, or their reverse.",
                ));
            }
        }
    }
    let first_last = name_words(account);
    let named = [first_last.first(), first_last.last()];
    if named
        .into_iter()
        .flatten()
        .any(|w| pin.contains(&dial_digits(w)))
    {
        return Err(Violation::new(
            "dial_by_name",
            "The PIN must not spell your first or last name on the keypad.",
        ));
    }
    Ok(())
}

/// The whole PIN is one group of two or more digits, repeated (`408408`, `1212`).
fn is_repeated_group(pin: &str) -> bool {
    let n = pin.len();
    (1..=n / 2)
        .filter(|k| n.is_multiple_of(*k))
        .any(|k| pin.get(..k).is_some_and(|g| g.repeat(n / k) == pin))
}

/// The whole PIN, read either way, is a straight keypad line or a part of one at least 3 long.
fn is_keypad_line(pin: &str) -> bool {
    let reversed: String = pin.chars().rev().collect();
    pin.len() >= 3
        && KEYPAD_LINES
            .iter()
            .any(|line| line.contains(pin) || line.contains(reversed.as_str()))
}

/// The mailbox number: GECOS "other" when it is a number, or the digits after `mailbox=` in it.
fn mailbox(account: &Account) -> Option<String> {
    let other = account.gecos.other.trim();
    let raw = match other.find("mailbox=") {
        Some(i) => other.get(i + "mailbox=".len()..).unwrap_or_default(),
        None if other.chars().all(|c| c.is_ascii_digit()) => other,
        None => return None,
    };
    let digits: String = raw.chars().take_while(char::is_ascii_digit).collect();
    (digits.len() >= 3).then_some(digits)
}

/// A name typed on a phone keypad (ABC=2 … WXYZ=9); other characters are dropped.
fn dial_digits(word: &str) -> String {
    word.chars()
        .filter_map(|c| match c.to_ascii_lowercase() {
            'a'..='c' => Some('2'),
            'd'..='f' => Some('3'),
            'g'..='i' => Some('4'),
            'j'..='l' => Some('5'),
            'm'..='o' => Some('6'),
            'p'..='s' => Some('7'),
            't'..='v' => Some('8'),
            'w'..='z' => Some('9'),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::account;

    fn rule(pin: &str) -> Option<&'static str> {
        let a = account("jsmith", "John Smith,R12,4123,,mailbox=5501");
        check_pin_rules(pin, &a).err().map(|v| v.rule)
    }

    #[test]
    fn a_good_pin_passes() {
        assert_eq!(rule("284917"), None);
        assert_eq!(rule("5092"), None);
    }

    #[test]
    fn examples_from_the_policy() {
        assert_eq!(rule("121212"), Some("distinct_digits"));
        assert_eq!(rule("408408"), Some("repeated_group"));
        assert_eq!(rule("2580"), Some("keypad_line"));
        assert_eq!(rule("0852"), Some("keypad_line"));
        assert_eq!(rule("159"), Some("keypad_line"));
        assert_eq!(rule("753"), Some("keypad_line"));
        assert_eq!(rule("987"), Some("keypad_line"));
        assert_eq!(rule("369"), Some("keypad_line"));
        assert_eq!(rule("1114"), Some("repeated_digits"));
        assert_eq!(rule("1124"), None, "two in a row is fine");
    }

    #[test]
    fn runs_extension_mailbox_and_names() {
        assert_eq!(rule("901234"), Some("consecutive_digits"));
        assert_eq!(rule("976543"), Some("consecutive_digits"));
        assert_eq!(rule("961238"), None, "a run of three is fine");
        assert_eq!(rule("904123"), Some("contains_extension"));
        assert_eq!(rule("932149"), Some("contains_extension"), "reversed");
        assert_eq!(rule("815501"), Some("contains_mailbox"));
        assert_eq!(rule("5646"), Some("dial_by_name"), "JOHN");
        assert_eq!(rule("0764840"), Some("dial_by_name"), "SMITH = 76484");
    }

    #[test]
    fn mailbox_sources() {
        assert_eq!(mailbox(&account("a", ",,,,7788")), Some("7788".into()));
        assert_eq!(
            mailbox(&account("a", ",,,,desk 4, mailbox=661")),
            Some("661".into())
        );
        assert_eq!(mailbox(&account("a", ",,,,on call")), None);
        assert_eq!(dial_digits("O'Neil"), "66345");
    }
}
