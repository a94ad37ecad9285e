//! Fleet lockout end to end: the real server on loopback, its fleet store, and the CLI acting on
//! the same store while it runs; each store-related test runs on SQLite and on PostgreSQL.

use crate::harness::{Backend, Reply, SERVICE, Server, Setup, request};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{SystemTime, UNIX_EPOCH};

pub const DB_TOKEN: &str = "test-token-0123456789abcdef-db01";

pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

pub fn uuid(n: u64) -> String {
    format!("6f1c2b3a-0000-4000-8000-{n:012x}")
}

/// A setup on `backend` with `[fleet]` holding `fleet` lines, and a second host `db01` limited
/// to `db-prod-01`.
pub fn fleet_setup(backend: Backend, fleet: &str) -> Setup {
    let setup = Setup::with(backend, "60s", &format!("[fleet]\n{fleet}\n"));
    let token = setup.dir.path().join("db01.token");
    std::fs::write(&token, format!("{DB_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut text = std::fs::read_to_string(&setup.config).unwrap();
    text.push_str(
        "service_ids = [\"web-prod-01\"]\n[[host]]\nname = \"db01\"\ntoken_file = \"db01.token\"\nservice_ids = [\"db-prod-01\"]\n",
    );
    std::fs::write(&setup.config, text).unwrap();
    setup
}

pub fn post(server: &Server, path: &str, token: Option<&str>, body: &str) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    request(server.addr, "POST", path, &headers, Some(body))
}

pub fn failure_body(id: &str, user: &str, at: i64) -> String {
    json!({"id": id, "user": user, "credential": "password", "host": "web01",
        "service": "sshd", "rhost": "192.0.2.7", "at": at})
    .to_string()
}

pub fn failure(server: &Server, token: &str, id: &str, user: &str) -> Value {
    let r = post(
        server,
        "/v1/fleet/failure",
        Some(token),
        &failure_body(id, user, now()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

pub fn check(server: &Server, token: &str, user: &str, credential: &str) -> Value {
    let r = post(
        server,
        "/v1/fleet/check",
        Some(token),
        &json!({"user": user, "credential": credential}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// `threads` failures for `user`, all released at once, each with its own id and connection.
fn concurrent_failures(server: &Server, token: &str, user: &str, threads: u64) -> Vec<Value> {
    let barrier = Arc::new(Barrier::new(usize::try_from(threads).unwrap()));
    let addr = server.addr;
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let (token, user) = (token.to_owned(), user.to_owned());
            std::thread::spawn(move || {
                let body = failure_body(&uuid(i), &user, now());
                let auth = format!("Bearer {token}");
                barrier.wait();
                let r = request(
                    addr,
                    "POST",
                    "/v1/fleet/failure",
                    &[("Authorization", &auth)],
                    Some(&body),
                );
                assert_eq!(r.status, 200, "{}", r.body);
                r.json()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn two_hundred_concurrent_failures_are_all_counted_exactly_once(backend: Backend) {
    // failed_logon tops out at 100 (the module's range); 0 counts without ever locking, so
    // every one of the 200 must be counted.
    let setup = fleet_setup(backend, "failed_logon = 0");
    let server = setup.start();
    let answers = concurrent_failures(&server, &setup.token, "alice", 200);
    let mut counts: Vec<u64> = answers
        .iter()
        .map(|a| {
            assert_eq!(a["locked"], false, "{a}");
            a["failures"].as_u64().unwrap()
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=200).collect::<Vec<u64>>(),
        "each failure saw its own count"
    );
    assert_eq!(
        check(&server, &setup.token, "alice", "password")["failures"],
        200
    );
    let log = server.stop();
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("event=fleet_failure ") && l.contains("outcome=counted"))
            .count(),
        200
    );
}

fn two_hundred_concurrent_failures_lock_exactly_at_the_limit(backend: Backend) {
    let setup = fleet_setup(backend, "failed_logon = 50\nlockout_duration = \"10m\"");
    let server = setup.start();
    let before = now();
    let answers = concurrent_failures(&server, &setup.token, "alice", 200);
    let mut open: Vec<u64> = Vec::new();
    let mut locked = 0;
    for a in &answers {
        if a["locked"] == true {
            assert_eq!(a["reason"], "failures", "{a}");
            assert_eq!(a["failures"], 50, "a lock keeps the count that set it: {a}");
            let until = a["until"].as_i64().unwrap();
            assert!((before + 600..=now() + 600).contains(&until), "{a}");
            locked += 1;
        } else {
            open.push(a["failures"].as_u64().unwrap());
        }
    }
    open.sort_unstable();
    assert_eq!(open, (1..=49).collect::<Vec<u64>>());
    assert_eq!(locked, 151);
    let c = check(&server, &setup.token, "alice", "password");
    assert_eq!(
        (c["locked"].clone(), c["failures"].clone()),
        (json!(true), json!(50))
    );
    // The pin is a separate count.
    assert_eq!(
        check(&server, &setup.token, "alice", "pin"),
        json!({"locked": false, "reason": null, "until": null, "failures": 0})
    );
    let log = server.stop();
    let locks: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("event=fleet_lock "))
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert!(locks[0].contains("host_token=web01 user=alice") && locks[0].contains("failures=50"));
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("outcome=while_locked"))
            .count(),
        150
    );
}

fn replayed_ids_count_once_even_when_sent_concurrently(backend: Backend) {
    let setup = fleet_setup(backend, "failed_logon = 10");
    let server = setup.start();
    let addr = server.addr;
    let barrier = Arc::new(Barrier::new(20));
    let body = failure_body(&uuid(7), "bob", now());
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (barrier, body, auth) = (
                Arc::clone(&barrier),
                body.clone(),
                format!("Bearer {}", setup.token),
            );
            std::thread::spawn(move || {
                barrier.wait();
                request(
                    addr,
                    "POST",
                    "/v1/fleet/failure",
                    &[("Authorization", &auth)],
                    Some(&body),
                )
                .json()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap()["failures"], 1);
    }
    // A success, replayed after a new failure, clears nothing the second time.
    let ok = json!({"id": uuid(8), "user": "bob", "credential": "password", "host": "web01",
        "service": "sshd", "at": now()})
    .to_string();
    assert_eq!(
        post(&server, "/v1/fleet/success", Some(&setup.token), &ok).body,
        "{}"
    );
    assert_eq!(
        check(&server, &setup.token, "bob", "password")["failures"],
        0
    );
    assert_eq!(
        failure(&server, &setup.token, &uuid(9), "bob")["failures"],
        1
    );
    assert_eq!(
        post(&server, "/v1/fleet/success", Some(&setup.token), &ok).status,
        200
    );
    assert_eq!(
        check(&server, &setup.token, "bob", "password")["failures"],
        1
    );
    let log = server.stop();
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("event=fleet_failure ") && l.contains("outcome=replayed"))
            .count(),
        19
    );
    assert!(
        log.iter()
            .any(|l| l.contains("event=fleet_success ") && l.contains("outcome=replayed"))
    );
}

pub fn run_as(setup: &Setup, operator: &str, args: &[&str]) -> std::process::Output {
    Command::new(crate::harness::BIN)
        .arg("--config")
        .arg(&setup.config)
        .args(args)
        .env("SUDO_USER", operator)
        .output()
        .unwrap()
}

fn admin_lock_unlock_and_reset_through_the_cli_are_seen_by_check_at_once(backend: Backend) {
    let setup = fleet_setup(backend, "failed_logon = 3");
    let server = setup.start();
    failure(&server, &setup.token, &uuid(1), "carol");
    let lock = run_as(&setup, "opsadmin", &["lock", "carol"]);
    assert!(lock.status.success(), "{lock:?}");
    let err = String::from_utf8_lossy(&lock.stderr);
    assert!(
        err.contains("event=fleet_lock reason=admin user=carol operator=opsadmin"),
        "{err}"
    );
    // Locked on every host, for both credentials.
    for token in [setup.token.as_str(), DB_TOKEN] {
        for credential in ["password", "pin"] {
            let c = check(&server, token, "carol", credential);
            assert_eq!(
                (c["locked"].clone(), c["reason"].clone()),
                (json!(true), json!("admin"))
            );
        }
    }
    let status = setup.run(&["status", "--json", "carol"]);
    assert!(status.status.success());
    let s: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["users"][0]["admin_lock"]["by"], "opsadmin");
    assert_eq!(s["users"][0]["credentials"]["password"]["failures"], 1);
    assert_eq!(s["users"][0]["credentials"]["password"]["reason"], "admin");
    // reset forgets the failure; the admin lock stays.
    assert!(
        run_as(&setup, "opsadmin", &["reset", "carol"])
            .status
            .success()
    );
    let c = check(&server, &setup.token, "carol", "password");
    assert_eq!(
        (c["reason"].clone(), c["failures"].clone()),
        (json!("admin"), json!(0))
    );
    // Listed without USER, in the table too.
    let table = String::from_utf8_lossy(&setup.run(&["status"]).stdout).into_owned();
    assert!(
        table.contains("carol") && table.contains("locked by opsadmin since"),
        "{table}"
    );
    let unlock = run_as(&setup, "opsadmin", &["unlock", "carol"]);
    assert!(unlock.status.success());
    assert!(
        String::from_utf8_lossy(&unlock.stderr)
            .contains("event=fleet_unlock user=carol operator=opsadmin")
    );
    assert_eq!(
        check(&server, DB_TOKEN, "carol", "pin"),
        json!({"locked": false, "reason": null, "until": null, "failures": 0})
    );
    let table = String::from_utf8_lossy(&setup.run(&["status"]).stdout).into_owned();
    assert!(table.contains("no user has fleet failures"), "{table}");
    // A failures lock set through the server is lifted by unlock too.
    for i in 10..13 {
        failure(&server, &setup.token, &uuid(i), "carol");
    }
    assert_eq!(
        check(&server, DB_TOKEN, "carol", "password")["reason"],
        "failures"
    );
    assert!(
        run_as(&setup, "opsadmin", &["unlock", "carol"])
            .status
            .success()
    );
    assert_eq!(
        check(&server, DB_TOKEN, "carol", "password")["locked"],
        false
    );
}

#[test]
fn fleet_cli_exit_codes_usage_and_config() {
    let setup = fleet_setup(Backend::Sqlite, "");
    assert_eq!(setup.run(&["lock", "bad name"]).status.code(), Some(2));
    assert_eq!(setup.run(&["lock"]).status.code(), Some(2));
    assert_eq!(setup.run(&["status", "--jsn"]).status.code(), Some(2));
    let plain = Setup::new("60s", "");
    let out = plain.run(&["status"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[fleet]"));
    let broken = Setup::new("60s", "[fleet]\nfailed_logon = 500");
    let out = broken.run(&["lock", "alice"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`fleet.failed_logon`"));
}

#[test]
fn a_host_may_not_use_another_services_unlock_and_the_unlock_stays() {
    let setup = fleet_setup(Backend::Sqlite, "");
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    // db01 is limited to db-prod-01: asking about web-prod-01 is refused and uses nothing up.
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    let refused = server.attempt_with(Some(DB_TOKEN), SERVICE, "alice");
    assert_eq!(refused.status, 403, "{}", refused.body);
    server.wait_for_log(&[
        "event=attempt_refused",
        "host_token=db01",
        "service_id=web-prod-01",
        "reason=foreign_service_id",
    ]);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    let log = server.stop();
    assert!(
        !log.iter()
            .any(|l| l.contains("reason=host_without_service_ids")),
        "every host has service_ids: no warning"
    );
}

#[test]
fn a_host_without_service_ids_is_warned_about_at_start() {
    let setup = Setup::new("60s", "");
    let server = setup.start();
    server.wait_for_log(&[
        "event=warning",
        "reason=host_without_service_ids",
        "host=web01",
    ]);
}

fn bad_input_is_a_clear_4xx_with_one_log_line_and_counts_nothing(backend: Backend) {
    let setup = fleet_setup(backend, "failed_logon = 3");
    let server = setup.start();
    let good = json!({"id": uuid(1), "user": "dave", "credential": "password", "host": "web01",
        "service": "sshd", "rhost": "192.0.2.7", "at": now()});
    let with = |k: &str, v: Value| {
        let mut g = good.clone();
        g[k] = v;
        g.to_string()
    };
    // The start lines first, so each case's line is the only new one.
    server.wait_for_log(&["event=fleet ", "failed_logon=3"]);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(17 * 1024));
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (
            Some("wrong-token-0123456789"),
            good.to_string(),
            401,
            "reason=wrong_token",
        ),
        (None, good.to_string(), 401, "reason=no_token"),
        (
            Some(&setup.token),
            "not json".into(),
            400,
            "body is not a fleet failure",
        ),
        (
            Some(&setup.token),
            with("user", Value::Null),
            400,
            "body is not a fleet failure",
        ),
        (
            Some(&setup.token),
            json!({"id": uuid(1)}).to_string(),
            400,
            "missing field",
        ),
        (
            Some(&setup.token),
            with("credential", json!("otp")),
            400,
            "credential must be",
        ),
        (
            Some(&setup.token),
            with("id", json!("1234")),
            400,
            "id must be a UUID",
        ),
        (
            Some(&setup.token),
            with("id", json!("u".repeat(4000))),
            400,
            "id must be a UUID",
        ),
        (
            Some(&setup.token),
            with("service", json!("s".repeat(257))),
            400,
            "exceed 256 bytes",
        ),
        (Some(&setup.token), big, 413, "larger than 16 KiB"),
    ];
    let start = server.log().len();
    for (i, (token, body, status, logged)) in cases.iter().enumerate() {
        let r = post(&server, "/v1/fleet/failure", *token, body);
        assert_eq!(r.status, *status, "case {i}: {}", r.body);
        assert!(r.json()["error"].as_str().is_some(), "case {i}: {}", r.body);
        // The line is written before the answer; the harness reads it a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while server.log().len() <= start + i {
            assert!(
                std::time::Instant::now() < deadline,
                "case {i}: no log line"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let line = &server.log()[start + i];
        assert!(line.contains(logged), "case {i}: {line}");
    }
    assert_eq!(
        check(&server, &setup.token, "dave", "password")["failures"],
        0
    );
    let check_line = server.wait_for_log(&["event=fleet_check ", "user=dave"]);
    let log = server.log();
    assert_eq!(
        log[start..],
        [&log[start..start + cases.len()], &[check_line]].concat(),
        "one line per bad request, nothing else"
    );
    // A clock far off is clamped, logged, and the event still counted once.
    let skewed = with("at", json!(now() + 86_400));
    let r = post(&server, "/v1/fleet/failure", Some(&setup.token), &skewed);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["failures"], 1);
    server.wait_for_log(&[
        "event=fleet_failure",
        "user=dave",
        "at_clamped_from=",
        "outcome=counted",
    ]);
    assert_eq!(
        post(&server, "/v1/fleet/failure", Some(&setup.token), &skewed).json()["failures"],
        1
    );
    // Method and path.
    let get = request(server.addr, "GET", "/v1/fleet/check", &[], None);
    assert_eq!((get.status, get.header("allow")), (405, Some("POST")));
}

#[test]
fn without_a_fleet_table_the_endpoints_answer_404() {
    let setup = Setup::new("60s", "");
    let server = setup.start();
    for path in ["/v1/fleet/check", "/v1/fleet/failure", "/v1/fleet/success"] {
        let r = post(&server, path, Some(&setup.token), "{}");
        assert_eq!(r.status, 404, "{path}");
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains("fleet mode is not configured"),
            "{}",
            r.body
        );
    }
    assert!(!setup.dir.path().join("data/fleet.sqlite3").exists());
}

fn counts_and_locks_survive_a_restart(backend: Backend) {
    let setup = fleet_setup(backend, "failed_logon = 2\nlockout_duration = \"0m\"");
    let server = setup.start();
    failure(&server, &setup.token, &uuid(1), "erin");
    failure(&server, &setup.token, &uuid(2), "erin");
    server.stop();
    let server = setup.start();
    assert_eq!(
        check(&server, DB_TOKEN, "erin", "password"),
        json!({"locked": true, "reason": "failures", "until": null, "failures": 2})
    );
    // The replayed id is still remembered.
    assert_eq!(
        failure(&server, &setup.token, &uuid(1), "erin")["failures"],
        2
    );
    server.wait_for_log(&["outcome=replayed"]);
    // The counts live where the store setting says: in the database with PostgreSQL.
    let sqlite_file = setup.dir.path().join("data/fleet.sqlite3");
    match &setup.db {
        None => assert!(sqlite_file.exists()),
        Some(db) => {
            assert!(!sqlite_file.exists());
            let rows = crate::pg::shared_sql(
                db,
                "SELECT failures FROM ticketgate_fleet_count WHERE username = 'erin'",
            );
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].get::<_, i64>(0), 2);
            server.wait_for_log(&["event=fleet ", "store=postgres"]);
        }
    }
}

on_both_stores!(
    two_hundred_concurrent_failures_are_all_counted_exactly_once,
    two_hundred_concurrent_failures_lock_exactly_at_the_limit,
    replayed_ids_count_once_even_when_sent_concurrently,
    admin_lock_unlock_and_reset_through_the_cli_are_seen_by_check_at_once,
    bad_input_is_a_clear_4xx_with_one_log_line_and_counts_nothing,
    counts_and_locks_survive_a_restart,
);

#[test]
fn store_copy_moves_the_fleets_counts_locks_and_remembered_ids() {
    let (db, url) = crate::pg::shared_database();
    let mut setup = Setup::new(
        "60s",
        "postgres_url_file = \"pg.url\"\n[fleet]\nfailed_logon = 2\nlockout_duration = \"0m\"\n",
    );
    crate::harness::secret_file(setup.dir.path(), "pg.url", &url);
    {
        let server = setup.start();
        failure(&server, &setup.token, &uuid(1), "erin");
        failure(&server, &setup.token, &uuid(2), "erin");
        failure(&server, &setup.token, &uuid(3), "frank");
        server.stop();
    }
    assert!(
        run_as(&setup, "opsadmin", &["lock", "gina"])
            .status
            .success()
    );
    let out = setup.run(&["store", "copy", "--from", "sqlite", "--to", "postgres"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "Copied the fleet's state: 2 of 2 count(s), 1 of 1 admin lock(s), 3 of 3 remembered event id(s)."
        ),
        "{stdout}"
    );
    let rows = crate::pg::shared_sql(&db, "SELECT count(*) FROM ticketgate_fleet_event");
    assert_eq!(rows[0].get::<_, i64>(0), 3);

    // The same config on PostgreSQL: the lock holds, the admin lock holds, the ids are known.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let switched = setup.dir.path().join("server-pg.toml");
    std::fs::write(&switched, format!("store = \"postgres\"\n{text}")).unwrap();
    std::fs::set_permissions(&switched, std::fs::Permissions::from_mode(0o600)).unwrap();
    setup.config = switched;
    let server = setup.start();
    server.wait_for_log(&["event=fleet ", "store=postgres"]);
    assert_eq!(
        check(&server, &setup.token, "erin", "password"),
        json!({"locked": true, "reason": "failures", "until": null, "failures": 2})
    );
    assert_eq!(
        check(&server, &setup.token, "gina", "pin")["reason"],
        "admin"
    );
    assert_eq!(
        failure(&server, &setup.token, &uuid(3), "frank")["failures"],
        1,
        "a spooled event sent again after the move counts nothing"
    );
    server.wait_for_log(&["user=frank", "outcome=replayed"]);
    // Copied again (--force: the enrollments' guard), nothing is doubled.
    let again = setup.run(&[
        "store", "copy", "--from", "sqlite", "--to", "postgres", "--force",
    ]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 of 2 count(s)"),
        "{again:?}"
    );
    assert_eq!(
        check(&server, &setup.token, "frank", "password")["failures"],
        1
    );
}
