//! The paths administrators really take (issue 11), through Debian's `common-*` as
//! `pam-auth-update` writes them with the three profiles enabled: the real setuid `passwd` run
//! by root and by the user, `chpasswd`, covered and uncovered users and services; a forced
//! change that pam_unix refused; changes made with the module out of the stack.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The module under test reads the real clock; the tests date records around it.
    clippy::disallowed_methods
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

/// The lockout stack of the other tests (real pam_unix) on `tg`, and a `chpw` service with the
/// module's password lines.
fn plain(config: &str) -> Sandbox {
    let s = Sandbox::new(config);
    s.lockout_stack("tg");
    s
}

fn epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn record(s: &Sandbox) -> serde_json::Value {
    let path = s.path("state").join(format!("{USER}.state"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn set_record(s: &Sandbox, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = s.path("state").join(format!("{USER}.state"));
    let mut r = record(s);
    edit(&mut r);
    std::fs::write(path, r.to_string()).unwrap();
}

fn tg_login(s: &Sandbox, password: &str) -> Output {
    s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{password}\n"),
    )
}

#[test]
fn a_session_opened_without_the_ticket_line_counts_as_activity() {
    // Regression (issue 11): `su` from root (pam_rootok, like an ssh key) never passes the
    // `ticket` line, so such users were locked as inactive.
    let s = plain(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\n[policy.default]\ninactive_after = \"30d\"\n"
    ));
    assert!(tg_login(&s, PASSWORD).status.success());
    let twenty_days_ago = epoch() - 20 * 86_400;
    set_record(&s, |r| {
        r["first_seen"] = (twenty_days_ago - 86_400).into();
        r["last_active"] = twenty_days_ago.into();
    });
    std::fs::remove_file(s.path("state").join(format!("{USER}.last"))).unwrap();
    let (so, cfg) = (ticketgate_tests::module_so(), s.config());
    s.service(
        "su",
        &format!(
            "auth sufficient pam_rootok.so\naccount required {so} config={cfg}\naccount required pam_unix.so\nsession optional {so} config={cfg}\nsession required pam_unix.so\n",
            so = so.display(),
            cfg = cfg.display()
        ),
    );
    let out = s.run(&["su", "-s", "/bin/sh", USER, "-c", "true"], "");
    assert!(out.status.success(), "{}", text(&out));
    let stamp = record(&s)["last_active"].as_i64().unwrap();
    assert!(
        stamp >= epoch() - 60,
        "the session refreshed the activity stamp: {stamp}"
    );
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(
        status.contains("last success: ") && status.contains("via su"),
        "{status}"
    );
}

#[test]
fn chpasswd_and_passwd_e_without_the_module_count_for_expiry() {
    // Issue 11: the shadow entry's last-change day counts; `passwd -e` means must-change.
    let s = plain(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\n[policy.default]\nexpires_after = \"90d\"\n"
    ));
    assert!(tg_login(&s, PASSWORD).status.success());
    set_record(&s, |r| r["first_seen"] = (epoch() - 100 * 86_400).into());
    let out = tg_login(&s, PASSWORD);
    assert!(
        text(&out).contains("Your password has expired"),
        "{}",
        text(&out)
    );
    // The host's own chpasswd stack (common-password without the module).
    let out = s.run(&["chpasswd"], &format!("{USER}:{NEW}\n"));
    assert!(out.status.success(), "{}", text(&out));
    let out = tg_login(&s, NEW);
    assert!(
        out.status.success() && text(&out).contains("account management done"),
        "changed today through chpasswd: {}",
        text(&out)
    );
    let out = s.run(&["passwd", "-e", USER], "");
    assert!(out.status.success(), "{}", text(&out));
    let out = tg_login(&s, NEW);
    assert!(
        text(&out).contains("You must change your password now"),
        "{}",
        text(&out)
    );
    assert!(text(&s.ticketgate(&["status", USER])).contains("MUST CHANGE"));
}

