//! pamtester against the docs/design.md §2 stack with real pam_unix, in a private mount namespace with a
//! throwaway user — the way an administrator tests a PAM module before deploying it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The module under test reads the real clock; the tests date records around it.
    clippy::disallowed_methods
)]

use std::process::Output;

use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

const LOCK3: &str = "[[scope]]\nusers = [\"tguser\"]\n[policy.default]\nfailed_logon = 3\nreset_failed_after = \"30m\"\nlockout_duration = \"30m\"\n";

fn sandbox(body: &str) -> Sandbox {
    let s = Sandbox::new(body);
    s.lockout_stack("tg");
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

fn ok(out: &Output) -> bool {
    out.status.success() && text(out).contains("successfully authenticated")
}

fn asked_password(out: &Output) -> bool {
    text(out).contains("Password:")
}

#[test]
fn right_password_logs_in() {
    let s = sandbox(LOCK3);
    let out = login(&s, PASSWORD);
    assert!(ok(&out), "{}", text(&out));
    let names: Vec<_> = s
        .events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["auth_success"]);
}

#[test]
fn locks_after_three_failures_and_refuses_before_the_password_prompt() {
    let s = sandbox(LOCK3);
    for _ in 0..3 {
        let out = login(&s, "wrong");
        assert!(!out.status.success());
        assert!(asked_password(&out), "{}", text(&out));
    }
    let out = login(&s, PASSWORD);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        !asked_password(&out),
        "locked: no password prompt: {}",
        text(&out)
    );
    assert!(
        text(&out)
            .contains("Account locked after too many failed logins; try again in 30 minute(s)."),
        "{}",
        text(&out)
    );
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(status.contains("LOCKED after failed logons"), "{status}");
    assert!(
        status.contains("last failure:") && status.contains("via tg"),
        "{status}"
    );
}

#[test]
fn timed_lock_ends_by_itself() {
    let s = sandbox(&LOCK3.replace("lockout_duration = \"30m\"", "lockout_duration = \"1m\""));
    for _ in 0..3 {
        login(&s, "wrong");
    }
    assert!(!ok(&login(&s, PASSWORD)));
    let lock = s
        .events()
        .into_iter()
        .find(|e| e["event"] == "hack_lock")
        .unwrap();
    let until: i64 = lock["until"].as_i64().unwrap();
    // Wait (not a timing assertion): the lock lasts one minute from the third failure.
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if now >= until {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs((until - now) as u64));
    }
    let out = login(&s, PASSWORD);
    assert!(ok(&out), "{}", text(&out));
}

#[test]
fn zero_minute_lock_lasts_until_an_administrator_unlocks() {
    let s = sandbox(&LOCK3.replace("lockout_duration = \"30m\"", "lockout_duration = \"0m\""));
    for _ in 0..3 {
        login(&s, "wrong");
    }
    let out = login(&s, PASSWORD);
    assert!(
        text(&out).contains("contact your administrator"),
        "{}",
        text(&out)
    );
    let out = s.ticketgate(&["unlock", USER]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(ok(&login(&s, PASSWORD)));
    let names: Vec<_> = s
        .events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"admin_unlock".to_string()), "{names:?}");
}

#[test]
fn admin_lock_refuses_auth_and_account_only_logins() {
    let s = sandbox(LOCK3);
    assert!(s.ticketgate(&["lock", USER]).status.success());
    let out = login(&s, PASSWORD);
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    // An account-only call (what sshd does after a public-key login) is refused too.
    let out = s.pamtester("tg", USER, &["acct_mgmt"], "");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&s.ticketgate(&["status", USER])).contains("LOCKED by an administrator"));
    assert!(s.ticketgate(&["unlock", USER]).status.success());
    assert!(ok(&login(&s, PASSWORD)));
}

#[test]
fn reset_forgets_failures() {
    let s = sandbox(LOCK3);
    login(&s, "wrong");
    login(&s, "wrong");
    assert!(text(&s.ticketgate(&["status", USER])).contains("failures:     password 2 of 3"));
    assert!(s.ticketgate(&["reset", USER]).status.success());
    login(&s, "wrong");
    login(&s, "wrong");
    assert!(
        ok(&login(&s, PASSWORD)),
        "two failures after reset must not lock"
    );
}

