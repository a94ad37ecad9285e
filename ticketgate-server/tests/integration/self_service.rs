//! Issue 16 (item 7): unlocking without a service ID (the wildcard window) and self-service
//! enrollment with a one-time code, on both stores: first the store and the protocol functions
//! with injected time, then the real binary (`enroll --code`, `list`, `revoke`, the endpoints).

use crate::harness::{Backend, SERVICE, Setup, request};
use serde_json::json;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use ticketgate_server::api::Protect;
use ticketgate_server::audit::Memory;
use ticketgate_server::config::Config;
use ticketgate_server::enroll_code::{self, Refused};
use ticketgate_server::hosts::HostTokens;
use ticketgate_server::secret::Secret;
use ticketgate_server::store::{self, ANY_SERVICE, CodeOutcome, ProtectStore, Verdict};
use ticketgate_server::totp;

const T0: u64 = 1_800_000_000;
const TTL: Duration = Duration::from_secs(900);
const TOKEN: &[u8] = b"Bearer 0123456789abcdef-web01";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The setup's store, opened as `serve` opens it (PostgreSQL: its own fresh database).
fn open_store(backend: Backend) -> (Setup, Arc<dyn ProtectStore>) {
    let setup = Setup::with(backend, "60s", "");
    let config = Config::load(&setup.config).unwrap();
    let store = store::open(&config).unwrap();
    (setup, store)
}

fn secret() -> Secret {
    Secret::new(b"12345678901234567890".to_vec())
}

fn redeem(s: &dyn ProtectStore, user: &str, code: &str, now: SystemTime) -> Verdict<CodeOutcome> {
    s.redeem_code(user, &enroll_code::hash(code), &secret(), now)
        .unwrap()
}

fn refused(r: Refused) -> Verdict<CodeOutcome> {
    Verdict::Checked(CodeOutcome::Refused(r))
}

fn redeemed() -> Verdict<CodeOutcome> {
    Verdict::Checked(CodeOutcome::Redeemed { service_id: None })
}

fn a_code_is_good_until_exactly_its_ttl(backend: Backend) {
    let (_setup, s) = open_store(backend);
    let code = "ABCD-EFGH-JKLM";
    for user in ["early", "late"] {
        s.issue_code(user, None, &enroll_code::hash(code), at(T0), at(T0) + TTL)
            .unwrap();
    }
    let last_good_second = at(T0) + TTL - Duration::from_millis(1);
    assert_eq!(
        redeem(s.as_ref(), "early", code, last_good_second),
        redeemed()
    );
    assert_eq!(
        redeem(s.as_ref(), "late", code, at(T0) + TTL),
        refused(Refused::Expired)
    );
    let pending = s.pending_codes().unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[1].expires, T0 + TTL.as_secs());
    assert!(pending[0].redeemed && !pending[1].redeemed);
}

/// Five wrong tries kill the code (spread out so the per-user wrong-code limit, which would
/// answer 429 first, has let go); a burst of wrong tries is rate-limited like `/v1/unlock`.
fn five_wrong_tries_kill_the_code_and_a_burst_is_rate_limited(backend: Backend) {
    let (_setup, s) = open_store(backend);
    let code = "ABCD-EFGH-JKLM";
    let long = Duration::from_secs(3 * 3600);
    s.issue_code(
        "dora",
        None,
        &enroll_code::hash(code),
        at(T0),
        at(T0) + long,
    )
    .unwrap();
    for i in 0..5 {
        let when = at(T0 + i * 301);
        assert_eq!(
            redeem(s.as_ref(), "dora", "WRNG-WRNG-WRNG", when),
            refused(Refused::WrongCode),
            "try {i}"
        );
    }
    assert_eq!(
        redeem(s.as_ref(), "dora", code, at(T0 + 5 * 301)),
        refused(Refused::Dead)
    );
    assert_eq!(s.pending_codes().unwrap()[0].tries, 5);

    s.issue_code("eve", None, &enroll_code::hash(code), at(T0), at(T0) + long)
        .unwrap();
    for i in 0..5 {
        assert_eq!(
            redeem(s.as_ref(), "eve", "WRNG-WRNG-WRNG", at(T0 + i)),
            refused(Refused::WrongCode)
        );
    }
    assert!(matches!(
        redeem(s.as_ref(), "eve", code, at(T0 + 10)),
        Verdict::RateLimited(wait) if wait == Duration::from_secs(290)
    ));
}

