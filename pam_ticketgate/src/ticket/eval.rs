//! The condition language: each `[[ticket.condition]]` evaluated against the fetched documents
//! and the login's facts, with the value seen (for the audit trail and `test-ticket`).

use serde_json::Value;

use crate::config::{Condition, ConditionDoc, Expected, FromValue, Op};

/// What the login is, for conditions with `from = ...`.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub user: String,
    pub host: String,
    pub host_fqdn: String,
    pub rhost: String,
    pub service: String,
    /// `user_map` with `{user}` substituted; `None` when the config has no `user_map`.
    pub user_map: Option<String>,
}

impl Facts {
    fn get(&self, from: FromValue) -> Option<&str> {
        let v = match from {
            FromValue::User => self.user.as_str(),
            FromValue::Host => self.host.as_str(),
            FromValue::HostFqdn => self.host_fqdn.as_str(),
            FromValue::Rhost => self.rhost.as_str(),
            FromValue::Service => self.service.as_str(),
            FromValue::UserMap => self.user_map.as_deref()?,
        };
        // An empty login fact (a local login has no rhost) never matches anything.
        (!v.is_empty()).then_some(v)
    }
}

/// The documents a ticket fetch produced: the ticket itself and, for JSM, its approvals.
#[derive(Debug, Clone)]
pub struct Docs {
    pub main: Value,
    pub approvals: Option<Value>,
}

/// One condition's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondResult {
    /// The condition as written, e.g. `/result/0/approval eq "approved"`.
    pub label: String,
    pub ok: bool,
    /// The value found (shortened), `(missing)`, or what made it fail.
    pub seen: String,
}

/// Longest value shown in audit lines and `test-ticket` output.
const SEEN_MAX: usize = 80;

/// Evaluates every condition (all are evaluated, so the audit trail shows each result).
pub fn evaluate_all(conds: &[Condition], docs: &Docs, facts: &Facts, now: i64) -> Vec<CondResult> {
    conds
        .iter()
        .map(|c| {
            let doc = match c.doc {
                ConditionDoc::Main => Some(&docs.main),
                ConditionDoc::Approvals => docs.approvals.as_ref(),
            };
            let (ok, seen) = match doc {
                Some(d) => evaluate(c, d, facts, now),
                None => (false, "(no approvals document)".to_string()),
            };
            CondResult {
                label: label(c),
                ok,
                seen,
            }
        })
        .collect()
}

/// The earliest `end` of the `within` conditions: how long an accepted ticket's change window
/// stays open (the offline `cached` fallback honours it).
pub fn window_end(conds: &[Condition], docs: &Docs) -> Option<i64> {
    conds
        .iter()
        .filter(|c| c.op == Op::Within && c.doc == ConditionDoc::Main)
        .filter_map(|c| {
            let end = docs.main.pointer(c.end.as_deref()?)?;
            super::time::parse(end, c.time_format)
        })
        .min()
}

/// The condition as the administrator wrote it, for output.
pub fn label(c: &Condition) -> String {
    let op = op_name(c.op);
    let ci = if c.ci { " ci" } else { "" };
    let doc = if c.doc == ConditionDoc::Approvals {
        "approvals:"
    } else {
        ""
    };
    match (&c.expected, c.op) {
        (_, Op::Within) => format!(
            "within [{}, {}]",
            c.start.as_deref().unwrap_or(""),
            c.end.as_deref().unwrap_or("")
        ),
        (_, Op::All | Op::Any | Op::None) => {
            let inner = c.where_.as_deref().map(label).unwrap_or_default();
            format!("{doc}{} {op} ({inner})", c.field)
        }
        (Expected::Nothing, _) => format!("{doc}{} {op}", c.field),
        (Expected::Value(v), _) => format!("{doc}{} {op}{ci} {v}", c.field),
        (Expected::Values(v), _) => {
            format!("{doc}{} {op}{ci} {}", c.field, Value::Array(v.clone()))
        }
        (Expected::Pattern(p), _) => format!("{doc}{} {op} /{}/", c.field, p.as_str()),
        (Expected::From(f), _) => format!("{doc}{} {op}{ci} {}", c.field, from_name(*f)),
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::In => "in",
        Op::NotIn => "not_in",
        Op::Matches => "matches",
        Op::Contains => "contains",
        Op::Exists => "exists",
        Op::Absent => "absent",
        Op::Within => "within",
        Op::All => "all",
        Op::Any => "any",
        Op::None => "none",
    }
}

fn from_name(f: FromValue) -> &'static str {
    match f {
        FromValue::User => "from=user",
        FromValue::Host => "from=host",
        FromValue::HostFqdn => "from=host_fqdn",
        FromValue::Rhost => "from=rhost",
        FromValue::Service => "from=service",
        FromValue::UserMap => "from=user_map",
    }
}

/// A scalar as text (`"3"` and `3` compare equal: ServiceNow sends numbers as strings).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn shorten(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= SEEN_MAX {
        clean
    } else {
        let cut: String = clean.chars().take(SEEN_MAX).collect();
        format!("{cut}…")
    }
}

