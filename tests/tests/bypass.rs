//! No way around the gates (issue 12), through pamtester and real pam_unix in the namespace
//! sandbox: names NSS knows but no file could be named after, directory spellings of one account
//! (a small NSS module built here with gcc), state that cannot be written (a full tmpfs, a
//! read-only bind mount, a planted link), and a client that walks away at the ticket prompt.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, password_hash, text};

fn ok(out: &Output) -> bool {
    out.status.success() && text(out).contains("account management done")
}

fn events(s: &Sandbox, name: &str) -> Vec<serde_json::Value> {
    s.events()
        .into_iter()
        .filter(|e| e["event"] == name)
        .collect()
}

/// Adds an account to the sandbox's passwd and shadow files.
fn add_account(s: &Sandbox, name: &str, uid: u32) {
    let append = |file: &str, line: String| {
        let path = s.path("etc").join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&line);
        std::fs::write(&path, text).unwrap();
    };
    append(
        "passwd",
        format!("{name}:x:{uid}:{uid}::/nonexistent:/bin/sh\n"),
    );
    append(
        "shadow",
        format!("{name}:{}:19000:0:99999:7:::\n", password_hash(PASSWORD)),
    );
}

fn lockout(extra: &str) -> Sandbox {
    let s = Sandbox::new(&format!(
        "[[scope]]\n[policy.default]\nfailed_logon = 2\n{extra}"
    ));
    s.lockout_stack("tg");
    s
}

fn login(s: &Sandbox, user: &str, password: &str) -> Output {
    s.pamtester(
        "tg",
        user,
        &["authenticate", "acct_mgmt"],
        &format!("{password}\n"),
    )
}

