//! `mode = "report"` through pamtester with real pam_unix (issue 16, item 2): a report-only
//! scope never changes a PAM result — a locked user, a wrong or missing ticket, an expired
//! password and a password that breaks the rules pass or fail exactly as with the module left
//! out of the stack — and each would-be refusal is one complete `would_refuse` event, which
//! `ticketgate report` then summarises.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The module under test reads the real clock; the test dates a record around it.
    clippy::disallowed_methods
)]

use std::process::Output;

use serde_json::Value;
use ticketgate_tests::emulators::http;
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

/// The scope under test in report mode; `extra` goes into the scope, `tail` after it.
fn sandbox(extra: &str, tail: &str) -> Sandbox {
    let s = Sandbox::new(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nmode = \"report\"\n{extra}\
         [policy.default]\nfailed_logon = 3\nreset_failed_after = \"30m\"\nlockout_duration = \"30m\"\n{tail}"
    ));
    s.lockout_stack("tg");
    // The same stack with the module's lines left out: what the service does without it.
    s.service(
        "plain",
        "auth     required pam_unix.so nullok nodelay\n\
         account  required pam_unix.so\n\
         password required pam_unix.so\n\
         session  optional pam_permit.so\n",
    );
    s
}

/// What pamtester reports: its exit status and its verdict line.
fn verdict(out: &Output) -> (Option<i32>, String) {
    let t = text(out);
    let line = t
        .lines()
        .rfind(|l| l.starts_with("pamtester:"))
        .unwrap_or_default()
        .to_string();
    (out.status.code(), line)
}

/// Runs the same login through the report-mode stack and the stack without the module, and
/// asserts both give the same result; `true` when it succeeded.
fn same_as_without(s: &Sandbox, ops: &[&str], typed: &str) -> bool {
    let with = s.pamtester("tg", USER, ops, typed);
    let without = s.pamtester("plain", USER, ops, typed);
    assert_eq!(
        verdict(&with),
        verdict(&without),
        "report mode changed the result of {ops:?}:\n--- with the module\n{}\n--- without\n{}",
        text(&with),
        text(&without)
    );
    with.status.success()
}

fn would_refuse(s: &Sandbox) -> Vec<Value> {
    s.events()
        .into_iter()
        .filter(|e| e["event"] == "would_refuse")
        .collect()
}

