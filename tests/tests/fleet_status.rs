//! `ticketgate status USER` with the fleet lockout (issue 14, item 4): the fleet's word beside
//! the local state, the `"fleet"` object of `--json`, the user's spooled events, and exit 3
//! when the fleet server is unreachable. The server here is a loopback responder speaking the
//! protocol (it refuses a wrong host token); the end-to-end tests run the real ticketgate-server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use ticketgate_tests::fleet_responder::Fleet;
use ticketgate_tests::sandbox::{Sandbox, USER, text};

const TOKEN: &str = "fleet-host-token";

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
    let fleet = Fleet::start(TOKEN);
    fleet.answer_check(r#"{"locked":true,"reason":"failures","until":4102444800,"failures":7}"#);
    let url = fleet.url();
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
    // The password's and the PIN's standing, with this host's token (a wrong one gets 401).
    assert_eq!(fleet.paths(), ["/v1/fleet/check", "/v1/fleet/check"]);
    assert_eq!(
        fleet.bodies(),
        [
            serde_json::json!({"user": USER, "credential": "password"}),
            serde_json::json!({"user": USER, "credential": "pin"})
        ]
    );
}

#[test]
fn status_json_has_a_fleet_object_and_counts_the_users_spooled_events() {
    let fleet = Fleet::start(TOKEN);
    fleet.answer_check(r#"{"locked":false,"reason":null,"until":null,"failures":2}"#);
    let url = fleet.url();
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
    let fleet = Fleet::start(TOKEN);
    let s = sandbox(&fleet.url(), false);
    let out = s.ticketgate(&["status", "--json", USER]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["fleet"].is_null(), "{v}");
    assert!(fleet.paths().is_empty());
    assert!(!stdout(&s.ticketgate(&["status", USER])).contains("fleet:"));
}
