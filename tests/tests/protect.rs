//! Login protect through pamtester (docs/design.md §2 stack, real pam_unix, private mount namespace)
//! against the protocol emulator on loopback: refusal before the password, one login per
//! unlock, the administrator's switch, wait_for_unlock, each offline mode, hostile answers,
//! the breaker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The module under test reads the real clock; the tests date records around it.
    clippy::disallowed_methods
)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ticketgate_tests::protect_emulator::{Emulator, Reply, Silent, dead_url};
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

const TOKEN: &str = "host-token-7f3a9c";
const SID: &str = "web-prod-01";

/// A sandbox protecting tguser with the server at `url`; `extra` goes into `[login_protect]`,
/// `offline` into `[offline]`.
fn sandbox(url: &str, extra: &str, offline: &str) -> Sandbox {
    let s = Sandbox::new("");
    s.write_config(&body(&s, url, extra, offline, ""));
    std::fs::write(s.path("protect.secret"), format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(
        s.path("protect.secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    s.lockout_stack("tg");
    s
}

fn body(s: &Sandbox, url: &str, extra: &str, offline: &str, scope_extra: &str) -> String {
    format!(
        "[[scope]]\nusers = [\"tguser\"]\nlogin_protect = true\n{scope_extra}\n\
         [policy.default]\nfailed_logon = 3\n\
         [login_protect]\nurl = \"{url}\"\nservice_id = \"{SID}\"\nsecret_file = \"{secret}\"\ntimeout = \"1s\"\n{extra}\n\
         [offline]\nretry_after = \"30s\"\n{offline}\n",
        secret = s.path("protect.secret").display(),
    )
}

fn login(s: &Sandbox, input: &str) -> Output {
    s.pamtester("tg", USER, &["authenticate", "acct_mgmt"], input)
}

fn ok(out: &Output) -> bool {
    out.status.success() && text(out).contains("successfully authenticated")
}

fn asked_password(out: &Output) -> bool {
    text(out).contains("Password:")
}

fn names(s: &Sandbox) -> Vec<String> {
    s.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

fn last(s: &Sandbox, name: &str) -> serde_json::Value {
    s.events()
        .into_iter()
        .rev()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in {:?}", names(s)))
}

#[test]
fn refused_before_the_password_prompt_while_protected() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "");
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!asked_password(&out), "no password prompt: {}", text(&out));
    assert!(text(&out).contains("Login protect is on"), "{}", text(&out));
    assert!(
        text(&out).contains("Authentication failure"),
        "PAM_AUTH_ERR: {}",
        text(&out)
    );
    assert_eq!(names(&s), vec!["protect_locked"]);
    // The request: protocol v1 fields and the host's bearer token.
    let seen = emu.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/v1/attempt")
    );
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
    let b = &seen[0].body;
    assert_eq!(b["service_id"], SID);
    assert_eq!(b["user"], USER);
    assert_eq!(b["service"], "tg");
    assert!(b["host"].as_str().is_some_and(|h| !h.is_empty()), "{b}");
    assert!(b["rhost"].is_string(), "{b}");
    // The token never reaches a log.
    assert!(
        !std::fs::read_to_string(s.audit_file())
            .unwrap()
            .contains(TOKEN)
    );
    assert!(!s.syslog_lines().iter().any(|l| l.contains(TOKEN)));
}

#[test]
fn unlock_lets_exactly_one_login_through_then_protection_returns() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "");
    emu.unlock(SID, USER);
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(ok(&out), "{}", text(&out));
    assert!(asked_password(&out));
    let again = login(&s, &format!("{PASSWORD}\n"));
    assert!(!again.status.success(), "{}", text(&again));
    assert!(!asked_password(&again));
    assert_eq!(
        names(&s),
        vec!["protect_unlock_used", "auth_success", "protect_locked"]
    );
}

#[test]
fn an_unlock_used_by_a_wrong_password_is_gone() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "");
    emu.unlock(SID, USER);
    let out = login(&s, "wrong\n");
    assert!(
        !out.status.success() && asked_password(&out),
        "{}",
        text(&out)
    );
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
}

