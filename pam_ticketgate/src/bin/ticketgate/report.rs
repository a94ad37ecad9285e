//! `ticketgate report`: the `would_refuse` events of report-mode scopes in the audit file,
//! summarised per gate, user and service (count, first and last time, the reasons).
//! A line that cannot be read is counted and reported, never fatal; a missing file is no events.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use pam_ticketgate::config::Config;
use pam_ticketgate::timefmt::{parse_rfc3339, rfc3339, utc};

use crate::error::CliError;

/// One line of the summary: what one gate would have refused of one user on one service.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub count: u64,
    pub first: i64,
    pub last: i64,
    /// Each reason and how often it was given.
    pub reasons: BTreeMap<String, u64>,
}

/// The summary of the audit file since a time.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// (gate, user, service) → its events.
    pub groups: BTreeMap<(String, String, String), Group>,
    /// Lines that are not an audit event (not JSON, no `ts` or `event`, a time not RFC 3339).
    pub unreadable: u64,
}

impl Summary {
    fn events(&self) -> u64 {
        self.groups.values().map(|g| g.count).sum()
    }

    /// Adds one line of the audit file, when it is a `would_refuse` at or after `since`.
    fn add_line(&mut self, line: &[u8], since: i64) {
        if line.trim_ascii().is_empty() {
            return;
        }
        let Some((ts, event)) = serde_json::from_slice::<Value>(line).ok().and_then(|v| {
            let ts = match v.get("ts")? {
                Value::String(s) => parse_rfc3339(s)?,
                // Files written before times were RFC 3339 carry epoch seconds.
                Value::Number(n) => n.as_i64()?,
                _ => return None,
            };
            v.get("event")?.as_str()?;
            Some((ts, v))
        }) else {
            self.unreadable += 1;
            return;
        };
        if event.get("event").and_then(Value::as_str) != Some("would_refuse") || ts < since {
            return;
        }
        let field = |k: &str| {
            event
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let group = self
            .groups
            .entry((field("gate"), field("user"), field("service")))
            .or_insert_with(|| Group {
                first: ts,
                last: ts,
                ..Group::default()
            });
        group.count += 1;
        group.first = group.first.min(ts);
        group.last = group.last.max(ts);
        *group.reasons.entry(field("reason")).or_insert(0) += 1;
    }
}

/// Reads `path` (a missing file is no events) and summarises its `would_refuse` events at or
/// after `since`.
pub fn summarise(path: &Path, since: i64) -> Result<Summary, std::io::Error> {
    let mut summary = Summary::default();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(summary),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(summary);
        }
        summary.add_line(&line, since);
    }
}

/// `ticketgate report [--since DURATION] [--json]`.
pub fn report(config: &Config, since: &str, json: bool, now: i64) -> Result<(), CliError> {
    let Some(path) = config.module.audit_file.as_deref() else {
        return Err(CliError::ConfigBroken(format!(
            "config {}: no [module] audit_file, so there are no events to report (set \
             audit_file = \"/var/log/ticketgate/audit.jsonl\")",
            config.path.display()
        )));
    };
    let window = parse_since(since)?;
    let from = now.saturating_sub(i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
    let summary = summarise(path, from).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            CliError::NeedsRoot("reading the audit file needs root (or read access to it)")
        }
        _ => CliError::Failed(Box::new(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))),
    })?;
    if json {
        crate::json::print(&as_json(&summary, path, from, now));
    } else {
        print!("{}", as_text(&summary, path, from));
    }
    Ok(())
}

/// `--since`: a duration as the configuration writes them (`90m`, `24h`, `7d`); else usage.
fn parse_since(text: &str) -> Result<Duration, CliError> {
    pam_ticketgate::config::parse_duration(text)
        .map_err(|why| CliError::Usage(format!("--since {text:?}: {why}")))
}

