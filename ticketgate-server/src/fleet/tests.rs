//! Fleet counting with injected time, through the endpoint functions and the real SQLite store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::api::Fleet;
use super::sqlite::SqliteFleet;
use super::*;
use crate::audit::Memory;
use crate::hosts::HostTokens;
use crate::secret::Secret;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const T0: i64 = 1_800_000_000;
const TOKEN: &[u8] = b"Bearer 0123456789abcdef-web01";
const DB_TOKEN: &[u8] = b"Bearer 0123456789abcdef-db01";

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

fn hosts() -> HostTokens {
    HostTokens::from_tokens(vec![
        (
            "web01".into(),
            Secret::new(b"0123456789abcdef-web01".to_vec()),
        ),
        (
            "db01".into(),
            Secret::new(b"0123456789abcdef-db01".to_vec()),
        ),
    ])
    .unwrap()
}

struct Bed {
    _dir: tempfile::TempDir,
    log: Arc<Memory>,
    fleet: Fleet,
    hosts: HostTokens,
    next_id: std::cell::Cell<u32>,
}

fn bed(policy: FleetPolicy) -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteFleet::open(&dir.path().join("data")).unwrap();
    let log = Arc::new(Memory::default());
    Bed {
        _dir: dir,
        fleet: Fleet::new(policy, Box::new(store), log.clone()),
        log,
        hosts: hosts(),
        next_id: std::cell::Cell::new(0),
    }
}

fn policy(failed_logon: u32, window_min: u64, lockout_min: u64) -> FleetPolicy {
    FleetPolicy {
        failed_logon,
        reset_failed_after: Duration::from_secs(window_min * 60),
        lockout_duration: (lockout_min > 0).then(|| Duration::from_secs(lockout_min * 60)),
        lock_root: false,
    }
}

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

impl Bed {
    fn fresh_id(&self) -> String {
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        uuid(n)
    }