#[test]
fn hammering_while_protected_does_not_lock_the_account() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "");
    for _ in 0..6 {
        let out = login(&s, "wrong\n");
        assert!(
            !out.status.success() && !asked_password(&out),
            "{}",
            text(&out)
        );
    }
    assert!(
        !names(&s)
            .iter()
            .any(|n| n == "auth_failure" || n == "hack_lock")
    );
    emu.unlock(SID, USER);
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(
        ok(&out),
        "failed_logon = 3, yet six refusals must not lock: {}",
        text(&out)
    );
}

#[test]
fn administrators_switch_both_ways_and_in_the_config() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "");
    let off = s.ticketgate(&["protect", "disable"]);
    assert!(off.status.success(), "{}", text(&off));
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(ok(&out), "switched off: password only: {}", text(&out));
    assert!(emu.seen().is_empty(), "no check while off");
    let on = s.ticketgate(&["protect", "enable"]);
    assert!(on.status.success(), "{}", text(&on));
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    assert_eq!(emu.seen().len(), 1);
    let n = names(&s);
    assert!(
        n.contains(&"protect_disabled".into()) && n.contains(&"protect_enabled".into()),
        "{n:?}"
    );
    assert_eq!(last(&s, "protect_disabled")["by"], "root");

    s.write_config(&body(&s, &emu.url(), "disabled = true", "", ""));
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(ok(&out), "disabled = true: {}", text(&out));
    assert_eq!(emu.seen().len(), 1);
}

#[test]
fn wait_for_unlock_when_the_unlock_arrives_during_the_prompt() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "wait_for_unlock = true", "");
    let mut child = s
        .command(&["pamtester", "-v", "tg", USER, "authenticate", "acct_mgmt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // libpam_misc's conversation writes prompts to stderr, unbuffered.
    let mut prompts = child.stderr.take().unwrap();
    let mut info = child.stdout.take().unwrap();
    let info = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = info.read_to_string(&mut text);
        text
    });
    // Read what pamtester shows until the wait prompt is there (bounded: a reader thread and a
    // 30 s limit), then unlock "on the phone" while the module waits, then press Enter.
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        let mut told = false;
        loop {
            let n = prompts.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return String::from_utf8_lossy(&seen).into_owned();
            }
            seen.extend_from_slice(&buf[..n]);
            if !told && String::from_utf8_lossy(&seen).contains("then press Enter") {
                told = true;
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the wait prompt did not appear within 30 s");
    assert_eq!(emu.seen().len(), 1, "one attempt before the prompt");
    emu.unlock(SID, USER);
    stdin
        .write_all(format!("\n{PASSWORD}\n").as_bytes())
        .unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let shown = reader.join().unwrap() + &info.join().unwrap();
    assert!(status.success(), "{shown}");
    assert!(shown.contains("successfully authenticated"), "{shown}");
    let prompt = shown.find("then press Enter").unwrap();
    let password = shown.find("Password:").expect(&shown);
    assert!(prompt < password, "{shown}");
    assert_eq!(emu.seen().len(), 2, "asked once more after Enter");
    assert_eq!(last(&s, "protect_unlock_used")["waited"], "true");
}

#[test]
fn wait_for_unlock_when_no_unlock_arrives() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "wait_for_unlock = true", "");
    let out = login(&s, &format!("\n{PASSWORD}\n"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("then press Enter"), "{}", text(&out));
    assert!(!asked_password(&out), "{}", text(&out));
    assert_eq!(emu.seen().len(), 2, "asked once more after Enter");
    assert_eq!(last(&s, "protect_locked")["waited"], "true");
}

#[test]
fn offline_unlocked_lets_the_password_decide_and_audits_it() {
    let s = sandbox(&dead_url(), "", "login_protect = \"unlocked\"");
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(ok(&out), "{}", text(&out));
    let e = last(&s, "offline_fallback");
    assert_eq!(e["mode"], "unlocked");
    assert_eq!(e["gate"], "login_protect");
    assert_eq!(e["user"], USER);
    assert_eq!(e["service"], "tg");
    let out = login(&s, "wrong\n");
    assert!(!out.status.success() && asked_password(&out));
}

