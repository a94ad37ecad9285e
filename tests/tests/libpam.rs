//! pam_ticketgate loaded by real libpam in this process (`pam_start_confdir`, a temporary service
//! directory), with pam_exec checking a password so that prompts are real. Users are system
//! accounts every Debian machine has (`daemon`, `root`), so no root-owned files change.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use ticketgate_tests::libpam::*;
use ticketgate_tests::{module_so, read_events, system_module};

const RIGHT: &str = "right-password";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A service `svc` with the docs/design.md §2 auth/account lines around a prompting password check.
    fn new(policy: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture { dir };
        let check = f.path("check-password");
        std::fs::write(
            &check,
            format!("#!/bin/sh\npw=$(tr -d '\\000')\n[ \"$pw\" = \"{RIGHT}\" ]\n"),
        )
        .unwrap();
        std::fs::set_permissions(&check, std::fs::Permissions::from_mode(0o755)).unwrap();
        f.config(policy);
        let (so, cfg, exec) = (module_so(), f.path("t.toml"), system_module("pam_exec.so"));
        let (so, cfg, exec, check) = (so.display(), cfg.display(), exec.display(), check.display());
        std::fs::write(
            f.path("svc"),
            format!(
                "auth requisite {so} preauth config={cfg}\n\
                 auth [success=1 default=ignore] {exec} quiet expose_authtok {check}\n\
                 auth [default=die] {so} authfail config={cfg}\n\
                 auth requisite {so} ticket config={cfg}\n\
                 account required {so} config={cfg}\n"
            ),
        )
        .unwrap();
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, body: &str) {
        let text = format!(
            "version = 1\n[module]\nstate_dir = \"{}\"\nrun_dir = \"{}\"\naudit_file = \"{}\"\nfail_delay = \"0s\"\n{body}",
            self.path("state").display(),
            self.path("run").display(),
            self.path("audit.jsonl").display()
        );
        std::fs::write(self.path("t.toml"), text).unwrap();
        std::fs::set_permissions(self.path("t.toml"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }

    fn login(&self, user: &str, password: &str) -> Session {
        let mut s = Session::start(self.dir.path(), "svc", user, &[password]);
        s.set_rhost("192.0.2.9");
        s
    }

    fn events(&self) -> Vec<serde_json::Value> {
        read_events(&self.path("audit.jsonl"))
    }

    fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| e["event"] == event).count()
    }
}

const LOCK3: &str = "[[scope]]\nusers = [\"daemon\", \"root\", \"nosuchuser\"]\n[policy.default]\nfailed_logon = 3\nlockout_duration = \"30m\"\n";

#[test]
fn right_password_logs_in_and_records_success() {
    let f = Fixture::new(LOCK3);
    let mut s = f.login("daemon", RIGHT);
    assert_eq!(s.authenticate(0), PAM_SUCCESS);
    assert_eq!(s.acct_mgmt(0), PAM_SUCCESS);
    assert_eq!(s.prompts(), vec!["Password: "]);
    assert_eq!(f.count("auth_success"), 1);
}

#[test]
fn locks_after_three_failures_and_never_asks_for_the_password_again() {
    let f = Fixture::new(LOCK3);
    for _ in 0..3 {
        let mut s = f.login("daemon", "wrong");
        assert_eq!(s.authenticate(0), PAM_AUTH_ERR);
        assert_eq!(s.prompts(), vec!["Password: "]);
    }
    let mut s = f.login("daemon", RIGHT);
    assert_eq!(s.authenticate(0), PAM_MAXTRIES);
    assert!(
        s.prompts().is_empty(),
        "a locked account is refused before the password prompt"
    );
    let t = s.transcript();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].0, PAM_ERROR_MSG);
    assert!(t[0].1.contains("Account locked"), "{t:?}");
    let lock = f
        .events()
        .into_iter()
        .find(|e| e["event"] == "hack_lock")
        .unwrap();
    assert_eq!(lock["user"], "daemon");
    assert_eq!(lock["rhost"], "192.0.2.9");
    assert_eq!(lock["failures"], 3);
}

#[test]
fn silent_flag_hides_the_lock_message() {
    let f = Fixture::new(LOCK3);
    for _ in 0..3 {
        f.login("daemon", "wrong").authenticate(0);
    }
    let mut s = f.login("daemon", RIGHT);
    assert_eq!(s.authenticate(PAM_SILENT), PAM_MAXTRIES);
    assert!(s.transcript().is_empty());
}

#[test]
fn success_resets_the_count_only_through_account_after_authentication() {
    let f = Fixture::new(LOCK3);
    for _ in 0..2 {
        f.login("daemon", "wrong").authenticate(0);
    }
    // Account only, no authentication in this handle (cron, sudo NOPASSWD, ssh public key).
    let mut s = Session::start(f.dir.path(), "svc", "daemon", &[]);
    assert_eq!(s.acct_mgmt(0), PAM_SUCCESS);
    drop(s);
    let mut s = f.login("daemon", "wrong");
    assert_eq!(s.authenticate(0), PAM_AUTH_ERR);
    drop(s);
    let mut s = f.login("daemon", RIGHT);
    assert_eq!(
        s.authenticate(0),
        PAM_MAXTRIES,
        "the account-only call must not have reset the count"
    );
    drop(s);

    let f = Fixture::new(LOCK3);
    for _ in 0..2 {
        f.login("daemon", "wrong").authenticate(0);
    }
    let mut s = f.login("daemon", RIGHT);
    assert_eq!(s.authenticate(0), PAM_SUCCESS);
    assert_eq!(s.acct_mgmt(0), PAM_SUCCESS);
    drop(s);
    for _ in 0..2 {
        assert_eq!(f.login("daemon", "wrong").authenticate(0), PAM_AUTH_ERR);
    }
    assert_eq!(
        f.login("daemon", RIGHT).authenticate(0),
        PAM_SUCCESS,
        "two failures after a reset do not lock"
    );
}

