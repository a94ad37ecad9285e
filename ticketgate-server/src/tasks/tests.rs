#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::api::Agent;
use super::sqlite::SqliteTasks;
use super::*;
use crate::audit::Memory;
use crate::hosts::HostTokens;
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const T0: i64 = 1_796_400_000;
const WEB_TOKEN: &str = "token-of-web01-0123456789";
const DB_TOKEN: &str = "token-of-db01-0123456789";

fn key(byte: u8) -> TaskKey {
    TaskKey::from_bytes(&[byte; KEY_LEN]).unwrap()
}

fn at(t: i64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap())
}

fn id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn task(n: u32, host: &str, kind: Kind, sealed: Option<Vec<u8>>, queued_at: i64) -> TaskRow {
    TaskRow {
        id: id(n),
        host: host.into(),
        kind: kind.as_str().into(),
        user: format!("user{n}"),
        state: "pending".into(),
        sealed,
        queued_by: "admin".into(),
        queued_at,
        not_after: queued_at + 3600,
        finished_at: None,
        detail: None,
    }
}

fn result(n: u32, state: TaskState, detail: &str) -> TaskResult {
    TaskResult {
        id: id(n),
        state,
        detail: detail.into(),
    }
}

fn store() -> (tempfile::TempDir, SqliteTasks) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = SqliteTasks::open(&data).unwrap();
    (dir, s)
}

fn listed(s: &dyn TaskStore, n: u32) -> TaskRow {
    s.list(None)
        .unwrap()
        .into_iter()
        .find(|t| t.id == id(n))
        .unwrap()
}

#[test]
fn a_sealed_password_opens_with_the_same_key_id_and_host_only() {
    let k = key(7);
    let sealed = k.seal(&id(1), "web01", b"correct horse").unwrap();
    assert!(!sealed.windows(13).any(|w| w == b"correct horse"));
    assert_eq!(
        k.open(&id(1), "web01", &sealed).unwrap().as_str(),
        "correct horse"
    );
    // Another key, another task's id, another host, a flipped bit: nothing opens.
    assert!(key(8).open(&id(1), "web01", &sealed).is_none());
    assert!(k.open(&id(2), "web01", &sealed).is_none());
    assert!(k.open(&id(1), "db01", &sealed).is_none());
    let mut flipped = sealed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(k.open(&id(1), "web01", &flipped).is_none());
    assert!(k.open(&id(1), "web01", &sealed[..5]).is_none());
    // A fresh nonce each time: the same password never seals to the same bytes.
    assert_ne!(sealed, k.seal(&id(1), "web01", b"correct horse").unwrap());
    assert_eq!(format!("{k:?}"), "TaskKey(<redacted>)");
}

#[test]
fn the_key_file_holds_32_bytes_in_base64_or_hex() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let write = |name: &str, text: &str, mode: u32| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let rule = crate::hosts::secret_rule();
    let b64 = data_encoding::BASE64.encode(&[7; 32]);
    let from_b64 = TaskKey::load_from(&write("b64", &format!("{b64}\n"), 0o600), rule).unwrap();
    let from_hex = TaskKey::load_from(
        &write("hex", &format!("{}\n", "07".repeat(32)), 0o600),
        rule,
    )
    .unwrap();
    let sealed = key(7).seal(&id(1), "h", b"pw").unwrap();
    assert!(from_b64.open(&id(1), "h", &sealed).is_some());
    assert!(from_hex.open(&id(1), "h", &sealed).is_some());
    let short = TaskKey::load_from(
        &write("short", &data_encoding::BASE64.encode(&[7; 16]), 0o600),
        rule,
    )
    .unwrap_err();
    assert!(
        matches!(short, KeyError::Format { .. }) && short.to_string().contains("32-byte key"),
        "{short}"
    );
    let open = TaskKey::load_from(&write("open", &b64, 0o644), rule).unwrap_err();
    assert!(matches!(open, KeyError::File { .. }), "{open}");
    let missing = TaskKey::load_from(&dir.path().join("none"), rule).unwrap_err();
    assert!(missing.to_string().contains("task_key_file"), "{missing}");
}