fn seen_of(v: &Value) -> String {
    match v {
        Value::String(s) => shorten(&format!("\"{s}\"")),
        other => shorten(&other.to_string()),
    }
}

/// Lower case, one character at a time. Not `str::to_lowercase`: its final-sigma rule made
/// `"ΑΣ"` lower to `"ας"` but `"Σ"` to `"σ"`, so `ci` refused what the case-sensitive test accepted.
fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn equal(found: &Value, want: &Value, ci: bool) -> bool {
    match (scalar_text(found), scalar_text(want)) {
        (Some(a), Some(b)) if ci => fold(&a) == fold(&b),
        (Some(a), Some(b)) => a == b,
        _ => found == want,
    }
}

/// Resolves a pointer; JSON `null` counts as missing (vendors send null for empty fields).
fn lookup<'d>(doc: &'d Value, pointer: &str) -> Option<&'d Value> {
    doc.pointer(pointer).filter(|v| !v.is_null())
}

/// One condition against one document (or array element, for `where`).
fn evaluate(c: &Condition, doc: &Value, facts: &Facts, now: i64) -> (bool, String) {
    if c.op == Op::Within {
        return within(c, doc, now);
    }
    let found = lookup(doc, &c.field);
    let Some(found) = found else {
        return (c.op == Op::Absent, "(missing)".to_string());
    };
    let seen = seen_of(found);
    let want: Option<Value> = match &c.expected {
        Expected::Value(v) => Some(v.clone()),
        Expected::From(f) => match facts.get(*f) {
            Some(s) => Some(Value::String(s.to_string())),
            None => return (false, format!("{seen} (login has no {})", from_name(*f))),
        },
        Expected::Nothing | Expected::Values(_) | Expected::Pattern(_) => None,
    };
    let ok = match c.op {
        Op::Exists => true,
        Op::Absent => false,
        Op::Eq => want.as_ref().is_some_and(|w| equal(found, w, c.ci)),
        Op::Ne => want.as_ref().is_some_and(|w| !equal(found, w, c.ci)),
        Op::In | Op::NotIn => {
            let hit = match &c.expected {
                Expected::Values(vs) => vs.iter().any(|w| equal(found, w, c.ci)),
                _ => false,
            };
            hit == (c.op == Op::In)
        }
        Op::Matches => match (&c.expected, scalar_text(found)) {
            (Expected::Pattern(p), Some(t)) => p.is_match(&t),
            _ => false,
        },
        Op::Contains => match (found, &want) {
            (Value::Array(items), Some(w)) => items.iter().any(|i| equal(i, w, c.ci)),
            (Value::String(s), Some(w)) => scalar_text(w).is_some_and(|w| {
                if c.ci {
                    fold(s).contains(&fold(&w))
                } else {
                    s.contains(&w)
                }
            }),
            _ => false,
        },
        Op::All | Op::Any | Op::None => return elements(c, found, facts, now),
        Op::Within => false,
    };
    (ok, seen)
}

/// `all` / `any` / `none`: the `where` condition over each element of an array.
fn elements(c: &Condition, found: &Value, facts: &Facts, now: i64) -> (bool, String) {
    let (Value::Array(items), Some(inner)) = (found, c.where_.as_deref()) else {
        return (false, format!("{} (not a list)", seen_of(found)));
    };
    let results: Vec<(bool, String)> = items
        .iter()
        .map(|i| evaluate(inner, i, facts, now))
        .collect();
    let held = results.iter().filter(|(ok, _)| *ok).count();
    let ok = match c.op {
        // An empty list proves nothing: `all` over no approvals does not pass.
        Op::All => !items.is_empty() && held == items.len(),
        Op::Any => held > 0,
        _ => held == 0,
    };
    let values: Vec<&str> = results.iter().map(|(_, s)| s.as_str()).collect();
    (
        ok,
        shorten(&format!(
            "{held} of {} hold: [{}]",
            items.len(),
            values.join(", ")
        )),
    )
}

fn within(c: &Condition, doc: &Value, now: i64) -> (bool, String) {
    let get = |p: &Option<String>| {
        p.as_deref()
            .and_then(|p| lookup(doc, p))
            .map(|v| (super::time::parse(v, c.time_format), seen_of(v)))
    };
    let (Some((start, s_seen)), Some((end, e_seen))) = (get(&c.start), get(&c.end)) else {
        return (false, "(missing start or end)".to_string());
    };
    let seen = format!("[{s_seen}, {e_seen}]");
    let (Some(start), Some(end)) = (start, end) else {
        return (false, format!("{seen} (not a valid time)"));
    };
    let skew = i64::try_from(c.skew.as_secs()).unwrap_or(i64::MAX);
    let ok = now >= start.saturating_sub(skew) && now <= end.saturating_add(skew);
    let why = if ok {
        ""
    } else if now < start {
        " (not started)"
    } else {
        " (ended)"
    };
    (ok, format!("{seen}{why}"))
}

#[cfg(test)]
mod tests;
