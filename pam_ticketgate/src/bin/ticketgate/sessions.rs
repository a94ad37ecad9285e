//! `ticketgate sessions [USER]` and `ticketgate terminate USER`.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use pam_ticketgate::audit::{AuditSink, Event, EventName};
use pam_ticketgate::config::Config;
use pam_ticketgate::run_dir::RunDir;
use pam_ticketgate::session::{self, SessionRecord, Sessions};
use pam_ticketgate::timefmt::utc;

use crate::error::CliError;

/// The session records under the config's `run_dir`, once it passed its checks.
fn sessions(config: &Config) -> Result<Sessions, CliError> {
    Ok(RunDir::open(&config.module.run_dir).and_then(|run| Sessions::new(&run))?)
}

/// Prints the live sessions (of `user`), one line each.
pub fn list(config: &Config, user: Option<&str>, json: bool) -> Result<(), CliError> {
    let sessions = sessions(config)?.list(user)?;
    if json {
        crate::json::print(&serde_json::Value::Array(
            sessions.iter().map(crate::json::session).collect(),
        ));
        return Ok(());
    }
    if sessions.is_empty() {
        println!("no sessions");
    }
    for s in sessions {
        println!("{}", line(&s));
    }
    Ok(())
}

fn line(s: &SessionRecord) -> String {
    let from = if s.rhost.is_empty() {
        String::new()
    } else {
        format!(" from {}", s.rhost)
    };
    let ticket = s
        .ticket
        .as_deref()
        .map(|t| format!(" ticket {t}"))
        .unwrap_or_default();
    format!(
        "{} pid {} {} {}{}{} since {}",
        s.user,
        s.pid,
        s.service,
        if s.tty.is_empty() { "-" } else { &s.tty },
        from,
        ticket,
        utc(s.start)
    )
}

/// Ends every session of `user`: SIGHUP (what sshd and a terminal hang-up use) and SIGTERM
/// (what su and login act on) to each session's process and every process below it (an sshd
/// session without a terminal passes no hang-up on to the user's commands), then SIGKILL for
/// those still running after `grace`. A session's process is signalled only while `/proc`
/// shows the recorded pid, start time and uid (checked again before each signal); the
/// processes below it only while they have the start time they had when found.
pub fn terminate(
    config: &Config,
    audit: &dyn AuditSink,
    user: &str,
    grace: Duration,
    now: i64,
) -> Result<(), CliError> {
    let sessions = sessions(config)?.list(Some(user))?;
    if sessions.is_empty() {
        println!("{user}: no sessions");
        return Ok(());
    }
    let me = nix::unistd::getpid().as_raw();
    let targets: Vec<&SessionRecord> = sessions
        .iter()
        .filter(|s| s.pid > 1 && s.pid != me)
        .collect();
    // Found before any signal: once a leader ends, its children belong to init.
    let below: Vec<(i32, u64)> = targets
        .iter()
        .flat_map(|s| session::descendants(s.pid))
        .filter(|&(p, _)| p > 1 && p != me)
        .collect();
    for s in &targets {
        // `list` checked pid, start time and uid; a process that changed since is left alone.
        if s.is_running() {
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGHUP);
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGTERM);
        }
    }
    for &(p, start) in &below {
        if session::is_alive(p, start) {
            let _ = kill(Pid::from_raw(p), Signal::SIGHUP);
            let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline
        && (targets.iter().any(|s| s.is_running())
            || below.iter().any(|&(p, start)| session::is_alive(p, start)))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &(p, start) in &below {
        if session::is_alive(p, start) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
    for s in targets {
        let signal = if s.is_running() {
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
            "SIGKILL"
        } else {
            "SIGHUP+SIGTERM"
        };
        let event = Event::new(EventName::SessionTerminated, &s.user, &s.service, &s.rhost)
            .with("pid", s.pid)
            .with("tty", &s.tty)
            .with("signal", signal);
        audit.event(&event, now);
        println!("terminated ({signal}): {}", line(s));
    }
    Ok(())
}
