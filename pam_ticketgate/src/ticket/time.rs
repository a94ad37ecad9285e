//! Ticket timestamps as epoch seconds: ServiceNow's UTC text, ISO 8601 (with offset), epoch ms.

use serde_json::Value;
use time::{Date, Month};

use crate::config::TimeFormat;

/// Parses a field's value in `format`; `None` when it is not a valid time in that format.
pub fn parse(value: &Value, format: TimeFormat) -> Option<i64> {
    match format {
        TimeFormat::EpochMs => match value {
            Value::Number(n) => n.as_i64().map(|ms| ms.div_euclid(1000)),
            Value::String(s) => s.trim().parse::<i64>().ok().map(|ms| ms.div_euclid(1000)),
            _ => None,
        },
        TimeFormat::ServiceNow => value.as_str().and_then(servicenow),
        TimeFormat::Iso8601 => value.as_str().and_then(iso8601),
    }
}

/// `YYYY-MM-DD HH:MM:SS`, UTC (the Table API without display values).
fn servicenow(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once(' ')?;
    Some(midnight(date)? + clock(time)?)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM|±HHMM)`; an offset is required (a local time is ambiguous).
fn iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(['T', 't'])?;
    let midnight = midnight(date)?;
    let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else {
        let cut = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(cut);
        (t, offset_secs(off)?)
    };
    // Fractions of a second are dropped.
    let time = time.split_once('.').map_or(time, |(t, frac)| {
        if frac.chars().all(|c| c.is_ascii_digit()) {
            t
        } else {
            ""
        }
    });
    Some(midnight + clock(time)? - offset)
}

fn offset_secs(off: &str) -> Option<i64> {
    let sign = match off.get(..1)? {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let digits: String = off.get(1..)?.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits.get(..2)?.parse().ok()?;
    let m: i64 = digits.get(2..)?.parse().ok()?;
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

fn number(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.chars().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD` (four-digit year, a day that month has) as the epoch seconds of its midnight, UTC.
fn midnight(date: &str) -> Option<i64> {
    let mut it = date.split('-');
    let y = number(it.next()?, 4)?;
    let m = number(it.next()?, 2)?;
    let d = number(it.next()?, 2)?;
    if it.next().is_some() {
        return None;
    }
    let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// `HH:MM:SS` as seconds; a leap second (`:60`) is the second after `:59`, which `time::Time`
/// has no value for, so the clock stays plain arithmetic.
fn clock(time: &str) -> Option<i64> {
    let mut it = time.split(':');
    let h = number(it.next()?, 2)?;
    let m = number(it.next()?, 2)?;
    let s = number(it.next()?, 2)?;
    if it.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn servicenow_utc_text() {
        let t = parse(&json!("2026-11-22 09:19:59"), TimeFormat::ServiceNow);
        assert_eq!(t, Some(1_795_339_199));
        assert_eq!(
            parse(&json!("2026-02-30 00:00:00"), TimeFormat::ServiceNow),
            None
        );
        assert_eq!(parse(&json!(""), TimeFormat::ServiceNow), None);
    }

    #[test]
    fn iso8601_with_offsets_and_fractions() {
        let want = Some(1_795_339_199);
        for s in [
            "2026-11-22T09:19:59Z",
            "2026-11-22T10:19:59+01:00",
            "2026-11-22T10:19:59.000+0100",
            "2026-11-22T04:19:59.123-05:00",
        ] {
            assert_eq!(parse(&json!(s), TimeFormat::Iso8601), want, "{s}");
        }
        assert_eq!(
            parse(&json!("2026-11-22T09:19:59"), TimeFormat::Iso8601),
            None,
            "no offset"
        );
        assert_eq!(parse(&json!(1), TimeFormat::Iso8601), None);
    }

    fn sn(s: &str) -> Option<i64> {
        parse(&json!(s), TimeFormat::ServiceNow)
    }

    fn iso(s: &str) -> Option<i64> {
        parse(&json!(s), TimeFormat::Iso8601)
    }

    #[test]
    fn leap_days_follow_the_gregorian_rule() {
        assert_eq!(sn("2000-02-29 00:00:00"), Some(951_782_400));
        assert_eq!(sn("2024-02-29 12:00:00"), Some(1_709_208_000));
        assert_eq!(sn("2023-02-29 00:00:00"), None);
        assert_eq!(
            sn("1900-02-29 00:00:00"),
            None,
            "century, not divisible by 400"
        );
        assert_eq!(sn("2100-02-29 00:00:00"), None);
        assert_eq!(iso("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(iso("2023-02-29T00:00:00Z"), None);
    }

    #[test]
    fn four_digit_years_from_0000_to_9999() {
        assert_eq!(sn("9999-12-31 23:59:59"), Some(253_402_300_799));
        assert_eq!(sn("0000-01-01 00:00:00"), Some(-62_167_219_200));
        assert_eq!(sn("1969-12-31 23:59:59"), Some(-1));
        assert_eq!(sn("10000-01-01 00:00:00"), None);
        assert_eq!(sn("999-01-01 00:00:00"), None);
        assert_eq!(iso("9999-12-31T23:59:59Z"), Some(253_402_300_799));
        // An offset may carry the instant past either end; it is still that instant.
        assert_eq!(iso("9999-12-31T23:59:59-01:00"), Some(253_402_304_399));
        assert_eq!(iso("0000-01-01T00:00:00+01:00"), Some(-62_167_222_800));
    }

    #[test]
    fn out_of_range_fields_are_rejected() {
        for bad in [
            "2026-00-10 00:00:00",
            "2026-13-10 00:00:00",
            "2026-01-00 00:00:00",
            "2026-01-32 00:00:00",
            "2026-04-31 00:00:00",
            "2026-01-10 24:00:00",
            "2026-01-10 00:60:00",
            "2026-01-10 00:00:61",
            "2026-1-10 00:00:00",
            "2026-01-10 0:00:00",
            "2026-01-10 00:00",
            "2026-01-10 00:00:00:00",
            "2026-01-10T00:00:00",
            "+026-01-10 00:00:00",
            "2026-01-10 00:00:0x",
        ] {
            assert_eq!(sn(bad), None, "{bad}");
        }
        // A leap second is one second after :59, as today.
        assert_eq!(sn("2026-11-22 09:19:60"), Some(1_795_339_200));
        assert_eq!(sn(" 2026-11-22 09:19:59 "), Some(1_795_339_199));
    }

    #[test]
    fn iso8601_offsets_within_a_day_only() {
        assert_eq!(iso("2026-11-22T09:19:59+00:00"), Some(1_795_339_199));
        assert_eq!(iso("2026-11-22T09:19:59-0000"), Some(1_795_339_199));
        assert_eq!(iso("2026-11-23T09:18:59+23:59"), Some(1_795_339_199));
        assert_eq!(iso("2026-11-22t09:19:59z"), Some(1_795_339_199));
        // An empty fraction is no fraction (accepted since the first release).
        assert_eq!(iso("2026-11-22T10:19:59.+01:00"), Some(1_795_339_199));
        for bad in [
            "2026-11-22T09:19:59+24:00",
            "2026-11-22T09:19:59+01:60",
            "2026-11-22T09:19:59+1:00",
            "2026-11-22T09:19:59+01",
            "2026-11-22T09:19:59+01:000",
            "2026-11-22T09:19:59.1a+01:00",
            "2026-11-22T09:19+01:00",
            "2026-11-22 09:19:59Z",
            "2026-11-31T09:19:59Z",
        ] {
            assert_eq!(iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_ms_as_number_or_text() {
        assert_eq!(
            parse(&json!(1_795_339_199_000_i64), TimeFormat::EpochMs),
            Some(1_795_339_199)
        );
        assert_eq!(
            parse(&json!("1795339199999"), TimeFormat::EpochMs),
            Some(1_795_339_199)
        );
        assert_eq!(parse(&json!("soon"), TimeFormat::EpochMs), None);
    }
}