#[test]
fn offline_deny_is_authinfo_unavailable() {
    let s = sandbox(&dead_url(), "", "login_protect = \"deny\"");
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("cannot retrieve authentication info"),
        "PAM_AUTHINFO_UNAVAIL: {}",
        text(&out)
    );
    assert_eq!(last(&s, "offline_fallback")["mode"], "deny");
}

#[test]
fn offline_hybrid_asks_for_the_offline_pin() {
    let s = sandbox(&dead_url(), "", "login_protect = \"hybrid\"");
    // No PIN set yet: no offline login.
    let out = login(&s, &format!("730518\n{PASSWORD}\n"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("cannot retrieve authentication info"),
        "{}",
        text(&out)
    );
    assert_eq!(last(&s, "offline_fallback")["result"], "no_pin");
    // The CLI refuses a trivial PIN and PINs that differ, then stores a good one.
    let trivial = s.run(
        &[
            ticketgate_tests::ticketgate_bin().to_str().unwrap(),
            "--config",
            s.config().to_str().unwrap(),
            "offline-pin",
            "set",
            USER,
        ],
        "1234\n1234\n",
    );
    assert!(!trivial.status.success(), "{}", text(&trivial));
    assert!(text(&trivial).contains("PIN refused"), "{}", text(&trivial));
    let differ = s.run(
        &[
            ticketgate_tests::ticketgate_bin().to_str().unwrap(),
            "--config",
            s.config().to_str().unwrap(),
            "offline-pin",
            "set",
            USER,
        ],
        "730518\n730519\n",
    );
    assert!(text(&differ).contains("differ"), "{}", text(&differ));
    let set = s.run(
        &[
            ticketgate_tests::ticketgate_bin().to_str().unwrap(),
            "--config",
            s.config().to_str().unwrap(),
            "offline-pin",
            "set",
            USER,
        ],
        "730518\n730518\n",
    );
    assert!(set.status.success(), "{}", text(&set));
    let stored = std::fs::read_to_string(s.path("state").join(format!("{USER}.pin"))).unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains("730518"));
    // Right PIN, then the password.
    let out = login(&s, &format!("730518\n{PASSWORD}\n"));
    assert!(ok(&out), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.find("Offline PIN:").unwrap() < t.find("Password:").unwrap(),
        "{t}"
    );
    assert_eq!(last(&s, "offline_fallback")["result"], "pin_accepted");
    // A wrong PIN never reaches the password and counts as a failed logon.
    let out = login(&s, &format!("000000\n{PASSWORD}\n"));
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    assert_eq!(last(&s, "offline_fallback")["result"], "wrong_pin");
    assert_eq!(last(&s, "auth_failure")["failures"], 1);
}

#[test]
fn wrong_host_token_denies_and_never_falls_back() {
    let emu = Emulator::start("another-hosts-token");
    let s = sandbox(&emu.url(), "", "login_protect = \"unlocked\"");
    emu.unlock(SID, USER);
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    let e = last(&s, "protect_locked");
    assert_eq!(e["reason"], "server_refused");
    assert!(e["error"].as_str().unwrap().contains("401"), "{e}");
    assert!(!names(&s).contains(&"offline_fallback".into()));
    assert!(
        !std::fs::read_to_string(s.audit_file())
            .unwrap()
            .contains(TOKEN)
    );
}