    fn failure_with(&self, id: &str, user: &str, cred: &str, event_at: i64, now: i64) -> Value {
        let body = json!({"id": id, "user": user, "credential": cred, "host": "web01",
            "service": "sshd", "rhost": "192.0.2.7", "at": event_at})
        .to_string();
        let r = self
            .fleet
            .failure(&self.hosts, Some(TOKEN), body.as_bytes(), None, at(now));
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    fn failure(&self, user: &str, now: i64) -> Value {
        self.failure_with(&self.fresh_id(), user, "password", now, now)
    }

    fn success(&self, id: &str, user: &str, cred: &str, event_at: i64, now: i64) {
        let body = json!({"id": id, "user": user, "credential": cred, "host": "web01",
            "service": "sshd", "at": event_at})
        .to_string();
        let r = self
            .fleet
            .success(&self.hosts, Some(TOKEN), body.as_bytes(), None, at(now));
        assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    }

    fn check(&self, user: &str, cred: &str, now: i64) -> Value {
        let body = json!({"user": user, "credential": cred}).to_string();
        let r = self
            .fleet
            .check(&self.hosts, Some(TOKEN), body.as_bytes(), None, at(now));
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    fn lines_with(&self, part: &str) -> Vec<String> {
        self.log
            .lines()
            .into_iter()
            .filter(|l| l.contains(part))
            .collect()
    }
}

fn unlocked(failures: u32) -> Value {
    json!({"locked": false, "reason": null, "until": null, "failures": failures})
}

fn locked_until(until: i64, failures: u32) -> Value {
    json!({"locked": true, "reason": "failures", "until": until, "failures": failures})
}

#[test]
fn third_failure_inside_the_window_locks_for_lockout_duration_and_a_fourth_is_not_counted() {
    let b = bed(policy(3, 30, 30));
    assert_eq!(b.failure("alice", T0), unlocked(1));
    assert_eq!(b.failure("alice", T0 + 60), unlocked(2));
    assert_eq!(
        b.failure("alice", T0 + 120),
        locked_until(T0 + 120 + 1800, 3)
    );
    // Locked: not counted, the lock not extended.
    assert_eq!(b.failure("alice", T0 + 180), locked_until(T0 + 1920, 3));
    assert_eq!(
        b.check("alice", "password", T0 + 1919),
        locked_until(T0 + 1920, 3)
    );
    assert_eq!(b.check("alice", "password", T0 + 1920), unlocked(0));
    let lock = b.lines_with("event=fleet_lock ");
    assert_eq!(lock.len(), 1, "{lock:?}");
    assert!(
        lock[0].contains("reason=failures host_token=web01 user=alice credential=password")
            && lock[0].contains(&format!("until={}", T0 + 1920)),
        "{lock:?}"
    );
    assert_eq!(b.lines_with("outcome=while_locked").len(), 1);
}

#[test]
fn after_the_lock_ends_counting_starts_again_from_one() {
    let b = bed(policy(2, 30, 10));
    b.failure("alice", T0);
    assert_eq!(b.failure("alice", T0 + 1), locked_until(T0 + 601, 2));
    assert_eq!(b.failure("alice", T0 + 601), unlocked(1));
    assert_eq!(b.failure("alice", T0 + 602), locked_until(T0 + 1202, 2));
}

#[test]
fn the_count_starts_again_once_reset_failed_after_passed_since_the_last_failure() {
    let b = bed(policy(3, 10, 30));
    b.failure("alice", T0);
    // Each failure less than 10 minutes after the previous one adds up.
    assert_eq!(b.failure("alice", T0 + 599), unlocked(2));
    assert_eq!(b.check("alice", "password", T0 + 599 + 599), unlocked(2));
    assert_eq!(b.check("alice", "password", T0 + 599 + 600), unlocked(0));
    assert_eq!(b.failure("alice", T0 + 599 + 600), unlocked(1));
}

#[test]
fn zero_lockout_duration_locks_until_an_administrator_unlocks() {
    let b = bed(policy(1, 30, 0));
    let locked = json!({"locked": true, "reason": "failures", "until": null, "failures": 1});
    assert_eq!(b.failure("alice", T0), locked);
    assert_eq!(b.check("alice", "password", T0 + 86_400 * 30), locked);
    let dir = b._dir.path().join("data");
    let store = SqliteFleet::open(&dir).unwrap();
    assert!(store.unlock("alice").unwrap());
    assert_eq!(b.check("alice", "password", T0 + 86_400 * 30), unlocked(0));
    assert!(b.lines_with("until=admin_unlock").len() == 1);
}

#[test]
fn zero_failed_logon_never_locks_but_counts() {
    let b = bed(policy(0, 30, 30));
    for i in 1..=20 {
        assert_eq!(b.failure("alice", T0 + i64::from(i)), unlocked(i));
    }
}

#[test]
fn root_is_locked_by_failures_only_with_lock_root() {
    let b = bed(policy(2, 30, 30));
    for i in 1..=5 {
        assert_eq!(b.failure("root", T0 + i64::from(i)), unlocked(i));
    }
    let b = bed(FleetPolicy {
        lock_root: true,
        ..policy(2, 30, 30)
    });
    b.failure("root", T0);
    assert_eq!(b.failure("root", T0 + 1), locked_until(T0 + 1801, 2));
}

#[test]
fn a_replayed_id_counts_nothing_and_answers_the_current_state() {
    let b = bed(policy(3, 30, 30));
    let id = uuid(42);
    assert_eq!(
        b.failure_with(&id, "alice", "password", T0, T0),
        unlocked(1)
    );
    assert_eq!(
        b.failure_with(&id, "alice", "password", T0, T0 + 5),
        unlocked(1)
    );
    // The same id in upper case is the same event.
    let upper = id.to_uppercase();
    assert_eq!(
        b.failure_with(&upper, "alice", "password", T0, T0 + 6),
        unlocked(1)
    );
    b.failure("alice", T0 + 10);
    assert_eq!(
        b.failure_with(&id, "alice", "password", T0, T0 + 11),
        unlocked(2)
    );
    assert_eq!(b.lines_with("outcome=replayed").len(), 3);
    // A success replayed after new failures does not clear them again.
    let ok = uuid(43);
    b.success(&ok, "alice", "password", T0 + 12, T0 + 12);
    assert_eq!(b.check("alice", "password", T0 + 13), unlocked(0));
    b.failure("alice", T0 + 14);
    b.success(&ok, "alice", "password", T0 + 15, T0 + 15);
    assert_eq!(b.check("alice", "password", T0 + 16), unlocked(1));
}

#[test]
fn an_event_older_than_the_window_is_remembered_but_does_not_count() {
    let b = bed(policy(3, 30, 30));
    let id = uuid(7);
    assert_eq!(
        b.failure_with(&id, "alice", "password", T0 - 1800, T0),
        unlocked(0)
    );
    assert_eq!(b.lines_with("outcome=too_old").len(), 1);
    // Replayed later inside... still nothing, and now it is a replay.
    assert_eq!(
        b.failure_with(&id, "alice", "password", T0 - 1800, T0 + 1),
        unlocked(0)
    );
    assert_eq!(b.lines_with("outcome=replayed").len(), 1);
    // A spooled failure 29 minutes old still counts.
    assert_eq!(
        b.failure_with(&uuid(8), "alice", "password", T0 - 1740, T0),
        unlocked(1)
    );
}

#[test]
fn an_event_far_in_the_future_or_past_is_clamped_and_logged() {
    let b = bed(policy(3, 30, 30));
    assert_eq!(
        b.failure_with(&uuid(1), "alice", "password", T0 + 86_400, T0),
        unlocked(1)
    );
    let line = b.lines_with("event=fleet_failure").pop().unwrap();
    assert!(
        line.contains(&format!("at={} at_clamped_from={}", T0 + 60, T0 + 86_400)),
        "{line}"
    );
    // Clamped to a week ago: recorded, not counted.
    b.failure_with(&uuid(2), "alice", "password", -5, T0);
    let line = b.lines_with("event=fleet_failure").pop().unwrap();
    assert!(
        line.contains(&format!("at={} at_clamped_from=-5", T0 - 7 * 86_400))
            && line.contains("outcome=too_old"),
        "{line}"
    );
}

#[test]
fn success_clears_the_count_of_its_credential_only_and_never_a_lock() {
    let b = bed(policy(3, 30, 30));
    b.failure("alice", T0);
    b.failure_with(&b.fresh_id(), "alice", "pin", T0, T0);
    b.success(&uuid(100), "alice", "password", T0 + 1, T0 + 1);
    assert_eq!(b.check("alice", "password", T0 + 2), unlocked(0));
    assert_eq!(b.check("alice", "pin", T0 + 2), unlocked(1));
    // A failures lock stays.
    b.failure("alice", T0 + 3);
    b.failure("alice", T0 + 4);
    b.failure("alice", T0 + 5);
    b.success(&uuid(101), "alice", "password", T0 + 6, T0 + 6);
    assert_eq!(
        b.check("alice", "password", T0 + 7),
        locked_until(T0 + 1805, 3)
    );
    assert_eq!(b.lines_with("outcome=kept").len(), 1);
}

#[test]
fn success_older_than_the_last_failure_keeps_the_count() {
    let b = bed(policy(3, 30, 30));
    b.failure("alice", T0 + 10);
    b.success(&uuid(100), "alice", "password", T0 + 5, T0 + 11);
    assert_eq!(b.check("alice", "password", T0 + 12), unlocked(1));
}

#[test]
fn an_admin_lock_covers_both_credentials_and_unlock_clears_everything_reset_not_the_admin_lock() {
    let b = bed(policy(3, 30, 30));
    let store = SqliteFleet::open(&b._dir.path().join("data")).unwrap();
    b.failure("alice", T0);
    assert_eq!(store.lock("alice", "admin1", T0).unwrap(), None);
    assert_eq!(store.lock("alice", "admin2", T0 + 5).unwrap(), Some(T0));
    let admin = |failures: u32| json!({"locked": true, "reason": "admin", "until": null, "failures": failures});
    assert_eq!(b.check("alice", "password", T0 + 1), admin(1));
    assert_eq!(b.check("alice", "pin", T0 + 1), admin(0));
    assert!(store.reset("alice").unwrap());
    assert_eq!(b.check("alice", "password", T0 + 2), admin(0));
    b.success(&uuid(5), "alice", "password", T0 + 3, T0 + 3);
    assert_eq!(b.check("alice", "pin", T0 + 3), admin(0));
    b.failure("alice", T0 + 4);
    assert!(store.unlock("alice").unwrap());
    assert_eq!(b.check("alice", "password", T0 + 5), unlocked(0));
    assert!(!store.unlock("alice").unwrap());
    let records = user_status(&store, "alice").unwrap();
    assert!(records.records.iter().all(|(_, r)| *r == Record::default()));
}

#[test]
fn listed_names_users_with_failures_in_the_window_or_locks() {
    let b = bed(policy(1, 10, 5));
    let store = SqliteFleet::open(&b._dir.path().join("data")).unwrap();
    let p = policy(3, 10, 5);
    let b3 = bed(p);
    let s3 = SqliteFleet::open(&b3._dir.path().join("data")).unwrap();
    b3.failure("carol", T0);
    s3.lock("dave", "op", T0).unwrap();
    b3.failure("erin", T0 - 700);
    assert_eq!(
        s3.listed(T0, window_start(T0, &p)).unwrap(),
        ["carol", "dave"]
    );
    // A failures lock is listed while in force, even once its failures are older than the window.
    b.failure("frank", T0);
    assert_eq!(store.listed(T0 + 299, T0 + 299 - 600).unwrap(), ["frank"]);
    assert!(store.listed(T0 + 300, T0 + 300 - 600).unwrap().is_empty());
}

#[test]
fn ids_are_pruned_after_eight_days_and_a_late_replay_still_counts_nothing() {
    let b = bed(policy(3, 30, 30));
    let id = uuid(9);
    b.failure_with(&id, "alice", "password", T0, T0);
    let store = SqliteFleet::open(&b._dir.path().join("data")).unwrap();
    assert_eq!(store.prune(T0).unwrap(), 0);
    assert_eq!(store.prune(T0 + 1).unwrap(), 1);
    // The replay of a forgotten id carries its old `at`: clamped, too old to count.
    let later = T0 + 8 * 86_400 + 1;
    assert_eq!(
        b.failure_with(&id, "alice", "password", T0, later),
        unlocked(0)
    );
    assert!(b.lines_with("outcome=too_old").len() == 1);
}

#[test]
fn the_write_path_prunes_ids_once_an_hour() {
    let b = bed(policy(3, 30, 30));
    b.failure_with(&uuid(1), "alice", "password", T0, T0);
    let late = T0 + 8 * 86_400 + 10;
    b.failure_with(&uuid(2), "bob", "password", late, late);
    let prune = b.lines_with("event=fleet_prune");
    assert_eq!(prune.len(), 1, "{:?}", b.log.lines());
    assert!(prune[0].ends_with("removed_ids=1"));
}

#[test]
fn concurrent_failures_from_many_threads_lock_exactly_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteFleet::open(dir.path()).unwrap());
    let p = policy(10, 30, 30);
    let threads: Vec<_> = (0..40_u32)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let e = Event {
                    id: uuid(i),
                    user: "alice".into(),
                    credential: Credential::Password,
                    host: "web01".into(),
                    at: T0,
                };
                store
                    .failure(&e, T0, Some(&Count::new(&p, "alice", T0)))
                    .unwrap()
                    .0
            })
        })
        .collect();
    let mut outcomes: Vec<Counted> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    outcomes.sort_by_key(|o| format!("{o:?}"));
    let locked_now = outcomes
        .iter()
        .filter(|o| **o == Counted::Counted { locked_now: true })
        .count();
    let counted = outcomes
        .iter()
        .filter(|o| **o == Counted::Counted { locked_now: false })
        .count();
    assert_eq!((counted, locked_now), (9, 1));
    assert_eq!(
        store
            .record("alice", Credential::Password)
            .unwrap()
            .failures,
        10
    );
}

