//! Issue 12: who may have written the files the module trusts. Each test plays the local user
//! who can write somewhere the module reads from (the config's directory, `run_dir`, a CA
//! file) and checks, through pamtester and real libpam in the namespace sandbox, that the login
//! fails closed with one clear log line instead of following the planted file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use ticketgate_tests::emulators::tls::TlsServer;
use ticketgate_tests::module_so;
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

const LOCK3: &str = "[[scope]]\nusers = [\"tguser\"]\n[policy.default]\nfailed_logon = 3\n";

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The lockout stack of service `tg`, reading its config from `config` (not the sandbox's own).
fn stack_with_config(s: &Sandbox, config: &Path) {
    let (so, cfg) = (module_so(), config.display());
    let so = so.display();
    s.service(
        "tg",
        &format!(
            "auth     requisite                  {so} preauth config={cfg}\n\
             auth     [success=1 default=ignore] pam_unix.so nullok nodelay\n\
             auth     [default=die]              {so} authfail config={cfg}\n\
             auth     requisite                  {so} ticket config={cfg}\n\
             account  required                   {so} config={cfg}\n\
             account  required                   pam_unix.so\n"
        ),
    );
}

/// A copy of the sandbox's (valid, root-owned 0644) config at `path`.
fn copy_config(s: &Sandbox, path: &Path) {
    std::fs::copy(s.config(), path).unwrap();
    chmod(path, 0o644);
}

fn login(s: &Sandbox) -> Output {
    s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{PASSWORD}\n"),
    )
}

fn ok(out: &Output) -> bool {
    out.status.success() && text(out).contains("successfully authenticated")
}

/// pamtester, killed (and the test failed) if it has not returned within `limit`.
fn login_within(s: &Sandbox, limit: Duration) -> Output {
    let mut cmd = s.command(&["pamtester", "-v", "tg", USER, "authenticate"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while started.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "the login hung for {limit:?} (killed): {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The one config_error line of a refused login, which must contain every piece of `want`.
fn one_config_error(s: &Sandbox, want: &[&str]) {
    let lines = s.syslog_lines();
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("event=config_error"))
        .collect();
    assert!(!errors.is_empty(), "no config_error line: {lines:?}");
    for l in &errors {
        for w in want {
            assert!(l.contains(w), "{w:?} missing from {l}");
        }
    }
}

/// Issue 12 (item 5): a config in a directory anyone can write can be swapped by anyone. The
/// login is refused before the password, with a line naming the directory and the fix.
#[test]
fn config_in_a_world_writable_directory_is_refused_issue_12() {
    let s = Sandbox::new(LOCK3);
    let dir = s.path("open");
    std::fs::create_dir(&dir).unwrap();
    let cfg = dir.join("ticketgate.toml");
    copy_config(&s, &cfg);
    stack_with_config(&s, &cfg);
    assert!(ok(&login(&s)), "a config in a root-only directory works");
    chmod(&dir, 0o777);
    let out = login(&s);
    assert!(
        !ok(&out) && !text(&out).contains("Password:"),
        "{}",
        text(&out)
    );
    one_config_error(
        &s,
        &[
            &format!("{}: mode 0777 lets group or others write it", dir.display()),
            "chmod go-w",
        ],
    );
    // A directory others can write with the sticky bit, as /tmp (root's entries only): fine.
    chmod(&dir, 0o1777);
    assert!(ok(&login(&s)), "sticky like /tmp: {}", text(&login(&s)));
}

/// Issue 12 (item 5): the config's name pointing elsewhere (a link to another root-owned
/// config, say one without the ticket gate) is refused, not followed.
#[test]
fn symlinked_config_is_refused_issue_12() {
    let s = Sandbox::new(LOCK3);
    let link = s.path("linked.toml");
    std::os::unix::fs::symlink(s.config(), &link).unwrap();
    stack_with_config(&s, &link);
    let out = login(&s);
    assert!(
        !ok(&out) && !text(&out).contains("Password:"),
        "{}",
        text(&out)
    );
    one_config_error(&s, &["symbolic link"]);
}

/// Issue 12 (item 5): a FIFO in the config's place used to hang every login in `open`. It is
/// refused at once.
#[test]
fn fifo_config_is_refused_promptly_issue_12() {
    let s = Sandbox::new(LOCK3);
    let fifo = s.path("fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    stack_with_config(&s, &fifo);
    let out = login_within(&s, Duration::from_secs(20));
    assert!(!out.status.success(), "{}", text(&out));
    one_config_error(&s, &["is a FIFO, not a regular file"]);
}

/// Issue 12 (item 6): a world-writable `ca_file` was the trust root for the ticket system (its
/// writer could vouch for a fake one). The login is refused at the ticket step with one line
/// naming `ca_file` and the fix, and `ticketgate check-config` says the same.
#[test]
fn world_writable_ca_file_is_refused_with_a_clear_message_issue_12() {
    let body = format!(r#"{{"id": "T-1", "status": "approved", "owner": "{USER}"}}"#);
    let server = TlsServer::start(&[("api/tickets/T-1", &body)]);
    let s = Sandbox::new("");
    let ca = s.path("ca.pem");
    std::fs::copy(server.cert(), &ca).unwrap();
    chmod(&ca, 0o644);
    let secret = s.path("http.secret");
    std::fs::write(&secret, "token\n").unwrap();
    chmod(&secret, 0o600);
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nticket = true\n[ticket]\nsystem = \"http\"\n\
         url = \"{}/api/tickets/{{id}}\"\nsecret_file = \"{}\"\nca_file = \"{}\"\ncache = \"0s\"\n",
        server.url(),
        secret.display(),
        ca.display()
    ));
    stack_with_config(&s, &s.config());
    let ticket_login =
        |s: &Sandbox| s.pamtester("tg", USER, &["authenticate"], &format!("{PASSWORD}\nT-1\n"));
    let out = ticket_login(&s);
    assert!(ok(&out), "a root-owned 0644 CA file works: {}", text(&out));
    s.syslog_lines();
    chmod(&ca, 0o666);
    let out = ticket_login(&s);
    assert!(!ok(&out), "{}", text(&out));
    let lines = s.syslog_lines();
    let ca_lines: Vec<&String> = lines.iter().filter(|l| l.contains("ca_file")).collect();
    assert_eq!(ca_lines.len(), 1, "{lines:?}");
    assert!(
        ca_lines[0].contains(&format!(
            "ca_file {}: refused: mode 0666 lets group or others write it; run chmod go-w",
            ca.display()
        )),
        "{lines:?}"
    );
    let check = s.ticketgate(&["check-config"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("ticket.ca_file") && text(&check).contains("mode 0666"),
        "{}",
        text(&check)
    );
}
