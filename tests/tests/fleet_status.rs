//! `ticketgate status USER` with the fleet lockout (issue 14, item 4): the fleet's word beside
//! the local state, the `"fleet"` object of `--json`, the user's spooled events, and exit 3
//! when the fleet server is unreachable. The server here is a loopback responder that answers
//! `/v1/fleet/check` as the protocol says; the end-to-end tests run the real ticketgate-server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ticketgate_tests::sandbox::{Sandbox, USER, text};

const TOKEN: &str = "fleet-host-token";

/// Answers each request with `body` (200) and keeps the request lines and bodies; stops after
/// `n` connections.
fn responder(body: &'static str, n: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    thread::spawn(move || {
        for conn in listener.incoming().take(n) {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Bounded: a check request is far smaller than 64 reads.
            for _ in 0..64 {
                let k = conn.read(&mut chunk).unwrap_or(0);
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
                let t = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = t.find("\r\n\r\n") {
                    let len = t
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
            keep.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).to_string());
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

/// A sandbox whose first scope (tguser) has `fleet = {fleet}` with the server at `url`.
fn sandbox(url: &str, fleet: bool) -> Sandbox {
    let s = Sandbox::new("");
    let secret = s.path("fleet.secret");
    std::fs::write(&secret, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nfleet = {fleet}\n\
         [fleet]\nurl = \"{url}\"\nsecret_file = \"{}\"\ntimeout = \"2s\"\n",
        secret.display()
    ));
    s
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn status_shows_the_fleet_lock_beside_the_local_state() {
    let (url, seen) = responder(
        r#"{"locked":true,"reason":"failures","until":4102444800,"failures":7}"#,
        2,
    );
    let s = sandbox(&url, true);
    // A local admin lock too: both are shown, each for what it is.
    let out = s.ticketgate(&["lock", USER]);
    assert!(out.status.success(), "{}", text(&out));
    let out = s.ticketgate(&["status", USER]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains(&format!("{USER}: LOCKED by an administrator")),
        "{shown}"
    );
    assert!(
        shown.contains(
            "fleet:        password LOCKED fleet-wide after failed logons until 2100-01-01"
        ),
        "{shown}"
    );
    assert!(shown.contains("7 failure(s) on record"), "{shown}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "the password's and the PIN's standing");
    assert!(
        requests[0].starts_with("POST /v1/fleet/check HTTP/1.1"),
        "{}",
        requests[0]
    );
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains(&format!("authorization: bearer {TOKEN}")),
        "{}",
        requests[0]
    );
    assert!(
        requests[0].contains(r#""credential":"password""#)
            && requests[0].contains(&format!(r#""user":"{USER}""#)),
        "{}",
        requests[0]
    );
    assert!(
        requests[1].contains(r#""credential":"pin""#),
        "{}",
        requests[1]
    );
}

#[test]
fn status_json_has_a_fleet_object_and_counts_the_users_spooled_events() {
    let (url, _seen) = responder(
        r#"{"locked":false,"reason":null,"until":null,"failures":2}"#,
        2,
    );
    let s = sandbox(&url, true);
    // Two events of this user and one of another wait in the spool.
    std::fs::create_dir_all(s.path("state")).unwrap();
    std::fs::set_permissions(s.path("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let line = |user: &str, id: &str| {
        format!(
            r#"{{"kind":"failure","id":"{id}","user":"{user}","credential":"password","host":"h","service":"sshd","rhost":"","at":1700000000}}"#
        )
    };
    let spool = s.path("state/fleet-spool.jsonl");
    std::fs::write(
        &spool,
        format!(
            "{}\n{}\n{}\n",
            line(USER, "00000000-0000-4000-8000-000000000001"),
            line("someone", "00000000-0000-4000-8000-000000000002"),
            line(USER, "00000000-0000-4000-8000-000000000003")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = s.ticketgate(&["status", "--json", USER]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fleet = &v["fleet"];
    assert_eq!(fleet["reachable"], true, "{v}");
    assert_eq!(fleet["password"]["locked"], false);
    assert_eq!(fleet["password"]["failures"], 2);
    assert_eq!(fleet["spooled"], 2);
    assert_eq!(fleet["offline"], "local");
    assert_eq!(v["user"], USER);
    let shown = stdout(&s.ticketgate(&["status", USER]));
    assert!(
        shown.contains("2 event(s) of this user wait to be sent"),
        "{shown}"
    );
}

#[test]
fn an_unreachable_fleet_server_is_said_and_exits_3_after_the_status() {
    // Nothing listens on a port just freed: refused, i.e. unreachable.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = sandbox(&format!("http://127.0.0.1:{port}"), true);
    let out = s.ticketgate(&["status", USER]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = stdout(&out);
    // No local state yet (status creates none): said, and the fleet's line after it.
    assert!(
        shown.contains(&format!("{USER}: no local state")),
        "{shown}"
    );
    assert!(shown.contains("fleet:        UNREACHABLE"), "{shown}");
    assert!(text(&out).contains("fleet server"), "{}", text(&out));
    let out = s.ticketgate(&["status", "--json", USER]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["fleet"]["reachable"], false, "{v}");
    assert!(v["fleet"]["unreachable"].is_string(), "{v}");
}

#[test]
fn a_user_outside_fleet_scopes_shows_no_fleet_and_asks_nothing() {
    let (url, seen) = responder("{}", 1);
    let s = sandbox(&url, false);
    let out = s.ticketgate(&["status", "--json", USER]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["fleet"].is_null(), "{v}");
    assert!(seen.lock().unwrap().is_empty());
    assert!(!stdout(&s.ticketgate(&["status", USER])).contains("fleet:"));
}
