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

use ticketgate_tests::emulators::http;
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
    assert_eq!(check.status.code(), Some(4), "{}", text(&check));
    assert!(
        text(&check).contains("ticket.ca_file") && text(&check).contains("mode 0666"),
        "{}",
        text(&check)
    );
}

/// A sandbox whose scope needs a ticket from the loopback HTTP ticket system (answering T-1
/// for the sandbox user), with the verdict cache on.
fn ticket_sandbox(h: &http::HttpTickets) -> Sandbox {
    h.add(http::ticket("T-1", "approved", USER, "db01"));
    let s = Sandbox::new("");
    let secret = s.path("http.secret");
    std::fs::write(&secret, format!("{}\n", http::TOKEN)).unwrap();
    chmod(&secret, 0o600);
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nticket = true\n[ticket]\nsystem = \"http\"\n\
         url = \"{}/api/tickets/{{id}}\"\nsecret_file = \"{}\"\ncache = \"2m\"\n",
        h.url(),
        secret.display()
    ));
    stack_with_config(&s, &s.config());
    s
}

fn ticket_login(s: &Sandbox) -> Output {
    s.pamtester("tg", USER, &["authenticate"], &format!("{PASSWORD}\nT-1\n"))
}

/// Issue 12 (item 4): only state_dir was checked. A run_dir others can write (a wrong mode, a
/// pre-created /run/ticketgate) let them plant verdict-cache files and session records. Now a
/// ticket login with such a run_dir fails closed with one line naming it, and the CLI refuses
/// it too.
#[test]
fn world_writable_run_dir_is_refused_issue_12() {
    let h = http::HttpTickets::start();
    let s = ticket_sandbox(&h);
    let out = ticket_login(&s);
    assert!(ok(&out), "{}", text(&out));
    s.syslog_lines();
    let run = s.path("run");
    chmod(&run, 0o777);
    let out = ticket_login(&s);
    assert!(!ok(&out), "{}", text(&out));
    let lines = s.syslog_lines();
    let refused: Vec<&String> = lines.iter().filter(|l| l.contains("run_dir")).collect();
    assert_eq!(refused.len(), 1, "{lines:?}");
    assert!(
        refused[0].contains(&format!(
            "run_dir {}: refused: mode 0777 lets group or others write it; run chmod go-w",
            run.display()
        )),
        "{lines:?}"
    );
    let sessions = s.ticketgate(&["sessions"]);
    assert!(!sessions.status.success(), "{}", text(&sessions));
    assert!(text(&sessions).contains("mode 0777"), "{}", text(&sessions));
    // A subdirectory others can write is refused the same way.
    chmod(&run, 0o700);
    chmod(&run.join("ticket-cache"), 0o777);
    let out = ticket_login(&s);
    assert!(!ok(&out), "{}", text(&out));
    assert!(
        s.syslog_lines()
            .iter()
            .any(|l| l.contains("ticket-cache") && l.contains("mode 0777")),
    );
}

/// A `sleep` that runs as `uid`, and its start time.
fn sleeper(uid: u32) -> (std::process::Child, i32, u64) {
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new("sleep")
        .arg("300")
        .uid(uid)
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let ticks = pam_ticketgate::session::start_ticks(pid).unwrap();
    (child, pid, ticks)
}

/// Writes a session record as the module would (root's, 0600) for the sandbox user.
fn plant_record(s: &Sandbox, pid: i32, start_ticks: u64, uid: u32) {
    let dir = s.path("run/sessions");
    std::fs::create_dir_all(&dir).unwrap();
    chmod(&s.path("run"), 0o700);
    chmod(&dir, 0o700);
    let record = serde_json::json!({
        "user": USER, "service": "sshd", "tty": "ssh", "rhost": "", "pid": pid,
        "start_ticks": start_ticks, "uid": uid, "ticket": null, "start": 1,
    });
    let path = dir.join(format!("{pid}.json"));
    std::fs::write(&path, record.to_string()).unwrap();
    chmod(&path, 0o600);
}

fn alive(child: &mut std::process::Child) -> bool {
    child.try_wait().unwrap().is_none()
}

/// Issue 12 (item 4): `ticketgate terminate` signalled whatever pid a record named, checking
/// only its start time, so a record aimed at another user's (or root's) process got it
/// killed. A record is now acted on only while /proc shows its pid, start time and uid.
#[test]
fn planted_session_records_do_not_get_a_process_signalled_issue_12() {
    let s = Sandbox::new(LOCK3);
    // The right start time, but the process runs as uid 65534, not the uid recorded.
    let (mut other_uid, pid, ticks) = sleeper(65534);
    plant_record(&s, pid, ticks, 0);
    // The right uid, but not the recorded start time.
    let (mut other_start, pid2, ticks2) = sleeper(0);
    plant_record(&s, pid2, ticks2 + 1, 0);
    let out = s.ticketgate(&["terminate", USER]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no sessions"), "{}", text(&out));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        alive(&mut other_uid),
        "a process of another uid was signalled"
    );
    assert!(
        alive(&mut other_start),
        "a process with another start time was signalled"
    );
    // A record file not written by root is not read at all.
    let (mut theirs, pid3, ticks3) = sleeper(0);
    plant_record(&s, pid3, ticks3, 0);
    std::os::unix::fs::chown(
        s.path(&format!("run/sessions/{pid3}.json")),
        Some(65534),
        None,
    )
    .unwrap();
    let out = s.ticketgate(&["terminate", USER]);
    assert!(text(&out).contains("no sessions"), "{}", text(&out));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        alive(&mut theirs),
        "a record owned by another user was acted on"
    );
    // The control: a record that matches /proc is terminated.
    let (mut real, pid4, ticks4) = sleeper(0);
    plant_record(&s, pid4, ticks4, 0);
    let out = s.ticketgate(&["terminate", USER, "--grace", "2"]);
    assert!(text(&out).contains("terminated"), "{}", text(&out));
    assert!(real.wait().is_ok_and(|st| !st.success()));
    for mut c in [other_uid, other_start, theirs] {
        let _ = c.kill();
        let _ = c.wait();
    }
}