#[test]
fn success_resets_the_count_but_account_only_calls_do_not() {
    let s = sandbox(LOCK3);
    login(&s, "wrong");
    login(&s, "wrong");
    for _ in 0..3 {
        assert!(s.pamtester("tg", USER, &["acct_mgmt"], "").status.success());
    }
    login(&s, "wrong");
    assert!(
        !ok(&login(&s, PASSWORD)),
        "account-only calls must not have reset the count"
    );

    let s = sandbox(LOCK3);
    login(&s, "wrong");
    login(&s, "wrong");
    assert!(ok(&login(&s, PASSWORD)));
    login(&s, "wrong");
    login(&s, "wrong");
    assert!(ok(&login(&s, PASSWORD)), "the success reset the count");
}

#[test]
fn unknown_user_gets_the_same_prompts_and_answer_and_nothing_is_stored() {
    let s = sandbox("[[scope]]\n[policy.default]\nfailed_logon = 3\n");
    let strip = |o: &Output, name: &str| text(o).replace(name, "USER");
    let known = s.pamtester("tg", USER, &["authenticate"], "wrong\n");
    for _ in 0..4 {
        let unknown = s.pamtester("tg", "nosuchuser", &["authenticate"], "wrong\n");
        assert_eq!(unknown.status.code(), known.status.code());
        assert_eq!(strip(&unknown, "nosuchuser"), strip(&known, USER));
    }
    let files: Vec<_> = std::fs::read_dir(s.path("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(files.iter().all(|f| f.starts_with("tguser.")), "{files:?}");
}

#[test]
fn broken_and_unsafe_configs_fail_closed_with_one_log_line() {
    let s = sandbox(
        "[[scope]]\nusers = [\"tguser\"]\n[policy.default]\nlockout_duration = \"2000m\"\n",
    );
    let out = login(&s, PASSWORD);
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    let lines = s.syslog_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("event=config_error")
            && lines[0].contains(
                "line 10: policy.default.lockout_duration: \\\"2000m\\\" is out of range"
            ),
        "{lines:?}"
    );

    s.write_config(LOCK3);
    std::fs::set_permissions(
        s.config(),
        std::os::unix::fs::PermissionsExt::from_mode(0o664),
    )
    .unwrap();
    let out = login(&s, PASSWORD);
    assert!(!out.status.success(), "{}", text(&out));
    let lines = s.syslog_lines();
    assert!(lines.iter().any(|l| l.contains("chmod go-w")), "{lines:?}");

    std::fs::set_permissions(
        s.config(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    assert!(ok(&login(&s, PASSWORD)), "fixed config works again");
    let check = s.ticketgate(&["check-config"]);
    assert!(check.status.success(), "{}", text(&check));
}

#[test]
fn check_config_reports_what_the_module_logs() {
    let s = sandbox("[[scope]]\n[policy.default]\nhistory = 30\n");
    let out = s.ticketgate(&["check-config"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out).contains("line 9: policy.default.history: 30 is out of range 0-25"),
        "{}",
        text(&out)
    );
    login(&s, PASSWORD);
    let lines = s.syslog_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("line 9: policy.default.history: 30 is out of range 0-25")),
        "{lines:?}"
    );
}

/// Issue 11: a `pre-auth` typo in the stack made check-config say "OK" while every login failed.
#[test]
fn issue_11_check_config_names_the_file_and_line_of_a_phase_typo() {
    let s = sandbox(LOCK3);
    let out = s.ticketgate(&["check-config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("/etc/pam.d: OK (tg load pam_ticketgate.so)"),
        "{}",
        text(&out)
    );

    let tg = s.path("etc/pam.d/tg");
    let stack = std::fs::read_to_string(&tg).unwrap();
    std::fs::write(&tg, stack.replacen(" preauth ", " pre-auth ", 1)).unwrap();
    let out = login(&s, PASSWORD);
    assert!(
        !out.status.success(),
        "the typo breaks every login: {}",
        text(&out)
    );
    let out = s.ticketgate(&["check-config"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains(
            "/etc/pam.d/tg:1: error: unknown module argument \"pre-auth\": the module refuses \
             the line (PAM_SERVICE_ERR), so every login through this stack fails"
        ),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("/etc/pam.d: OK"), "{}", text(&out));
    // --pam-dir checks another directory: the sandbox's own copy, named by its path.
    let dir = s.path("etc/pam.d");
    let out = s.ticketgate(&["check-config", "--pam-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "{}:1: error: unknown module argument",
            tg.display()
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn check_config_warns_without_failing() {
    let s = sandbox(LOCK3);
    let body = format!(
        "version = 1\n[module]\nstate_dir = \"{}\"\naudit_file = \"{}\"\n\
         [[scope]]\nusers = [\"tguser\", \"nosuchuser\"]\ngroups = [\"tgadmins\", \"nosuchgroup\"]\n",
        s.path("state").display(),
        s.path("no-such-dir/audit.jsonl").display()
    );
    std::fs::write(s.config(), body).unwrap();
    let out = s.ticketgate(&["check-config"]);
    assert!(out.status.success(), "warnings only: {}", text(&out));
    let t = text(&out);
    for want in [
        "warning: module.audit_file: the directory",
        "no-such-dir does not exist",
        "warning: scope[1].users: NSS knows no user \"nosuchuser\"",
        "warning: scope[1].groups: NSS knows no group \"nosuchgroup\"",
    ] {
        assert!(t.contains(want), "{want:?} in {t}");
    }
    assert!(
        !t.contains("\"tguser\"") && !t.contains("\"tgadmins\""),
        "NSS knows those: {t}"
    );

    s.write_config("");
    let out = s.ticketgate(&["check-config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("warning: scope: no [[scope]]: the module covers no login"),
        "{}",
        text(&out)
    );
}

/// The stacks the real pam-auth-update writes from conf/pam-configs pass; without the commit
/// line they fail, naming common-password.
#[test]
fn check_config_accepts_the_debian_stacks_and_wants_their_commit_line() {
    let s = Sandbox::new(LOCK3);
    s.debian_common_stacks();
    let out = s.ticketgate(&["check-config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("warning"), "{}", text(&out));
    assert!(text(&out).contains("/etc/pam.d: OK ("), "{}", text(&out));

    let path = s.path("etc/pam.d/common-password");
    let password = std::fs::read_to_string(&path).unwrap();
    let without: String = password
        .lines()
        .filter(|l| !l.contains(" commit"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, password);
    std::fs::write(&path, without).unwrap();
    let out = s.ticketgate(&["check-config"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains("error: no \"password optional pam_ticketgate.so commit\" line after the password module"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("/etc/pam.d/common-password:"),
        "{}",
        text(&out)
    );
}

#[test]
fn corrupt_state_locks_until_reset() {
    let s = sandbox(LOCK3);
    login(&s, "wrong");
    std::fs::write(s.path("state/tguser.state"), "\u{0}\u{1}garbage").unwrap();
    let out = login(&s, PASSWORD);
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    assert!(
        s.syslog_lines()
            .iter()
            .any(|l| l.contains("corrupt") && l.contains("ticketgate reset"))
    );
    let reset = s.ticketgate(&["reset", USER]);
    assert!(
        text(&reset).contains("removing corrupt record"),
        "{}",
        text(&reset)
    );
    assert!(ok(&login(&s, PASSWORD)));
}

#[test]
fn concurrent_failures_lock_after_exactly_the_limit() {
    let s = sandbox(
        "[[scope]]\nusers = [\"tguser\"]\n[policy.default]\nfailed_logon = 10\nlockout_duration = \"30m\"\n",
    );
    let children: Vec<_> = (0..25)
        .map(|_| {
            let mut c = s.command(&["pamtester", "tg", USER, "authenticate"]);
            c.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let mut child = c.spawn().unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"wrong\n").unwrap();
            child
        })
        .collect();
    for mut c in children {
        assert!(!c.wait().unwrap().success());
    }
    let events = s.events();
    let mut counted: Vec<i64> = events
        .iter()
        .filter(|e| e["event"] == "auth_failure" && e.get("failures").is_some())
        .map(|e| e["failures"].as_i64().unwrap())
        .collect();
    counted.sort();
    assert_eq!(
        counted,
        (1..=10).collect::<Vec<_>>(),
        "every count from 1 to 10 exactly once: no lost update"
    );
    let locks: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "hack_lock")
        .collect();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["failures"], 10);
    let refused = events
        .iter()
        .filter(|e| e["event"] == "auth_failure" && e.get("reason").is_some())
        .count();
    assert_eq!(
        refused, 15,
        "the other 15 were refused as locked, not counted"
    );
}

#[test]
fn scope_by_supplementary_group_through_nss() {
    let by_group = "[[scope]]\ngroups = [\"tgadmins\"]\n[policy.default]\nfailed_logon = 2\n";
    let s = sandbox(by_group);
    login(&s, "wrong");
    login(&s, "wrong");
    assert!(
        !asked_password(&login(&s, PASSWORD)),
        "member of tgadmins: locked"
    );
    let s = sandbox(&by_group.replace("tgadmins", "nobodyhere"));
    login(&s, "wrong");
    login(&s, "wrong");
    assert!(
        ok(&login(&s, PASSWORD)),
        "not a member: no scope, no lockout"
    );
}

#[test]
fn check_config_refuses_a_secret_file_others_can_read() {
    let s = sandbox(LOCK3);
    let secret = s.path("sn.secret");
    std::fs::write(&secret, "token").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    s.write_config(&format!(
        "{LOCK3}[ticket]\nsystem = \"servicenow\"\nbase_url = \"https://acme.service-now.com\"\nusername = \"svc\"\nsecret_file = \"{}\"\n",
        secret.display()
    ));
    let out = s.ticketgate(&["check-config"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out).contains("ticket.secret_file: secret file") && text(&out).contains("chmod 600"),
        "{}",
        text(&out)
    );
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert!(s.ticketgate(&["check-config"]).status.success());
}

#[test]
fn protected_scope_with_a_missing_secret_file_fails_closed() {
    let s = sandbox(
        "[[scope]]\nusers = [\"tguser\"]\nlogin_protect = true\n[login_protect]\nurl = \"https://p.example.com\"\nservice_id = \"x\"\nsecret_file = \"/nonexistent\"\n",
    );
    let out = s.ticketgate(&["check-config"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out).contains("login_protect.secret_file"),
        "{}",
        text(&out)
    );
    let out = login(&s, PASSWORD);
    assert!(
        !out.status.success() && !asked_password(&out),
        "fail closed: {}",
        text(&out)
    );
    assert!(
        s.syslog_lines()
            .iter()
            .any(|l| l.contains("event=config_error") && l.contains("login_protect.secret_file"))
    );
}

/// Issue 12 (item 8c): a record whose hack lock ends near i64::MAX told the user "try again in
/// 153722867250976107 minute(s)" and `status` printed a date hundreds of millions of years
/// ahead. Both now say "corrupt record"; the account stays locked until `ticketgate reset`.
#[test]
fn absurd_stored_times_print_as_a_corrupt_record_issue_12() {
    let s = sandbox(LOCK3);
    login(&s, "wrong");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(
        s.path("state/tguser.state"),
        format!(
            "{{\"v\":1,\"hack_lock\":{{\"at\":{now},\"until\":{}}}}}\n",
            i64::MAX
        ),
    )
    .unwrap();
    let out = login(&s, PASSWORD);
    assert!(
        !out.status.success() && !asked_password(&out),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("Account locked (corrupt record)") && !text(&out).contains("minute"),
        "{}",
        text(&out)
    );
    assert!(
        s.syslog_lines()
            .iter()
            .any(|l| l.contains("corrupt record") && l.contains("ticketgate reset")),
    );
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(
        status.contains("LOCKED: corrupt record") && status.contains("ticketgate reset"),
        "{status}"
    );
    assert!(!status.contains("292277026596"), "{status}");
    s.ticketgate(&["reset", USER]);
    assert!(ok(&login(&s, PASSWORD)), "reset repairs it");
}
