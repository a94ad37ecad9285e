//! The PostgreSQL store with real parts: replicas of the real binary on loopback ports sharing
//! one database of a throwaway cluster; the database stopped and started again; TLS to it with
//! a private CA; `store copy` from SQLite.

use crate::harness::{
    Reply, SERVICE, Server, Setup, attempt_body, read_reply, request_bytes, secret_file,
};
use crate::pg::{Cluster, ServerTls};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// Sends every request at once (each on its own connection, released together) and returns the
/// answers in order.
fn all_at_once(requests: Vec<(SocketAddr, Vec<u8>)>) -> Vec<Reply> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let handles: Vec<_> = requests
        .into_iter()
        .map(|(addr, bytes)| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                barrier.wait();
                s.write_all(&bytes).unwrap();
                read_reply(s)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn attempt_request(server: &Server, token: &str, user: &str) -> (SocketAddr, Vec<u8>) {
    let auth = format!("Bearer {token}");
    let body = attempt_body(SERVICE, user);
    (
        server.addr,
        request_bytes(
            server.addr,
            "POST",
            "/v1/attempt",
            &[("Authorization", &auth)],
            Some(&body),
        ),
    )
}

fn unlock_request(server: &Server, user: &str, code: &str) -> (SocketAddr, Vec<u8>) {
    let body = serde_json::json!({"service_id": SERVICE, "user": user, "code": code}).to_string();
    (
        server.addr,
        request_bytes(server.addr, "POST", "/v1/unlock", &[], Some(&body)),
    )
}

fn postgres_setup() -> Setup {
    Setup::with(crate::harness::Backend::Postgres, "60s", "")
}

#[test]
fn an_unlock_is_consumed_exactly_once_across_three_replicas() {
    const USERS: usize = 4;
    const PARALLEL: usize = 30;
    let setup = postgres_setup();
    let users: Vec<_> = (0..USERS)
        .map(|i| setup.enroll(&format!("user{i}"), None))
        .collect();
    let replicas: Vec<Server> = (0..3).map(|_| setup.start()).collect();
    let mut answered_true = [0_usize; 3];
    for (i, user) in users.iter().enumerate() {
        let r = replicas[i % 3].unlock(&user.name, &user.fresh_code());
        assert_eq!(r.status, 200, "{}", r.body);
        let requests = (0..PARALLEL)
            .map(|n| attempt_request(&replicas[n % 3], &setup.token, &user.name))
            .collect();
        let mut trues = 0;
        for (n, r) in all_at_once(requests).iter().enumerate() {
            if r.unlocked() {
                trues += 1;
                answered_true[n % 3] += 1;
            }
        }
        assert_eq!(
            trues, 1,
            "{PARALLEL} attempts for {} over 3 replicas",
            user.name
        );
    }
    // Each replica's own trues were answered, so their lines are (or are about to be) logged.
    let true_lines: usize = replicas
        .iter()
        .zip(&answered_true)
        .map(|(s, n)| {
            s.wait_for_lines(&["event=attempt ", "unlocked=true"], *n)
                .len()
        })
        .sum();
    assert_eq!(true_lines, USERS);
}

#[test]
fn a_code_used_on_one_replica_is_refused_on_another() {
    let setup = postgres_setup();
    let alice = setup.enroll("alice", None);
    let bob = setup.enroll("bob", None);
    let (a, b, c) = (setup.start(), setup.start(), setup.start());
    let code = alice.fresh_code();
    assert_eq!(a.unlock("alice", &code).status, 200);
    let replay = b.unlock("alice", &code);
    assert_eq!(replay.status, 403, "{}", replay.body);
    b.wait_for_log(&[
        "event=unlock_refused",
        "user=alice",
        "reason=code_already_used",
    ]);
    // The same fresh code sent to every replica at once opens exactly one unlock.
    let code = bob.fresh_code();
    let requests = (0..12)
        .map(|n| unlock_request([&a, &b, &c][n % 3], "bob", &code))
        .collect();
    let statuses: Vec<u16> = all_at_once(requests).iter().map(|r| r.status).collect();
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    // One accepted; the replays are misses, at most five of them looked at (four when the
    // accepted code still held its try while the others asked), the limit answers the rest.
    assert_eq!(count(200), 1, "{statuses:?}");
    assert!((4..=5).contains(&count(403)), "{statuses:?}");
    assert_eq!(count(429), 11 - count(403), "{statuses:?}");
    assert!(
        c.attempt_with(Some(&setup.token), SERVICE, "bob")
            .unlocked()
    );
    assert!(
        !a.attempt_with(Some(&setup.token), SERVICE, "bob")
            .unlocked()
    );
}

#[test]
fn the_wrong_code_limit_holds_across_replicas() {
    let setup = postgres_setup();
    let alice = setup.enroll("alice", None);
    let bob = setup.enroll("bob", None);
    let replicas: Vec<Server> = (0..3).map(|_| setup.start()).collect();
    for i in 0..5 {
        let r = replicas[i % 3].unlock("alice", &alice.wrong_code());
        assert_eq!(r.status, 403, "miss {i}: {}", r.body);
    }
    let limited = replicas[2].unlock("alice", &alice.fresh_code());
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
    // Concurrent wrong codes spread over the replicas: exactly five are looked at.
    let requests = (0..12)
        .map(|n| unlock_request(&replicas[n % 3], "bob", &bob.wrong_code()))
        .collect();
    let mut statuses: Vec<u16> = all_at_once(requests).iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [vec![403; 5], vec![429; 7]].concat());
}

