//! The module's fleet lockout through libpam (pamtester, the sandbox's stack): what a login
//! sends to the fleet server, that what `preauth` learned reaches the `ticket` line through the
//! PAM handle (one round trip for a clean login), a fleet lock refusing before the password, and
//! the spool filling while the server is down and draining when it answers. The server is a
//! loopback responder speaking the protocol; the end-to-end tests run the real ticketgate-server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use ticketgate_tests::fleet_responder::Fleet;
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

const TOKEN: &str = "fleet-host-token";

/// tguser's scope shares its lockout with the fleet at `url`; retry_after 0s so that each login
/// asks the server again.
fn sandbox(url: &str) -> Sandbox {
    let s = Sandbox::new("");
    write_config(&s, url);
    let secret = s.path("fleet.secret");
    std::fs::write(&secret, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.lockout_stack("tg");
    s
}

fn write_config(s: &Sandbox, url: &str) {
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nfleet = true\n\
         [policy.default]\nfailed_logon = 3\n\
         [fleet]\nurl = \"{url}\"\nsecret_file = \"{}\"\ntimeout = \"2s\"\n\
         [offline]\nfleet = \"local\"\nretry_after = \"0s\"\n",
        s.path("fleet.secret").display()
    ));
}

fn login(s: &Sandbox, password: &str) -> Output {
    s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{password}\n"),
    )
}

fn ok(out: &Output) -> bool {
    out.status.success() && text(out).contains("successfully authenticated")
}

fn names(s: &Sandbox) -> Vec<String> {
    s.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_clean_login_makes_one_round_trip_to_the_fleet() {
    let fleet = Fleet::start(TOKEN);
    let s = sandbox(&fleet.url());
    let out = login(&s, PASSWORD);
    assert!(ok(&out), "{}", text(&out));
    assert_eq!(fleet.paths(), ["/v1/fleet/check"]);
    assert_eq!(
        fleet.bodies()[0],
        serde_json::json!({"user": USER, "credential": "password"})
    );
}

#[test]
fn a_failure_is_reported_and_the_next_good_login_clears_the_fleets_count() {
    let fleet = Fleet::start(TOKEN);
    let s = sandbox(&fleet.url());
    let out = login(&s, "wrong-password");
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(fleet.paths(), ["/v1/fleet/check", "/v1/fleet/failure"]);
    let failure = &fleet.bodies()[1];
    assert_eq!(failure["user"], USER);
    assert_eq!(failure["credential"], "password");
    assert_eq!(failure["service"], "tg");
    assert_eq!(failure["id"].as_str().unwrap().len(), 36, "{failure}");
    assert!(failure["at"].as_i64().unwrap() > 1_700_000_000, "{failure}");
    assert!(failure["host"].as_str().is_some_and(|h| !h.is_empty()));
    // The fleet now has a failure on record: preauth's answer reaches the ticket line through
    // the PAM handle, which reports the success.
    fleet.answer_check(r#"{"locked":false,"reason":null,"until":null,"failures":1}"#);
    let out = login(&s, PASSWORD);
    assert!(ok(&out), "{}", text(&out));
    assert_eq!(fleet.paths()[2..], ["/v1/fleet/check", "/v1/fleet/success"]);
    assert!(fleet.bodies()[3].get("rhost").is_none());
}

#[test]
fn a_fleet_lock_refuses_before_the_password() {
    let fleet = Fleet::start(TOKEN);
    let s = sandbox(&fleet.url());
    fleet.answer_check(r#"{"locked":true,"reason":"admin","until":null,"failures":0}"#);
    let out = login(&s, PASSWORD);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("Password:"), "{}", text(&out));
    assert!(
        text(&out).contains("Account locked; contact your administrator."),
        "{}",
        text(&out)
    );
    assert_eq!(names(&s), ["fleet_lock"]);
    assert_eq!(fleet.paths(), ["/v1/fleet/check"]);
}

#[test]
fn failures_made_while_the_server_is_down_are_spooled_and_sent_once_it_answers() {
    // Nothing listens on a port just freed: unreachable.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = sandbox(&format!("http://127.0.0.1:{dead}"));
    let out = login(&s, "wrong-password");
    assert!(!out.status.success(), "{}", text(&out));
    // The host's own counting went on, fleet_offline once, and the failure waits in the spool.
    let events = names(&s);
    assert_eq!(
        events.iter().filter(|n| *n == "fleet_offline").count(),
        1,
        "{events:?}"
    );
    assert!(events.contains(&"auth_failure".to_string()), "{events:?}");
    let spool = s.path("state/fleet-spool.jsonl");
    let spooled = std::fs::read_to_string(&spool).unwrap();
    assert_eq!(spooled.lines().count(), 1, "{spooled}");
    let spooled: serde_json::Value = serde_json::from_str(spooled.trim()).unwrap();
    assert_eq!(spooled["kind"], "failure");
    assert_eq!(
        std::fs::metadata(&spool).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The server answers again: the spooled failure goes first, with its id, then the check.
    let fleet = Fleet::start(TOKEN);
    write_config(&s, &fleet.url());
    let out = login(&s, PASSWORD);
    assert!(ok(&out), "{}", text(&out));
    assert_eq!(fleet.paths(), ["/v1/fleet/failure", "/v1/fleet/check"]);
    assert_eq!(fleet.bodies()[0]["id"], spooled["id"]);
    assert_eq!(fleet.bodies()[0]["at"], spooled["at"]);
    assert!(!spool.exists(), "the spool is empty once sent");
}