fn a_new_code_replaces_the_pending_one(backend: Backend) {
    let (_setup, s) = open_store(backend);
    let (old, new) = ("AAAA-BBBB-CCCC", "DDDD-EEEE-FFFF");
    s.issue_code("finn", None, &enroll_code::hash(old), at(T0), at(T0) + TTL)
        .unwrap();
    assert_eq!(
        redeem(s.as_ref(), "finn", "WRNG-WRNG-WRNG", at(T0)),
        refused(Refused::WrongCode)
    );
    s.issue_code(
        "finn",
        Some(SERVICE),
        &enroll_code::hash(new),
        at(T0 + 1),
        at(T0) + TTL,
    )
    .unwrap();
    let pending = s.pending_codes().unwrap();
    assert_eq!((pending.len(), pending[0].tries), (1, 0), "{pending:?}");
    assert_eq!(
        redeem(s.as_ref(), "finn", old, at(T0 + 2)),
        refused(Refused::WrongCode)
    );
    assert_eq!(
        redeem(s.as_ref(), "finn", new, at(T0 + 3)),
        Verdict::Checked(CodeOutcome::Redeemed {
            service_id: Some(SERVICE.into())
        })
    );
}

/// Confirming creates the enrollment with the confirming step used, deletes the code, and an
/// enrolled user can get no new code.
fn confirming_enrolls_once_and_uses_the_step(backend: Backend) {
    let (_setup, s) = open_store(backend);
    let code = "ABCD-EFGH-JKLM";
    let hash = enroll_code::hash(code);
    s.issue_code("gina", None, &hash, at(T0), at(T0) + TTL)
        .unwrap();
    let first = totp::code_for_step(&secret(), totp::step_at(at(T0)));
    assert_eq!(
        s.confirm_code("gina", &hash, &first, at(T0)).unwrap(),
        refused(Refused::NotRedeemed)
    );
    assert_eq!(redeem(s.as_ref(), "gina", code, at(T0)), redeemed());
    assert_eq!(s.count().unwrap(), 0, "not active before the first code");
    assert_eq!(
        s.confirm_code("gina", &hash, &first, at(T0)).unwrap(),
        Verdict::Checked(CodeOutcome::Enrolled { service_id: None })
    );
    assert_eq!(s.count().unwrap(), 1);
    assert!(s.pending_codes().unwrap().is_empty());
    assert_eq!(
        s.check_code("gina", None, &first, at(T0)).unwrap(),
        Verdict::Checked(store::Redeem::Replayed)
    );
    let err = s
        .issue_code("gina", None, &hash, at(T0), at(T0) + TTL)
        .unwrap_err();
    assert!(err.to_string().contains("already enrolled"), "{err}");
    // revoke also kills a pending code.
    s.issue_code("hugo", None, &hash, at(T0), at(T0) + TTL)
        .unwrap();
    assert!(s.revoke("hugo").unwrap());
    assert_eq!(
        redeem(s.as_ref(), "hugo", code, at(T0)),
        refused(Refused::NoCode)
    );
}

/// Only SHA-256 of the code is stored: the code's characters appear nowhere in the store.
fn only_the_codes_hash_is_stored(backend: Backend) {
    let (setup, s) = open_store(backend);
    let code = enroll_code::generate().unwrap();
    let bare = enroll_code::normalize(&code);
    s.issue_code(
        "ivan",
        None,
        &enroll_code::hash(&code),
        at(T0),
        at(T0) + TTL,
    )
    .unwrap();
    let stored = s.export_codes().unwrap();
    assert_eq!(stored[0].hash, enroll_code::hash(&code).to_vec());
    match backend {
        Backend::Sqlite => {
            drop(s);
            let data = setup.dir.path().join("data");
            for entry in std::fs::read_dir(&data).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                assert!(
                    !bytes.windows(bare.len()).any(|w| w == bare.as_bytes()),
                    "the code is in the store's files"
                );
            }
        }
        Backend::Postgres => {
            let db = setup.db.clone().unwrap();
            let rows = crate::pg::shared_sql(
                &db,
                "SELECT row_to_json(c)::text FROM ticketgate_enroll_code c",
            );
            let row: String = rows[0].get(0);
            assert!(
                row.contains("ivan") && !row.contains(bare.as_str()),
                "{row}"
            );
        }
    }
}

