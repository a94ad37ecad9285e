//! Credential lifecycle through real PAM clients in the namespace sandbox: `pamtester chauthtok`
//! with pam_unix writing the sandbox's /etc/shadow, `pamtester acct_mgmt` for expiry and
//! must-change, and the real setuid `passwd` run as the throwaway user.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The module under test reads the real clock; the tests date records around it.
    clippy::disallowed_methods
)]

use std::process::Output;

use ticketgate_tests::module_so;
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, UID, USER, text};

const NEW: &str = "Fresh-Horse-93";

fn sandbox(policy: &str) -> Sandbox {
    let s = Sandbox::new(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\n[policy.default]\n{policy}"
    ));
    s.lockout_stack("tg");
    let (so, cfg) = (module_so(), s.config());
    let (so, cfg) = (so.display(), cfg.display());
    let password = format!(
        "password requisite {so} config={cfg}\npassword requisite pam_unix.so use_authtok sha512\npassword optional {so} commit config={cfg}\n"
    );
    s.service("chpw", &password);
    s.service("passwd", &password);
    s
}

fn login(s: &Sandbox, password: &str) -> Output {
    s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{password}\n"),
    )
}

fn works(s: &Sandbox, password: &str) -> bool {
    let out = login(s, password);
    out.status.success() && text(&out).contains("account management done")
}

fn events(s: &Sandbox, name: &str) -> Vec<serde_json::Value> {
    s.events()
        .into_iter()
        .filter(|e| e["event"] == name)
        .collect()
}

#[test]
fn chauthtok_sets_a_good_password_through_pam_unix() {
    let s = sandbox("");
    let out = s.pamtester("chpw", USER, &["chauthtok"], &format!("{NEW}\n{NEW}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("New password: ") && text(&out).contains("Retype new password: "),
        "{}",
        text(&out)
    );
    assert!(works(&s, NEW), "pam_unix stored the new password");
    assert!(!works(&s, PASSWORD));
    assert_eq!(events(&s, "credential_update").len(), 1);
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(status.contains("password:     changed"), "{status}");
}

#[test]
fn trivial_passwords_are_refused_and_the_old_one_stays() {
    let s = sandbox("");
    let tries = "password\npassword\ntguser-X9!\ntguser-X9!\nAbcd-1234x\nAbcd-1234x\n";
    let out = s.pamtester("chpw", USER, &["chauthtok"], tries);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Use at least three of"), "{t}");
    assert!(t.contains("must not contain your user name"), "{t}");
    assert!(t.contains("runs of consecutive characters"), "{t}");
    let rules: Vec<_> = events(&s, "credential_update_failed")
        .iter()
        .map(|e| e["rule"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        rules,
        vec![
            "character_classes",
            "contains_user_name",
            "consecutive_characters"
        ]
    );
    assert!(works(&s, PASSWORD), "the password did not change");
    assert!(
        !std::fs::read_to_string(s.audit_file())
            .unwrap()
            .contains("tguser-X9!"),
        "no credential in the audit file"
    );
}

/// Issue 11: a PIN that *contains* a keypad line is refused (`902580` passed before), through a
/// `credential=pin` service; a PIN without a pattern then goes through.
#[test]
fn issue_11_a_pin_containing_a_keypad_line_is_refused() {
    let s = sandbox("");
    let (so, cfg) = (module_so(), s.config());
    s.service(
        "chpin",
        &format!(
            "password requisite {} config={} credential=pin\npassword required pam_permit.so\n",
            so.display(),
            cfg.display()
        ),
    );
    let out = s.pamtester("chpin", USER, &["chauthtok"], &"902580\n".repeat(6));
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("New PIN: "), "{t}");
    assert!(
        t.contains("must not contain three keys in a straight line on the keypad"),
        "{t}"
    );
    let refused: Vec<_> = events(&s, "credential_update_failed")
        .iter()
        .map(|e| {
            (
                e["rule"].as_str().unwrap().to_string(),
                e["credential"].clone(),
            )
        })
        .collect();
    assert_eq!(refused, vec![("keypad_line".to_string(), "PIN".into()); 3]);

    let out = s.pamtester("chpin", USER, &["chauthtok"], "284917\n284917\n");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(events(&s, "credential_update_failed").len(), 3);
}

#[test]
fn expired_password_must_be_changed_before_going_on() {
    let s = sandbox("expires_after = \"90d\"\nexpiry_warning = \"14d\"\n");
    assert!(works(&s, PASSWORD), "first sight starts the clock");
    // Pretend the module first saw the user 100 days ago (a record as the module writes it).
    let path = s.path("state").join(format!("{USER}.state"));
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let long_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 100 * 86_400;
    record["first_seen"] = long_ago.into();
    std::fs::write(&path, record.to_string()).unwrap();
    let out = login(&s, PASSWORD);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Your password has expired; you must change it now."),
        "{}",
        text(&out)
    );
    assert_eq!(events(&s, "expired_lock").len(), 1);
    assert!(text(&s.ticketgate(&["status", USER])).contains("EXPIRED"));
    assert!(
        s.pamtester("chpw", USER, &["chauthtok"], &format!("{NEW}\n{NEW}\n"))
            .status
            .success()
    );
    assert!(works(&s, NEW), "after the change the login goes on");
}

