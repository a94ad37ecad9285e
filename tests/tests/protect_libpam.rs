//! Login protect with the module loaded by real libpam in this process (`pam_start_confdir`), a
//! prompting password check (pam_exec) and the protocol emulator: every prompt and message in
//! order, with its style, and the PAM code of each case.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use ticketgate_tests::libpam::*;
use ticketgate_tests::protect_emulator::{Emulator, Reply, dead_url};
use ticketgate_tests::{module_so, read_events, system_module};

const PAM_AUTHINFO_UNAVAIL: i32 = 9;
const RIGHT: &str = "right-password";
const USER: &str = "daemon";
const TOKEN: &str = "libpam-host-token";
const SID: &str = "svc-01";
const LOCKED: &str = "Login protect is on: unlock on your device, then log in again.";
const WAIT: &str = "Login protect is on: unlock on your device, then press Enter";
const PIN: &str = "Login protect server unreachable. Offline PIN: ";
const UNREACHABLE: &str = "Login protect server unreachable; try again later.";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(url: &str, protect: &str, offline: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture { dir };
        let check = f.path("check-password");
        std::fs::write(
            &check,
            format!("#!/bin/sh\npw=$(tr -d '\\000')\n[ \"$pw\" = \"{RIGHT}\" ]\n"),
        )
        .unwrap();
        std::fs::set_permissions(&check, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(f.path("protect.secret"), TOKEN).unwrap();
        std::fs::set_permissions(
            f.path("protect.secret"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::write(
            f.path("t.toml"),
            format!(
                "version = 1\n[module]\nstate_dir = \"{}\"\nrun_dir = \"{}\"\naudit_file = \"{}\"\nfail_delay = \"0s\"\n\
                 [[scope]]\nusers = [\"{USER}\"]\nlogin_protect = true\n\
                 [login_protect]\nurl = \"{url}\"\nservice_id = \"{SID}\"\nsecret_file = \"{}\"\ntimeout = \"1s\"\n{protect}\n\
                 [offline]\n{offline}\n",
                f.path("state").display(),
                f.path("run").display(),
                f.path("audit.jsonl").display(),
                f.path("protect.secret").display(),
            ),
        )
        .unwrap();
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

    fn session(&self, answers: &[&str]) -> Session {
        Session::start(self.dir.path(), "svc", USER, answers)
    }

    fn events(&self) -> Vec<String> {
        read_events(&self.path("audit.jsonl"))
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_string())
            .collect()
    }
}

fn echo_on(m: &str) -> (i32, String) {
    (PAM_PROMPT_ECHO_ON, m.to_string())
}

fn echo_off(m: &str) -> (i32, String) {
    (PAM_PROMPT_ECHO_OFF, m.to_string())
}

fn error(m: &str) -> (i32, String) {
    (PAM_ERROR_MSG, m.to_string())
}

#[test]
fn protected_login_sees_one_error_line_and_no_prompt() {
    let emu = Emulator::start(TOKEN);
    let f = Fixture::new(&emu.url(), "", "");
    let mut s = f.session(&[RIGHT]);
    assert_eq!(s.authenticate(0), PAM_AUTH_ERR);
    assert_eq!(s.transcript(), vec![error(LOCKED)]);
    assert_eq!(f.events(), vec!["protect_locked"]);
}

#[test]
fn pam_silent_suppresses_the_message_but_not_the_refusal() {
    let emu = Emulator::start(TOKEN);
    let f = Fixture::new(&emu.url(), "", "");
    let mut s = f.session(&[RIGHT]);
    assert_eq!(s.authenticate(PAM_SILENT), PAM_AUTH_ERR);
    assert!(s.transcript().is_empty(), "{:?}", s.transcript());
}

#[test]
fn unlocked_login_goes_on_to_the_password() {
    let emu = Emulator::start(TOKEN);
    let f = Fixture::new(&emu.url(), "", "");
    emu.unlock(SID, USER);
    let mut s = f.session(&[RIGHT]);
    assert_eq!(s.authenticate(0), PAM_SUCCESS);
    assert_eq!(s.acct_mgmt(0), PAM_SUCCESS);
    assert_eq!(s.transcript(), vec![echo_off("Password: ")]);
    assert_eq!(f.events(), vec!["protect_unlock_used", "auth_success"]);
}

#[test]
fn wait_for_unlock_prompts_with_echo_then_asks_again() {
    let emu = Emulator::start(TOKEN);
    let f = Fixture::new(&emu.url(), "wait_for_unlock = true", "");
    emu.script(vec![Reply::Unlocked(false), Reply::Unlocked(true)]);
    let mut s = f.session(&["", RIGHT]);
    assert_eq!(s.authenticate(0), PAM_SUCCESS);
    assert_eq!(s.transcript(), vec![echo_on(WAIT), echo_off("Password: ")]);
    // A client that cannot answer the wait prompt is refused.
    let mut s = f.session(&[]);
    assert_eq!(s.authenticate(0), PAM_AUTH_ERR);
    assert_eq!(s.transcript(), vec![echo_on(WAIT), error(LOCKED)]);
}

#[test]
fn hybrid_asks_the_offline_pin_before_the_password() {
    let f = Fixture::new(&dead_url(), "", "login_protect = \"hybrid\"");
    let user = pam_ticketgate::user::UserName::parse(USER).unwrap();
    std::fs::create_dir_all(f.path("state")).unwrap();
    std::fs::set_permissions(f.path("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    pam_ticketgate::protect::pin::set(
        &f.path("state"),
        &user,
        &pam_ticketgate::secret::Secret::new("730518".into()),
    )
    .unwrap();
    let mut s = f.session(&["730518", RIGHT]);
    assert_eq!(s.authenticate(0), PAM_SUCCESS);
    assert_eq!(s.transcript(), vec![echo_off(PIN), echo_off("Password: ")]);
    let mut s = f.session(&["111111", RIGHT]);
    assert_eq!(s.authenticate(0), PAM_AUTH_ERR);
    assert_eq!(s.transcript(), vec![echo_off(PIN)]);
    // No answer to the PIN prompt: no offline login.
    let mut s = f.session(&[]);
    assert_eq!(s.authenticate(0), PAM_AUTHINFO_UNAVAIL);
}

#[test]
fn deny_mode_says_unreachable_and_returns_authinfo_unavail() {
    let f = Fixture::new(&dead_url(), "", "login_protect = \"deny\"");
    let mut s = f.session(&[RIGHT]);
    assert_eq!(s.authenticate(0), PAM_AUTHINFO_UNAVAIL);
    assert_eq!(s.transcript(), vec![error(UNREACHABLE)]);
}