#[test]
fn a_task_is_pending_until_exactly_its_not_after_then_expires() {
    let (_d, s) = store();
    s.add(&task(1, "web01", Kind::Lock, None, T0)).unwrap();
    let end = T0 + 3600;
    assert_eq!(s.pending("web01", end - 1).unwrap().len(), 1);
    assert!(s.expire(end - 1).unwrap().is_empty());
    // At not_after the task is no longer handed out, and expires.
    assert!(s.pending("web01", end).unwrap().is_empty());
    let expired = s.expire(end).unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].id.as_str(), expired[0].kind.as_str()),
        (id(1).as_str(), "lock")
    );
    let row = listed(&s, 1);
    assert_eq!(
        (row.state.as_str(), row.finished_at),
        ("expired", Some(end))
    );
    // Expired once: a second run finds nothing.
    assert!(s.expire(end + 10).unwrap().is_empty());
    // Another host's late result changes nothing; the host's own says the task ran (it was
    // handed out just before not_after) and ends it as it ended; then it is final.
    assert!(
        s.take_results("web02", &[result(1, TaskState::Done, "")], end + 15)
            .unwrap()
            .is_empty()
    );
    assert_eq!(listed(&s, 1).state, "expired");
    let late = s
        .take_results("web01", &[result(1, TaskState::Done, "")], end + 20)
        .unwrap();
    assert_eq!(late.len(), 1);
    let row = listed(&s, 1);
    assert_eq!(
        (row.state.as_str(), row.finished_at),
        ("done", Some(end + 20))
    );
    assert!(
        s.take_results("web01", &[result(1, TaskState::Failed, "")], end + 30)
            .unwrap()
            .is_empty()
    );
    assert_eq!(listed(&s, 1).state, "done");
}

#[test]
fn expiry_deletes_the_password() {
    let (_d, s) = store();
    let sealed = key(1).seal(&id(1), "web01", b"pw").unwrap();
    s.add(&task(1, "web01", Kind::ResetPassword, Some(sealed), T0))
        .unwrap();
    assert!(listed(&s, 1).sealed.is_some());
    s.expire(T0 + 3600).unwrap();
    assert_eq!(listed(&s, 1).sealed, None);
}

#[test]
fn a_result_from_another_host_changes_nothing() {
    let (_d, s) = store();
    let sealed = key(1).seal(&id(1), "web01", b"pw").unwrap();
    s.add(&task(1, "web01", Kind::ResetPassword, Some(sealed), T0))
        .unwrap();
    let taken = s
        .take_results("db01", &[result(1, TaskState::Done, "")], T0 + 5)
        .unwrap();
    assert!(taken.is_empty());
    let row = listed(&s, 1);
    assert_eq!(row.state, "pending");
    assert!(row.sealed.is_some());
    assert!(s.pending("db01", T0 + 5).unwrap().is_empty());
    assert_eq!(s.pending("web01", T0 + 5).unwrap().len(), 1);
}

#[test]
fn the_first_result_wins_and_ends_the_password() {
    let (_d, s) = store();
    let sealed = key(1).seal(&id(1), "web01", b"pw").unwrap();
    s.add(&task(1, "web01", Kind::VerifyPassword, Some(sealed), T0))
        .unwrap();
    let first = s
        .take_results("web01", &[result(1, TaskState::Done, "match")], T0 + 5)
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].user, "user1");
    let second = s
        .take_results("web01", &[result(1, TaskState::Failed, "other")], T0 + 6)
        .unwrap();
    assert!(second.is_empty());
    let row = listed(&s, 1);
    assert_eq!(
        (
            row.state.as_str(),
            row.detail.as_deref(),
            row.finished_at,
            row.sealed
        ),
        ("done", Some("match"), Some(T0 + 5), None)
    );
}

#[test]
fn at_most_fifty_tasks_are_handed_out_oldest_first() {
    let (_d, s) = store();
    for n in 0..60_u32 {
        // Queued newest-first, so the order must come from queued_at, not from insertion.
        s.add(&task(n, "web01", Kind::Lock, None, T0 - i64::from(n)))
            .unwrap();
    }
    let got = s.pending("web01", T0 + 1).unwrap();
    assert_eq!(got.len(), MAX_PER_POLL);
    let want: Vec<String> = (10..60).rev().map(id).collect();
    let ids: Vec<String> = got.into_iter().map(|t| t.id).collect();
    assert_eq!(ids, want);
}

#[test]
fn tasks_queued_in_the_same_second_are_handed_out_in_queueing_order() {
    let (_d, s) = store();
    for n in [3, 1, 2] {
        s.add(&task(n, "web01", Kind::Lock, None, T0)).unwrap();
    }
    let ids: Vec<String> = s
        .pending("web01", T0)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [id(3), id(1), id(2)]);
    let listed: Vec<String> = s.list(None).unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(listed, [id(2), id(1), id(3)]);
    // A copy keeps the order.
    let (_e, b) = store();
    b.import(&s.list(None).unwrap()).unwrap();
    let copied: Vec<String> = b
        .pending("web01", T0)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(copied, ids);
}

