//! End to end over a real OpenSSH `sshd` (issue 7): sshd runs on 127.0.0.1 inside the namespace
//! sandbox, so its `/etc/pam.d/sshd` is the shipped `conf/pam.d/sshd` (Debian's file with the
//! gate lines, real pam_unix); the real `ssh` client logs in over keyboard-interactive on a pty,
//! answering the prompts as a person would.
//! Ticket systems and the login-protect server are the loopback emulators.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ticketgate_tests::emulators::http;
use ticketgate_tests::protect_emulator::{Emulator, Reply};
use ticketgate_tests::pty::{self, DEADLINE, Pty};
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

const SSHD: &str = "/usr/sbin/sshd";
const PROTECT_TOKEN: &str = "host-token-7f3a9c";
const SID: &str = "web-prod-01";

/// A real sshd inside the sandbox, on 127.0.0.1 and a free port, with its own config and host
/// key; stopped (with every process it forked) when dropped, also when a test fails.
struct Sshd {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Sshd {
    /// The settings the README documents; `extra` config lines come first (sshd keeps the
    /// first value it reads for a keyword).
    fn start(s: &Sandbox, extra: &str) -> Sshd {
        assert!(
            std::path::Path::new(SSHD).exists(),
            "{SSHD} not found: install openssh-server (scripts/test.sh does)"
        );
        let dir = s.path("sshd");
        std::fs::create_dir(&dir).unwrap();
        let key = dir.join("host_ed25519");
        let keygen = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .output()
            .unwrap_or_else(|e| panic!("ssh-keygen not found (install openssh-client): {e}"));
        assert!(keygen.status.success(), "{}", text(&keygen));
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "{extra}\nListenAddress 127.0.0.1:{port}\nHostKey {key}\nPidFile none\n\
                 UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n\
                 PubkeyAuthentication no\nPermitRootLogin no\nStrictModes no\n\
                 AuthorizedKeysFile none\nPrintMotd no\nPrintLastLog no\nLogLevel VERBOSE\n",
                key = key.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        let log = dir.join("sshd.log");
        let mut cmd = pty::sandboxed(s, &[SSHD, "-D", "-e", "-f", config.to_str().unwrap()]);
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().unwrap();
        let mut sshd = Sshd { child, port, log };
        let until = Instant::now() + DEADLINE;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return sshd;
            }
            if let Some(status) = sshd.child.try_wait().unwrap() {
                panic!("sshd exited ({status}) before listening:\n{}", sshd.log());
            }
            assert!(
                Instant::now() < until,
                "sshd not listening after {DEADLINE:?}:\n{}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The real ssh client, on a pty, logging in as the throwaway user over keyboard-interactive
    /// (one round of prompts per connection) and running `command`.
    fn ssh(&self, command: &str) -> Pty {
        self.ssh_with(
            &["-o", "PreferredAuthentications=keyboard-interactive"],
            command,
        )
    }

    /// The same with client options `first` (ssh keeps the first value given for an option).
    fn ssh_with(&self, first: &[&str], command: &str) -> Pty {
        assert!(
            std::path::Path::new("/usr/bin/ssh").exists(),
            "/usr/bin/ssh not found: install openssh-client (scripts/test.sh does)"
        );
        let mut c = Command::new("/usr/bin/ssh");
        c.args(first)
            .args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "PreferredAuthentications=keyboard-interactive"])
            .args(["-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10"])
            .args([
                "-p",
                &self.port.to_string(),
                &format!("{USER}@127.0.0.1"),
                command,
            ]);
        Pty::spawn(c)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The listener, then what it forked for connections (their own sessions, so found
        // through /proc): only processes this test started, by pid.
        let pid = self.child.id() as i32;
        let forked = descendants(pid);
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in forked {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Every process below `root`, from the parent pids in /proc.
fn descendants(root: i32) -> Vec<i32> {
    let mut parent = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            parent.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// True while `pid` exists and is not a zombie.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| st.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A sandbox whose only scope covers the throwaway user with `scope` (e.g. `ticket = true`),
/// `body` appended (`[ticket]`, `[login_protect]`, …), and the shipped example
/// `conf/pam.d/sshd` (Debian's file with the gate lines) as `sshd`.
fn sandbox(scope: &str, body: &str) -> Sandbox {
    let s = Sandbox::new("");
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\n{scope}\n[policy.default]\nfailed_logon = 3\n{body}\n"
    ));
    s.example_stack("sshd");
    s
}

/// A ticket sandbox against the generic HTTP system: `T-1` approved, `T-2` pending approval.
fn ticket_sandbox() -> (http::HttpTickets, Sandbox) {
    let h = http::HttpTickets::start();
    h.add(http::ticket("T-1", "approved", USER, "db01"));
    h.add(http::ticket("T-2", "pending", USER, "db01"));
    let s = sandbox("ticket = true", "");
    let secret = s.path("http.secret");
    std::fs::write(&secret, format!("{}\n", http::TOKEN)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nticket = true\n[policy.default]\nfailed_logon = 3\n\
         [ticket]\nsystem = \"http\"\nurl = \"{}/api/tickets/{{id}}\"\nsecret_file = \"{}\"\ntimeout = \"2s\"\n\
         [[ticket.condition]]\nfield = \"/status\"\nop = \"eq\"\nvalue = \"approved\"\n\
         [[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n\
         [offline]\nticket = [\"deny\"]\n",
        h.url(),
        secret.display()
    ));
    (h, s)
}

fn names(s: &Sandbox) -> Vec<String> {
    s.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

fn last(s: &Sandbox, event: &str) -> serde_json::Value {
    s.events()
        .into_iter()
        .rev()
        .find(|e| e["event"] == event)
        .unwrap_or_else(|| panic!("no {event} in {:?}", names(s)))
}

/// The transcript and sshd's log, for failure messages.
fn why(p: &Pty, d: &Sshd) -> String {
    format!("transcript:\n{}\nsshd log:\n{}", p.transcript(), d.log())
}

#[test]
fn password_then_ticket_prompt_gives_a_shell_with_the_ticket() {
    let (_h, s) = ticket_sandbox();
    let d = Sshd::start(&s, "");
    let mut p = d.ssh("env");
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-1\n");
    let status = p.finish();
    assert!(status.success(), "{}", why(&p, &d));
    assert!(
        p.transcript()
            .lines()
            .any(|l| l.trim_end() == "TICKETGATE_TICKET=T-1"),
        "{}",
        why(&p, &d)
    );
    assert!(
        p.transcript().contains(&format!("USER={USER}")),
        "{}",
        why(&p, &d)
    );
    let ev = last(&s, "ticket_accepted");
    assert_eq!(
        (ev["ticket"].as_str(), ev["service"].as_str()),
        (Some("T-1"), Some("sshd"))
    );
    assert_eq!(ev["rhost"], "127.0.0.1");
    assert!(
        names(&s).contains(&"auth_success".to_string()),
        "{:?}",
        names(&s)
    );
}

/// Regression (issue 7): sshd's keyboard-interactive authenticates in a child process and calls
/// `pam_setcred` in its parent, on a handle that never authenticated; libpam then does not count
/// pam_unix's jump, so the stack needs the `ticket` line's success (pamtester's `setcred` alone
/// is that parent's call).
#[test]
fn setcred_on_a_handle_that_did_not_authenticate_succeeds() {
    let (_h, s) = ticket_sandbox();
    let out = s.pamtester("sshd", USER, &["setcred"], "");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn an_unapproved_ticket_is_refused() {
    let (h, s) = ticket_sandbox();
    let d = Sshd::start(&s, "");
    let mut p = d.ssh("env");
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-2\n");
    let status = p.finish();
    assert!(!status.success(), "{}", why(&p, &d));
    assert!(
        p.transcript().contains("Permission denied"),
        "{}",
        why(&p, &d)
    );
    assert!(
        !p.transcript().contains("TICKETGATE_TICKET"),
        "{}",
        why(&p, &d)
    );
    assert!(
        p.transcript()
            .contains("Ticket rejected: it does not allow this login"),
        "the reason reaches the ssh user: {}",
        why(&p, &d)
    );
    assert_eq!(last(&s, "ticket_rejected")["ticket"], "T-2");
    assert_eq!(
        last(&s, "auth_failure")["failures"],
        1,
        "a rejected ticket is a failed logon"
    );
    assert_eq!(h.server.count(), 1, "the ticket was fetched once");
}

#[test]
fn a_wrong_password_never_reaches_the_ticket_prompt() {
    let (h, s) = ticket_sandbox();
    let d = Sshd::start(&s, "");
    let mut p = d.ssh("env");
    p.expect("Password:");
    p.send("not-the-password\n");
    let status = p.finish();
    assert!(!status.success(), "{}", why(&p, &d));
    assert!(!p.transcript().contains("Ticket ID:"), "{}", why(&p, &d));
    assert!(
        p.transcript().contains("Permission denied"),
        "{}",
        why(&p, &d)
    );
    assert_eq!(h.server.count(), 0, "no ticket request");
    assert_eq!(last(&s, "auth_failure")["failures"], 1);
}

#[test]
fn lockout_through_ssh_refuses_before_the_password_prompt() {
    let s = sandbox("", "");
    let d = Sshd::start(&s, "");
    for _ in 0..3 {
        let mut p = d.ssh("true");
        p.expect("Password:");
        p.send("not-the-password\n");
        assert!(!p.finish().success(), "{}", why(&p, &d));
    }
    assert_eq!(last(&s, "hack_lock")["failures"], 3);
    let mut p = d.ssh("true");
    let status = p.finish();
    assert!(!status.success(), "{}", why(&p, &d));
    assert!(
        !p.transcript().contains("Password:"),
        "no password prompt: {}",
        why(&p, &d)
    );
    assert!(
        p.transcript().contains("Permission denied"),
        "{}",
        why(&p, &d)
    );
    assert!(
        p.transcript()
            .contains("Account locked after too many failed logins"),
        "the reason reaches the ssh user: {}",
        why(&p, &d)
    );
    // The right password does not help either (and is never checked).
    assert_eq!(last(&s, "auth_failure")["reason"], "hack_lock");
}

/// A sandbox protecting the throwaway user with the emulator at `url`; `extra` in `[login_protect]`.
fn protect_sandbox(url: &str, extra: &str) -> Sandbox {
    let s = sandbox("login_protect = true", "");
    let secret = s.path("protect.secret");
    std::fs::write(&secret, format!("{PROTECT_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nlogin_protect = true\n[policy.default]\nfailed_logon = 3\n\
         [login_protect]\nurl = \"{url}\"\nservice_id = \"{SID}\"\nsecret_file = \"{}\"\ntimeout = \"2s\"\n{extra}\n\
         [offline]\nlogin_protect = \"deny\"\n",
        secret.display()
    ));
    s
}

#[test]
fn login_protect_refuses_before_the_password_and_says_why() {
    let emu = Emulator::start(PROTECT_TOKEN);
    let s = protect_sandbox(&emu.url(), "");
    let d = Sshd::start(&s, "");
    let mut p = d.ssh("true");
    let status = p.finish();
    assert!(!status.success(), "{}", why(&p, &d));
    assert!(!p.transcript().contains("Password:"), "{}", why(&p, &d));
    assert!(
        p.transcript().contains("Login protect is on"),
        "{}",
        why(&p, &d)
    );
    let seen = emu.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body["service"], "sshd");
    assert_eq!(seen[0].body["rhost"], "127.0.0.1");
}

#[test]
fn login_protect_wait_for_unlock_over_ssh() {
    let emu = Emulator::start(PROTECT_TOKEN);
    let s = protect_sandbox(&emu.url(), "wait_for_unlock = true");
    let d = Sshd::start(&s, "");
    // Locked at first; the user unlocks on the phone while the prompt waits.
    emu.script(vec![Reply::Unlocked(false), Reply::Unlocked(true)]);
    let mut p = d.ssh("echo logged-in");
    p.expect("then press Enter");
    p.send("\n");
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    let status = p.finish();
    assert!(status.success(), "{}", why(&p, &d));
    assert!(p.transcript().contains("logged-in"), "{}", why(&p, &d));
    assert_eq!(emu.seen().len(), 2);
    assert_eq!(last(&s, "protect_unlock_used")["waited"], "true");
}

#[test]
fn a_live_ssh_session_is_listed_with_its_ticket_and_terminated() {
    let (_h, s) = ticket_sandbox();
    let d = Sshd::start(&s, "");
    // The command runs as the shell's pid ($$, then exec), so the test can see it end.
    let mut p = d.ssh("echo session-up pid=$$; exec sleep 120");
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-1\n");
    p.expect("session-up pid=");
    p.expect("\n");
    let user_cmd: i32 = p
        .transcript()
        .split("session-up pid=")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(running(user_cmd), "{}", why(&p, &d));
    let listed = text(&s.ticketgate(&["sessions", USER]));
    assert!(
        listed.starts_with(&format!("{USER} pid ")) && listed.contains(" sshd "),
        "{listed}\n{}",
        why(&p, &d)
    );
    assert!(
        listed.contains("T-1"),
        "the session shows its ticket: {listed}"
    );
    assert!(
        listed.contains("127.0.0.1"),
        "and where it came from: {listed}"
    );
    let out = s.ticketgate(&["terminate", USER]);
    assert!(out.status.success(), "{}", text(&out));
    let status = p.finish();
    assert!(!status.success(), "the ssh session ended: {}", why(&p, &d));
    // Regression (issue 7): without a terminal no hang-up reaches the user's command when sshd's
    // process ends; terminate ends the processes below the session's process too.
    assert!(
        !running(user_cmd),
        "the user's command ended too: {}",
        why(&p, &d)
    );
    assert!(
        text(&s.ticketgate(&["sessions", USER])).contains("no sessions"),
        "{}",
        why(&p, &d)
    );
    let names = names(&s);
    for want in ["session_open", "session_terminated"] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
}

/// `AuthenticationMethods publickey,keyboard-interactive`: a key alone does not log in; after
/// the key, the PAM stack asks for the password and the ticket as for everyone else.
#[test]
fn publickey_then_keyboard_interactive_still_asks_for_the_ticket() {
    let (h, s) = ticket_sandbox();
    let key = s.path("client_ed25519");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", text(&keygen));
    let authorized = s.path("authorized_keys");
    std::fs::copy(key.with_extension("pub"), &authorized).unwrap();
    std::fs::set_permissions(&authorized, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = Sshd::start(
        &s,
        &format!(
            "PubkeyAuthentication yes\nAuthorizedKeysFile {}\n\
             AuthenticationMethods publickey,keyboard-interactive",
            authorized.display()
        ),
    );
    let with_key = [
        "-o",
        "PreferredAuthentications=publickey,keyboard-interactive",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        key.to_str().unwrap(),
    ];
    let mut p = d.ssh_with(&with_key, "env");
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-1\n");
    let status = p.finish();
    assert!(status.success(), "{}", why(&p, &d));
    assert!(
        p.transcript()
            .lines()
            .any(|l| l.trim_end() == "TICKETGATE_TICKET=T-1"),
        "{}",
        why(&p, &d)
    );
    assert!(
        d.log().contains(&format!("Partial publickey for {USER}")),
        "{}",
        d.log()
    );
    // Without the key, keyboard-interactive is never offered: no prompt, no ticket request.
    let fetched = h.server.count();
    let mut p = d.ssh_with(
        &["-o", "IdentitiesOnly=yes", "-o", "IdentityFile=none"],
        "env",
    );
    assert!(!p.finish().success(), "{}", why(&p, &d));
    assert!(!p.transcript().contains("Password:"), "{}", why(&p, &d));
    assert!(
        p.transcript().contains("Permission denied"),
        "{}",
        why(&p, &d)
    );
    assert_eq!(h.server.count(), fetched);
}
