//! The v1 protocol end to end: unlock, attempt, replay, rate limit, host tokens, restarts,
//! concurrency, logging; each store-related test runs on SQLite and on PostgreSQL.

use crate::harness::{Backend, SERVICE, Setup, read_reply, request, request_bytes};
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn unlock_with_a_totp_code_then_attempt_is_true_once_then_false(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let r = server.unlock("alice", &alice.fresh_code());
    assert_eq!(r.status, 200, "{}", r.body);
    let until = r.json()["unlocked_until"].as_u64().unwrap();
    assert!(
        (before + 59..=before + 61).contains(&until),
        "unlocked_until {until}, now {before}"
    );
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    server.wait_for_log(&["event=unlock ", "user=alice", "service_id=web-prod-01"]);
    server.wait_for_log(&[
        "event=attempt ",
        "user=alice",
        "unlocked=true",
        "host_token=web01",
        "rhost=192.0.2.7",
    ]);
    server.wait_for_log(&["event=attempt ", "user=alice", "unlocked=false"]);
}

fn unlock_is_per_service_id_and_user(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let alice = setup.enroll("alice", None);
    setup.enroll("bob", None);
    let server = setup.start();
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    assert!(
        !server
            .attempt_with(Some(&setup.token), "db-prod-01", "alice")
            .unlocked()
    );
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "bob")
            .unlocked()
    );
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
}

fn enrollment_bound_to_a_service_id_does_not_unlock_another(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let carol = setup.enroll("carol", Some(SERVICE));
    let server = setup.start();
    let code = carol.fresh_code();
    assert_eq!(server.unlock_for("db-prod-01", "carol", &code).status, 403);
    assert_eq!(server.unlock("carol", &code).status, 200);
    server.wait_for_log(&["event=unlock_refused", "reason=wrong_service_id"]);
}

fn attempt_after_the_unlock_window_is_false(backend: Backend) {
    // The window is set to its minimum, 1 s; waiting it out is the protocol, not a timing guess.
    let setup = Setup::with(backend, "1s", "");
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    // Inside the window it works.
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
}

fn a_replayed_code_is_refused_even_after_a_restart(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    let code = alice.fresh_code();
    assert_eq!(server.unlock("alice", &code).status, 200);
    let replay = server.unlock("alice", &code);
    assert_eq!(replay.status, 403);
    assert_eq!(replay.json()["error"], "wrong or already used code");
    server.wait_for_log(&[
        "event=unlock_refused",
        "user=alice",
        "reason=code_already_used",
    ]);
    // The replay did not open a second window: only one attempt succeeds.
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    server.stop();
    let server = setup.start();
    assert_eq!(server.unlock("alice", &code).status, 403);
}

fn five_wrong_codes_then_429_even_for_the_right_code(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let alice = setup.enroll("alice", None);
    let bob = setup.enroll("bob", None);
    let server = setup.start();
    for i in 0..5 {
        let r = server.unlock("alice", &alice.wrong_code());
        assert_eq!(r.status, 403, "miss {i}: {}", r.body);
    }
    let limited = server.unlock("alice", &alice.fresh_code());
    assert_eq!(limited.status, 429, "{}: {:#?}", limited.body, server.log());
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    // The limit is per user.
    assert_eq!(server.unlock("bob", &bob.fresh_code()).status, 200);
    server.wait_for_log(&["event=unlock_refused", "user=alice", "reason=rate_limited"]);
    assert_eq!(
        server
            .log()
            .iter()
            .filter(|l| l.contains("reason=wrong_code"))
            .count(),
        5
    );
}

fn wrong_or_missing_host_token_is_401_and_does_not_use_the_unlock(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    let wrong = server.attempt_with(Some("test-token-0123456789abcdef-web02"), SERVICE, "alice");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    assert_eq!(server.attempt_with(None, SERVICE, "alice").status, 401);
    let prefix = &setup.token[..setup.token.len() - 1];
    assert_eq!(
        server.attempt_with(Some(prefix), SERVICE, "alice").status,
        401
    );
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    server.wait_for_log(&["event=attempt_refused", "reason=wrong_token"]);
    server.wait_for_log(&["event=attempt_refused", "reason=no_token"]);
}

fn enrollments_survive_a_restart_and_sigterm_shuts_down_cleanly(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    server.wait_for_log(&["event=listening", "enrolled=1"]);
    let log = server.stop();
    assert!(
        log.iter()
            .any(|l| l.contains("event=shutdown") && l.contains("signal=SIGTERM")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("stage=done") && l.contains("clean=true")),
        "{log:#?}"
    );
    let server = setup.start();
    server.wait_for_log(&["event=listening", "enrolled=1"]);
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
}