/// One attempt, or `None` when the replica cannot be reached (killed).
fn try_attempt(addr: SocketAddr, token: &str, user: &str) -> Option<Reply> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = format!("Bearer {token}");
    let body = attempt_body(SERVICE, user);
    s.write_all(&request_bytes(
        addr,
        "POST",
        "/v1/attempt",
        &[("Authorization", &auth)],
        Some(&body),
    ))
    .ok()?;
    Some(read_reply(s))
}

#[test]
fn a_replica_killed_mid_run_the_others_serve() {
    const USERS: usize = 6;
    const BEFORE: usize = 4;
    const AFTER: usize = 20;
    let setup = postgres_setup();
    let users: Vec<_> = (0..USERS)
        .map(|i| setup.enroll(&format!("user{i}"), None))
        .collect();
    let replicas: Vec<Server> = (0..3).map(|_| setup.start()).collect();
    // Unlocks opened through every replica, the doomed one included; each user's first attempt
    // comes only after the kill, so no unlock is used up by a request the kill cut off.
    for (i, user) in users.iter().enumerate() {
        assert_eq!(
            replicas[i % 3]
                .unlock(&user.name, &user.fresh_code())
                .status,
            200
        );
    }
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let halfway = Arc::new(Barrier::new(USERS + 1));
    let resumed = Arc::new(Barrier::new(USERS + 1));
    let workers: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let (addrs, token, name) = (addrs.clone(), setup.token.clone(), user.name.clone());
            let (halfway, resumed) = (Arc::clone(&halfway), Arc::clone(&resumed));
            std::thread::spawn(move || {
                // (replica, answer) for each request; before the kill, health checks only.
                let mut seen = Vec::new();
                for n in 0..BEFORE {
                    let addr = addrs[(i + n) % 3];
                    let r = crate::harness::request(addr, "GET", "/v1/health", &[], None);
                    assert_eq!(r.status, 200);
                }
                halfway.wait();
                resumed.wait();
                for n in 0..AFTER {
                    let replica = (i + n) % 3;
                    seen.push((replica, try_attempt(addrs[replica], &token, &name)));
                }
                seen
            })
        })
        .collect();
    halfway.wait();
    let killed = Command::new("kill")
        .args(["-KILL", &replicas[1].pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut refused = false;
    for _ in 0..250 {
        if TcpStream::connect(replicas[1].addr).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "the killed replica still accepts connections");
    resumed.wait();
    for (worker, user) in workers.into_iter().zip(&users) {
        let seen = worker.join().unwrap();
        let mut trues = 0;
        for (replica, answer) in &seen {
            match (replica, answer) {
                (1, None) => {}
                (1, Some(r)) => panic!("the killed replica answered {}", r.status),
                (_, None) => panic!("replica {replica} could not be reached"),
                (_, Some(r)) => trues += usize::from(r.unlocked()),
            }
        }
        assert_eq!(trues, 1, "{}: {seen:?}", user.name);
    }
    // New unlocks work on the survivors too.
    let again = &users[0];
    assert_eq!(
        replicas[2].unlock(&again.name, &again.fresh_code()).status,
        200
    );
    assert!(
        replicas[0]
            .attempt_with(Some(&setup.token), SERVICE, &again.name)
            .unlocked()
    );
}

#[test]
fn postgres_stopped_answers_503_with_one_log_line_each_then_recovers() {
    let mut cluster = Cluster::start(None);
    let db = cluster.create_database();
    let url = cluster.url(&db, Some("disable"));
    let setup = Setup::postgres_url("60s", "", &url, None);
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);

    cluster.stop();
    let mut failures = 0;
    for _ in 0..3 {
        let r = server.attempt_with(Some(&setup.token), SERVICE, "alice");
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("store"));
        failures += 1;
    }
    // (Any code: the store is not reached, so no fresh one is spent.)
    let r = server.unlock("alice", &alice.wrong_code());
    assert_eq!(r.status, 503, "{}", r.body);
    failures += 1;
    let lines = server.wait_for_lines(&["event=error", "reason=store_unavailable"], failures);
    assert_eq!(lines.len(), failures, "{lines:#?}");
    assert!(
        lines[0].contains("endpoint=attempt") && lines[0].contains("user=alice"),
        "{}",
        lines[0]
    );
    // The health check does not depend on the database.
    assert_eq!(
        crate::harness::request(server.addr, "GET", "/v1/health", &[], None).status,
        200
    );

    cluster.restart();
    // The unlock opened before the outage is still there (a clean shutdown keeps it) and
    // is used up once; the pool replaced its dead connections without a failed request.
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
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    let after: usize = server
        .log()
        .iter()
        .filter(|l| l.contains("reason=store_unavailable"))
        .count();
    assert_eq!(after, failures, "failures after PostgreSQL came back");
}