#[test]
fn import_keeps_rows_and_their_sealed_passwords_as_they_are() {
    let (_d, a) = store();
    let (_e, b) = store();
    let sealed = key(3).seal(&id(1), "web01", b"pw").unwrap();
    a.add(&task(
        1,
        "web01",
        Kind::ResetPassword,
        Some(sealed.clone()),
        T0,
    ))
    .unwrap();
    a.add(&task(2, "web01", Kind::Lock, None, T0)).unwrap();
    a.take_results(
        "web01",
        &[result(2, TaskState::Refused, "not_allowed")],
        T0 + 1,
    )
    .unwrap();
    let rows = a.list(None).unwrap();
    assert_eq!(b.import(&rows).unwrap(), 2);
    assert_eq!(b.import(&rows).unwrap(), 0, "existing ids are kept");
    assert_eq!(b.list(None).unwrap(), rows);
    assert_eq!(
        key(3)
            .open(&id(1), "web01", listed(&b, 1).sealed.as_ref().unwrap())
            .unwrap()
            .as_str(),
        "pw"
    );
}

#[test]
fn user_names_that_chpasswd_would_misread_are_refused() {
    for good in ["alice", "a.b-c_d", "svc$", "É"] {
        assert!(user_ok(good), "{good}");
    }
    for bad in [
        "",
        "a:b",
        "a b",
        "a\nb",
        "a\0b",
        &"x".repeat(257),
        &"é".repeat(40),
    ] {
        assert!(!user_ok(bad), "{bad:?}");
    }
}

#[test]
fn details_are_cut_at_256_bytes_and_lose_control_characters() {
    assert_eq!(clean_detail("a\nb\u{1b}c"), "a?b?c");
    let long = "é".repeat(200);
    let cut = clean_detail(&long);
    assert!(cut.len() <= MAX_DETAIL && cut.len() >= MAX_DETAIL - 1);
    assert!(long.starts_with(&cut));
}

#[test]
fn ids_are_uuid_v4_text_and_generated_passwords_are_20_characters() {
    let a = new_id().unwrap();
    assert_eq!(crate::fleet::canonical_id(&a).as_deref(), Some(a.as_str()));
    assert_eq!(a.as_bytes()[14], b'4');
    assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    assert_ne!(a, new_id().unwrap());
    let p = generate_password().unwrap();
    assert_eq!(p.expose().len(), GENERATED_LEN);
    assert!(p.expose().iter().all(u8::is_ascii_alphanumeric));
    assert_ne!(p, generate_password().unwrap());
}

// The endpoint, on a real SQLite store, with injected time and an in-memory log.

struct Fixture {
    _dir: tempfile::TempDir,
    agent: Agent,
    store: Arc<SqliteTasks>,
    hosts: HostTokens,
    log: Arc<Memory>,
    metrics: Arc<Metrics>,
}

/// A `TaskStore` shared between the endpoint and the test.
struct Shared(Arc<SqliteTasks>);

impl TaskStore for Shared {
    fn add(&self, t: &TaskRow) -> Result<(), TaskError> {
        self.0.add(t)
    }
    fn take_results(&self, h: &str, r: &[TaskResult], n: i64) -> Result<Vec<Ended>, TaskError> {
        self.0.take_results(h, r, n)
    }
    fn pending(&self, h: &str, n: i64) -> Result<Vec<TaskRow>, TaskError> {
        self.0.pending(h, n)
    }
    fn expire(&self, n: i64) -> Result<Vec<Ended>, TaskError> {
        self.0.expire(n)
    }
    fn list(&self, h: Option<&str>) -> Result<Vec<TaskRow>, TaskError> {
        self.0.list(h)
    }
    fn import(&self, r: &[TaskRow]) -> Result<u64, TaskError> {
        self.0.import(r)
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteTasks::open(&dir.path().join("data")).unwrap());
    let log = Arc::new(Memory::default());
    let metrics = Arc::new(Metrics::new());
    let agent = Agent::new(
        key(9),
        std::time::Duration::from_secs(60),
        Box::new(Shared(Arc::clone(&store))),
        log.clone(),
        Arc::clone(&metrics),
    );
    let hosts = HostTokens::from_tokens(vec![
        ("web01".into(), Secret::new(WEB_TOKEN.into())),
        ("db01".into(), Secret::new(DB_TOKEN.into())),
    ])
    .unwrap();
    Fixture {
        _dir: dir,
        agent,
        store,
        hosts,
        log,
        metrics,
    }
}

