//! The fleet lockout on PostgreSQL with replicas: two or three servers on one database count
//! one fleet. Failures spread over replicas are counted once each and lock at exactly the
//! limit; an id replayed to another replica counts nothing; an administrator's lock holds on
//! every replica; a replica killed mid-run, the others go on and an event resent to them counts
//! once; PostgreSQL stopped, the fleet endpoints answer 503 (the module then follows
//! its `[offline] fleet`) and nothing is counted twice once it is back.

use crate::fleet::{DB_TOKEN, check, failure, failure_body, fleet_setup, now, post, run_as, uuid};
use crate::harness::{Backend, Reply, Server, Setup, read_reply, request, request_bytes};
use crate::pg::Cluster;
use serde_json::{Value, json};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// `n` failures of `user`, released at once, failure `i` sent to replica `i % replicas.len()`.
fn spread_failures(replicas: &[Server], token: &str, user: &str, n: u64) -> Vec<Value> {
    let barrier = Arc::new(Barrier::new(usize::try_from(n).unwrap()));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let addr = replicas[usize::try_from(i).unwrap() % replicas.len()].addr;
            let barrier = Arc::clone(&barrier);
            let (auth, body) = (
                format!("Bearer {token}"),
                failure_body(&uuid(i), user, now()),
            );
            std::thread::spawn(move || {
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

fn lines_with(logs: &[Vec<String>], parts: &[&str]) -> usize {
    logs.iter()
        .flatten()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

#[test]
fn two_hundred_failures_over_three_replicas_are_each_counted_once() {
    let setup = fleet_setup(Backend::Postgres, "failed_logon = 0");
    let replicas: Vec<Server> = (0..3).map(|_| setup.start()).collect();
    let answers = spread_failures(&replicas, &setup.token, "alice", 200);
    let mut counts: Vec<u64> = answers
        .iter()
        .map(|a| a["failures"].as_u64().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=200).collect::<Vec<u64>>(),
        "each saw its own count"
    );
    for r in &replicas {
        assert_eq!(check(r, &setup.token, "alice", "password")["failures"], 200);
    }
    let logs: Vec<Vec<String>> = replicas.into_iter().map(Server::stop).collect();
    assert!(
        logs.iter()
            .all(|l| l.iter().any(|l| l.contains("outcome=counted")))
    );
    assert_eq!(
        lines_with(&logs, &["event=fleet_failure ", "outcome=counted"]),
        200
    );
}

#[test]
fn two_hundred_failures_over_three_replicas_lock_at_exactly_the_limit() {
    let setup = fleet_setup(
        Backend::Postgres,
        "failed_logon = 50\nlockout_duration = \"10m\"",
    );
    let replicas: Vec<Server> = (0..3).map(|_| setup.start()).collect();
    let answers = spread_failures(&replicas, &setup.token, "alice", 200);
    let mut open: Vec<u64> = Vec::new();
    for a in &answers {
        if a["locked"] == true {
            assert_eq!(
                (a["reason"].clone(), a["failures"].clone()),
                (json!("failures"), json!(50)),
                "{a}"
            );
        } else {
            open.push(a["failures"].as_u64().unwrap());
        }
    }
    open.sort_unstable();
    assert_eq!(open, (1..=49).collect::<Vec<u64>>());
    // Every replica, every host: locked.
    for r in &replicas {
        for token in [setup.token.as_str(), DB_TOKEN] {
            let c = check(r, token, "alice", "password");
            assert_eq!(
                (c["locked"].clone(), c["failures"].clone()),
                (json!(true), json!(50))
            );
        }
    }
    let logs: Vec<Vec<String>> = replicas.into_iter().map(Server::stop).collect();
    assert_eq!(
        lines_with(&logs, &["event=fleet_lock ", "user=alice"]),
        1,
        "one lock, on one replica"
    );
    assert_eq!(lines_with(&logs, &["outcome=while_locked"]), 150);
    assert_eq!(
        lines_with(&logs, &["event=fleet_failure ", "outcome=counted"]),
        50
    );
}

#[test]
fn an_id_replayed_to_another_replica_counts_nothing() {
    let setup = fleet_setup(Backend::Postgres, "failed_logon = 10");
    let (a, b) = (setup.start(), setup.start());
    assert_eq!(failure(&a, &setup.token, &uuid(1), "bob")["failures"], 1);
    assert_eq!(failure(&b, &setup.token, &uuid(1), "bob")["failures"], 1);
    b.wait_for_log(&["event=fleet_failure ", "user=bob", "outcome=replayed"]);
    // The same id sent to both at once, many times: counted once.
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let addr = if i % 2 == 0 { a.addr } else { b.addr };
            let (barrier, auth, body) = (
                Arc::clone(&barrier),
                format!("Bearer {}", setup.token),
                failure_body(&uuid(2), "bob", now()),
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
        assert_eq!(h.join().unwrap()["failures"], 2);
    }
    // A success replayed on the other replica after a new failure clears nothing.
    let ok = json!({"id": uuid(3), "user": "bob", "credential": "password", "host": "web01",
        "service": "sshd", "at": now()})
    .to_string();
    assert_eq!(
        post(&a, "/v1/fleet/success", Some(&setup.token), &ok).status,
        200
    );
    assert_eq!(check(&b, &setup.token, "bob", "password")["failures"], 0);
    assert_eq!(failure(&a, &setup.token, &uuid(4), "bob")["failures"], 1);
    assert_eq!(
        post(&b, "/v1/fleet/success", Some(&setup.token), &ok).status,
        200
    );
    assert_eq!(check(&a, &setup.token, "bob", "password")["failures"], 1);
    let logs = vec![a.stop(), b.stop()];
    assert_eq!(
        lines_with(
            &logs,
            &["event=fleet_failure ", "user=bob", "outcome=counted"]
        ),
        3
    );
}

#[test]
fn an_admin_lock_through_the_cli_refuses_on_every_replica_and_unlock_frees() {
    let setup = fleet_setup(Backend::Postgres, "failed_logon = 3");
    let replicas: Vec<Server> = (0..3).map(|_| setup.start()).collect();
    let lock = run_as(&setup, "opsadmin", &["lock", "carol"]);
    assert!(lock.status.success(), "{lock:?}");
    for r in &replicas {
        for token in [setup.token.as_str(), DB_TOKEN] {
            assert_eq!(check(r, token, "carol", "pin")["reason"], "admin");
        }
    }
    let status = setup.run(&["status", "--json", "carol"]);
    let s: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["users"][0]["admin_lock"]["by"], "opsadmin");
    // Failures through two replicas, then unlock frees everything everywhere.
    failure(&replicas[0], &setup.token, &uuid(1), "carol");
    failure(&replicas[1], DB_TOKEN, &uuid(2), "carol");
    let unlock = run_as(&setup, "opsadmin", &["unlock", "carol"]);
    assert!(unlock.status.success(), "{unlock:?}");
    for r in &replicas {
        assert_eq!(
            check(r, &setup.token, "carol", "password"),
            json!({"locked": false, "reason": null, "until": null, "failures": 0})
        );
    }
}

#[test]
fn postgres_stopped_the_fleet_answers_503_then_serves_and_counts_nothing_twice() {
    let mut cluster = Cluster::start(None);
    let db = cluster.create_database();
    let url = cluster.url(&db, Some("disable"));
    let setup = Setup::postgres_url("60s", "[fleet]\nfailed_logon = 5\n", &url, None);
    let (a, b) = (setup.start(), setup.start());
    assert_eq!(failure(&a, &setup.token, &uuid(1), "dave")["failures"], 1);

    cluster.stop();
    let bodies = [
        ("/v1/fleet/failure", failure_body(&uuid(2), "dave", now())),
        (
            "/v1/fleet/check",
            json!({"user": "dave", "credential": "password"}).to_string(),
        ),
        (
            "/v1/fleet/success",
            json!({"id": uuid(3), "user": "dave", "credential": "password", "host": "web01",
                "service": "sshd", "at": now()})
            .to_string(),
        ),
    ];
    for (path, body) in &bodies {
        let r = post(&b, path, Some(&setup.token), body);
        assert_eq!(r.status, 503, "{path}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("store"),
            "{}",
            r.body
        );
    }
    let lines = b.wait_for_lines(&["event=error", "reason=store_unavailable", "user=dave"], 3);
    assert_eq!(lines.len(), 3, "one line each: {lines:#?}");
    for (line, endpoint) in lines
        .iter()
        .zip(["fleet_failure", "fleet_check", "fleet_success"])
    {
        assert!(line.contains(&format!("endpoint={endpoint}")), "{line}");
    }

    cluster.restart();
    // The spooled failure, sent again once the database is back (to either replica), counts
    // once; sent twice, still once.
    let (path, body) = &bodies[0];
    assert_eq!(
        post(&a, path, Some(&setup.token), body).json()["failures"],
        2
    );
    assert_eq!(
        post(&b, path, Some(&setup.token), body).json()["failures"],
        2
    );
    assert_eq!(failure(&b, &setup.token, &uuid(1), "dave")["failures"], 2);
    assert_eq!(check(&a, &setup.token, "dave", "password")["failures"], 2);
    let logs = vec![a.stop(), b.stop()];
    assert_eq!(
        lines_with(&logs, &["reason=store_unavailable"]),
        3,
        "none after it came back"
    );
    assert_eq!(
        lines_with(&logs, &["event=fleet_failure ", "outcome=counted"]),
        2
    );
}

/// One failure sent to `addr`, or `None` when the replica cannot be reached (killed).
fn try_failure(addr: SocketAddr, token: &str, body: &str) -> Option<Reply> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = format!("Bearer {token}");
    s.write_all(&request_bytes(
        addr,
        "POST",
        "/v1/fleet/failure",
        &[("Authorization", &auth)],
        Some(body),
    ))
    .ok()?;
    Some(read_reply(s))
}

#[test]
fn a_replica_killed_mid_run_the_others_count_each_event_once() {
    const WORKERS: u64 = 6;
    const BEFORE: u64 = 5;
    const AFTER: u64 = 5;
    let setup = fleet_setup(Backend::Postgres, "failed_logon = 0");
    let replicas: Vec<Server> = (0..3).map(|_| setup.start()).collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let halfway = Arc::new(Barrier::new(usize::try_from(WORKERS).unwrap() + 1));
    let resumed = Arc::new(Barrier::new(usize::try_from(WORKERS).unwrap() + 1));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (addrs, token) = (addrs.clone(), setup.token.clone());
            let (halfway, resumed) = (Arc::clone(&halfway), Arc::clone(&resumed));
            std::thread::spawn(move || {
                let body = |n: u64| failure_body(&uuid(w * 100 + n), "erin", now());
                let at = |n: u64| usize::try_from(w + n).unwrap() % 3;
                for n in 0..BEFORE {
                    let r = try_failure(addrs[at(n)], &token, &body(n)).unwrap();
                    assert_eq!(r.status, 200, "{}", r.body);
                }
                halfway.wait();
                resumed.wait();
                // The last event before the kill sent again (its answer "lost"), then the rest;
                // each goes to the next replica when its own is gone, as a host retries.
                let mut dead = 0;
                for n in (BEFORE - 1)..(BEFORE + AFTER) {
                    let answered = (0..3).find_map(|k| {
                        let reply = try_failure(addrs[(at(n) + k) % 3], &token, &body(n));
                        if reply.is_none() {
                            dead += 1;
                        }
                        reply
                    });
                    let r = answered.expect("no replica answered");
                    assert_eq!(r.status, 200, "{}", r.body);
                }
                dead
            })
        })
        .collect();
    halfway.wait();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &replicas[0].pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let gone = (0..250).any(|_| {
        let refused = TcpStream::connect(replicas[0].addr).is_err();
        if !refused {
            std::thread::sleep(Duration::from_millis(20));
        }
        refused
    });
    assert!(gone, "the killed replica still accepts connections");
    resumed.wait();
    let dead: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(
        dead > 0,
        "some events were first sent to the killed replica"
    );
    let total = WORKERS * (BEFORE + AFTER);
    for r in &replicas[1..] {
        assert_eq!(
            check(r, &setup.token, "erin", "password")["failures"],
            total
        );
    }
    let ids = crate::pg::shared_sql(
        setup.db.as_deref().unwrap(),
        "SELECT count(*) FROM ticketgate_fleet_event",
    );
    assert_eq!(u64::try_from(ids[0].get::<_, i64>(0)).unwrap(), total);
    // Every resend reached a replica alive after the kill.
    let mut replicas = replicas;
    drop(replicas.remove(0));
    let logs: Vec<Vec<String>> = replicas.into_iter().map(Server::stop).collect();
    assert_eq!(
        lines_with(&logs, &["event=fleet_failure ", "outcome=replayed"]),
        usize::try_from(WORKERS).unwrap(),
        "each resent event counted nothing"
    );
}