#[test]
fn wrong_pins_lock_pin_logins_only() {
    // Issue 11: per-credential counts, as Cisco keeps them; an admin lock covers both.
    let s = plain(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\n[policy.default]\nfailed_logon = 3\n[policy.pin]\nfailed_logon = 3\n"
    ));
    let (so, cfg) = (ticketgate_tests::module_so(), s.config());
    let (so, cfg) = (so.display(), cfg.display());
    // A PIN service whose PIN check always fails (pam_deny), counted by the PIN policy.
    s.service(
        "tgpin",
        &format!(
            "auth requisite {so} preauth credential=pin config={cfg}\n\
             auth [success=1 default=ignore] pam_deny.so\n\
             auth [default=die] {so} authfail credential=pin config={cfg}\n\
             auth requisite {so} ticket credential=pin config={cfg}\n\
             account required {so} credential=pin config={cfg}\n"
        ),
    );
    for _ in 0..3 {
        let out = s.pamtester("tgpin", USER, &["authenticate"], "");
        assert!(!out.status.success());
    }
    let out = s.pamtester("tgpin", USER, &["authenticate"], "");
    assert!(
        text(&out).contains("Account locked after too many failed logins"),
        "the PIN is locked: {}",
        text(&out)
    );
    assert!(
        tg_login(&s, PASSWORD).status.success(),
        "password logins go on"
    );
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(
        status.contains("PIN LOCKED after failed logons"),
        "{status}"
    );
    assert!(status.contains("failures:     password 0 of 3"), "{status}");
    assert!(s.ticketgate(&["lock", USER]).status.success());
    assert!(
        !tg_login(&s, PASSWORD).status.success(),
        "an admin lock covers both"
    );
}

#[test]
fn local_users_only_still_gates_directory_users_with_tickets() {
    // Regression (issue 11): a directory user in a `ticket = true` scope logged in with no
    // ticket. A real non-files NSS source: libnss-extrausers over a private /var/lib/extrausers.
    use std::os::unix::fs::PermissionsExt;
    use ticketgate_tests::emulators::http;
    const DIRUSER: &str = "diruser";
    let h = http::HttpTickets::start();
    h.add(http::ticket("T-1", "approved", DIRUSER, "db01"));
    let s = Sandbox::new("");
    let secret = s.path("http.secret");
    std::fs::write(&secret, format!("{}\n", http::TOKEN)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.write_config(&format!(
        "[[scope]]\nticket = true\n[policy.default]\nfailed_logon = 2\nlocal_users_only = true\n\
         [ticket]\nsystem = \"http\"\nurl = \"{}/api/tickets/{{id}}\"\nsecret_file = \"{}\"\n\
         [[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n\
         [offline]\nticket = [\"deny\"]\n",
        h.url(),
        secret.display()
    ));
    s.lockout_stack("tg");
    let extra = s.path("extrausers");
    std::fs::create_dir(&extra).unwrap();
    std::fs::write(
        extra.join("passwd"),
        format!("{DIRUSER}:x:5151:5151:Directory User:/nonexistent:/bin/sh\n"),
    )
    .unwrap();
    std::fs::write(
        extra.join("shadow"),
        format!(
            "{DIRUSER}:{}:19000:0:99999:7:::\n",
            ticketgate_tests::sandbox::password_hash(PASSWORD)
        ),
    )
    .unwrap();
    std::fs::write(extra.join("group"), format!("{DIRUSER}:x:5151:\n")).unwrap();
    let nss = s.path("etc/nsswitch.conf");
    let conf = std::fs::read_to_string(&nss).unwrap();
    let conf: String = conf
        .lines()
        .map(|l| match l.split(':').next() {
            Some("passwd" | "shadow" | "group") => format!("{l} extrausers\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&nss, conf).unwrap();
    let login = |typed: &str| {
        let script = format!(
            "mount --bind {} /var/lib/extrausers && exec pamtester -v tg {DIRUSER} authenticate acct_mgmt",
            extra.display()
        );
        s.run(&["sh", "-c", &script], typed)
    };
    let ok = |out: &Output| out.status.success() && text(out).contains("account management done");
    for _ in 0..3 {
        assert!(!ok(&login("wrong-password\n")));
    }
    let out = login(&format!("{PASSWORD}\nT-1\n"));
    assert!(
        ok(&out) && text(&out).contains("Ticket ID: "),
        "not locked (the password policy does not count directory users), but asked for a \
         ticket: {}",
        text(&out)
    );
    let out = login(&format!("{PASSWORD}\nT-2\n"));
    assert!(!ok(&out), "an unknown ticket is refused: {}", text(&out));
    assert!(
        s.events()
            .iter()
            .any(|e| e["event"] == "ticket_accepted" && e["user"] == DIRUSER)
    );
}