impl Fixture {
    fn poll(&self, token: &str, body: &serde_json::Value, now: i64) -> crate::api::Reply {
        let auth = format!("Bearer {token}");
        self.agent.poll(
            &self.hosts,
            Some(auth.as_bytes()),
            body.to_string().as_bytes(),
            None,
            at(now),
        )
    }

    fn lines(&self, event: &str) -> Vec<String> {
        let want = format!(" event={event} ");
        self.log
            .lines()
            .into_iter()
            .filter(|l| l.contains(&want) || l.ends_with(&format!(" event={event}")))
            .collect()
    }
}

fn tasks_of(reply: &crate::api::Reply) -> Vec<serde_json::Value> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(v["interval"], 60);
    v["tasks"].as_array().unwrap().clone()
}

#[test]
fn a_poll_hands_out_the_hosts_tasks_with_the_password_and_takes_results_first() {
    let f = fixture();
    let sealed = key(9).seal(&id(1), "web01", b"s3cret-pw").unwrap();
    f.store
        .add(&task(1, "web01", Kind::ResetPassword, Some(sealed), T0))
        .unwrap();
    f.store
        .add(&task(2, "web01", Kind::Lock, None, T0 + 1))
        .unwrap();
    let empty = serde_json::json!({"host": "web01.example.com", "results": []});
    let got = tasks_of(&f.poll(WEB_TOKEN, &empty, T0 + 10));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["id"], id(1));
    assert_eq!(got[0]["kind"], "reset_password");
    assert_eq!(got[0]["user"], "user1");
    assert_eq!(got[0]["password"], "s3cret-pw");
    assert_eq!(got[0]["not_after"], T0 + 3600);
    assert_eq!(got[1]["kind"], "lock");
    assert!(got[1].get("password").is_none());
    // Another host's token sees none of them.
    assert!(tasks_of(&f.poll(DB_TOKEN, &empty, T0 + 10)).is_empty());
    // A result in the same request: that task is not handed out again.
    let report = serde_json::json!({"host": "web01.example.com", "results": [
        {"task_id": id(1).to_uppercase(), "status": "done", "detail": ""},
        {"task_id": id(1), "status": "failed", "detail": "second copy"},
    ]});
    let got = tasks_of(&f.poll(WEB_TOKEN, &report, T0 + 20));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["id"], id(2));
    let row = listed(f.store.as_ref(), 1);
    assert_eq!((row.state.as_str(), row.sealed), ("done", None));
    // Replayed: ignored, logged.
    let got = tasks_of(&f.poll(WEB_TOKEN, &report, T0 + 30));
    assert_eq!(got.len(), 1);
    assert_eq!(f.lines("task_result").len(), 1);
    let ignored = f.lines("task_result_ignored");
    assert_eq!(ignored.len(), 3, "{ignored:#?}");
    assert!(ignored[0].contains("reason=repeated_in_request"));
    assert!(ignored[1].contains("reason=not_pending_for_host"));
    // No line anywhere holds the password.
    assert!(f.log.lines().iter().all(|l| !l.contains("s3cret")));
    let metrics = f.metrics.render();
    assert!(
        metrics.contains("ticketgate_agent_polls_total 4"),
        "{metrics}"
    );
    assert!(metrics.contains("ticketgate_task_results_total{status=\"done\"} 1"));
}

#[test]
fn idle_polls_leave_no_log_line_busy_ones_leave_one() {
    let f = fixture();
    let empty = serde_json::json!({"host": "web01", "results": []});
    for i in 0..5 {
        tasks_of(&f.poll(WEB_TOKEN, &empty, T0 + i));
    }
    assert!(f.log.lines().is_empty(), "{:#?}", f.log.lines());
    f.store
        .add(&task(1, "web01", Kind::Lock, None, T0))
        .unwrap();
    tasks_of(&f.poll(WEB_TOKEN, &empty, T0 + 10));
    let polls = f.lines("agent_poll");
    assert_eq!(polls.len(), 1);
    assert!(
        polls[0].contains("host_token=web01")
            && polls[0].contains("results=0")
            && polls[0].contains("tasks=1"),
        "{}",
        polls[0]
    );
}

