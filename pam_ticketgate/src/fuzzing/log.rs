//! `log_quote`: any text as the user, service, rhost and one field of an audit event, and as a
//! free-text message. Parts are separated by lines holding only `---` (user, service, rhost,
//! value; missing parts are empty).
//!
//! - [`quote`] gives printable ASCII only (no newline, no control or non-ASCII character) and
//!   reads back to the value exactly;
//! - a user name is shown in clear only when it could be an account name (no space, no
//!   control character, at most 32 characters), otherwise as `(invalid, N characters)` with N
//!   its length; applying the rule twice changes nothing;
//! - an event's syslog line is one printable line that splits back into exactly its fields,
//!   in order (no value can open a field or a line); its JSON line is one line holding the same
//!   values;
//! - a free-text message made safe ([`one_line`]) holds no control character.

use super::parts;
use crate::audit::{
    Event, EventName, MAX_LOGGED_NAME, is_loggable_name, one_line, quote, unquote, user_field,
};

fn printable(s: &str) -> bool {
    s.chars().all(|c| c == ' ' || c.is_ascii_graphic())
}

pub fn log_quote(data: &[u8]) -> bool {
    let parts: Vec<String> = parts(data)
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let part = |i: usize| parts.get(i).cloned().unwrap_or_default();
    let (user, service, rhost, value) = (part(0), part(1), part(2), part(3));
    let whole = String::from_utf8_lossy(data).into_owned();

    for v in [&user, &service, &rhost, &value, &whole] {
        let q = quote(v);
        assert!(printable(&q), "quote({v:?}) = {q:?}");
        assert_eq!(unquote(&q).as_ref(), Some(v), "quote({v:?}) = {q:?}");
        let safe = one_line(v);
        assert!(printable(&safe), "one_line({v:?}) = {safe:?}");
    }

    let shown = user_field(&user);
    if shown == user {
        let placeholder = user == "(unknown)" || user.starts_with("(invalid, ");
        assert!(
            placeholder || is_loggable_name(&user),
            "{user:?} shown in clear"
        );
        if !placeholder {
            assert!(user.chars().count() <= MAX_LOGGED_NAME);
            assert!(!user.chars().any(|c| c.is_whitespace() || c.is_control()));
        }
    } else {
        assert_eq!(
            shown,
            format!("(invalid, {} characters)", user.chars().count())
        );
    }
    assert_eq!(user_field(&shown), shown, "not idempotent on {user:?}");

    let event = Event::new(EventName::AuthFailure, &user, &service, &rhost).with("detail", &value);
    let line = event.syslog_line();
    assert!(printable(&line), "{line:?}");
    let want = [
        ("event", "auth_failure"),
        ("user", shown.as_str()),
        ("service", service.as_str()),
        ("rhost", rhost.as_str()),
        ("detail", value.as_str()),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    assert_eq!(fields(&line).as_deref(), Some(&want[..]), "{line}");

    let json = event.json_line(0);
    assert!(!json.contains('\n') && !json.contains('\r'), "{json:?}");
    let back: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    for (k, v) in want.iter().skip(1) {
        assert_eq!(
            back.get(k).and_then(|x| x.as_str()),
            Some(v.as_str()),
            "{k}"
        );
    }
    shown == user
}

/// The `key=value` fields of a syslog line, values unquoted; `None` when the line is not a
/// sequence of such fields separated by single spaces.
fn fields(line: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        if key.is_empty() || key.contains([' ', '"']) {
            return None;
        }
        let end = if after.starts_with('"') {
            let mut i = 1;
            loop {
                match after.as_bytes().get(i)? {
                    b'\\' => i += 2,
                    b'"' => break i + 1,
                    _ => i += 1,
                }
            }
        } else {
            after.find(' ').unwrap_or(after.len())
        };
        let raw = after.get(..end)?;
        out.push((key.to_string(), unquote(raw)?));
        rest = match after.get(end..)? {
            "" => "",
            next => next.strip_prefix(' ')?,
        };
    }
    Some(out)
}
