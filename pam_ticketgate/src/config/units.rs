//! Durations as written in the config file: a whole number and a unit (`30s`, `30m`, `8h`, `180d`).

use std::time::Duration;

/// Parses `"<n><unit>"` with unit `s`, `m`, `h` or `d`; no spaces, no fractions, no sign.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
        format!("\"{text}\" has no unit (write e.g. \"30s\", \"30m\", \"8h\", \"180d\")")
    })?;
    let (digits, unit) = text.split_at(unit_at);
    if digits.is_empty() {
        return Err(format!(
            "\"{text}\" must start with a whole number (e.g. \"30m\")"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("\"{text}\" is too large"))?;
    let secs_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "\"{text}\" has unknown unit \"{unit}\" (use s, m, h or d)"
            ));
        }
    };
    n.checked_mul(secs_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("\"{text}\" is too large"))
}

/// Writes a duration back in the largest unit that divides it exactly.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".to_string(),
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(28_800)));
        assert_eq!(parse_duration("180d"), Ok(Duration::from_secs(15_552_000)));
        assert_eq!(parse_duration("0m"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed_text_with_a_reason() {
        for bad in [
            "",
            "30",
            "m",
            "-5m",
            "1.5h",
            "5 m",
            "5min",
            "5M",
            "99999999999999999999d",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(bad) || bad.is_empty(), "{bad}: {err}");
        }
        assert!(
            parse_duration("213503982334602d")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(86_400 * 14)), "14d");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