#[test]
fn a_password_the_key_does_not_open_is_never_handed_out_and_fails_the_task() {
    let f = fixture();
    // Sealed under another key, and one moved from another task's row.
    let other_key = key(1).seal(&id(1), "web01", b"pw1").unwrap();
    let moved = key(9).seal(&id(99), "web01", b"pw2").unwrap();
    f.store
        .add(&task(1, "web01", Kind::ResetPassword, Some(other_key), T0))
        .unwrap();
    f.store
        .add(&task(2, "web01", Kind::VerifyPassword, Some(moved), T0 + 1))
        .unwrap();
    let empty = serde_json::json!({"host": "web01", "results": []});
    assert!(tasks_of(&f.poll(WEB_TOKEN, &empty, T0 + 10)).is_empty());
    for n in [1, 2] {
        let row = listed(f.store.as_ref(), n);
        assert_eq!(
            (row.state.as_str(), row.detail.as_deref(), row.sealed),
            ("failed", Some(KEY_MISMATCH), None)
        );
    }
    assert_eq!(f.lines("task_key_mismatch").len(), 2);
    assert!(tasks_of(&f.poll(WEB_TOKEN, &empty, T0 + 20)).is_empty());
}

#[test]
fn an_expired_task_is_logged_once_and_never_handed_out() {
    let f = fixture();
    f.store
        .add(&task(1, "db01", Kind::Terminate, None, T0))
        .unwrap();
    let empty = serde_json::json!({"host": "web01", "results": []});
    // web01's poll expires db01's overdue task too: the listing stays true for every host.
    tasks_of(&f.poll(WEB_TOKEN, &empty, T0 + 3600));
    assert!(tasks_of(&f.poll(DB_TOKEN, &empty, T0 + 3601)).is_empty());
    let lines = f.lines("task_expired");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("host=db01") && lines[0].contains("kind=terminate"));
    assert_eq!(listed(f.store.as_ref(), 1).state, "expired");
}

#[test]
fn refusals_and_bad_requests_each_answer_with_one_log_line() {
    let f = fixture();
    let body = serde_json::json!({"host": "web01", "results": []});
    let count = |f: &Fixture| f.log.lines().len();
    let r = f
        .agent
        .poll(&f.hosts, None, body.to_string().as_bytes(), None, at(T0));
    assert_eq!(r.status, 401);
    assert_eq!(count(&f), 1);
    assert!(
        f.log.lines()[0].contains("event=agent_refused")
            && f.log.lines()[0].contains("reason=no_token")
    );
    assert_eq!(f.poll("wrong-token-xxxxxxxxxx", &body, T0).status, 401);
    assert!(f.log.lines()[1].contains("reason=wrong_token"));
    for bad in [
        serde_json::json!({"results": []}),
        serde_json::json!({"host": "web01", "results": [{"task_id": "nope", "status": "done"}]}),
        serde_json::json!({"host": "web01", "results": [{"task_id": id(1), "status": "ok"}]}),
        serde_json::json!({"host": "", "results": []}),
        serde_json::json!({"host": "web01", "results": [{"status": "done"}]}),
    ] {
        let before = count(&f);
        let r = f.poll(WEB_TOKEN, &bad, T0);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("\"error\""));
        assert_eq!(count(&f), before + 1, "{bad}");
    }
    let off = Agent::disabled(f.log.clone(), Arc::clone(&f.metrics));
    let auth = format!("Bearer {WEB_TOKEN}");
    let r = off.poll(&f.hosts, Some(auth.as_bytes()), b"{}", None, at(T0));
    assert_eq!(r.status, 404);
    assert!(r.body.contains("[agent]"), "{}", r.body);
    assert!(
        f.log
            .lines()
            .last()
            .unwrap()
            .contains("reason=no_agent_config")
    );
}

#[test]
fn the_answer_carries_every_password_exactly_also_one_json_must_escape() {
    let hostile = "quote\" back\\slash \u{1}ctl ü\u{2028}".to_string();
    let tasks = vec![
        serde_json::json!({"id": "a", "kind": "reset_password", "user": "alice", "not_after": 5, "password": hostile}),
        serde_json::json!({"id": "b", "kind": "lock", "user": "bob", "not_after": 6}),
    ];
    let text = super::api::answer(tasks, std::time::Duration::from_secs(60));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["interval"], 60);
    assert_eq!(v["tasks"][0]["password"], hostile.as_str());
    assert_eq!(v["tasks"][1]["user"], "bob");
    assert!(v["tasks"][1].get("password").is_none());
}