#[test]
fn hostile_answers_deny_and_outages_fall_back() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "login_protect = \"unlocked\"");
    let denied = [
        Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"unlocked\":\"yes\"".to_vec()),
        Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<html>hi</html>".to_vec()),
        Reply::Raw(b"garbage, not HTTP\r\n\r\n".to_vec()),
        Reply::Huge(2 * 1024 * 1024),
        Reply::Status(403, "{}".into()),
        Reply::Status(404, "{}".into()),
    ];
    for reply in denied {
        emu.script(vec![reply.clone()]);
        let out = login(&s, &format!("{PASSWORD}\n"));
        assert!(
            !out.status.success() && !asked_password(&out),
            "{reply:?}: {}",
            text(&out)
        );
        assert_eq!(
            last(&s, "protect_locked")["reason"],
            "server_refused",
            "{reply:?}"
        );
    }
    assert!(!names(&s).contains(&"offline_fallback".into()));
    // Outages: 500, 429, a body that never finishes inside the deadline. Each trips the breaker,
    // so it is cleared (by removing its file) before the next.
    for reply in [
        Reply::Status(500, "{}".into()),
        Reply::Status(429, "{}".into()),
        Reply::Trickle,
    ] {
        let _ = std::fs::remove_file(s.path("run/breaker.login_protect"));
        emu.script(vec![reply.clone()]);
        let out = login(&s, &format!("{PASSWORD}\n"));
        assert!(ok(&out), "{reply:?}: {}", text(&out));
        assert_eq!(
            last(&s, "offline_fallback")["mode"],
            "unlocked",
            "{reply:?}"
        );
    }
}

#[test]
fn a_silent_server_costs_one_deadline_then_the_breaker_skips_it() {
    let silent = Silent::start();
    let s = sandbox(&silent.url(), "", "login_protect = \"unlocked\"");
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(ok(&out), "{}", text(&out));
    assert_eq!(silent.accepted(), 1);
    let until: i64 = std::fs::read_to_string(s.path("run/breaker.login_protect"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        until > now && until <= now + 30,
        "open for retry_after: {until} vs {now}"
    );
    // Inside retry_after: offline at once, no connection.
    for _ in 0..3 {
        let out = login(&s, &format!("{PASSWORD}\n"));
        assert!(ok(&out), "{}", text(&out));
    }
    assert_eq!(
        silent.accepted(),
        1,
        "the breaker kept later logins off the network"
    );
    // Once retry_after is over (simulated by an expired breaker file) the server is tried again.
    std::fs::write(
        s.path("run/breaker.login_protect"),
        format!("{}\n", now - 1),
    )
    .unwrap();
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(ok(&out), "{}", text(&out));
    assert_eq!(silent.accepted(), 2);
}

#[test]
fn per_scope_service_id_overrides_the_default() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "");
    s.write_config(&body(
        &s,
        &emu.url(),
        "",
        "",
        "protect_service_id = \"db-admins\"",
    ));
    emu.unlock("db-admins", USER);
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(ok(&out), "{}", text(&out));
    assert_eq!(emu.seen()[0].body["service_id"], "db-admins");
}

#[test]
fn unreadable_secret_file_is_a_service_error() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "login_protect = \"unlocked\"");
    std::fs::set_permissions(
        s.path("protect.secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    assert!(emu.seen().is_empty());
    assert!(
        last(&s, "config_error")["error"]
            .as_str()
            .unwrap()
            .contains("chmod 600")
    );
}

/// Issue 12 (item 8b): `{"unlocked":false,"unlocked":true}` read as unlocked (serde_json keeps
/// the last of a repeated key). Such an answer is malformed: the login is refused before the
/// password, and the refusal is logged.
#[test]
fn an_answer_with_a_repeated_key_is_refused_and_logged_issue_12() {
    let emu = Emulator::start(TOKEN);
    let s = sandbox(&emu.url(), "", "login_protect = \"unlocked\"");
    emu.script(vec![Reply::Status(
        200,
        r#"{"unlocked":false,"unlocked":true}"#.into(),
    )]);
    let out = login(&s, &format!("{PASSWORD}\n"));
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    assert_eq!(last(&s, "protect_locked")["reason"], "server_refused");
    assert!(!names(&s).contains(&"protect_unlock_used".into()));
    let lines = s.syslog_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("malformed /v1/attempt answer") && l.contains("duplicate key")),
        "{lines:?}"
    );
}
