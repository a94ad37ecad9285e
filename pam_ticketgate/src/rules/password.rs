//! Trivial-password rules: character classes, repeats, the user's own names and extension,
//! and runs of consecutive characters.

use super::{Violation, extension, has_consecutive_run, has_repeat, name_words};
use crate::directory::Account;

/// The trivial-password rules (min_length is checked by the caller).
pub fn check_password_rules(password: &str, account: &Account) -> Result<(), Violation> {
    let classes = [
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|b| **b).count() < 3 {
        return Err(Violation::new(
            "character_classes",
            "Use at least three of: upper-case letters, lower-case letters, digits, symbols.",
        ));
    }
    if has_repeat(password, 3) {
        return Err(Violation::new(
            "repeated_characters",
            "No character may appear three or more times in a row.",
        ));
    }
    let lower = password.to_lowercase();
    let user = account.name.to_lowercase();
    let reversed: String = user.chars().rev().collect();
    if lower.contains(&user) || lower.contains(&reversed) {
        return Err(Violation::new(
            "contains_user_name",
            "The password must not contain your user name or its reverse.",
        ));
    }
    if name_words(account)
        .iter()
        .any(|w| lower.contains(w.as_str()))
    {
        return Err(Violation::new(
            "contains_name",
            "The password must not contain your name.",
        ));
    }
    if extension(account).is_some_and(|ext| password.contains(&ext)) {
        return Err(Violation::new(
            "contains_extension",
            "The password must not contain your extension.",
        ));
    }
    if has_consecutive_run(password, 4) {
        return Err(Violation::new(
            "consecutive_characters",
            "The password must not contain runs of consecutive characters (such as 4321 or abcd).",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::account;

    fn rule(pw: &str) -> Option<&'static str> {
        let a = account("jsmith", "John Smith,R12,4123,,");
        check_password_rules(pw, &a).err().map(|v| v.rule)
    }

    #[test]
    fn a_good_password_passes() {
        assert_eq!(rule("Tr0ub4dor&3"), None);
        assert_eq!(rule("correct-Horse-9"), None);
    }

    #[test]
    fn needs_three_classes() {
        assert_eq!(rule("alllowercase"), Some("character_classes"));
        assert_eq!(rule("lower-and-symbols"), Some("character_classes"));
        assert_eq!(rule("Lower-And-Symbols"), None);
        assert_eq!(rule("UPPER9digits"), None);
    }

    #[test]
    fn three_in_a_row_is_refused_two_is_fine() {
        assert_eq!(rule("Paaass-9w"), Some("repeated_characters"));
        assert_eq!(rule("Paass-9w!"), None);
    }

    #[test]
    fn own_names_reverse_and_extension_are_refused() {
        assert_eq!(rule("x-JSmith-9"), Some("contains_user_name"));
        assert_eq!(rule("htimsj-X9"), Some("contains_user_name"));
        assert_eq!(rule("Johnny-9x!"), Some("contains_name"));
        assert_eq!(rule("X!smiTH7q"), Some("contains_name"));
        assert_eq!(rule("Pass-4123x"), Some("contains_extension"));
        assert_eq!(
            rule("Pass-412-3x"),
            None,
            "the extension's digits must appear together"
        );
    }

    #[test]
    fn consecutive_runs_are_refused() {
        assert_eq!(rule("Xy!654321"), Some("consecutive_characters"));
        assert_eq!(rule("ABCDEFG-9x"), Some("consecutive_characters"));
        assert_eq!(rule("Xy!6543q9"), Some("consecutive_characters"));
        assert_eq!(rule("Xy!653q9z"), None, "three in a run is allowed");
    }
}
