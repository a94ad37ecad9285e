//! Issue 12 (item 7): what a client types as the user name reaches syslog only quoted, and in
//! clear only when it could be an account name. pamtester in the namespace sandbox, the module
//! with `debug`, as root and as an unprivileged caller (the two lines that printed PAM_USER raw).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ticketgate_tests::module_so;
use ticketgate_tests::sandbox::{Sandbox, text};

const SCOPE: &str = "[[scope]]\n[policy.default]\nfailed_logon = 3\n";

/// The lockout stack with `debug` on every module line.
fn sandbox(body: &str) -> Sandbox {
    let s = Sandbox::new(body);
    let (so, cfg) = (module_so(), s.config());
    let (so, cfg) = (so.display(), cfg.display());
    s.service(
        "tg",
        &format!(
            "auth     requisite                  {so} preauth debug config={cfg}\n\
             auth     [success=1 default=ignore] pam_unix.so nullok nodelay\n\
             auth     [default=die]              {so} authfail debug config={cfg}\n\
             auth     requisite                  {so} ticket debug config={cfg}\n\
             account  required                   {so} debug config={cfg}\n\
             account  required                   pam_unix.so\n"
        ),
    );
    s
}

/// Every message pam_ticketgate sent to the sandbox's syslog, split at any newline in it (a
/// syslog daemon writes each as a line of its own).
fn logged_lines(s: &Sandbox) -> Vec<String> {
    s.syslog_lines()
        .iter()
        .flat_map(|m| m.split('\n').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

const FORGED: &str = "y\nevent=admin_unlock user=root";

/// Issue 12 (item 7): the `debug` line and the non-root-caller line printed PAM_USER raw, so a
/// user name with a newline forged a second syslog line `event=admin_unlock user=root`.
#[test]
fn a_user_name_with_a_newline_forges_no_syslog_line_issue_12() {
    let s = sandbox(SCOPE);
    let as_root = s.pamtester("tg", FORGED, &["authenticate"], "wrong\n");
    assert!(!as_root.status.success(), "{}", text(&as_root));
    let mut lines = logged_lines(&s);
    // The same name through an unprivileged caller (a screen locker): the "caller is not
    // root" line. It may write to the sandbox's /dev/log, as to a real one.
    std::fs::set_permissions(
        s.path("dev/log"),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let argv = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "pamtester",
        "-v",
        "tg",
        FORGED,
        "authenticate",
    ];
    let unprivileged = s.run(&argv, "wrong\n");
    assert!(!unprivileged.status.success(), "{}", text(&unprivileged));
    let later = logged_lines(&s);
    assert!(
        later.iter().any(|l| l.contains("caller is not root")),
        "{later:?}"
    );
    lines.extend(later);
    assert!(
        lines.iter().any(|l| l.starts_with("phase=Preauth")),
        "the debug line is there: {lines:?}"
    );
    for l in &lines {
        assert!(
            !l.starts_with("event=admin_unlock"),
            "forged line: {lines:?}"
        );
        assert!(!l.contains("admin_unlock"), "the name in clear: {l}");
        assert!(
            l.chars().all(|c| c == ' ' || c.is_ascii_graphic()),
            "not one printable line: {l:?}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("user=\"(invalid, 30 characters)\"")),
        "{lines:?}"
    );
    assert!(
        s.events()
            .iter()
            .all(|e| e["event"] != "admin_unlock" && !e.to_string().contains("admin_unlock")),
        "{:?}",
        s.events()
    );
}

/// Issue 12 (item 7): a password typed at the user prompt used to reach syslog in clear (the
/// debug line, and the config_error event of a broken config, which names PAM_USER). Now only
/// its length does.
#[test]
fn a_password_typed_as_the_user_name_is_logged_only_as_its_length_issue_12() {
    const TYPED: &str = "correct horse battery staple 2024!";
    let s = sandbox(SCOPE);
    let out = s.pamtester("tg", TYPED, &["authenticate"], "wrong\n");
    assert!(!out.status.success(), "{}", text(&out));
    // A broken config: its config_error event carries the user name too.
    s.write_config("[[scope]]\n[policy.default]\nfailed_logon = 1000\n");
    let out = s.pamtester("tg", TYPED, &["authenticate"], "wrong\n");
    assert!(!out.status.success(), "{}", text(&out));
    let lines = logged_lines(&s);
    assert!(
        lines.iter().any(|l| l.starts_with("event=config_error")
            && l.contains("user=\"(invalid, 34 characters)\"")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("phase=") && l.contains("user=\"(invalid, 34 characters)\"")),
        "{lines:?}"
    );
    for l in &lines {
        assert!(
            !l.contains("horse") && !l.contains("staple"),
            "in clear: {l}"
        );
    }
    let audit = std::fs::read_to_string(s.audit_file()).unwrap_or_default();
    assert!(!audit.contains("horse"), "{audit}");
}

/// Issue 16 (item 4): every error line of the module is an event with the service: a module
/// argument the module does not know is `event=config_error` naming the service; a state
/// directory that cannot be used during a login is `event=system_error` with user and service,
/// in syslog and in the audit file.
#[test]
fn bad_module_arguments_and_unusable_state_are_events_with_the_service_issue_16() {
    let s = sandbox(SCOPE);
    let (so, cfg) = (module_so(), s.config());
    s.service(
        "typo",
        &format!(
            "auth requisite {} pre-auth config={}\nauth required pam_permit.so\n",
            so.display(),
            cfg.display()
        ),
    );
    let out = s.pamtester("typo", "tguser", &["authenticate"], "x\n");
    assert!(!out.status.success(), "{}", text(&out));
    let lines = logged_lines(&s);
    let line = lines
        .iter()
        .find(|l| l.contains("pre-auth"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        line.contains("event=config_error") && line.contains("service=typo"),
        "{line}"
    );

    // A state_dir that is a file: the store cannot be opened during the login.
    std::fs::write(s.path("state"), "not a directory").unwrap();
    let out = s.pamtester("tg", "tguser", &["authenticate"], "x\n");
    assert!(!out.status.success(), "{}", text(&out));
    let lines = logged_lines(&s);
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains("state")).collect();
    assert!(!errors.is_empty(), "{lines:?}");
    for l in &errors {
        assert!(l.contains("event=") && l.contains("service=tg"), "{l}");
    }
    let events = s.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "system_error" && e["service"] == "tg" && e["user"] == "tguser"),
        "{events:?}"
    );
}
