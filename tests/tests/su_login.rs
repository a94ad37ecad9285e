//! End to end through `su`, `sudo` and `login` (issue 7): the real programs, on a pty inside the
//! namespace sandbox, with the shipped examples `conf/pam.d/{su,sudo,login}` (Debian's files
//! with the gate lines) as their `/etc/pam.d` files,
//! answered as a person at a terminal would. The ticket system is the loopback HTTP emulator.
//! `su` runs as `nobody` (root's `su` skips authentication through `pam_rootok`, as it should);
//! `login` runs as root, as getty starts it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;

use ticketgate_tests::emulators::http;
use ticketgate_tests::protect_emulator::{Emulator, Reply};
use ticketgate_tests::pty::{self, Pty};
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

/// A sandbox requiring a ticket of the throwaway user, against the generic HTTP system: `T-1`
/// approved, `T-2` pending; `service` gets its shipped example, `conf/pam.d/<service>`.
fn ticket_sandbox(service: &str) -> (http::HttpTickets, Sandbox) {
    let h = http::HttpTickets::start();
    h.add(http::ticket("T-1", "approved", USER, "db01"));
    h.add(http::ticket("T-2", "pending", USER, "db01"));
    let s = Sandbox::new("");
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
    s.example_stack(service);
    (h, s)
}

/// `su tguser -c <command>` typed by an unprivileged user (`nobody`) on a pty.
fn su(s: &Sandbox, command: &str) -> Pty {
    for tool in ["/usr/bin/su", "/usr/bin/setpriv"] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} not found: install util-linux"
        );
    }
    Pty::spawn(pty::sandboxed(
        s,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "su",
            USER,
            "-c",
            command,
        ],
    ))
}

/// `login tguser` on a pty, as getty would start it.
fn login(s: &Sandbox) -> Pty {
    assert!(
        std::path::Path::new("/usr/bin/login").exists()
            || std::path::Path::new("/bin/login").exists(),
        "login not found: install login"
    );
    Pty::spawn(pty::sandboxed(s, &["login", USER]))
}

fn last(s: &Sandbox, event: &str) -> serde_json::Value {
    let events = s.events();
    events
        .iter()
        .rev()
        .find(|e| e["event"] == event)
        .cloned()
        .unwrap_or_else(|| panic!("no {event} in {events:?}"))
}

fn has_line(p: &Pty, line: &str) -> bool {
    p.transcript().lines().any(|l| l.trim_end() == line)
}

#[test]
fn su_password_then_ticket_exports_the_ticket() {
    let (_h, s) = ticket_sandbox("su");
    let mut p = su(&s, "env");
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-1\n");
    let status = p.finish();
    assert!(status.success(), "{}", p.transcript());
    assert!(has_line(&p, "TICKETGATE_TICKET=T-1"), "{}", p.transcript());
    let ev = last(&s, "ticket_accepted");
    assert_eq!(
        (ev["ticket"].as_str(), ev["service"].as_str()),
        (Some("T-1"), Some("su"))
    );
}

#[test]
fn su_unapproved_ticket_is_refused() {
    let (_h, s) = ticket_sandbox("su");
    let mut p = su(&s, "env");
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-2\n");
    let status = p.finish();
    assert!(!status.success(), "{}", p.transcript());
    assert!(
        p.transcript()
            .contains("Ticket rejected: it does not allow this login"),
        "{}",
        p.transcript()
    );
    assert!(
        !p.transcript().contains("TICKETGATE_TICKET"),
        "{}",
        p.transcript()
    );
    assert_eq!(last(&s, "ticket_rejected")["ticket"], "T-2");
}

