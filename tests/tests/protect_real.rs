//! The module (pamtester harness) against the real `ticketgate-server` on loopback: enroll,
//! unlock with a TOTP code computed here (RFC 6238: SHA-1, 30 s, 6 digits), log in once; and a
//! server whose certificate the host does not trust is refused, never treated as offline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The module under test reads the real clock; the tests date records around it.
    clippy::disallowed_methods
)]

use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};
use ticketgate_tests::server::{Host, Server};

const SID: &str = "web-prod-01";
const TOKEN: &str = "real-server-token-5b1e0c9d7a";

/// RFC 6238 TOTP: HMAC-SHA-1 over the 30 s step, dynamic truncation, 6 digits.
fn totp(secret: &[u8], unix: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&(unix / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

#[test]
fn totp_matches_rfc_6238_test_vector() {
    // RFC 6238 appendix B, SHA-1, T = 59 -> 94287082 (8 digits); 6 digits = 287082.
    assert_eq!(totp(b"12345678901234567890", 59), "287082");
    assert_eq!(totp(b"12345678901234567890", 1_111_111_109), "081804");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sandbox(url: &str, offline: &str) -> Sandbox {
    let s = Sandbox::new("");
    std::fs::write(s.path("protect.secret"), format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(
        s.path("protect.secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"tguser\"]\nlogin_protect = true\n\
         [login_protect]\nurl = \"{url}\"\nservice_id = \"{SID}\"\nsecret_file = \"{}\"\ntimeout = \"3s\"\n\
         [offline]\n{offline}\n",
        s.path("protect.secret").display()
    ));
    s.lockout_stack("tg");
    s
}

fn login(s: &Sandbox) -> Output {
    s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{PASSWORD}\n"),
    )
}

fn events(s: &Sandbox) -> Vec<String> {
    s.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn unlock_with_a_totp_code_on_the_real_server_lets_one_login_through() {
    let server = Server::start(false, &[Host::new("testhost", TOKEN)], "");
    let secret = server.enroll(SID, USER);
    let s = sandbox(&server.url(), "");

    let out = login(&s);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("Password:"),
        "before the password: {}",
        text(&out)
    );

    // The user's phone: POST /v1/unlock with the current code.
    let client = pam_ticketgate::net::Client::new(Duration::from_secs(5), None).unwrap();
    let unlock = url_of(&server.url(), "/v1/unlock");
    let answer = client
        .post_json(
            &unlock,
            &[],
            &serde_json::json!({"service_id": SID, "user": USER, "code": totp(&secret, now())}),
        )
        .unwrap();
    let until: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(until["unlocked_until"].as_i64().unwrap() > now() as i64);

    let out = login(&s);
    assert!(
        out.status.success() && text(&out).contains("successfully authenticated"),
        "{}",
        text(&out)
    );
    let out = login(&s);
    assert!(
        !out.status.success(),
        "the unlock was used up: {}",
        text(&out)
    );
    assert_eq!(
        events(&s),
        vec![
            "protect_locked",
            "protect_unlock_used",
            "auth_success",
            "protect_locked"
        ]
    );
}

#[test]
fn report_mode_asks_the_real_server_as_a_dry_run_and_leaves_the_unlock_unused() {
    let server = Server::start(false, &[Host::new("testhost", TOKEN)], "");
    let secret = server.enroll(SID, USER);
    let s = sandbox(&server.url(), "");
    let enforce = std::fs::read_to_string(s.config()).unwrap();
    let report = enforce.replace(
        "login_protect = true\n",
        "login_protect = true\nmode = \"report\"\n",
    );
    assert_ne!(report, enforce);
    std::fs::write(s.config(), &report).unwrap();
    let would_refuse = |s: &Sandbox| -> Vec<serde_json::Value> {
        s.events()
            .into_iter()
            .filter(|e| e["event"] == "would_refuse")
            .collect()
    };

    // Not unlocked: the login goes on as without the module; the server answered the dry run.
    let out = login(&s);
    assert!(
        out.status.success() && text(&out).contains("successfully authenticated"),
        "{}",
        text(&out)
    );
    assert!(would_refuse(&s).is_empty(), "{:?}", would_refuse(&s));

    // Unlocked from the phone: report-mode logins do not use the unlock up ...
    let client = pam_ticketgate::net::Client::new(Duration::from_secs(5), None).unwrap();
    let unlock = url_of(&server.url(), "/v1/unlock");
    let answer = client
        .post_json(
            &unlock,
            &[],
            &serde_json::json!({"service_id": SID, "user": USER, "code": totp(&secret, now())}),
        )
        .unwrap();
    let until: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(
        until["unlocked_until"].as_i64().unwrap() > now() as i64,
        "{until}"
    );
    assert!(login(&s).status.success());
    assert!(login(&s).status.success());
    // ... so the same unlock still lets one enforce-mode login through.
    std::fs::write(s.config(), &enforce).unwrap();
    let out = login(&s);
    assert!(
        out.status.success() && text(&out).contains("successfully authenticated"),
        "the dry runs left the unlock: {}",
        text(&out)
    );
    assert!(!login(&s).status.success(), "and it is used up now");

    // A host token the server refuses: enforce mode would refuse every login; reported.
    std::fs::write(s.path("protect.secret"), "not-the-token\n").unwrap();
    std::fs::write(s.config(), &report).unwrap();
    assert!(login(&s).status.success());
    let found = would_refuse(&s);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["gate"], "protect");
    assert_eq!(found[0]["reason"], "server_refused");
    assert_eq!(found[0]["user"], USER);
}

#[test]
fn a_server_certificate_the_host_does_not_trust_is_refused_not_offline() {
    let server = Server::start(true, &[Host::new("testhost", TOKEN)], "");
    server.enroll(SID, USER);
    let s = sandbox(&server.url(), "login_protect = \"unlocked\"");
    let out = login(&s);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("Password:"), "{}", text(&out));
    let e = s
        .events()
        .into_iter()
        .find(|e| e["event"] == "protect_locked")
        .unwrap_or_else(|| panic!("{:?}", events(&s)));
    assert_eq!(e["reason"], "server_refused");
    assert!(e["error"].as_str().unwrap().contains("TLS"), "{e}");
    assert!(!events(&s).contains(&"offline_fallback".to_string()));
}

fn url_of(base: &str, path: &str) -> pam_ticketgate::net::Url {
    pam_ticketgate::net::Url::parse(&format!("{base}{path}")).unwrap()
}

/// Issue 16 (item 7): `ticketgate test-protect USER` checks the token, reachability and the
/// answer from the host without using an unlock up; a wrong token is "refused" (exit 1), a
/// dead server "unreachable" (exit 3), no [login_protect] a configuration error (exit 4).
#[test]
fn test_protect_checks_the_server_without_using_the_unlock() {
    let mut server = Server::start(false, &[Host::new("testhost", TOKEN)], "");
    let secret = server.enroll(SID, USER);
    let s = sandbox(&server.url(), "");
    let client = pam_ticketgate::net::Client::new(Duration::from_secs(5), None).unwrap();
    client
        .post_json(
            &url_of(&server.url(), "/v1/unlock"),
            &[],
            &serde_json::json!({"service_id": SID, "user": USER, "code": totp(&secret, now())}),
        )
        .unwrap();
    let out = s.ticketgate(&["test-protect", USER]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("no unlock used"), "{}", text(&out));
    assert_eq!(
        server
            .log_lines(&["event=attempt_dry_run", "host_token=testhost"], 1)
            .len(),
        1
    );
    // The unlock is still there for the real login.
    let login_out = login(&s);
    assert!(login_out.status.success(), "{}", text(&login_out));

    std::fs::write(s.path("protect.secret"), "a-wrong-token-0123456789\n").unwrap();
    let out = s.ticketgate(&["test-protect", USER]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("REFUSED") && text(&out).contains("401"),
        "{}",
        text(&out)
    );

    std::fs::write(s.path("protect.secret"), format!("{TOKEN}\n")).unwrap();
    server.stop();
    let out = s.ticketgate(&["test-protect", USER]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    s.write_config("[[scope]]\n");
    let out = s.ticketgate(&["test-protect", USER]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("no [login_protect]"), "{}", text(&out));
}
