//! Structured log lines: `ts=… event=<name> key=value …`, one per event, never a secret.
//!
//! Values that are not plain words are quoted and escaped, so a user name sent by a client cannot
//! forge a second line or a field.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::SystemTime;

use time::OffsetDateTime;

use crate::clock::since_epoch;

/// Where log lines go.
pub trait Sink: Send + Sync {
    /// Writes one complete line (without its newline).
    fn write_line(&self, line: &str);
}

/// Standard error, one `write` per line (journald or a redirect picks it up).
#[derive(Debug, Default)]
pub struct Stderr;

impl Sink for Stderr {
    fn write_line(&self, line: &str) {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        // Nothing sensible to do when stderr is gone; the server keeps serving.
        let _ = std::io::stderr().lock().write_all(&buf);
    }
}

/// Lines kept in memory, for tests.
#[derive(Debug, Default)]
pub struct Memory {
    lines: Mutex<Vec<String>>,
}

impl Memory {
    /// Every line written so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Sink for Memory {
    fn write_line(&self, line: &str) {
        if let Ok(mut l) = self.lines.lock() {
            l.push(line.to_owned());
        }
    }
}

/// One event being assembled.
#[derive(Debug, Clone)]
pub struct Event {
    line: String,
}

impl Event {
    /// Starts an event named `name` at `now`.
    pub fn new(name: &str, now: SystemTime) -> Self {
        let mut line = String::with_capacity(160);
        line.push_str("ts=");
        push_rfc3339(&mut line, now);
        line.push_str(" event=");
        push_value(&mut line, name);
        Self { line }
    }

    /// Adds `key=value`; the value is quoted when it is not a plain word.
    pub fn field(mut self, key: &str, value: &str) -> Self {
        self.line.push(' ');
        self.line.push_str(key);
        self.line.push('=');
        push_value(&mut self.line, value);
        self
    }

    /// Adds a number or other displayable value.
    pub fn num(self, key: &str, value: impl std::fmt::Display) -> Self {
        let text = value.to_string();
        self.field(key, &text)
    }

    /// Writes the line to `sink`.
    pub fn emit(self, sink: &dyn Sink) {
        sink.write_line(&self.line);
    }

    /// The line as it would be written.
    pub fn as_str(&self) -> &str {
        &self.line
    }
}

fn plain(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b':' | b'/' | b'@' | b'+' | b'[' | b']'
                )
        })
}

fn push_value(out: &mut String, value: &str) {
    if plain(value) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn rfc3339(t: SystemTime) -> String {
    let mut s = String::with_capacity(24);
    push_rfc3339(&mut s, t);
    s
}

/// Appends `now` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
fn push_rfc3339(out: &mut String, now: SystemTime) {
    let d = since_epoch(now);
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let _ = match OffsetDateTime::from_unix_timestamp(secs) {
        Ok(at) => write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            d.subsec_millis()
        ),
        // After 9999-12-31 (a stored time gone bad, never a clock): the seconds, not a made-up date.
        Err(_) => write!(out, "@{secs}.{:03}", d.subsec_millis()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn line_has_timestamp_event_and_fields() {
        let now = UNIX_EPOCH + Duration::from_millis(1_763_824_251_123);
        let e = Event::new("attempt", now)
            .field("user", "alice")
            .num("code", 200);
        assert_eq!(
            e.as_str(),
            "ts=2025-11-22T15:10:51.123Z event=attempt user=alice code=200"
        );
    }

    #[test]
    fn hostile_values_cannot_forge_fields_or_lines() {
        let e = Event::new("attempt", UNIX_EPOCH).field("user", "eve event=unlock\nts=x \"q\"");
        assert_eq!(
            e.as_str(),
            "ts=1970-01-01T00:00:00.000Z event=attempt user=\"eve event=unlock\\nts=x \\\"q\\\"\""
        );
        let empty = Event::new("x", UNIX_EPOCH).field("rhost", "");
        assert!(empty.as_str().ends_with("rhost=\"\""));
    }

    #[test]
    fn leap_year_dates() {
        let mut s = String::new();
        push_rfc3339(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400)); // 2000-02-29
        assert_eq!(s, "2000-02-29T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(253_402_300_799_999)),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(4_107_542_400)),
            "2100-03-01T00:00:00.000Z",
            "2100 is not a leap year"
        );
    }

    #[test]
    fn times_before_1970_or_after_9999_are_not_dates() {
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(253_402_300_800)),
            "@253402300800.000"
        );
    }
}
