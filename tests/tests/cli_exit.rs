//! The `ticketgate` CLI as a script sees it (issue 16, item 3): distinct exit statuses (1
//! refused, 2 usage, 3 unreachable, 4 configuration broken), "needs root" for a caller that is
//! not root, lock/unlock of a name NSS does not know is an error that changes nothing, and
//! `status` creates no directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ticketgate_tests::sandbox::{Sandbox, USER, text};

fn err(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_caller_that_is_not_root_is_told_it_needs_root() {
    let s = Sandbox::new("[[scope]]\n");
    let bin = ticketgate_tests::ticketgate_bin();
    let cfg = s.config();
    for verb in [&["status"][..], &["lock", USER], &["sessions"]] {
        let mut argv = vec![
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ];
        argv.extend_from_slice(verb);
        let out = s.run(&argv, "");
        assert_eq!(out.status.code(), Some(1), "{verb:?}: {}", text(&out));
        assert!(err(&out).contains("needs root"), "{verb:?}: {}", err(&out));
        assert!(
            !err(&out).contains("os error 13"),
            "{verb:?}: {}",
            err(&out)
        );
    }
}

#[test]
fn lock_and_unlock_of_a_name_nss_does_not_know_change_nothing() {
    let s = Sandbox::new("[[scope]]\n");
    for verb in ["lock", "unlock", "reset", "must-change"] {
        let out = s.ticketgate(&[verb, "nosuchuser"]);
        assert_eq!(out.status.code(), Some(1), "{verb}: {}", text(&out));
        assert!(
            err(&out).contains("nosuchuser: no such user"),
            "{verb}: {}",
            err(&out)
        );
    }
    let state = s.path("state");
    let names: Vec<String> = std::fs::read_dir(&state)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        names.iter().all(|n| !n.starts_with("nosuchuser")),
        "{names:?}"
    );
    // A known user still works.
    let out = s.ticketgate(&["lock", USER]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn status_creates_no_directory() {
    let s = Sandbox::new("[[scope]]\n");
    let state = s.path("state");
    if state.exists() {
        std::fs::remove_dir_all(&state).unwrap();
    }
    let out = s.ticketgate(&["status"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no user has state"), "{}", text(&out));
    let out = s.ticketgate(&["status", USER]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!state.exists(), "status created {}", state.display());
}

#[test]
fn broken_configuration_and_bad_names_have_their_own_statuses() {
    let s = Sandbox::new("[[scope]]\n[policy.default]\nhistory = 30\n");
    for args in [&["status"][..], &["check-config"]] {
        let out = s.ticketgate(args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", text(&out));
        assert!(err(&out).contains("history"), "{args:?}: {}", err(&out));
    }
    s.write_config("[[scope]]\n");
    let long = "x".repeat(300);
    let out = s.ticketgate(&["status", &long]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = s.ticketgate(&["no-such-verb"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap's usage error: {}",
        text(&out)
    );
}

#[test]
fn an_unreachable_ticket_system_exits_3_and_a_rejected_id_1() {
    let s = Sandbox::new("");
    // A loopback port nobody listens on: connection refused, i.e. unreachable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = s.path("sn.secret");
    std::fs::write(&secret, "pw\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    s.write_config(&format!(
        "[[scope]]\n[ticket]\nsystem = \"servicenow\"\nbase_url = \"http://127.0.0.1:{port}\"\nusername = \"svc\"\nsecret_file = \"{}\"\ntimeout = \"1s\"\n",
        secret.display()
    ));
    let out = s.ticketgate(&["test-ticket", "--user", USER, "CHG0000001"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        err(&out).contains("REJECTED (unreachable)"),
        "{}",
        err(&out)
    );
    let out = s.ticketgate(&["test-ticket", "--json", "--user", USER, "CHG0000001"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["accepted"], false, "{v}");
    assert_eq!(v["error"]["reason"], "unreachable", "{v}");
    let out = s.ticketgate(&["test-ticket", "--user", USER, "not-a-ticket"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        err(&out).contains("REJECTED before any request"),
        "{}",
        err(&out)
    );
}

#[test]
fn status_locked_lists_only_the_locked() {
    let s = Sandbox::new("[[scope]]\n");
    assert!(s.ticketgate(&["reset", USER]).status.success());
    let out = s.ticketgate(&["status", "--locked"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no user is locked"), "{}", text(&out));
    assert!(s.ticketgate(&["lock", USER]).status.success());
    let out = s.ticketgate(&["status", "--locked"]);
    assert!(
        text(&out).contains(&format!("{USER}: LOCKED by an administrator")),
        "{}",
        text(&out)
    );
    let out = s.ticketgate(&["status", "--locked", USER]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--locked takes no USER: {}",
        text(&out)
    );
}

#[test]
fn breakglass_codes_are_listed_without_the_codes_and_revoked() {
    let s = Sandbox::new("[[scope]]\n");
    let out = s.ticketgate(&["breakglass", "generate", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.len() == 19 && l.matches('-').count() == 3)
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), 2, "{}", text(&out));
    let out = s.ticketgate(&["breakglass", "list"]);
    let listed = text(&out);
    assert!(
        listed.contains("2 of 2 break-glass code(s) unused"),
        "{listed}"
    );
    assert!(
        codes.iter().all(|c| !listed.contains(c.as_str())),
        "{listed}"
    );
    let out = s.ticketgate(&["breakglass", "revoke"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("2 unused break-glass code(s) revoked"),
        "{}",
        text(&out)
    );
    let out = s.ticketgate(&["breakglass", "list"]);
    assert!(text(&out).contains("0 of 0"), "{}", text(&out));
    let revoked: Vec<_> = s
        .events()
        .into_iter()
        .filter(|e| e["event"] == "breakglass_revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{:?}", s.events());
    assert_eq!(revoked[0]["revoked"], 2);
}

#[test]
fn an_offline_pin_can_be_removed() {
    let s = Sandbox::new(&format!("[[scope]]\nusers = [\"{USER}\"]\n"));
    let bin = ticketgate_tests::ticketgate_bin();
    let cfg = s.config();
    let set = s.run(
        &[
            bin.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "offline-pin",
            "set",
            USER,
        ],
        "730518\n730518\n",
    );
    assert!(set.status.success(), "{}", text(&set));
    let pin = s.path("state").join(format!("{USER}.pin"));
    assert!(pin.exists());
    let out = s.ticketgate(&["offline-pin", "remove", USER]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!pin.exists(), "the PIN file is gone");
    let out = s.ticketgate(&["offline-pin", "remove", "nosuchuser"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let removed: Vec<_> = s
        .events()
        .into_iter()
        .filter(|e| e["event"] == "credential_update" && e["removed"] == "true")
        .collect();
    assert_eq!(removed.len(), 1, "{:?}", s.events());
}

/// RFC 3339 UTC, the one time format of the audit file and the CLI: `2026-12-02T11:00:36Z`.
fn is_rfc3339(v: &serde_json::Value) -> bool {
    v.as_str().is_some_and(|t| {
        t.len() == 20
            && t.ends_with('Z')
            && t.as_bytes()[10] == b'T'
            && t.bytes().filter(u8::is_ascii_digit).count() == 14
    })
}

#[test]
fn json_output_is_numbers_and_rfc3339_times() {
    let s = Sandbox::new(&format!("[[scope]]\nusers = [\"{USER}\"]\n"));
    assert!(s.ticketgate(&["lock", USER]).status.success());
    let out = s.ticketgate(&["status", "--json", USER]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["user"], USER);
    assert_eq!(v["locked"], true);
    assert_eq!(v["password"]["lock"]["kind"], "admin");
    assert!(is_rfc3339(&v["password"]["lock"]["since"]), "{v}");
    assert_eq!(v["password"]["failures"], 0);
    assert_eq!(v["password"]["limit"], 3);
    assert_eq!(v["last_success"], serde_json::Value::Null);
    // Every user, and only the locked ones: an array.
    let out = s.ticketgate(&["status", "--json", "--locked"]);
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert!(s.ticketgate(&["unlock", USER]).status.success());
    let out = s.ticketgate(&["status", "--json", "--locked"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let out = s.ticketgate(&["sessions", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "{}",
        text(&out)
    );
    assert!(
        s.ticketgate(&["breakglass", "generate", "2"])
            .status
            .success()
    );
    let out = s.ticketgate(&["breakglass", "list", "--json"]);
    let codes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes = codes.as_array().unwrap();
    assert_eq!(codes.len(), 2);
    assert!(
        codes
            .iter()
            .all(|c| is_rfc3339(&c["created"]) && c["used"].is_null())
    );
}

#[test]
fn check_config_json_names_errors_and_findings() {
    let s = Sandbox::new("[[scope]]\n[policy.default]\nhistory = 30\n");
    let dir = s.path("etc/pam.d");
    let out = s.ticketgate(&["check-config", "--json", "--pam-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"]["ok"], false, "{v}");
    assert!(
        v["config"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("policy.default.history"),
        "{v}"
    );
    assert!(v["errors"].as_u64().unwrap() >= 1, "{v}");
    s.write_config("[[scope]]\n");
    let out = s.ticketgate(&["check-config", "--json", "--pam-dir", dir.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"]["ok"], true, "{v}");
    assert_eq!(v["config"]["scopes"], 1, "{v}");
    assert_eq!(
        out.status.code(),
        Some(if v["errors"] == 0 { 0 } else { 4 }),
        "{v}"
    );
}
