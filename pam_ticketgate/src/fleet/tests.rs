//! The fleet client against a real loopback listener (the wire format), the breaker around it,
//! and the spool: bounded, oldest dropped, sent ones removed, the file's trust and crash rules.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use super::spool::{FileSpool, FleetSpool, MemSpool, push, remove_sent};
use super::*;
use crate::run_files::MemRunFiles;
use crate::run_files::RunFiles;

/// A loopback server answering `replies` to as many requests, one connection each; hands the
/// requests back.
fn serve(replies: Vec<Vec<u8>>) -> (url::Url, thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let mut requests = Vec::new();
        for reply in replies {
            let (mut s, _) = listener.accept().unwrap();
            requests.push(read_request(&mut s));
            let _ = s.write_all(&reply);
        }
        requests
    });
    (
        url::Url::parse(&format!("http://127.0.0.1:{port}/prefix/")).unwrap(),
        handle,
    )
}

fn read_request(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Bounded: a request is far smaller than 256 reads.
    for _ in 0..256 {
        let n = s.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

fn reply(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn body_of(request: &str) -> serde_json::Value {
    let (_, body) = request.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

fn fleet(url: url::Url) -> Fleet {
    Fleet {
        url,
        secret_file: "/etc/security/fleet.secret".into(),
        timeout: Duration::from_secs(2),
        ca_file: None,
    }
}

fn token() -> Secret {
    Secret::new("host-token".into())
}

const ORIGIN: Origin = Origin {
    user: "alice",
    credential: Credential::Password,
    host: "db01.example.com",
    service: "sshd",
    rhost: "192.0.2.7",
};

fn event(kind: Kind, at: i64) -> FleetEvent {
    FleetEvent::new(kind, &ORIGIN, at).unwrap()
}

#[test]
fn check_posts_user_and_credential_with_the_bearer_token_under_the_path_prefix() {
    let (url, server) = serve(vec![reply(
        "200 OK",
        br#"{"locked":true,"reason":"failures","until":1700000900,"failures":5}"#,
    )]);
    let standing = client::check(&fleet(url), &token(), "alice", Credential::Pin).unwrap();
    assert_eq!(
        standing,
        Standing {
            locked: true,
            reason: Some(LockReason::Failures),
            until: Some(1_700_000_900),
            failures: 5
        }
    );
    let requests = server.join().unwrap();
    let request = &requests[0];
    assert!(
        request.starts_with("POST /prefix/v1/fleet/check HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: bearer host-token\r\n"),
        "{request}"
    );
    assert_eq!(
        body_of(request),
        serde_json::json!({"user": "alice", "credential": "pin"})
    );
}

#[test]
fn failure_and_success_send_the_event_exactly_as_the_protocol_has_it() {
    let (url, server) = serve(vec![
        reply(
            "200 OK",
            br#"{"locked":false,"reason":null,"until":null,"failures":2}"#,
        ),
        reply("200 OK", b"{}"),
    ]);
    let f = fleet(url);
    let failure = event(Kind::Failure, 1_700_000_000);
    let success = event(Kind::Success, 1_700_000_060);
    let standing = client::failure(&f, &token(), &failure).unwrap();
    assert_eq!((standing.locked, standing.failures), (false, 2));
    client::success(&f, &token(), &success).unwrap();
    let requests = server.join().unwrap();
    assert!(requests[0].starts_with("POST /prefix/v1/fleet/failure "));
    assert_eq!(
        body_of(&requests[0]),
        serde_json::json!({"id": failure.id, "user": "alice", "credential": "password",
            "host": "db01.example.com", "service": "sshd", "rhost": "192.0.2.7",
            "at": 1_700_000_000})
    );
    assert!(requests[1].starts_with("POST /prefix/v1/fleet/success "));
    assert_eq!(
        body_of(&requests[1]),
        serde_json::json!({"id": success.id, "user": "alice", "credential": "password",
            "host": "db01.example.com", "service": "sshd", "at": 1_700_000_060})
    );
}

#[test]
fn spooled_events_go_to_the_endpoint_of_their_kind_with_the_hosts_token() {
    crate::test_support::needs_root!(
        "spooled_events_go_to_the_endpoint_of_their_kind_with_the_hosts_token"
    );
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("fleet.secret");
    std::fs::write(&secret, "host-token\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (url, server) = serve(vec![
        reply(
            "200 OK",
            br#"{"locked":false,"reason":null,"until":null,"failures":3}"#,
        ),
        reply("200 OK", b"{}"),
    ]);
    let mut f = fleet(url);
    f.secret_file = secret;
    let http = HttpFleet::connect(Path::new("/etc/security/ticketgate.toml"), &f).unwrap();
    let failure = event(Kind::Failure, 10);
    let success = event(Kind::Success, 20);
    assert_eq!(http.spooled(&failure).unwrap().map(|s| s.failures), Some(3));
    assert_eq!(http.spooled(&success).unwrap(), None);
    let requests = server.join().unwrap();
    assert!(requests[0].starts_with("POST /prefix/v1/fleet/failure "));
    assert!(requests[1].starts_with("POST /prefix/v1/fleet/success "));
    assert!(requests.iter().all(|r| {
        r.to_ascii_lowercase()
            .contains("authorization: bearer host-token\r\n")
    }));
    assert_eq!(body_of(&requests[0])["id"], failure.id.as_str());
}

#[test]
fn unreachable_and_denied_are_sorted_as_for_every_server() {
    for (status, unreachable) in [
        ("500 Internal Server Error", true),
        ("503 Service Unavailable", true),
        ("429 Too Many Requests", true),
        ("401 Unauthorized", false),
        ("403 Forbidden", false),
        ("404 Not Found", false),
    ] {
        let (url, server) = serve(vec![reply(status, b"{}")]);
        let e = client::check(&fleet(url), &token(), "alice", Credential::Password).unwrap_err();
        assert_eq!(e.is_unreachable(), unreachable, "{status}: {e}");
        server.join().unwrap();
    }
    // Refused: nothing listens on a port just freed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let e = client::check(&fleet(url), &token(), "alice", Credential::Password).unwrap_err();
    assert!(e.is_unreachable(), "{e}");
}

#[test]
fn answers_are_read_strictly() {
    for bad in [
        &b"not json"[..],
        b"[]",
        b"{}",
        br#"{"locked":"no","failures":0}"#,
        br#"{"locked":false}"#,
        br#"{"locked":false,"failures":-1}"#,
        br#"{"locked":true,"failures":5}"#,
        br#"{"locked":true,"reason":"tired","failures":5}"#,
        // A repeated key is malformed, never read as "not locked".
        br#"{"locked":true,"locked":false,"reason":"admin","failures":0}"#,
    ] {
        let e = client::standing_of(bad, "check").unwrap_err();
        assert!(!e.is_unreachable(), "{}", String::from_utf8_lossy(bad));
    }
    let s = client::standing_of(
        br#"{"locked":true,"reason":"admin","until":null,"failures":0,"extra":1}"#,
        "check",
    )
    .unwrap();
    assert_eq!(
        (s.locked, s.reason, s.until),
        (true, Some(LockReason::Admin), None)
    );
    assert!(client::empty_of(b"{}").is_ok());
    assert!(client::empty_of(b"null").is_err());
    assert!(client::empty_of(b"").is_err());
}

#[test]
fn an_oversized_answer_denies() {
    let mut body = b"{\"locked\":false,\"failures\":0,\"pad\":\"".to_vec();
    body.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 10));
    body.extend_from_slice(b"\"}");
    let (url, server) = serve(vec![reply("200 OK", &body)]);
    let e = client::check(&fleet(url), &token(), "alice", Credential::Password).unwrap_err();
    assert!(!e.is_unreachable(), "{e}");
    server.join().unwrap();
}

#[test]
fn every_event_gets_a_fresh_uuid_v4() {
    let ids: std::collections::BTreeSet<String> =
        (0..50).map(|_| event(Kind::Failure, 0).id).collect();
    assert_eq!(ids.len(), 50);
    for id in &ids {
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert!("89ab".contains(&parts[3][..1]), "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}

#[test]
fn unreachable_trips_the_breaker_so_a_dead_server_costs_one_deadline() {
    let files = MemRunFiles::default();
    let breaker = files.breaker(BREAKER).unwrap();
    let calls = Cell::new(0);
    let dead = || {
        calls.set(calls.get() + 1);
        Err::<(), _>(NetError::Unreachable("refused".into()))
    };
    let retry = Duration::from_secs(30);
    assert!(matches!(
        ask(breaker.as_ref(), retry, 1000, dead),
        Reply::Offline(_)
    ));
    // Inside retry_after: skipped without a call.
    assert!(
        matches!(ask(breaker.as_ref(), retry, 1029, dead), Reply::Offline(m) if m.contains("skipped"))
    );
    assert_eq!(calls.get(), 1);
    // After it: asked again; an answer closes the breaker.
    assert_eq!(
        ask(breaker.as_ref(), retry, 1030, || Ok(7)),
        Reply::Answered(7)
    );
    assert!(!breaker.is_open(1031));
    // A refusal is an answer: the breaker stays closed.
    let denied = ask(breaker.as_ref(), retry, 1032, || {
        Err::<(), _>(NetError::Denied("HTTP 403".into()))
    });
    assert_eq!(denied, Reply::Denied("HTTP 403".into()));
    assert!(!breaker.is_open(1033));
}

#[test]
fn a_full_spool_drops_the_oldest_and_says_which() {
    let spool = MemSpool::default();
    let events: Vec<FleetEvent> = (0..5).map(|i| event(Kind::Failure, i)).collect();
    for e in &events[..3] {
        assert!(push(&spool, e.clone(), 3).unwrap().is_empty());
    }
    let dropped = push(&spool, events[3].clone(), 3).unwrap();
    assert_eq!(dropped, vec![events[0].clone()]);
    let dropped = push(&spool, events[4].clone(), 3).unwrap();
    assert_eq!(dropped, vec![events[1].clone()]);
    assert_eq!(spool.events().unwrap(), events[2..].to_vec());
}

#[test]
fn a_success_after_a_success_of_the_same_user_is_not_spooled_again() {
    let spool = MemSpool::default();
    let first = event(Kind::Success, 1);
    push(&spool, first.clone(), 10).unwrap();
    // Clean logins during an outage: nothing more to clear, nothing written.
    push(&spool, event(Kind::Success, 2), 10).unwrap();
    assert_eq!(spool.events().unwrap(), vec![first.clone()]);
    // Another user's, or another credential's, success is kept.
    let mut other = event(Kind::Success, 3);
    other.user = "bob".into();
    let mut pin = event(Kind::Success, 4);
    pin.credential = "pin".into();
    push(&spool, other.clone(), 10).unwrap();
    push(&spool, pin.clone(), 10).unwrap();
    // After a failure, a success clears it and is kept.
    let failure = event(Kind::Failure, 5);
    let after = event(Kind::Success, 6);
    push(&spool, failure.clone(), 10).unwrap();
    push(&spool, after.clone(), 10).unwrap();
    assert_eq!(
        spool.events().unwrap(),
        vec![first, other, pin, failure, after]
    );
}

#[test]
fn sent_events_are_removed_by_id_and_others_stay() {
    let spool = MemSpool::default();
    let events: Vec<FleetEvent> = (0..3).map(|i| event(Kind::Failure, i)).collect();
    for e in &events {
        push(&spool, e.clone(), 10).unwrap();
    }
    remove_sent(&spool, &[events[0].id.clone(), events[2].id.clone()]).unwrap();
    assert_eq!(spool.events().unwrap(), vec![events[1].clone()]);
}

#[test]
fn spool_lines_are_read_strictly() {
    let e = event(Kind::Failure, 7);
    let good = spool::encode(std::slice::from_ref(&e));
    assert_eq!(spool::decode(&good).unwrap(), vec![e.clone()]);
    let line = String::from_utf8(good).unwrap();
    for bad in [
        line.replace("\"failure\"", "\"maybe\""),
        line.replace("\"at\":7", "\"at\":\"7\""),
        line.replace("\"kind\"", "\"extra\":1,\"kind\""),
        line.replace(",\"rhost\":\"192.0.2.7\"", ""),
        "[]\n".to_string(),
        format!("{line}{{\n"),
    ] {
        let err = spool::decode(bad.as_bytes()).unwrap_err();
        assert!(err.starts_with("line "), "{bad}: {err}");
    }
}

#[test]
fn the_spool_file_round_trips_private_whole_lines_and_vanishes_when_empty() {
    crate::test_support::needs_root!(
        "the_spool_file_round_trips_private_whole_lines_and_vanishes_when_empty"
    );
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let spool = FileSpool::new(dir.path());
    assert!(spool.is_empty());
    assert_eq!(spool.events().unwrap(), Vec::new());
    let events: Vec<FleetEvent> = (0..3).map(|i| event(Kind::Failure, i)).collect();
    for e in &events {
        push(&spool, e.clone(), SPOOL_LIMIT).unwrap();
    }
    assert!(!spool.is_empty());
    // A fresh handle (another process) reads the same events, oldest first.
    assert_eq!(FileSpool::new(dir.path()).events().unwrap(), events);
    let text = std::fs::read_to_string(spool.path()).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with('\n'));
    let mode = std::fs::metadata(spool.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    remove_sent(&spool, &ids).unwrap();
    assert!(spool.is_empty());
    assert!(!spool.path().exists());
    // Nothing else is left beside it but the lock file (no temporary files).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![spool::LOCK.to_string()]);
}

#[test]
fn a_corrupt_or_untrusted_spool_file_is_an_error_and_can_be_set_aside() {
    crate::test_support::needs_root!(
        "a_corrupt_or_untrusted_spool_file_is_an_error_and_can_be_set_aside"
    );
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let spool = FileSpool::new(dir.path());
    let good = spool::encode(&[event(Kind::Failure, 1)]);
    // A line cut short (as no writer of this module leaves one) is corrupt, never half-read.
    let mut cut = good.clone();
    cut.truncate(good.len() / 2);
    std::fs::write(spool.path(), &cut).unwrap();
    std::fs::set_permissions(spool.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(spool.events(), Err(FileError::Corrupt { .. })));
    assert!(push(&spool, event(Kind::Failure, 2), 10).is_err());
    let aside = spool.set_aside(1234).unwrap();
    assert!(aside.ends_with("fleet-spool.jsonl.corrupt-1234"));
    assert_eq!(std::fs::read(&aside).unwrap(), cut);
    assert!(spool.is_empty());
    push(&spool, event(Kind::Failure, 3), 10).unwrap();
    assert_eq!(spool.events().unwrap().len(), 1);
    // Readable by others: refused, as a state file would be.
    std::fs::set_permissions(spool.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(spool.events(), Err(FileError::Refused { .. })));
}

use crate::fsutil::FileError;