#[test]
fn su_wrong_password_never_reaches_the_ticket_prompt_and_locks_at_the_limit() {
    let (h, s) = ticket_sandbox("su");
    for _ in 0..3 {
        let mut p = su(&s, "env");
        p.expect("Password:");
        p.send("not-the-password\n");
        assert!(!p.finish().success(), "{}", p.transcript());
        assert!(!p.transcript().contains("Ticket ID:"), "{}", p.transcript());
    }
    assert_eq!(h.server.count(), 0, "no ticket request");
    assert_eq!(last(&s, "hack_lock")["failures"], 3);
    let mut p = su(&s, "env");
    assert!(!p.finish().success(), "{}", p.transcript());
    assert!(!p.transcript().contains("Password:"), "{}", p.transcript());
    assert!(
        p.transcript()
            .contains("Account locked after too many failed logins"),
        "{}",
        p.transcript()
    );
}

#[test]
fn login_password_then_ticket_gives_a_shell_with_the_ticket() {
    let (_h, s) = ticket_sandbox("login");
    let mut p = login(&s);
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-1\n");
    // The login shell, on the same terminal (input typed before its prompt is flushed by login).
    p.expect("$ ");
    p.send("echo shell-$((6*7)); env; exit\n");
    p.expect("shell-42");
    let status = p.finish();
    assert!(status.success(), "{}", p.transcript());
    assert!(has_line(&p, "TICKETGATE_TICKET=T-1"), "{}", p.transcript());
    let ev = last(&s, "ticket_accepted");
    assert_eq!(
        (ev["ticket"].as_str(), ev["service"].as_str()),
        (Some("T-1"), Some("login"))
    );
    let open = last(&s, "session_open");
    assert_eq!(open["service"], "login");
    assert!(
        open["tty"].as_str().is_some_and(|t| t.contains("pts/")),
        "{open}"
    );
    let out = s.ticketgate(&["sessions", USER]);
    assert!(
        text(&out).contains("no sessions"),
        "closed on logout: {}",
        text(&out)
    );
}

#[test]
fn login_wrong_password_never_reaches_the_ticket_prompt() {
    let (h, s) = ticket_sandbox("login");
    let mut p = login(&s);
    p.expect("Password:");
    p.send("not-the-password\n");
    // login asks again (user name, then password) after a failure; stop there.
    let next = p.find_any(&["Ticket ID:", "login:", "Login incorrect"]);
    assert!(matches!(next, Some(1 | 2)), "{}", p.transcript());
    assert!(!p.transcript().contains("Ticket ID:"), "{}", p.transcript());
    assert_eq!(h.server.count(), 0, "no ticket request");
    assert_eq!(last(&s, "auth_failure")["failures"], 1);
}

#[test]
fn login_session_is_listed_with_its_tty_and_ticket_and_terminated() {
    let (_h, s) = ticket_sandbox("login");
    let mut p = login(&s);
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-1\n");
    p.expect("$ ");
    let listed = text(&s.ticketgate(&["sessions", USER]));
    assert!(
        listed.starts_with(&format!("{USER} pid ")) && listed.contains(" login /dev/pts/"),
        "{listed}"
    );
    assert!(listed.contains("ticket T-1"), "{listed}");
    let out = s.ticketgate(&["terminate", USER]);
    assert!(out.status.success(), "{}", text(&out));
    let status = p.finish();
    assert!(
        !status.success(),
        "login ended by terminate: {}",
        p.transcript()
    );
    assert!(text(&s.ticketgate(&["sessions", USER])).contains("no sessions"));
    assert_eq!(last(&s, "session_terminated")["service"], "login");
}

#[test]
fn su_login_protect_wait_for_unlock() {
    const TOKEN: &str = "host-token-7f3a9c";
    let emu = Emulator::start(TOKEN);
    let s = Sandbox::new("");
    let secret = s.path("protect.secret");
    std::fs::write(&secret, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nlogin_protect = true\n\
         [login_protect]\nurl = \"{}\"\nservice_id = \"web-prod-01\"\nsecret_file = \"{}\"\n\
         timeout = \"2s\"\nwait_for_unlock = true\n[offline]\nlogin_protect = \"deny\"\n",
        emu.url(),
        secret.display()
    ));
    s.example_stack("su");
    // Locked at first; the user unlocks on the phone while the prompt waits.
    emu.script(vec![Reply::Unlocked(false), Reply::Unlocked(true)]);
    let mut p = su(&s, "echo su-$((6*7))");
    p.expect("then press Enter");
    p.send("\n");
    p.expect("Password:");
    p.send(&format!("{PASSWORD}\n"));
    let status = p.finish();
    assert!(status.success(), "{}", p.transcript());
    assert!(has_line(&p, "su-42"), "{}", p.transcript());
    assert_eq!(emu.seen().len(), 2);
    assert_eq!(emu.seen()[0].body["service"], "su");
    assert_eq!(last(&s, "protect_unlock_used")["waited"], "true");
}

