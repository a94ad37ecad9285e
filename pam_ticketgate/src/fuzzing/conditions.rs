//! `ticket_conditions`: `[[ticket.condition]]` tables (TOML, through the real config parser),
//! then `---` and the ticket document, then optionally `---` and a JSM approvals document.
//!
//! Checked for every condition and clock: one result each, labelled as `label` says; the value
//! shown has no control characters and stays short (it goes into audit lines); a missing
//! field fails every op but `absent`; no condition and its opposite (eq/ne, in/not_in,
//! exists/absent, any/none) both hold, and exactly one holds when the field is there; `all`
//! implies `any`; `ci` only ever accepts more; a wider `skew` only ever accepts more, and an
//! accepted `within` really has now inside [start - skew, end + skew].

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{NOWS, parts};
use crate::config::{Condition, ConditionDoc, Config, Expected, FromValue, Op};
use crate::ticket::{Docs, Facts, eval, time};

const HEAD: &str = "version = 1\n[ticket]\nsystem = \"jsm\"\nbase_url = \"https://acme.atlassian.net\"\nusername = \"u\"\nsecret_file = \"/s\"\n";

/// The longest `seen` any condition may produce (each value is cut at 80 characters).
const SEEN_BOUND: usize = 240;

fn facts() -> Facts {
    Facts {
        user: "alice".into(),
        host: "db01".into(),
        host_fqdn: "db01.example.com".into(),
        // A local login: no rhost, so `from = "rhost"` never matches.
        rhost: String::new(),
        service: "sshd".into(),
        user_map: Some("alice@example.com".into()),
    }
}

pub fn ticket_conditions(data: &[u8]) -> bool {
    let p = parts(data);
    let mut it = p.into_iter();
    let (Some(toml), Some(main)) = (it.next(), it.next()) else {
        return false;
    };
    let Ok(toml) = std::str::from_utf8(toml) else {
        return false;
    };
    let Ok(main) = serde_json::from_slice::<Value>(main) else {
        return false;
    };
    let approvals = it
        .next()
        .and_then(|a| serde_json::from_slice::<Value>(a).ok());
    let Ok(config) = Config::parse(Path::new("/fuzz.toml"), &format!("{HEAD}{toml}\n")) else {
        return false;
    };
    let Some(ticket) = config.ticket else {
        return false;
    };
    let docs = Docs { main, approvals };
    let facts = facts();
    for now in NOWS {
        let results = eval::evaluate_all(&ticket.conditions, &docs, &facts, now);
        assert_eq!(results.len(), ticket.conditions.len());
        for (c, r) in ticket.conditions.iter().zip(&results) {
            assert_eq!(r.label, eval::label(c));
            assert!(!r.seen.chars().any(char::is_control), "{:?}", r.seen);
            assert!(r.seen.chars().count() <= SEEN_BOUND, "{:?}", r.seen);
            one_condition(c, &docs, &facts, now, r.ok);
        }
    }
    if let Some(end) = eval::window_end(&ticket.conditions, &docs) {
        let from_some_end = ticket.conditions.iter().any(|c| {
            c.op == Op::Within
                && c.end
                    .as_deref()
                    .and_then(|p| docs.main.pointer(p))
                    .and_then(|v| time::parse(v, c.time_format))
                    == Some(end)
        });
        assert!(from_some_end, "window end {end} is no condition's end");
    }
    true
}

fn ok_of(c: &Condition, docs: &Docs, facts: &Facts, now: i64) -> bool {
    eval::evaluate_all(std::slice::from_ref(c), docs, facts, now)
        .first()
        .is_some_and(|r| r.ok)
}

fn with_op(c: &Condition, op: Op) -> Condition {
    Condition { op, ..c.clone() }
}

fn one_condition(c: &Condition, docs: &Docs, facts: &Facts, now: i64, ok: bool) {
    let doc = match c.doc {
        ConditionDoc::Main => Some(&docs.main),
        ConditionDoc::Approvals => docs.approvals.as_ref(),
    };
    let found = doc
        .and_then(|d| d.pointer(&c.field))
        .filter(|v| !v.is_null());
    if c.op != Op::Within && c.op != Op::Absent && found.is_none() {
        assert!(!ok, "{:?} held on a missing field", c.op);
    }
    if doc.is_none() {
        assert!(!ok, "held without its document");
        return;
    }
    let opposite = match c.op {
        Op::Eq => Some(Op::Ne),
        Op::Ne => Some(Op::Eq),
        Op::In => Some(Op::NotIn),
        Op::NotIn => Some(Op::In),
        Op::Exists => Some(Op::Absent),
        Op::Absent => Some(Op::Exists),
        Op::Any => Some(Op::None),
        Op::None => Some(Op::Any),
        _ => None,
    };
    if let Some(op) = opposite {
        let other = ok_of(&with_op(c, op), docs, facts, now);
        assert!(!(ok && other), "{:?} and {op:?} both held", c.op);
        let decidable = match c.op {
            Op::Exists | Op::Absent => true,
            Op::Any | Op::None => found.is_some_and(Value::is_array),
            _ => found.is_some() && !matches!(c.expected, Expected::From(FromValue::Rhost)),
        };
        if decidable {
            assert!(ok || other, "neither {:?} nor {op:?} held", c.op);
        }
    }
    if c.op == Op::All && ok {
        assert!(
            ok_of(&with_op(c, Op::Any), docs, facts, now),
            "all held, any did not"
        );
    }
    if ok && !c.ci && matches!(c.op, Op::Eq | Op::In | Op::Contains) {
        let ci = Condition {
            ci: true,
            ..c.clone()
        };
        assert!(
            ok_of(&ci, docs, facts, now),
            "held, but not case-insensitively"
        );
    }
    if c.op == Op::Within {
        within_holds(c, docs, facts, now, ok);
    }
}

fn within_holds(c: &Condition, docs: &Docs, facts: &Facts, now: i64, ok: bool) {
    let wider = Condition {
        skew: c.skew + Duration::from_secs(3600),
        ..c.clone()
    };
    if ok {
        assert!(ok_of(&wider, docs, facts, now), "a wider skew refused");
        let at = |p: &Option<String>| {
            p.as_deref()
                .and_then(|p| docs.main.pointer(p))
                .filter(|v| !v.is_null())
                .and_then(|v| time::parse(v, c.time_format))
        };
        let (start, end) = (at(&c.start), at(&c.end));
        assert!(
            start.is_some() && end.is_some(),
            "within held without both times"
        );
        let skew = i128::from(c.skew.as_secs());
        let (s, e, n) = (
            i128::from(start.unwrap_or_default()),
            i128::from(end.unwrap_or_default()),
            i128::from(now),
        );
        assert!(
            s - skew <= n && n <= e + skew,
            "{now} outside [{s}, {e}] ± {skew}"
        );
    }
}