#[test]
fn must_change_from_the_cli_until_changed() {
    let s = sandbox("");
    assert!(s.ticketgate(&["must-change", USER]).status.success());
    let out = login(&s, PASSWORD);
    assert!(
        !out.status.success() && text(&out).contains("You must change your password now"),
        "{}",
        text(&out)
    );
    assert!(text(&s.ticketgate(&["status", USER])).contains("MUST CHANGE"));
    assert!(
        s.pamtester("chpw", USER, &["chauthtok"], &format!("{NEW}\n{NEW}\n"))
            .status
            .success()
    );
    assert!(works(&s, NEW));
    assert_eq!(
        events(&s, "must_change").len(),
        2,
        "the CLI's and the refused login's"
    );
}

#[test]
fn real_passwd_run_by_the_user_obeys_the_minimum_interval() {
    let s = sandbox("min_change_interval = \"60m\"\n");
    let passwd = |current: &str, new: &str| {
        let uid = UID.to_string();
        s.run(
            &[
                "setpriv",
                "--reuid",
                &uid,
                "--regid",
                &uid,
                "--clear-groups",
                "passwd",
            ],
            &format!("{current}\n{new}\n{new}\n"),
        )
    };
    let out = passwd(PASSWORD, NEW);
    assert!(
        out.status.success(),
        "the first change by the user: {}",
        text(&out)
    );
    assert!(works(&s, NEW));
    let out = passwd(NEW, "Another-Pass-71");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("too recently"), "{}", text(&out));
    assert!(works(&s, NEW), "unchanged");
    // Root resetting it is exempt.
    assert!(
        s.pamtester(
            "chpw",
            USER,
            &["chauthtok"],
            "Root-Set-Pass-84\nRoot-Set-Pass-84\n"
        )
        .status
        .success()
    );
    assert!(works(&s, "Root-Set-Pass-84"));
}

#[test]
fn history_refuses_a_recent_password() {
    let s = sandbox("history = 3\n");
    for pw in [NEW, "Second-Pass-72"] {
        assert!(
            s.pamtester("chpw", USER, &["chauthtok"], &format!("{pw}\n{pw}\n"))
                .status
                .success()
        );
    }
    let out = s.pamtester(
        "chpw",
        USER,
        &["chauthtok"],
        &format!("{NEW}\n{NEW}\n{NEW}\n{NEW}\n{NEW}\n{NEW}\n"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("You used this password recently"),
        "{}",
        text(&out)
    );
    let state = std::fs::read_to_string(s.path("state").join(format!("{USER}.state"))).unwrap();
    assert!(
        state.contains("$argon2id$") && !state.contains(NEW),
        "hashes only"
    );
}

#[test]
fn a_real_su_session_is_listed_and_terminated() {
    let s = sandbox("");
    let (so, cfg) = (module_so(), s.config());
    s.service(
        "su",
        &format!(
            "auth sufficient pam_rootok.so\naccount required pam_unix.so\nsession optional {} config={}\nsession required pam_unix.so\n",
            so.display(),
            cfg.display()
        ),
    );
    let mut su = s.command(&["su", "-s", "/bin/sh", USER, "-c", "sleep 120"]);
    su.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut su = su.spawn().unwrap();
    // Wait (bounded: 60 s, for a machine busy with the rest of the suite) for su to open its
    // session; if su ends first, say why.
    let mut listed = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        listed = text(&s.ticketgate(&["sessions", USER]));
        if listed.contains(" su ") {
            break;
        }
        if let Some(status) = su.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(su.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("su ended ({status}) before its session was listed: {err}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        listed.starts_with(&format!("{USER} pid ")) && listed.contains(" su "),
        "{listed}"
    );
    let out = s.ticketgate(&["terminate", USER]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("terminated (SIGHUP+SIGTERM)"),
        "{}",
        text(&out)
    );
    let status = su.wait().unwrap();
    assert!(!status.success(), "su ended by the hangup");
    assert!(text(&s.ticketgate(&["sessions", USER])).contains("no sessions"));
    let names: Vec<String> = s
        .events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    for want in ["session_open", "session_terminated", "session_close"] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
}
