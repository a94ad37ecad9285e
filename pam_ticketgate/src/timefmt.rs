//! Epoch seconds as `YYYY-MM-DD HH:MM:SS UTC` for people (status output, messages) and as RFC
//! 3339 UTC for JSON.

use time::OffsetDateTime;

/// Formats `t` (seconds since 1970, UTC).
pub fn utc(t: i64) -> String {
    // Beyond the years -9999..=9999, which no time this module stores or accepts reaches (a
    // ticket's ISO 8601 offset moves one by a day at most): the number, not a made-up date.
    date_time(t, ' ', " UTC")
        .unwrap_or_else(|| format!("{t} seconds after 1970-01-01 00:00:00 UTC"))
}

/// Formats `t` as RFC 3339 UTC (`2026-12-02T11:00:36Z`), for JSON output; beyond the years
/// -9999..=9999 as the number of seconds (as text), never a made-up date.
pub fn rfc3339(t: i64) -> String {
    date_time(t, 'T', "Z").unwrap_or_else(|| t.to_string())
}

/// Reads RFC 3339 UTC as [`rfc3339`] writes it (`2026-12-02T11:00:36Z`; `+00:00` for `Z`
/// too) back to epoch seconds; `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, clock) = text.split_once(['T', 't'])?;
    let number = |s: &str, len: usize| -> Option<u32> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (year, month, day) = (d.next()?, d.next()?, d.next()?);
    let mut c = clock.split(':');
    let (hour, minute, second) = (c.next()?, c.next()?, c.next()?);
    if d.next().is_some() || c.next().is_some() {
        return None;
    }
    let date = time::Date::from_calendar_date(
        i32::try_from(number(year, 4)?).ok()?,
        time::Month::try_from(u8::try_from(number(month, 2)?).ok()?).ok()?,
        u8::try_from(number(day, 2)?).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(number(hour, 2)?).ok()?,
        u8::try_from(number(minute, 2)?).ok()?,
        u8::try_from(number(second, 2)?).ok()?,
    )
    .ok()?;
    Some(date.with_time(clock).assume_utc().unix_timestamp())
}

/// `YYYY-MM-DD<sep>HH:MM:SS<zone>`, when `t` has a date.
fn date_time(t: i64, sep: char, zone: &str) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp(t).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}{zone}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_209_236), "2026-12-02T11:00:36Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes_and_nothing_else() {
        for t in [0, 951_782_400, 1_796_209_236, 253_402_300_799] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2026-12-02T11:00:36+00:00"),
            Some(1_796_209_236)
        );
        for bad in [
            "",
            "2026-12-02T11:00:36",
            "2026-12-02 11:00:36Z",
            "2026-13-02T11:00:36Z",
            "2026-02-30T11:00:36Z",
            "2026-12-02T24:00:00Z",
            "2026-12-2T11:00:36Z",
            "+2026-12-02T11:00:36Z",
            "2026-12-02T11:00:36+01:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_339_199), "2026-11-22 09:19:59 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn leap_days_and_the_ends_of_four_digit_years() {
        assert_eq!(utc(1_709_164_800), "2024-02-29 00:00:00 UTC");
        assert_eq!(utc(1_709_251_200), "2024-03-01 00:00:00 UTC");
        assert_eq!(utc(-2_203_891_200), "1900-03-01 00:00:00 UTC");
        assert_eq!(utc(253_402_300_799), "9999-12-31 23:59:59 UTC");
        assert_eq!(utc(-62_167_219_200), "0000-01-01 00:00:00 UTC");
        // A ticket time offset to before year 0 prints as the old algorithm did.
        assert_eq!(utc(-62_167_219_260), "-001-12-31 23:59:00 UTC");
    }

    #[test]
    fn instants_beyond_year_9999_are_shown_as_numbers() {
        assert_eq!(
            utc(253_402_300_800),
            "253402300800 seconds after 1970-01-01 00:00:00 UTC"
        );
        assert_eq!(
            utc(i64::MIN),
            "-9223372036854775808 seconds after 1970-01-01 00:00:00 UTC"
        );
    }
}