#[test]
fn bad_requests_are_4xx_with_one_log_line_each_and_count_nothing() {
    let b = bed(policy(3, 30, 30));
    let good = json!({"id": uuid(1), "user": "alice", "credential": "password", "host": "web01",
        "service": "sshd", "rhost": "", "at": T0});
    let with = |k: &str, v: Value| {
        let mut g = good.clone();
        g[k] = v;
        g.to_string()
    };
    let without = |k: &str| {
        let mut g = good.clone();
        g.as_object_mut().unwrap().remove(k);
        g.to_string()
    };
    let cases: Vec<(Option<&[u8]>, String, u16, &str)> = vec![
        (
            Some(b"Bearer wrong-token-0000000000"),
            good.to_string(),
            401,
            "reason=wrong_token",
        ),
        (None, good.to_string(), 401, "reason=no_token"),
        (
            Some(TOKEN),
            "{\"id\":".into(),
            400,
            "body is not a fleet failure",
        ),
        (Some(TOKEN), "[]".into(), 400, "body is not a fleet failure"),
        (Some(TOKEN), without("at"), 400, "missing field"),
        (Some(TOKEN), without("id"), 400, "missing field"),
        (
            Some(TOKEN),
            with("at", json!(1.5)),
            400,
            "body is not a fleet failure",
        ),
        (
            Some(TOKEN),
            with("at", json!("now")),
            400,
            "body is not a fleet failure",
        ),
        (
            Some(TOKEN),
            with("credential", json!("otp")),
            400,
            "credential must be",
        ),
        (
            Some(TOKEN),
            with("id", json!("not-a-uuid")),
            400,
            "id must be a UUID",
        ),
        (
            Some(TOKEN),
            with("id", json!(format!("{}0", uuid(1)))),
            400,
            "id must be a UUID",
        ),
        (
            Some(TOKEN),
            with("id", json!("x".repeat(5000))),
            400,
            "id must be a UUID",
        ),
        (
            Some(TOKEN),
            with("user", json!("")),
            400,
            "must be non-empty",
        ),
        (
            Some(TOKEN),
            with("user", json!("a".repeat(257))),
            400,
            "exceed 256 bytes",
        ),
        (
            Some(TOKEN),
            with("rhost", json!("r".repeat(257))),
            400,
            "exceed 256 bytes",
        ),
        (
            Some(TOKEN),
            with("user", json!("eve\nts=x")),
            400,
            "control characters",
        ),
    ];
    for (i, (token, body, status, logged)) in cases.iter().enumerate() {
        let before = b.log.lines().len();
        let r = b
            .fleet
            .failure(&b.hosts, *token, body.as_bytes(), None, at(T0));
        assert_eq!(r.status, *status, "case {i}: {body} -> {}", r.body);
        let lines = b.log.lines();
        assert_eq!(lines.len(), before + 1, "case {i}: one log line: {lines:?}");
        assert!(
            lines[before].contains(logged),
            "case {i}: {}",
            lines[before]
        );
    }
    assert_eq!(b.check("alice", "password", T0), unlocked(0));
    // The same rules on check and success.
    let r = b.fleet.check(
        &b.hosts,
        Some(TOKEN),
        br#"{"user":"alice","credential":"totp"}"#,
        None,
        at(T0),
    );
    assert_eq!(r.status, 400);
    let r = b.fleet.success(
        &b.hosts,
        Some(TOKEN),
        without("at").as_bytes(),
        None,
        at(T0),
    );
    assert_eq!(r.status, 400);
    let r = b.fleet.check(
        &b.hosts,
        None,
        br#"{"user":"alice","credential":"pin"}"#,
        None,
        at(T0),
    );
    assert_eq!(r.status, 401);
}