#[test]
fn a_frozen_database_gets_503_at_the_store_deadline_not_a_hang() {
    let cluster = Cluster::start(None);
    let db = cluster.create_database();
    let setup = Setup::postgres_url("60s", "", &cluster.url(&db, Some("disable")), None);
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    cluster.freeze();
    // The database neither answers nor closes: the server gives up at its deadline (the
    // request's own 20 s read timeout would fail the test long before a hang).
    for _ in 0..2 {
        let r = server.attempt_with(Some(&setup.token), SERVICE, "alice");
        assert_eq!(r.status, 503, "{}", r.body);
    }
    let stuck = server.wait_for_lines(&["event=error", "reason=store_"], 2);
    assert!(stuck.len() >= 2, "{:#?}", server.log());
    cluster.thaw();
    // Back: the window is still there (a frozen attempt may have taken it, then found no one
    // to tell: an unlock lost is closed, never given twice).
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(
            server
                .attempt_with(Some(&setup.token), SERVICE, "alice")
                .unlocked(),
        );
    }
    assert!(answers.iter().filter(|t| **t).count() <= 1, "{answers:?}");
    assert!(!answers[1], "{answers:?}");
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`.
fn test_ca(dir: &Path) -> ServerTls {
    crate::harness::require_program("/usr/bin/openssl", "openssl");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ticketgate test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    ServerTls {
        cert: dir.join("server.pem"),
        key,
    }
}

#[test]
fn tls_to_postgres_is_verified_against_postgres_ca_file() {
    let ca_dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(Some(&|dir: &Path| {
        let tls = test_ca(dir);
        std::fs::copy(dir.join("ca.pem"), ca_dir.path().join("ca.pem")).unwrap();
        tls
    }));
    let ca = ca_dir.path().join("ca.pem");
    let db = cluster.create_database();
    // No sslmode: TLS is required and verified.
    let url = cluster.url(&db, None);
    let setup = Setup::postgres_url("60s", "", &url, Some(&ca));
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    server.wait_for_log(&["event=listening", "store=postgres", "enrolled=1"]);
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    let over_tls = cluster.sql(
        &db,
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = 'ticketgate-server' AND s.ssl",
    );
    assert!(over_tls[0].get::<_, i64>(0) >= 1, "no TLS connection seen");

    // Without the private CA the system bundle does not know it: refused, and said so.
    let untrusting = Setup::postgres_url("60s", "", &url, None);
    let out = untrusting.run(&["list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("UnknownIssuer") || stderr.contains("certificate"),
        "{stderr}"
    );
    // sslmode=disable to a server that allows TLS only over TCP: the server refuses us.
    let clear = Setup::postgres_url("60s", "", &cluster.url(&db, Some("disable")), None);
    let out = clear.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pg_hba.conf"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sslmode_disable_to_a_remote_host_and_a_readable_url_file_are_refused_at_start() {
    let password = "hunter2-not-logged";
    let setup = Setup::postgres_url(
        "60s",
        "",
        &format!("postgresql://tg:{password}@db.example.com/tg?sslmode=disable"),
        None,
    );
    let out = setup.run(&["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("sslmode=disable") && stderr.contains("postgres_url_file"),
        "{stderr}"
    );
    assert!(!stderr.contains(password), "the password reached stderr");

    let readable = setup.dir.path().join("pg.url");
    std::fs::set_permissions(
        &readable,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let out = setup.run(&["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("postgres_url_file"), "{stderr}");
}

#[test]
fn store_copy_moves_enrollments_with_their_used_steps_once() {
    let (db, url) = crate::pg::shared_database();
    let mut setup = Setup::new("60s", "postgres_url_file = \"pg.url\"\n");
    secret_file(setup.dir.path(), "pg.url", &url);
    let alice = setup.enroll("alice", None);
    let bob = setup.enroll("bob", Some(SERVICE));
    // Issue 16 (item 7): a pending enrollment code moves too (its hash, expiry and tries).
    let issued = setup.run(&["enroll", "--code", "carol"]);
    assert!(issued.status.success());
    let used = alice.fresh_code();
    {
        let server = setup.start();
        assert_eq!(server.unlock("alice", &used).status, 200);
        server.stop();
    }
    let out = setup.run(&["store", "copy", "--from", "sqlite", "--to", "postgres"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Copied 2 of 2 enrollment(s) from sqlite to postgres")
            && stdout.contains("Copied 1 pending enrollment code(s)."),
        "{stdout}"
    );
    let codes = crate::pg::shared_sql(
        &db,
        "SELECT username, length(code_hash), expires > created, tries FROM ticketgate_enroll_code",
    );
    let codes: Vec<(String, i32, bool, i32)> = codes
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(codes, vec![("carol".into(), 32, true, 0)]);
    let rows = crate::pg::shared_sql(
        &db,
        "SELECT username, service_id, last_step IS NOT NULL FROM ticketgate_enrollment ORDER BY username",
    );
    let seen: Vec<(String, Option<String>, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("alice".into(), None, true),
            ("bob".into(), Some(SERVICE.into()), false)
        ]
    );

    // A second copy finds the target holding enrollments: refused, nothing changed.
    let again = setup.run(&["store", "copy", "--from", "sqlite", "--to", "postgres"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds 2 enrollment(s)"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let back = setup.run(&["store", "copy", "--from", "postgres", "--to", "sqlite"]);
    assert_eq!(back.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&back.stderr).contains("already holds 2"));
    let forced = setup.run(&[
        "store", "copy", "--from", "sqlite", "--to", "postgres", "--force",
    ]);
    assert!(forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stdout).contains("Copied 0 of 2"));

    // The same config switched to PostgreSQL: the used code stays used, bob's codes work.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let switched = setup.dir.path().join("server-pg.toml");
    std::fs::write(&switched, format!("store = \"postgres\"\n{text}")).unwrap();
    std::fs::set_permissions(
        &switched,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    setup.config = switched;
    let server = setup.start();
    server.wait_for_log(&["event=listening", "store=postgres", "enrolled=2"]);
    assert_eq!(server.unlock("alice", &used).status, 403);
    server.wait_for_log(&["user=alice", "reason=code_already_used"]);
    assert_eq!(server.unlock("bob", &bob.fresh_code()).status, 200);
    let list = String::from_utf8_lossy(&setup.run(&["list"]).stdout).into_owned();
    assert!(list.contains("2 enrolled"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("carol ") && l.ends_with("issued")),
        "{list}"
    );
}

#[test]
fn the_schema_is_created_once_and_a_newer_one_is_refused() {
    let setup = postgres_setup();
    let db = setup.db.clone().unwrap();
    // enroll and then two servers each run the migrations: applied once.
    setup.enroll("alice", None);
    let (a, b) = (setup.start(), setup.start());
    a.wait_for_log(&["event=listening", "enrolled=1"]);
    b.wait_for_log(&["event=listening", "enrolled=1"]);
    let versions = crate::pg::shared_sql(&db, "SELECT version FROM ticketgate_schema ORDER BY 1");
    let versions: Vec<i32> = versions.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        versions,
        vec![1, 2, 3, 4],
        "each migration once (2: the fleet's tables, 3: enrollment codes, 4: the agents' task queue)"
    );
    drop((a, b));
    crate::pg::shared_sql(
        &db,
        "INSERT INTO ticketgate_schema (version, what) VALUES (99, 'from the future')",
    );
    let out = setup.run(&["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("schema is version 99") && stderr.contains("upgrade ticketgate-server"),
        "{stderr}"
    );
}
