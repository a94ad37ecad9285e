//! Small decoders: ticket timestamps, the login-protect answer, GECOS, user names.

use serde_json::Value;

use crate::config::TimeFormat;
use crate::ticket::time;
use crate::user::UserName;

/// `ticket_time`: a JSON value (or, when not JSON, the bytes as text) in every time format.
/// A time that parses formats back (`timefmt::utc`) to the same instant: ServiceNow text to
/// exactly itself (`:60` to one second after `:59`), ISO 8601 through its UTC form; epoch
/// milliseconds floor to seconds.
pub fn ticket_time(data: &[u8]) -> bool {
    let value = serde_json::from_slice::<Value>(data)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(data).into_owned()));
    let mut accepted = false;
    if let Some(t) = time::parse(&value, TimeFormat::ServiceNow) {
        accepted = true;
        let text = value.as_str().unwrap_or_default().trim();
        let shown = crate::timefmt::utc(t);
        match text.strip_suffix(":60") {
            Some(head) => {
                let before =
                    time::parse(&Value::String(format!("{head}:59")), TimeFormat::ServiceNow);
                assert_eq!(before, Some(t - 1), "{text}");
            }
            None => assert_eq!(shown.strip_suffix(" UTC"), Some(text), "{text} read as {t}"),
        }
    }
    if let Some(t) = time::parse(&value, TimeFormat::Iso8601) {
        accepted = true;
        // An offset can move a time at either end of years 0000-9999 just outside them, where
        // no date is written (`utc` prints seconds): such a time must stay within a day of
        // that range, and has no text form to read back.
        const FIRST: i64 = -62_167_219_200; // 0000-01-01 00:00:00 UTC
        const LAST: i64 = 253_402_300_799; // 9999-12-31 23:59:59 UTC
        if !(FIRST..=LAST).contains(&t) {
            assert!(
                (FIRST - 86_400..=LAST + 86_400).contains(&t),
                "{value} read as {t}"
            );
            return true;
        }
        let shown = crate::timefmt::utc(t);
        let iso = shown
            .strip_suffix(" UTC")
            .map(|s| format!("{}Z", s.replacen(' ', "T", 1)));
        let again = iso.and_then(|s| time::parse(&Value::String(s), TimeFormat::Iso8601));
        assert_eq!(again, Some(t), "{value} read as {t} ({shown})");
    }
    let ms = time::parse(&value, TimeFormat::EpochMs);
    match &value {
        Value::Number(n) => assert_eq!(ms, n.as_i64().map(|m| m.div_euclid(1000))),
        Value::String(s) => {
            assert_eq!(ms, s.trim().parse::<i64>().ok().map(|m| m.div_euclid(1000)));
        }
        _ => assert_eq!(ms, None),
    }
    accepted || ms.is_some()
}

/// `protect_answer`: a `/v1/attempt` body. "Unlocked" only from a JSON object whose
/// `unlocked` is the boolean `true`; everything else is a refusal, never an error that could
/// read as "unreachable".
pub fn protect_answer(data: &[u8]) -> bool {
    let got = crate::protect::client::answer_of(data);
    let want = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| v.as_object()?.get("unlocked")?.as_bool());
    let unique = top_level_keys(data).is_some_and(|keys| {
        let set: std::collections::BTreeSet<&String> = keys.iter().collect();
        set.len() == keys.len()
    });
    match got {
        Ok(b) => {
            assert_eq!(Some(b), want);
            assert!(unique, "an answer with a repeated key was read");
            true
        }
        Err(e) => {
            assert!(
                want.is_none() || !unique,
                "a well-formed answer was refused"
            );
            assert!(matches!(e, crate::net::NetError::Denied(_)), "{e:?}");
            false
        }
    }
}

/// Every key of a top-level JSON object, repeats included (serde_json's `Value` keeps only the
/// last); `None` when `data` is not one.
pub(super) fn top_level_keys(data: &[u8]) -> Option<Vec<String>> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<M: serde::de::MapAccess<'de>>(
                    self,
                    mut m: M,
                ) -> Result<Keys, M::Error> {
                    let mut keys = Vec::new();
                    while let Some(k) = m.next_key::<String>()? {
                        m.next_value::<serde::de::IgnoredAny>()?;
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_slice::<Keys>(data).ok().map(|k| k.0)
}

/// `gecos`: any text as a GECOS field. The first four fields never hold a comma, and joining
/// the five with commas gives back the input (plus the commas of missing fields).
pub fn gecos(data: &[u8]) -> bool {
    let raw = String::from_utf8_lossy(data);
    let g = nss_helper::Gecos::parse(&raw);
    for f in [&g.full_name, &g.room, &g.work_phone, &g.home_phone] {
        assert!(!f.contains(','), "{f:?}");
    }
    let joined = [g.full_name, g.room, g.work_phone, g.home_phone, g.other].join(",");
    let commas = raw.matches(',').count();
    let want = format!("{raw}{}", ",".repeat(4usize.saturating_sub(commas)));
    assert_eq!(joined, want);
    true
}

/// `user_name`: any text as a user name from PAM and as a file stem found in `state_dir`. An
/// accepted name becomes a file stem of safe characters only, never `.`/`..`, that maps back
/// to the same name; a stem that decodes is exactly the stem of what it decodes to.
pub fn user_name(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let parsed = UserName::parse(text);
    let accepted = parsed.is_ok();
    if let Ok(name) = parsed {
        assert_eq!(name.as_str(), text);
        let stem = name.file_stem();
        assert!(
            stem.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'%')),
            "{stem}"
        );
        assert!(!stem.is_empty() && stem != "." && stem != "..");
        assert!(!stem.starts_with('.') && !stem.starts_with('-'));
        assert!(stem.len() <= 200, "too long for a file name: {stem}");
        assert_eq!(UserName::from_file_stem(&stem), Some(name));
    }
    if let Some(name) = UserName::from_file_stem(text) {
        assert_eq!(name.file_stem(), text);
        assert!(UserName::parse(name.as_str()).is_ok());
    }
    accepted
}