#[test]
fn without_fleet_the_endpoints_answer_404_naming_the_missing_table() {
    let fleet = Fleet::disabled(Arc::new(Memory::default()));
    let r = fleet.check(&hosts(), Some(TOKEN), b"{}", None, at(T0));
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("fleet mode is not configured"),
        "{}",
        r.body
    );
    assert_eq!(
        fleet
            .failure(&hosts(), Some(TOKEN), b"{}", None, at(T0))
            .status,
        404
    );
    assert_eq!(
        fleet.success(&hosts(), None, b"{}", None, at(T0)).status,
        404
    );
}

#[test]
fn ids_clamping_and_credentials_parse_as_documented() {
    assert_eq!(
        canonical_id("0A1B2C3D-0000-4000-8000-00000000000F").as_deref(),
        Some("0a1b2c3d-0000-4000-8000-00000000000f")
    );
    assert_eq!(canonical_id("0a1b2c3d00000-4000-8000-00000000000f"), None);
    assert_eq!(canonical_id("0a1b2c3d-0000-4000-8000-00000000000g"), None);
    assert_eq!(clamp_at(T0, T0), (T0, false));
    assert_eq!(clamp_at(T0 + 61, T0), (T0 + 60, true));
    assert_eq!(clamp_at(i64::MIN, T0), (T0 - 604_800, true));
    assert_eq!(Credential::parse("pin"), Some(Credential::Pin));
    assert_eq!(Credential::parse("PIN"), None);
}

/// The host's own name for itself (its FQDN, as the module sends it) need not be its `[[host]]`
/// name: the event counts under the token's host, and the line shows both.
#[test]
fn a_host_calling_itself_by_another_name_is_counted_under_its_token() {
    let b = bed(policy(3, 30, 30));
    let body = json!({"id": uuid(7), "user": "alice", "credential": "password",
        "host": "web01.corp.example", "service": "sshd", "rhost": "", "at": T0})
    .to_string();
    let r = b
        .fleet
        .failure(&b.hosts, Some(TOKEN), body.as_bytes(), None, at(T0));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(b.check("alice", "password", T0)["failures"], 1);
    let line = b.lines_with("event=fleet_failure").pop().unwrap();
    assert!(
        line.contains("host_token=web01") && line.contains("host=web01.corp.example"),
        "{line}"
    );
    // Another host's token with this host's name is still that other host.
    let r = b.fleet.failure(
        &b.hosts,
        Some(DB_TOKEN),
        body.replace(&uuid(7), &uuid(8)).as_bytes(),
        None,
        at(T0),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        b.lines_with("event=fleet_failure")
            .pop()
            .unwrap()
            .contains("host_token=db01"),
    );
}