/// `sudo -k <command>` typed by the throwaway user on a pty. Its sudoers entry lets it run
/// anything, asks every time (`timestamp_timeout=0`: no timestamp is kept) and gives one try;
/// `!use_pty`: the sandbox's `/dev` has no pty multiplexer for sudo's own pty.
fn sudo(s: &Sandbox, command: &[&str]) -> Pty {
    assert!(
        std::path::Path::new("/usr/bin/sudo").exists(),
        "sudo not found: install sudo"
    );
    let rule = s.path("etc/sudoers.d/ticketgate-test");
    std::fs::write(
        &rule,
        format!(
            "Defaults:{USER} timestamp_timeout=0, passwd_tries=1, lecture=never, !use_pty\n{USER} ALL=(ALL) ALL\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rule, std::fs::Permissions::from_mode(0o440)).unwrap();
    let uid = format!("--reuid={}", ticketgate_tests::sandbox::UID);
    let gid = format!("--regid={}", ticketgate_tests::sandbox::UID);
    let mut argv = vec!["setpriv", &uid, &gid, "--init-groups", "sudo", "-k"];
    argv.extend_from_slice(command);
    Pty::spawn(pty::sandboxed(s, &argv))
}

#[test]
fn sudo_password_then_ticket_runs_the_command() {
    let (_h, s) = ticket_sandbox("sudo");
    let mut p = sudo(&s, &["sh", "-c", "id -u; env"]);
    p.expect("password for tguser:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-1\n");
    let status = p.finish();
    assert!(status.success(), "{}", p.transcript());
    assert!(has_line(&p, "0"), "ran as root: {}", p.transcript());
    assert!(
        has_line(&p, "TICKETGATE_TICKET=T-1"),
        "sudo passes the PAM environment to the command: {}",
        p.transcript()
    );
    let ev = last(&s, "ticket_accepted");
    assert_eq!(
        (ev["ticket"].as_str(), ev["service"].as_str()),
        (Some("T-1"), Some("sudo"))
    );
}

#[test]
fn sudo_unapproved_ticket_and_wrong_password_are_refused() {
    let (h, s) = ticket_sandbox("sudo");
    let mut p = sudo(&s, &["id", "-u"]);
    p.expect("password for tguser:");
    p.send(&format!("{PASSWORD}\n"));
    p.expect("Ticket ID:");
    p.send("T-2\n");
    assert!(!p.finish().success(), "{}", p.transcript());
    assert!(
        !has_line(&p, "0"),
        "the command did not run: {}",
        p.transcript()
    );
    // sudo authenticates with PAM_SILENT, so the module shows no reason; sudo says its own.
    assert!(
        !p.transcript().contains("Ticket rejected"),
        "PAM_SILENT is honoured: {}",
        p.transcript()
    );
    assert_eq!(last(&s, "ticket_rejected")["ticket"], "T-2");
    let fetched = h.server.count();

    let mut p = sudo(&s, &["id", "-u"]);
    p.expect("password for tguser:");
    p.send("not-the-password\n");
    assert!(!p.finish().success(), "{}", p.transcript());
    assert!(!p.transcript().contains("Ticket ID:"), "{}", p.transcript());
    assert_eq!(h.server.count(), fetched, "no ticket request");
    assert_eq!(last(&s, "auth_failure")["failures"], 2);
}