/// The wildcard window: taken once by any service ID, also under a burst of attempts at
/// different service IDs.
fn a_wildcard_window_is_taken_exactly_once(backend: Backend) {
    let (_setup, s) = open_store(backend);
    s.open_window(ANY_SERVICE, "jo", at(T0), at(T0 + 60))
        .unwrap();
    assert!(!s.take_window("db", "someone-else", at(T0 + 1)).unwrap());
    assert!(s.take_window("db", "jo", at(T0 + 1)).unwrap());
    assert!(!s.take_window(SERVICE, "jo", at(T0 + 2)).unwrap());
    s.open_window(ANY_SERVICE, "jo", at(T0), at(T0 + 60))
        .unwrap();
    assert!(!s.take_window("db", "jo", at(T0 + 60)).unwrap(), "expired");

    for round in 0..5 {
        s.open_window(ANY_SERVICE, "jo", at(T0), at(T0 + 60))
            .unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (s, b) = (Arc::clone(&s), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    b.wait();
                    s.take_window(&format!("svc{i}"), "jo", at(T0 + 1)).unwrap()
                })
            })
            .collect();
        let trues = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|t| *t)
            .count();
        assert_eq!(trues, 1, "round {round}");
    }
}

/// `[[host]] service_ids` is checked before the take: a host refused a service ID answers 403
/// and leaves the wildcard window for an allowed one.
fn a_refused_service_id_does_not_consume_the_wildcard(backend: Backend) {
    let (_setup, s) = open_store(backend);
    s.enroll("kim", None, &secret(), at(0)).unwrap();
    let mut hosts = HostTokens::from_tokens(vec![(
        "web01".into(),
        Secret::new(b"0123456789abcdef-web01".to_vec()),
    )])
    .unwrap();
    hosts.restrict("web01", vec![SERVICE.into()]);
    let p = Protect {
        store: s,
        hosts,
        window: Duration::from_secs(60),
        log: Arc::new(Memory::default()),
        issuer: "ticketgate".into(),
    };
    let now = at(T0);
    let code = totp::code_for_step(&secret(), totp::step_at(now));
    let unlock = json!({"user": "kim", "code": code}).to_string();
    let r = p.unlock(unlock.as_bytes(), None, now);
    assert_eq!(r.status, 200, "{}", r.body);
    let attempt = |service_id: &str| {
        let body = json!({"service_id": service_id, "user": "kim"}).to_string();
        p.attempt(Some(TOKEN), body.as_bytes(), None, now)
    };
    assert_eq!(attempt("db-prod").status, 403);
    assert_eq!(attempt(SERVICE).body, r#"{"unlocked":true}"#);
    assert_eq!(attempt(SERVICE).body, r#"{"unlocked":false}"#);
}

fn post(
    server: &crate::harness::Server,
    path: &str,
    body: &serde_json::Value,
) -> crate::harness::Reply {
    request(server.addr, "POST", path, &[], Some(&body.to_string()))
}

/// The code printed by `enroll --code` (the indented line after the first).
fn code_from_output(stdout: &str) -> String {
    stdout
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 14 && l.matches('-').count() == 2)
        .unwrap_or_else(|| panic!("no code in {stdout}"))
        .to_owned()
}

/// The real binary: `enroll --code` prints a code and no secret, `list` shows it pending, the
/// user redeems and confirms it over HTTP, then unlocks without a service ID and the next
/// attempt at any service ID is unlocked once; the log never holds the code or the secret.
fn enroll_with_a_code_then_unlock_without_a_service_id(backend: Backend) {
    let setup = Setup::with(backend, "60s", "issuer = \"Acme Ops\"\n");
    let out = setup.run(&["enroll", "--code", "--ttl", "10m", "lena"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let code = code_from_output(&stdout);
    assert!(
        !stdout.contains("otpauth") && !stdout.contains("secret="),
        "{stdout}"
    );
    assert!(
        stderr.contains("event=enroll_code_issued user=lena"),
        "{stderr}"
    );
    assert!(!stderr.contains(&code), "{stderr}");
    let list = String::from_utf8_lossy(&setup.run(&["list"]).stdout).into_owned();
    assert!(
        list.contains("0 enrolled")
            && list
                .lines()
                .any(|l| l.starts_with("lena ") && l.ends_with("issued")),
        "{list}"
    );

    let server = setup.start();
    let wrong = post(
        &server,
        "/v1/enroll",
        &json!({"user": "lena", "code": "2222-3333-4444"}),
    );
    assert_eq!(wrong.status, 403);
    assert_eq!(
        wrong.json()["error"],
        "wrong, expired or used enrollment code"
    );
    let r = post(
        &server,
        "/v1/enroll",
        &json!({"user": "lena", "code": code.to_lowercase()}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let uri = v["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Acme%20Ops:lena?secret="),
        "{uri}"
    );
    let secret = crate::harness::secret_from_output(uri);
    let first = totp::code_for_step(&secret, totp::step_at(SystemTime::now()));
    let c = post(
        &server,
        "/v1/enroll/confirm",
        &json!({"user": "lena", "code": code, "totp": first}),
    );
    assert_eq!(c.body, r#"{"enrolled":true,"service_id":"*"}"#);

    // The next step's code (the confirming one is used up) without a service ID.
    let next = totp::code_for_step(&secret, totp::step_at(SystemTime::now()) + 1);
    let u = post(
        &server,
        "/v1/unlock",
        &json!({"user": "lena", "code": next}),
    );
    assert_eq!(u.status, 200, "{}", u.body);
    assert_eq!(u.json()["service_id"], "*");
    assert!(
        server
            .attempt_with(Some(&setup.token), "db-prod-07", "lena")
            .unlocked()
    );
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "lena")
            .unlocked()
    );

    server.wait_for_log(&["event=enroll_code_confirmed", "user=lena"]);
    let log = server.stop().join("\n");
    for event in [
        "event=enroll_code_refused user=lena stage=redeem",
        "event=enroll_code_redeemed user=lena",
        "event=unlock service_id=\"*\" user=lena",
    ] {
        assert!(log.contains(event), "{event}: {log}");
    }
    let b32 = totp::secret_base32(&secret);
    assert!(
        !log.contains(&code) && !log.contains(b32.as_str()) && !log.contains(&next),
        "{log}"
    );
    let list = String::from_utf8_lossy(&setup.run(&["list"]).stdout).into_owned();
    assert!(
        list.contains("1 enrolled") && !list.contains("PENDING"),
        "{list}"
    );
}

/// `revoke` kills a pending code; `--ttl` is checked; an enrolled user gets no code.
fn revoke_kills_a_pending_code(backend: Backend) {
    let setup = Setup::with(backend, "60s", "");
    let out = setup.run(&["enroll", "--code", "max"]);
    assert!(out.status.success());
    let code = code_from_output(&String::from_utf8_lossy(&out.stdout));
    let revoked = setup.run(&["revoke", "max"]);
    assert!(revoked.status.success());
    let server = setup.start();
    let r = post(&server, "/v1/enroll", &json!({"user": "max", "code": code}));
    assert_eq!(r.status, 403);
    server.wait_for_log(&["event=enroll_code_refused", "user=max", "reason=no_code"]);
    drop(server);
    let bad = setup.run(&["enroll", "--code", "--ttl", "8d", "max"]);
    assert_eq!(bad.status.code(), Some(2));
    let star = setup.run(&["enroll", "--code", "--service-id", "*", "max"]);
    assert_eq!(star.status.code(), Some(2));
    setup.enroll("nina", None);
    let again = setup.run(&["enroll", "--code", "nina"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already enrolled"));
}

on_both_stores!(
    a_code_is_good_until_exactly_its_ttl,
    five_wrong_tries_kill_the_code_and_a_burst_is_rate_limited,
    a_new_code_replaces_the_pending_one,
    confirming_enrolls_once_and_uses_the_step,
    only_the_codes_hash_is_stored,
    a_wildcard_window_is_taken_exactly_once,
    a_refused_service_id_does_not_consume_the_wildcard,
    enroll_with_a_code_then_unlock_without_a_service_id,
    revoke_kills_a_pending_code,
);
