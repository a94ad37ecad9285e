//! Ticket timestamps as epoch seconds: ServiceNow's UTC text, ISO 8601 (with offset), epoch ms.

use serde_json::Value;

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
    let days = date_days(date)?;
    let secs = clock(time)?;
    Some(days * 86_400 + secs)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM|±HHMM)`; an offset is required (a local time is ambiguous).
fn iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(['T', 't'])?;
    let days = date_days(date)?;
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
    Some(days * 86_400 + clock(time)? - offset)
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

fn date_days(date: &str) -> Option<i64> {
    let mut it = date.split('-');
    let y = number(it.next()?, 4)?;
    let m = number(it.next()?, 2)?;
    let d = number(it.next()?, 2)?;
    if it.next().is_some() || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

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

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days-from-civil (proleptic Gregorian), the inverse of `timefmt`'s.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