/// `gate reason phase` of each would_refuse event, and every one carries user, service, rhost
/// and a time.
fn refusals(s: &Sandbox) -> Vec<String> {
    would_refuse(s)
        .iter()
        .map(|e| {
            assert_eq!(e["user"], USER, "{e}");
            assert_eq!(e["service"], "tg", "{e}");
            assert!(e["rhost"].is_string(), "{e}");
            assert!(e["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
            format!(
                "{} {} {}",
                e["gate"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
                e["phase"].as_str().unwrap()
            )
        })
        .collect()
}

const LOGIN: [&str; 2] = ["authenticate", "acct_mgmt"];

#[test]
fn failed_logons_and_an_administrators_lock_change_no_result() {
    let s = sandbox("", "");
    for _ in 0..4 {
        assert!(!same_as_without(&s, &LOGIN, "wrong\n"));
    }
    assert!(same_as_without(&s, &LOGIN, &format!("{PASSWORD}\n")));
    assert_eq!(
        refusals(&s),
        [
            "lockout hack_lock preauth",
            "lockout hack_lock preauth",
            "account hack_lock account"
        ]
    );
    // Enforce state holds nothing: status sees no lock and no failure.
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(!status.contains("LOCKED"), "{status}");
    // An administrator's lock (enforce state) is reported, not applied.
    assert!(s.ticketgate(&["lock", USER]).status.success());
    assert!(same_as_without(&s, &LOGIN, &format!("{PASSWORD}\n")));
    assert_eq!(
        refusals(&s)[3..],
        ["lockout admin_lock preauth", "account admin_lock account"]
    );
    let hack = s
        .events()
        .into_iter()
        .find(|e| e["event"] == "hack_lock")
        .unwrap();
    assert_eq!(hack["mode"], "report", "{hack}");
}

#[test]
fn an_expired_password_changes_no_result() {
    let s = sandbox("", "expires_after = \"90d\"\n");
    assert!(same_as_without(&s, &LOGIN, &format!("{PASSWORD}\n")));
    assert!(refusals(&s).is_empty());
    // First sight started report mode's own clock, in its own directory only.
    let path = s.path("state/report").join(format!("{USER}.state"));
    assert!(
        !s.path("state").join(format!("{USER}.state")).exists(),
        "enforce state is not written"
    );
    // Pretend report mode first saw the user 100 days ago (a record as the module writes it).
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let long_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 100 * 86_400;
    record["first_seen"] = long_ago.into();
    std::fs::write(&path, record.to_string()).unwrap();
    assert!(same_as_without(&s, &LOGIN, &format!("{PASSWORD}\n")));
    assert_eq!(refusals(&s), ["password expired account"]);
}

#[test]
fn a_password_that_breaks_the_rules_is_changed_as_without_the_module() {
    let s = sandbox("", "min_length = 12\n");
    // Root changes it (no old password asked): a short one is refused by no one.
    let stack = |name: &str, first: &str| {
        let so = ticketgate_tests::module_so();
        let cfg = s.config();
        s.service(
            name,
            &format!(
                "{first}password required pam_unix.so use_authtok\n\
                 password optional {} commit config={}\n",
                so.display(),
                cfg.display()
            ),
        );
    };
    stack(
        "tg",
        &format!(
            "password requisite {} config={}\n",
            ticketgate_tests::module_so().display(),
            s.config().display()
        ),
    );
    stack("plain", "password requisite pam_unix.so\n");
    let entry = || {
        std::fs::read_to_string(s.path("etc/shadow"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with(&format!("{USER}:")))
            .unwrap()
            .to_string()
    };
    let before = entry();
    assert!(same_as_without(&s, &["chauthtok"], "Sh0rt!x\nSh0rt!x\n"));
    assert_eq!(refusals(&s), ["password min_length password"]);
    let through_report = entry();
    assert_ne!(through_report, before, "pam_unix stored the short password");
    let report_state = s.path("state/report").join(format!("{USER}.state"));
    if let Ok(bytes) = std::fs::read(&report_state) {
        let record: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            record["password"]["last_change"].is_null(),
            "a refused change starts no clock: {record}"
        );
    }
}

#[test]
fn a_wrong_or_missing_ticket_changes_no_result() {
    let h = http::HttpTickets::start();
    h.add(http::ticket("T-1", "approved", USER, "db01"));
    h.add(http::ticket("T-2", "approved", "someone_else", "db01"));
    let s = sandbox("ticket = true\n", "");
    let secret = s.path("ticket.secret");
    std::fs::write(&secret, format!("{}\n", http::TOKEN)).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nmode = \"report\"\nticket = true\n\
         [policy.default]\nfailed_logon = 3\n\
         [ticket]\nsystem = \"http\"\nurl = \"{}/api/tickets/{{id}}\"\nsecret_file = \"{}\"\n\
         [[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n\
         [offline]\nticket = [\"deny\"]\n",
        h.url(),
        secret.display()
    ));
    for ticket in ["T-2", "", "T-9", "T-1"] {
        let typed = format!("{PASSWORD}\n{ticket}\n");
        assert!(same_as_without(&s, &LOGIN, &typed), "ticket {ticket:?}");
    }
    let found = refusals(&s);
    assert_eq!(found.len(), 5, "{found:?}");
    assert!(
        found[..3].iter().all(|r| r.starts_with("ticket ")),
        "{found:?}"
    );
    assert_eq!(found[0], "ticket conditions ticket");
    // Three refused tickets are three failed logons: enforce mode would lock at the fourth.
    assert_eq!(
        found[3..],
        ["lockout hack_lock preauth", "account hack_lock account"]
    );
    // A wrong password is still a failure, and the ticket is not asked.
    assert!(!same_as_without(&s, &LOGIN, "wrong\nT-1\n"));
}

#[test]
fn ticketgate_report_summarises_the_events_as_text_and_json() {
    let s = sandbox("", "");
    for _ in 0..3 {
        assert!(!same_as_without(&s, &LOGIN, "wrong\n"));
    }
    assert!(same_as_without(&s, &LOGIN, &format!("{PASSWORD}\n")));
    let before = s.events();
    // A line that is not an audit event is counted, never fatal.
    let mut audit = std::fs::read_to_string(s.audit_file()).unwrap();
    audit.push_str("garbage {\n");
    std::fs::write(s.audit_file(), audit).unwrap();

    let out = s.ticketgate(&["report"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("2 would_refuse event(s)"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("lockout") && l.contains(USER) && l.contains("hack_lock=1")),
        "{t}"
    );
    assert!(t.contains("1 line(s)"), "{t}");

    let out = s.ticketgate(&["report", "--json", "--since", "1h"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["events"], 2, "{v}");
    assert_eq!(v["unreadable_lines"], 1, "{v}");
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{v}");
    let account = groups.iter().find(|g| g["gate"] == "account").unwrap();
    assert_eq!(account["user"], USER);
    assert_eq!(account["service"], "tg");
    assert_eq!(account["count"], 1);
    assert_eq!(account["reasons"]["hack_lock"], 1);
    assert!(account["first"].as_str().unwrap().ends_with('Z'), "{v}");

    // Events older than --since are left out; a bad --since is a usage error (2).
    let mut old = before;
    for e in &mut old {
        e["ts"] = Value::from("2020-01-01T00:00:00Z");
    }
    let text_old: String = old.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(s.audit_file(), text_old).unwrap();
    let out = s.ticketgate(&["report", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["events"], 0, "{v}");
    assert_eq!(
        s.ticketgate(&["report", "--since", "soon"]).status.code(),
        Some(2)
    );
    // No audit file: no events. No audit_file configured: exit 4.
    std::fs::remove_file(s.audit_file()).unwrap();
    let out = s.ticketgate(&["report"]);
    assert!(
        out.status.success() && text(&out).contains("0 would_refuse"),
        "{}",
        text(&out)
    );
    std::fs::write(
        s.config(),
        format!(
            "version = 1\n[module]\nstate_dir = \"{}\"\n[[scope]]\nusers = [\"{USER}\"]\nmode = \"report\"\n",
            s.path("state").display()
        ),
    )
    .unwrap();
    let out = s.ticketgate(&["report"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("audit_file"), "{}", text(&out));
}