fn as_json(summary: &Summary, path: &Path, from: i64, now: i64) -> Value {
    let groups: Vec<Value> = summary
        .groups
        .iter()
        .map(|((gate, user, service), g)| {
            json!({
                "gate": gate,
                "user": user,
                "service": service,
                "count": g.count,
                "first": rfc3339(g.first),
                "last": rfc3339(g.last),
                "reasons": g.reasons,
            })
        })
        .collect();
    json!({
        "audit_file": path.display().to_string(),
        "since": rfc3339(from),
        "until": rfc3339(now),
        "events": summary.events(),
        "unreadable_lines": summary.unreadable,
        "groups": groups,
    })
}

fn as_text(summary: &Summary, path: &Path, from: i64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let events = summary.events();
    let _ = writeln!(
        out,
        "{events} would_refuse event(s) in {} since {}",
        path.display(),
        utc(from)
    );
    if events > 0 {
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:<12} {:>6}  {:<23}  {:<23}  REASONS",
            "GATE", "USER", "SERVICE", "COUNT", "FIRST", "LAST"
        );
    }
    for ((gate, user, service), g) in &summary.groups {
        let reasons: Vec<String> = g
            .reasons
            .iter()
            .map(|(reason, n)| format!("{reason}={n}"))
            .collect();
        let _ = writeln!(
            out,
            "{gate:<8} {user:<16} {service:<12} {:>6}  {:<23}  {:<23}  {}",
            g.count,
            utc(g.first),
            utc(g.last),
            reasons.join(",")
        );
    }
    if summary.unreadable > 0 {
        let _ = writeln!(
            out,
            "{} line(s) of {} are not audit events and were skipped",
            summary.unreadable,
            path.display()
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn line(ts: &str, gate: &str, user: &str, reason: &str) -> String {
        format!(
            "{{\"ts\":\"{ts}\",\"event\":\"would_refuse\",\"user\":\"{user}\",\"service\":\"sshd\",\
             \"rhost\":\"192.0.2.7\",\"gate\":\"{gate}\",\"reason\":\"{reason}\",\"phase\":\"preauth\"}}\n"
        )
    }

    #[test]
    fn events_are_grouped_per_gate_user_and_service_inside_the_window() {
        let since = parse_rfc3339("2026-12-02T00:00:00Z").unwrap();
        let mut s = Summary::default();
        let text = [
            line("2026-12-01T23:59:59Z", "lockout", "alice", "hack_lock"),
            line("2026-12-02T10:00:00Z", "lockout", "alice", "hack_lock"),
            line("2026-12-02T09:00:00Z", "lockout", "alice", "admin_lock"),
            line("2026-12-02T11:00:00Z", "ticket", "alice", "conditions"),
            line("2026-12-02T11:00:00Z", "lockout", "bob", "hack_lock"),
            "{\"ts\":\"2026-12-02T11:00:00Z\",\"event\":\"auth_failure\",\"user\":\"alice\"}\n"
                .into(),
            "not json at all\n".into(),
            "{\"ts\":\"yesterday\",\"event\":\"would_refuse\"}\n".into(),
            "\n".into(),
        ]
        .concat();
        for l in text.as_bytes().split_inclusive(|b| *b == b'\n') {
            s.add_line(l, since);
        }
        assert_eq!(s.unreadable, 2);
        assert_eq!(s.events(), 4);
        let alice = &s.groups[&("lockout".into(), "alice".into(), "sshd".into())];
        assert_eq!(alice.count, 2);
        assert_eq!(rfc3339(alice.first), "2026-12-02T09:00:00Z");
        assert_eq!(rfc3339(alice.last), "2026-12-02T10:00:00Z");
        assert_eq!(
            alice.reasons,
            BTreeMap::from([("admin_lock".into(), 1), ("hack_lock".into(), 1)])
        );
        assert_eq!(s.groups.len(), 3);
    }

    #[test]
    fn a_missing_file_is_no_events() {
        let s = summarise(Path::new("/nonexistent/ticketgate/audit.jsonl"), 0).unwrap();
        assert_eq!(s, Summary::default());
    }

    #[test]
    fn since_takes_the_configs_durations_and_refuses_others_as_usage() {
        assert_eq!(parse_since("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_since("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_since("soon").unwrap_err().exit_code(), 2);
    }
}
