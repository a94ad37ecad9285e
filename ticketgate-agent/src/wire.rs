//! `POST /v1/agent/poll`: the request the agent sends and the strict reading of the answer.
//! The answer is hostile until read: a body that is not the protocol's object is refused
//! whole; a task with a missing or malformed field is kept only as its id, to be reported
//! `refused`/`bad_task`; a task without a usable id cannot be reported and is skipped.

use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use pam_ticketgate::config::TaskKind;
use pam_ticketgate::secret::Secret;

/// The most tasks read from one answer (the server sends at most 50).
pub const MAX_TASKS: usize = 50;
/// The longest `detail` sent (bytes).
pub const MAX_DETAIL: usize = 256;
/// The longest user name accepted from the server.
const MAX_USER: usize = 256;
/// The longest password accepted from the server (bytes).
const MAX_PASSWORD: usize = 1024;

/// What a task ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Done,
    Failed,
    Refused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        [Self::Done, Self::Failed, Self::Refused]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

/// One result as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    pub task_id: String,
    pub status: Status,
    pub detail: String,
}

/// A task as the server handed it out, every field checked.
#[derive(Debug)]
pub struct Task {
    pub id: String,
    pub kind: TaskKind,
    pub user: String,
    /// Epoch seconds (UTC).
    pub not_after: i64,
    /// `reset_password` and `verify_password` only.
    pub password: Option<Secret>,
}

/// One entry of `tasks`.
#[derive(Debug)]
pub enum Entry {
    Task(Task),
    /// A usable id, but a field is missing or malformed (or the kind is unknown): reported as
    /// `refused`/`bad_task` without running. `why` names the field (never a value).
    Bad {
        id: String,
        why: String,
    },
    /// No usable id: nothing can be reported (`why` for the log).
    Unusable(String),
}

/// A `200` answer.
#[derive(Debug)]
pub struct Answer {
    pub tasks: Vec<Entry>,
    /// The server's `[agent] interval`, when it sent a usable one.
    pub interval: Option<Duration>,
    /// Tasks past [`MAX_TASKS`] that were not read (they come again next time).
    pub left_over: usize,
}

/// The most a request's results may take when encoded: the server's body limit is 16 KiB.
pub const MAX_RESULTS_BYTES: usize = 12 * 1024;

/// The results that fit in one request, oldest first (the rest go with the next poll).
pub fn fitting(results: Vec<TaskResult>) -> Vec<TaskResult> {
    let mut used = 0;
    results
        .into_iter()
        .take_while(|r| {
            used += request("", std::slice::from_ref(r)).to_string().len();
            used <= MAX_RESULTS_BYTES
        })
        .collect()
}

/// The request body.
pub fn request(host: &str, results: &[TaskResult]) -> serde_json::Value {
    serde_json::json!({
        "host": host,
        "results": results.iter().map(|r| serde_json::json!({
            "task_id": r.task_id,
            "status": r.status.as_str(),
            "detail": r.detail,
        })).collect::<Vec<_>>(),
    })
}

/// `detail` as the protocol allows it: no control characters, at most 256 bytes (cut at a
/// character boundary).
pub fn clean_detail(detail: &str) -> String {
    let mut out = String::new();
    for c in detail.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_DETAIL {
            break;
        }
        out.push(c);
    }
    out
}

/// A password field: the string moved into a zeroizing buffer; anything else is kept as "not
/// a string" so the task, not the whole answer, is refused. (No `Debug`: it holds a password.)
enum RawPassword {
    Text(Zeroizing<String>),
    NotText,
}

impl<'de> Deserialize<'de> for RawPassword {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Self::Text(Zeroizing::new(s)),
            _ => Self::NotText,
        })
    }
}

#[derive(Deserialize)]
struct RawTask {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    kind: Option<serde_json::Value>,
    #[serde(default)]
    user: Option<serde_json::Value>,
    #[serde(default)]
    not_after: Option<serde_json::Value>,
    #[serde(default)]
    password: Option<RawPassword>,
}

#[derive(Deserialize)]
struct RawAnswer {
    tasks: Vec<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
}

/// Reads a `200` body, or says why it is not the protocol's answer.
pub fn parse_answer(body: &[u8]) -> Result<Answer, String> {
    let raw: RawAnswer =
        serde_json::from_slice(body).map_err(|e| format!("malformed answer: {e}"))?;
    let interval = match raw.interval {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(s) if s > 0 => Some(Duration::from_secs(s)),
            _ => {
                raw.tasks.into_iter().for_each(scrub);
                return Err("malformed answer: interval is not a positive integer".into());
            }
        },
    };
    let left_over = raw.tasks.len().saturating_sub(MAX_TASKS);
    let mut all = raw.tasks.into_iter();
    let tasks = all.by_ref().take(MAX_TASKS).map(entry).collect();
    all.for_each(scrub);
    Ok(Answer {
        tasks,
        interval,
        left_over,
    })
}