#[test]
fn unknown_user_sees_the_same_prompts_and_answer_and_leaves_no_state() {
    let f = Fixture::new(LOCK3);
    let mut unknown = Vec::new();
    let mut known = Vec::new();
    for _ in 0..4 {
        let mut s = f.login("nosuchuser", "wrong");
        unknown.push((s.authenticate(0), s.transcript()));
    }
    let mut s = f.login("daemon", "wrong");
    known.push((s.authenticate(0), s.transcript()));
    assert!(
        unknown.iter().all(|u| *u == known[0]),
        "{unknown:?} vs {known:?}"
    );
    let names: Vec<_> = std::fs::read_dir(f.path("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("daemon.")), "{names:?}");
}

#[test]
fn root_is_not_locked_unless_lock_root() {
    let f = Fixture::new(LOCK3);
    for _ in 0..4 {
        assert_eq!(f.login("root", "wrong").authenticate(0), PAM_AUTH_ERR);
    }
    assert_eq!(f.login("root", RIGHT).authenticate(0), PAM_SUCCESS);
    f.config(&format!("{LOCK3}lock_root = true\n"));
    for _ in 0..3 {
        f.login("root", "wrong").authenticate(0);
    }
    assert_eq!(f.login("root", RIGHT).authenticate(0), PAM_MAXTRIES);
}

#[test]
fn logins_outside_every_scope_are_left_to_the_rest_of_the_stack() {
    let f = Fixture::new("[[scope]]\nusers = [\"root\"]\n");
    for _ in 0..5 {
        assert_eq!(f.login("daemon", "wrong").authenticate(0), PAM_AUTH_ERR);
    }
    assert_eq!(f.login("daemon", RIGHT).authenticate(0), PAM_SUCCESS);
    assert!(!f.path("state/daemon.state").exists());
}

#[test]
fn broken_or_unsafe_config_fails_closed() {
    let f = Fixture::new("[policy.default]\nfailed_logon = 101\n");
    let mut s = f.login("daemon", RIGHT);
    assert_eq!(s.authenticate(0), PAM_SERVICE_ERR);
    assert!(
        s.prompts().is_empty(),
        "no password is asked for under a broken config"
    );

    let f = Fixture::new(LOCK3);
    std::fs::set_permissions(f.path("t.toml"), std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(f.login("daemon", RIGHT).authenticate(0), PAM_SERVICE_ERR);
    std::fs::set_permissions(f.path("t.toml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(f.path("t.toml"), Some(1), None).unwrap();
    assert_eq!(f.login("daemon", RIGHT).authenticate(0), PAM_SERVICE_ERR);
    std::fs::remove_file(f.path("t.toml")).unwrap();
    assert_eq!(f.login("daemon", RIGHT).authenticate(0), PAM_SERVICE_ERR);
    let mut s = Session::start(f.dir.path(), "svc", "daemon", &[]);
    assert_eq!(s.acct_mgmt(0), PAM_SERVICE_ERR);
}

#[test]
fn bad_module_arguments_fail_closed() {
    let f = Fixture::new(LOCK3);
    let so = module_so();
    std::fs::write(
        f.path("bad"),
        format!(
            "auth requisite {} preauht\naccount required {} config=relative.toml\n",
            so.display(),
            so.display()
        ),
    )
    .unwrap();
    let mut s = Session::start(f.dir.path(), "bad", "daemon", &[RIGHT]);
    assert_eq!(s.authenticate(0), PAM_SERVICE_ERR);
    assert_eq!(s.acct_mgmt(0), PAM_SERVICE_ERR);
}

#[test]
fn corrupt_state_locks_until_reset() {
    let f = Fixture::new(LOCK3);
    f.login("daemon", "wrong").authenticate(0);
    std::fs::write(
        f.path("state/daemon.state"),
        "{\"v\":1,\"failures\":\"oops\"}",
    )
    .unwrap();
    let mut s = f.login("daemon", RIGHT);
    assert_eq!(s.authenticate(0), PAM_MAXTRIES);
    assert!(s.prompts().is_empty());
}

#[test]
fn exports_all_six_entry_points() {
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(module_so())
        .output()
        .expect("nm (binutils) is needed");
    let syms = String::from_utf8_lossy(&out.stdout);
    for s in [
        "pam_sm_authenticate",
        "pam_sm_acct_mgmt",
        "pam_sm_chauthtok",
        "pam_sm_open_session",
        "pam_sm_close_session",
        "pam_sm_setcred",
    ] {
        assert!(
            syms.lines().any(|l| l.ends_with(&format!(" T {s}"))),
            "{s} not exported"
        );
    }
}