#[test]
fn sigterm_lets_an_open_keep_alive_connection_finish_its_request() {
    let setup = Setup::new("60s", "");
    let server = setup.start();
    // A request half sent when SIGTERM arrives still gets its answer.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let bytes = request_bytes(server.addr, "GET", "/v1/health", &[], None);
    s.write_all(&bytes[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    server.wait_for_log(&["event=shutdown", "stage=begin"]);
    s.write_all(&bytes[10..]).unwrap();
    let r = read_reply(s);
    assert_eq!(r.status, 200);
    server.wait_for_log(&["event=shutdown", "stage=done", "clean=true"]);
}

fn concurrent_attempts_after_one_unlock_yield_exactly_one_true(backend: Backend) {
    const ROUNDS: usize = 8;
    const PARALLEL: usize = 24;
    let setup = Setup::with(backend, "60s", "");
    let users: Vec<_> = (0..ROUNDS)
        .map(|i| setup.enroll(&format!("user{i}"), None))
        .collect();
    let server = setup.start();
    for user in &users {
        assert_eq!(server.unlock(&user.name, &user.fresh_code()).status, 200);
        // Connect everyone first, then release all requests at once.
        let barrier = Arc::new(Barrier::new(PARALLEL));
        let body = crate::harness::attempt_body(SERVICE, &user.name);
        let auth = format!("Bearer {}", setup.token);
        let request = request_bytes(
            server.addr,
            "POST",
            "/v1/attempt",
            &[("Authorization", &auth)],
            Some(&body),
        );
        let handles: Vec<_> = (0..PARALLEL)
            .map(|_| {
                let (barrier, request, addr) = (Arc::clone(&barrier), request.clone(), server.addr);
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    barrier.wait();
                    s.write_all(&request).unwrap();
                    read_reply(s).unlocked()
                })
            })
            .collect();
        let trues = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|t| *t)
            .count();
        assert_eq!(
            trues, 1,
            "{} concurrent attempts for {} gave {trues} trues",
            PARALLEL, user.name
        );
    }
    let true_lines = server
        .wait_for_lines(&["event=attempt ", "unlocked=true"], ROUNDS)
        .len();
    assert_eq!(true_lines, ROUNDS);
}

fn secrets_codes_and_tokens_never_reach_the_log(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    let wrong = alice.wrong_code();
    assert_eq!(server.unlock("alice", &wrong).status, 403);
    let code = alice.fresh_code();
    assert_eq!(server.unlock("alice", &code).status, 200);
    server.attempt_with(Some(&setup.token), SERVICE, "alice");
    server.attempt_with(Some("test-token-0123456789abcdef-nope"), SERVICE, "alice");
    let log = server.stop().join("\n");
    let b32 = ticketgate_server::totp::secret_base32(&alice.secret);
    for secret in [
        setup.token.as_str(),
        b32.as_str(),
        &code,
        &wrong,
        "test-token-0123456789abcdef",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} appears in the log:\n{log}"
        );
    }
}

#[test]
fn health_page_and_http_errors() {
    let setup = Setup::new("60s", "");
    let server = setup.start();
    let health = request(server.addr, "GET", "/v1/health", &[], None);
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    let page = request(server.addr, "GET", "/", &[], None);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(page.body.contains("<button id=\"unlock\""));
    assert_eq!(
        request(server.addr, "GET", "/v1/attempt", &[], None).status,
        405
    );
    assert_eq!(
        request(server.addr, "GET", "/v2/attempt", &[], None).status,
        404
    );
    let big = "x".repeat(20_000);
    assert_eq!(
        request(server.addr, "POST", "/v1/unlock", &[], Some(&big)).status,
        413
    );
    let bad = request(server.addr, "POST", "/v1/unlock", &[], Some("{\"user\":1}"));
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("not a v1 unlock")
    );
}

on_both_stores!(
    unlock_with_a_totp_code_then_attempt_is_true_once_then_false,
    unlock_is_per_service_id_and_user,
    enrollment_bound_to_a_service_id_does_not_unlock_another,
    attempt_after_the_unlock_window_is_false,
    a_replayed_code_is_refused_even_after_a_restart,
    five_wrong_codes_then_429_even_for_the_right_code,
    wrong_or_missing_host_token_is_401_and_does_not_use_the_unlock,
    enrollments_survive_a_restart_and_sigterm_shuts_down_cleanly,
    concurrent_attempts_after_one_unlock_yield_exactly_one_true,
    secrets_codes_and_tokens_never_reach_the_log,
);
