//! The paths administrators really take (issue 11), through Debian's `common-*` as
//! `pam-auth-update` writes them with the three profiles enabled: the real setuid `passwd` run
//! by root and by the user, `chpasswd`, covered and uncovered users and services; a forced
//! change that pam_unix refused; changes made with the module out of the stack.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Output;

use ticketgate_tests::sandbox::{PASSWORD, Sandbox, UID, USER, text};

const NEW: &str = "Fresh-Horse-93";

/// A sandbox with Debian's common-* stacks and `scope`; `passwd`, `chpasswd` and `login`-like
/// services include them the Debian way.
fn debian(scope: &str) -> Sandbox {
    let s = Sandbox::new(scope);
    s.debian_common_stacks();
    s.service(
        "tglogin",
        "@include common-auth\n@include common-account\n@include common-session\n",
    );
    s
}

/// `passwd` run by the user (real uid 4242; the setuid binary gives euid 0).
fn passwd_as_user(s: &Sandbox, typed: &str) -> Output {
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
        typed,
    )
}

fn logs_in(s: &Sandbox, password: &str) -> bool {
    let out = s.pamtester(
        "tglogin",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{password}\n"),
    );
    out.status.success() && text(&out).contains("account management done")
}

fn events(s: &Sandbox, name: &str) -> usize {
    s.events().iter().filter(|e| e["event"] == name).count()
}

const UNCOVERED: &str = "[[scope]]\nservices = [\"sshd\", \"su\", \"sudo\"]\n";

#[test]
fn passwd_by_root_works_for_a_service_no_scope_covers() {
    let s = debian(UNCOVERED);
    // A short password: no rule of ours applies (pam_unix's own `obscure` may; this one passes it).
    let out = s.run(&["passwd", USER], &format!("{NEW}\n{NEW}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("password updated successfully"),
        "{}",
        text(&out)
    );
    assert!(logs_in(&s, NEW), "pam_unix stored it");
    assert_eq!(
        events(&s, "credential_update"),
        0,
        "nothing of ours recorded"
    );
}

#[test]
fn passwd_by_the_user_works_for_a_service_no_scope_covers() {
    let s = debian(UNCOVERED);
    let out = passwd_as_user(&s, &format!("{PASSWORD}\n{NEW}\n{NEW}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(logs_in(&s, NEW));
    assert!(!logs_in(&s, PASSWORD));
}

#[test]
fn chpasswd_works_for_a_user_no_scope_covers() {
    let s = debian("[[scope]]\nusers = [\"root\"]\n");
    let out = s.run(&["chpasswd"], &format!("{USER}:{NEW}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(logs_in(&s, NEW), "{}", text(&out));
}

#[test]
fn covered_passwd_applies_the_rules_and_records_the_change() {
    let s = debian("[[scope]]\nusers = [\"tguser\"]\n");
    let out = s.run(
        &["passwd", USER],
        "password\npassword\npassword\npassword\npassword\npassword\n",
    );
    assert!(!out.status.success(), "a trivial password: {}", text(&out));
    assert!(logs_in(&s, PASSWORD), "unchanged");
    assert_eq!(events(&s, "credential_update"), 0);
    let out = passwd_as_user(&s, &format!("{PASSWORD}\n{NEW}\n{NEW}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(logs_in(&s, NEW));
    assert_eq!(events(&s, "credential_update"), 1);
    // chpasswd goes through the same rules.
    let out = s.run(&["chpasswd"], &format!("{USER}:password\n"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(logs_in(&s, NEW));
}

#[test]
fn a_forced_change_cannot_be_skipped_by_typing_the_old_password() {
    // Regression (issue 11): pam_unix refused "password unchanged", but the module had already
    // cleared must-change and started the interval clock.
    let s = debian(
        "[[scope]]\nusers = [\"tguser\"]\n[policy.default]\nhistory = 0\nmin_change_interval = \"1d\"\n",
    );
    assert!(s.ticketgate(&["must-change", USER]).status.success());
    let out = passwd_as_user(&s, &format!("{PASSWORD}\n{PASSWORD}\n{PASSWORD}\n"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("unchanged"),
        "pam_unix refused it: {}",
        text(&out)
    );
    // A wrong current password: pam_unix refuses before any new one is asked.
    let out = passwd_as_user(&s, &format!("not-it\n{NEW}\n{NEW}\n"));
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(events(&s, "credential_update"), 0);
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(status.contains("MUST CHANGE"), "{status}");
    assert!(!logs_in(&s, PASSWORD), "must-change still holds");
    // The real change then goes through, at once (the interval clock had not started).
    let out = passwd_as_user(&s, &format!("{PASSWORD}\n{NEW}\n{NEW}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(logs_in(&s, NEW));
    assert_eq!(events(&s, "credential_update"), 1);
}