/// Drops a task that is not read, its password (if any) zeroed first.
fn scrub(mut task: serde_json::Value) {
    if let Some(serde_json::Value::String(p)) = task.get_mut("password") {
        zeroize::Zeroize::zeroize(p);
    }
}

/// A task id: a UUID's characters (hex digits and dashes), 1 to 64 of them.
fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn entry(value: serde_json::Value) -> Entry {
    let raw: RawTask = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => return Entry::Unusable(format!("a task that is not an object: {e}")),
    };
    let id = match raw.id {
        Some(serde_json::Value::String(id)) if is_id(&id) => id,
        Some(_) => return Entry::Unusable("a task whose id is not a UUID".into()),
        None => return Entry::Unusable("a task without an id".into()),
    };
    let bad = |why: &str| Entry::Bad {
        id: id.clone(),
        why: why.to_string(),
    };
    let kind = match raw.kind.as_ref().and_then(serde_json::Value::as_str) {
        Some(word) => match TaskKind::from_word(word) {
            Some(k) => k,
            None => return bad("unknown kind"),
        },
        None => return bad("no kind"),
    };
    let user = match raw.user.as_ref().and_then(serde_json::Value::as_str) {
        Some(u) if !u.is_empty() && u.len() <= MAX_USER && !u.chars().any(char::is_control) => {
            u.to_string()
        }
        Some(_) => return bad("malformed user"),
        None => return bad("no user"),
    };
    let Some(not_after) = raw.not_after.as_ref().and_then(serde_json::Value::as_i64) else {
        return bad("no not_after (epoch seconds)");
    };
    let needs_password = matches!(kind, TaskKind::ResetPassword | TaskKind::VerifyPassword);
    let password = match (needs_password, raw.password) {
        (false, _) => None,
        (true, Some(RawPassword::Text(p))) if !p.is_empty() && p.len() <= MAX_PASSWORD => {
            if p.contains(['\n', '\r', '\0']) {
                return bad("password with a line break or NUL");
            }
            Some(Secret::new(p.as_str().to_string()))
        }
        (true, Some(_)) => return bad("malformed password"),
        (true, None) => return bad("no password"),
    };
    Entry::Task(Task {
        id,
        kind,
        user,
        not_after,
        password,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    const ID: &str = "0b6f3c1e-6d2a-4f7e-9c1b-2a3d4e5f6a7b";

    fn one(task: &str) -> Entry {
        let body = format!(r#"{{"tasks": [{task}], "interval": 60}}"#);
        let mut a = parse_answer(body.as_bytes()).unwrap();
        assert_eq!(a.tasks.len(), 1);
        a.tasks.remove(0)
    }

    fn bad_why(task: &str) -> String {
        match one(task) {
            Entry::Bad { id, why } => {
                assert_eq!(id, ID);
                why
            }
            other => panic!("{task}: {other:?}"),
        }
    }

    #[test]
    fn a_well_formed_answer_reads_every_field() {
        let body = format!(
            r#"{{"tasks": [{{"id": "{ID}", "kind": "reset_password", "user": "alice",
                 "not_after": 1796400000, "password": "Blue-Heron-77"}},
                {{"id": "{ID}", "kind": "lock", "user": "bob", "not_after": 1796400000,
                 "password": "ignored"}}], "interval": 120}}"#
        );
        let a = parse_answer(body.as_bytes()).unwrap();
        assert_eq!(a.interval, Some(Duration::from_secs(120)));
        let Entry::Task(t) = &a.tasks[0] else {
            panic!()
        };
        assert_eq!(t.kind, TaskKind::ResetPassword);
        assert_eq!(t.user, "alice");
        assert_eq!(t.not_after, 1_796_400_000);
        assert_eq!(t.password.as_ref().unwrap().expose(), "Blue-Heron-77");
        let Entry::Task(t) = &a.tasks[1] else {
            panic!()
        };
        assert!(t.password.is_none(), "a lock carries no password");
    }

    #[test]
    fn answers_that_are_not_the_protocols_object_are_refused_whole() {
        for body in [
            "",
            "not json",
            "[]",
            "null",
            r#"{"interval": 60}"#,
            r#"{"tasks": {}}"#,
            r#"{"tasks": [], "interval": -5}"#,
            r#"{"tasks": [], "interval": "60"}"#,
            r#"{"tasks": [], "tasks": []}"#,
            "{\"tasks\": [",
        ] {
            assert!(parse_answer(body.as_bytes()).is_err(), "{body:?}");
        }
        let a = parse_answer(br#"{"tasks": [], "extra": 1}"#).unwrap();
        assert!(a.tasks.is_empty() && a.interval.is_none());
    }

    #[test]
    fn a_task_with_a_missing_or_malformed_field_is_bad_but_reportable() {
        let t = |rest: &str| format!(r#"{{"id": "{ID}"{rest}}}"#);
        let ok = r#", "user": "alice", "not_after": 1"#;
        assert_eq!(bad_why(&t(ok)), "no kind");
        assert_eq!(
            bad_why(&t(&format!(r#", "kind": "reboot"{ok}"#))),
            "unknown kind"
        );
        assert_eq!(bad_why(&t(&format!(r#", "kind": 7{ok}"#))), "no kind");
        assert_eq!(
            bad_why(&t(r#", "kind": "lock", "not_after": 1"#)),
            "no user"
        );
        assert_eq!(
            bad_why(&t(r#", "kind": "lock", "user": "", "not_after": 1"#)),
            "malformed user"
        );
        assert_eq!(
            bad_why(&t(r#", "kind": "lock", "user": "a\nb", "not_after": 1"#)),
            "malformed user"
        );
        assert!(bad_why(&t(r#", "kind": "lock", "user": "a""#)).starts_with("no not_after"));
        assert!(
            bad_why(&t(r#", "kind": "lock", "user": "a", "not_after": "soon""#))
                .starts_with("no not_after")
        );
        assert_eq!(
            bad_why(&t(&format!(r#", "kind": "verify_password"{ok}"#))),
            "no password"
        );
        assert_eq!(
            bad_why(&t(&format!(
                r#", "kind": "reset_password", "password": 5{ok}"#
            ))),
            "malformed password"
        );
        assert_eq!(
            bad_why(&t(&format!(
                r#", "kind": "reset_password", "password": "a\nb"{ok}"#
            ))),
            "password with a line break or NUL"
        );
    }

    #[test]
    fn a_task_without_a_usable_id_cannot_be_reported() {
        for task in [
            r#"{"kind": "lock", "user": "a", "not_after": 1}"#,
            r#"{"id": 5, "kind": "lock"}"#,
            r#"{"id": "../../etc/passwd"}"#,
            r#"{"id": ""}"#,
            "17",
            r#""lock""#,
        ] {
            assert!(matches!(one(task), Entry::Unusable(_)), "{task}");
        }
    }

    #[test]
    fn at_most_fifty_tasks_are_read() {
        let task = format!(r#"{{"id": "{ID}", "kind": "lock", "user": "a", "not_after": 1}}"#);
        let body = format!(r#"{{"tasks": [{}]}}"#, vec![task; 60].join(","));
        let a = parse_answer(body.as_bytes()).unwrap();
        assert_eq!((a.tasks.len(), a.left_over), (50, 10));
    }

    #[test]
    fn details_have_no_control_characters_and_at_most_256_bytes() {
        assert_eq!(clean_detail("a\nb\u{7}c"), "a b c");
        let long = "é".repeat(200);
        let d = clean_detail(&long);
        assert!(
            d.len() <= MAX_DETAIL && d.len() >= MAX_DETAIL - 1,
            "{}",
            d.len()
        );
    }

    #[test]
    fn a_request_carries_no_more_results_than_the_server_takes() {
        let one = |i: usize| TaskResult {
            task_id: format!("{i:08x}-0000-4000-8000-000000000000"),
            status: Status::Failed,
            detail: "x".repeat(MAX_DETAIL),
        };
        let all: Vec<TaskResult> = (0..200).map(one).collect();
        let sent = fitting(all.clone());
        assert!(sent.len() > 10 && sent.len() < 200, "{}", sent.len());
        assert_eq!(sent[..], all[..sent.len()], "oldest first");
        let body = request("web1.example.com", &sent).to_string();
        assert!(body.len() < 16 * 1024, "{}", body.len());
        assert_eq!(fitting(all[..3].to_vec()).len(), 3);
    }

    #[test]
    fn the_request_has_the_protocols_fields() {
        let r = request(
            "web1.example.com",
            &[TaskResult {
                task_id: ID.into(),
                status: Status::Done,
                detail: "match".into(),
            }],
        );
        assert_eq!(
            r,
            serde_json::json!({"host": "web1.example.com",
                "results": [{"task_id": ID, "status": "done", "detail": "match"}]})
        );
    }
}