#[test]
fn names_no_plain_file_can_hold_are_counted_and_locked() {
    // Regression (issue 12): `.dotuser` and a name with a tab were "unknown": never counted.
    let s = lockout("");
    for (name, uid) in [(".dotuser", 4301), ("tab\tuser", 4302)] {
        add_account(&s, name, uid);
        assert!(ok(&login(&s, name, PASSWORD)), "{name:?} logs in");
        assert!(!ok(&login(&s, name, "wrong")));
        assert!(!ok(&login(&s, name, "wrong")));
        let out = login(&s, name, PASSWORD);
        assert!(
            !ok(&out) && text(&out).contains("Account locked after too many failed logins"),
            "{name:?} is locked: {}",
            text(&out)
        );
    }
    let names: Vec<String> = std::fs::read_dir(s.path("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    assert!(names.contains(&"%2Edotuser.state".to_string()), "{names:?}");
    assert!(names.contains(&"tab%09user.state".to_string()), "{names:?}");
    // The audit names each account without printing a name outside the account syntax.
    for (shown, account) in [
        ("(invalid, 8 characters)", "%2Edotuser"),
        ("(invalid, 8 characters)", "tab%09user"),
    ] {
        let locks: Vec<_> = events(&s, "auth_failure")
            .into_iter()
            .filter(|e| e["account"] == account)
            .collect();
        assert_eq!(locks.len(), 3, "{account}: {:?}", s.events());
        assert!(locks.iter().all(|e| e["user"] == shown), "{locks:?}");
    }
}

#[test]
fn a_name_that_cannot_be_stored_is_refused_with_a_log_line() {
    let s = lockout("");
    let long = "x".repeat(300);
    add_account(&s, &long, 4303);
    let out = login(&s, &long, PASSWORD);
    assert!(!ok(&out), "{}", text(&out));
    let refused = events(&s, "state_unwritable");
    assert_eq!(refused.len(), 1, "{:?}", s.events());
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot be stored")
    );
}

/// A tiny NSS module, `libnss_tgalias.so.2`, that answers `tgalias` for any spelling of it
/// (case-insensitive, and with `@corp.example`), as SSSD with case-insensitive or fully
/// qualified names does; passwd and shadow, so pam_unix can check the password.
fn build_alias_nss(dir: &std::path::Path) {
    let hash = password_hash(PASSWORD);
    let source = format!(
        r#"#include <nss.h>
#include <pwd.h>
#include <shadow.h>
#include <string.h>
#include <strings.h>
#include <errno.h>

static int ours(const char *name) {{
    return strcasecmp(name, "tgalias") == 0 || strcasecmp(name, "tgalias@corp.example") == 0;
}}

static char *put(char **buf, size_t *left, const char *s) {{
    size_t n = strlen(s) + 1;
    if (n > *left) return NULL;
    char *at = *buf;
    memcpy(at, s, n);
    *buf += n;
    *left -= n;
    return at;
}}

enum nss_status _nss_tgalias_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                        size_t len, int *err) {{
    if (!ours(name)) return NSS_STATUS_NOTFOUND;
    if (!(pw->pw_name = put(&buf, &len, "tgalias")) || !(pw->pw_passwd = put(&buf, &len, "x")) ||
        !(pw->pw_gecos = put(&buf, &len, "Alias Tester")) ||
        !(pw->pw_dir = put(&buf, &len, "/nonexistent")) ||
        !(pw->pw_shell = put(&buf, &len, "/bin/sh"))) {{
        *err = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }}
    pw->pw_uid = 4343;
    pw->pw_gid = 4343;
    return NSS_STATUS_SUCCESS;
}}

enum nss_status _nss_tgalias_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
                                        int *err) {{
    if (uid != 4343) return NSS_STATUS_NOTFOUND;
    return _nss_tgalias_getpwnam_r("tgalias", pw, buf, len, err);
}}

enum nss_status _nss_tgalias_getspnam_r(const char *name, struct spwd *sp, char *buf,
                                        size_t len, int *err) {{
    if (!ours(name)) return NSS_STATUS_NOTFOUND;
    memset(sp, 0, sizeof *sp);
    if (!(sp->sp_namp = put(&buf, &len, "tgalias")) ||
        !(sp->sp_pwdp = put(&buf, &len, "{hash}"))) {{
        *err = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }}
    sp->sp_lstchg = 19000;
    sp->sp_min = 0;
    sp->sp_max = 99999;
    sp->sp_warn = 7;
    sp->sp_inact = -1;
    sp->sp_expire = -1;
    sp->sp_flag = ~0ul;
    return NSS_STATUS_SUCCESS;
}}
"#
    );
    let c = dir.join("tgalias.c");
    std::fs::write(&c, source).unwrap();
    let out = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join("libnss_tgalias.so.2"))
        .arg(&c)
        .output()
        .expect("gcc (the test builds a small NSS module)");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn directory_spellings_of_one_account_share_its_scope_and_its_lock() {
    // Regression (issue 12): `TGALIAS` and `tgalias@corp.example` were other people: no scope
    // matched them and each had its own failure count.
    let s = Sandbox::new("[[scope]]\nusers = [\"tgalias\"]\n[policy.default]\nfailed_logon = 3\n");
    s.lockout_stack("tg");
    let lib = s.path("nsslib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    build_alias_nss(&lib);
    let nss = s.path("etc/nsswitch.conf");
    let conf: String = std::fs::read_to_string(&nss)
        .unwrap()
        .lines()
        .map(|l| match l.split(':').next() {
            Some("passwd" | "shadow") => format!("{l} tgalias\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&nss, conf).unwrap();
    let with_lib = |argv: &[&str], stdin: &str| {
        let mut cmd = s.command(argv);
        cmd.env("LD_LIBRARY_PATH", &lib);
        ticketgate_tests::run_with_input(&mut cmd, stdin, "unshare")
    };
    let login = |user: &str, password: &str| {
        with_lib(
            &["pamtester", "-v", "tg", user, "authenticate", "acct_mgmt"],
            &format!("{password}\n"),
        )
    };
    assert!(
        ok(&login("TGALIAS", PASSWORD)),
        "the directory answers for it"
    );
    for spelling in ["TGALIAS", "tgalias@corp.example", "Tgalias"] {
        assert!(!ok(&login(spelling, "wrong")));
    }
    for spelling in ["tgalias", "TGALIAS", "tgalias@CORP.example"] {
        let out = login(spelling, PASSWORD);
        assert!(
            text(&out).contains("Account locked after too many failed logins"),
            "{spelling}: {}",
            text(&out)
        );
    }
    let stored: Vec<String> = std::fs::read_dir(s.path("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".state"))
        .collect();
    assert_eq!(stored, vec!["tgalias.state"]);
    // The CLI resolves names the same way: any spelling unlocks the one account.
    let bin = ticketgate_tests::ticketgate_bin();
    let cfg = s.config();
    let unlock = with_lib(
        &[
            bin.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "unlock",
            "tgalias@corp.example",
        ],
        "",
    );
    assert!(unlock.status.success(), "{}", text(&unlock));
    assert!(ok(&login("TGALIAS", PASSWORD)), "unlocked everywhere");
    let failures = events(&s, "auth_failure");
    assert!(
        failures.iter().all(|e| e["user"] == "tgalias"),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|e| e["typed_user"] == "tgalias@corp.example"),
        "the name typed is kept: {failures:?}"
    );
}

/// Runs a login with the sandbox's `state` directory made unwritable by `setup` (shell, run in
/// the sandbox's namespace first).
fn login_with_state(s: &Sandbox, setup: &str, password: &str) -> Output {
    let script = format!("{setup} && exec pamtester -v tg {USER} authenticate acct_mgmt");
    s.run(&["sh", "-c", &script], &format!("{password}\n"))
}

fn unwritable_refuses(s: &Sandbox, setup: &str) {
    for _ in 0..3 {
        assert!(!ok(&login_with_state(s, setup, "wrong")));
    }
    let out = login_with_state(s, setup, PASSWORD);
    assert!(
        !ok(&out) && text(&out).contains("the login state cannot be recorded"),
        "no unlimited guesses while nothing is counted: {}",
        text(&out)
    );
    let refused = events(s, "state_unwritable");
    assert_eq!(refused.len(), 4, "one event per login: {refused:?}");
    assert_eq!(refused[0]["result"], "denied");
    let logged = s.syslog_lines();
    assert!(
        logged.iter().any(|l| l.contains("event=state_unwritable")),
        "{logged:?}"
    );
}

#[test]
fn a_full_state_dir_refuses_instead_of_not_counting() {
    // Regression (issue 12): on ENOSPC wrong passwords were not counted.
    let s = lockout("");
    assert!(ok(&login(&s, USER, PASSWORD)));
    let state = s.path("state");
    let setup = format!(
        "mount -t tmpfs -o size=256k,mode=0700 tmpfs {d} && \
         (dd if=/dev/zero of={d}/fill bs=4k 2>/dev/null; true)",
        d = state.display()
    );
    unwritable_refuses(&s, &setup);
    let text_of = |e: &serde_json::Value| e["error"].as_str().unwrap_or_default().to_string();
    assert!(text_of(&events(&s, "state_unwritable")[0]).contains("full"));
}

#[test]
fn a_read_only_state_dir_refuses_instead_of_not_counting() {
    let s = lockout("");
    assert!(ok(&login(&s, USER, PASSWORD)));
    let state = s.path("state");
    let setup = format!(
        "mount --bind {d} {d} && mount -o remount,bind,ro {d}",
        d = state.display()
    );
    unwritable_refuses(&s, &setup);
}

#[test]
fn a_planted_lock_link_refuses_and_allow_lets_logins_on() {
    let s = lockout("");
    assert!(ok(&login(&s, USER, PASSWORD)));
    let lock = s.path("state").join(format!("{USER}.lock"));
    std::fs::remove_file(&lock).ok();
    std::os::unix::fs::symlink("/nonexistent-target", &lock).unwrap();
    unwritable_refuses(&s, "true");
    // An administrator who prefers availability.
    let config = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        config.replace("[module]\n", "[module]\nstate_unwritable = \"allow\"\n"),
    )
    .unwrap();
    assert!(ok(&login(&s, USER, PASSWORD)), "allowed, logged");
    assert_eq!(
        events(&s, "state_unwritable").last().unwrap()["result"],
        "allowed"
    );
}

#[test]
fn walking_away_at_the_ticket_prompt_is_a_failed_logon() {
    // Regression (issue 12): a client that hung up at `Ticket ID:` after a correct password
    // was neither audited nor counted.
    use ticketgate_tests::emulators::http;
    let h = http::HttpTickets::start();
    let s = Sandbox::new("");
    let secret = s.path("http.secret");
    std::fs::write(&secret, format!("{}\n", http::TOKEN)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nticket = true\n[policy.default]\nfailed_logon = 2\n\
         [ticket]\nsystem = \"http\"\nurl = \"{}/api/tickets/{{id}}\"\nsecret_file = \"{}\"\n",
        h.url(),
        secret.display()
    ));
    s.lockout_stack("tg");
    for _ in 0..2 {
        // The password, then end of input at the ticket prompt.
        let out = login(&s, USER, PASSWORD);
        assert!(!ok(&out), "{}", text(&out));
        assert!(text(&out).contains("Ticket ID: "), "{}", text(&out));
    }
    assert_eq!(events(&s, "ticket_abandoned").len(), 2);
    assert_eq!(
        events(&s, "hack_lock").len(),
        1,
        "counted: locked at the limit"
    );
    let out = login(&s, USER, PASSWORD);
    assert!(text(&out).contains("Account locked"), "{}", text(&out));
}
