//! `ticketgate-agent [--config PATH] [--once]`: the loop (or one poll), the clock, signals.

use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use pam_ticketgate::audit::SystemAudit;
use pam_ticketgate::config::Config;
use pam_ticketgate::scope::HostNames;
use ticketgate_agent::backoff::{next_wait, random_unit};
use ticketgate_agent::cli::Cli;
use ticketgate_agent::log;
use ticketgate_agent::poll::{Agent, PollError};

/// The agent's one reading of the clock; the library takes `now`.
#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // No core dump and no ptrace by other users' processes: the agent holds passwords.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        log::line(&format!(
            "cannot make the process undumpable ({e}); not starting"
        ));
        return ExitCode::from(1);
    }
    // Its tasks write /etc/shadow and the module's state and signal other users' sessions.
    if !nix::unistd::geteuid().is_root() {
        log::line("needs root (its tasks write /etc/shadow and the module's state)");
        return ExitCode::from(1);
    }
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            log::line(&format!("configuration: {e}"));
            return ExitCode::from(4);
        }
    };
    let Some(settings) = config.agent.clone() else {
        log::line(&format!(
            "configuration: {} has no [agent] table",
            cli.config.display()
        ));
        return ExitCode::from(4);
    };
    let audit = SystemAudit::new(config.module.audit_file.clone());
    let log_line = |m: &str| log::line(m);
    let agent = Agent {
        config: &config,
        settings: &settings,
        audit: &audit,
        host: HostNames::of_this_host().fqdn,
        log: &log_line,
        clock: &now,
    };
    if cli.once {
        return once(&agent);
    }
    run(&agent, settings.interval)
}

/// `--once`: one poll, and a second right away when the first left results to report.
fn once(agent: &Agent) -> ExitCode {
    let result = agent.poll(true).and_then(|polled| {
        if polled.pending > 0 {
            agent.poll(false).map(drop)
        } else {
            Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::line(&e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// The service: poll, wait (jittered, backing off while the server is unreachable), until
/// SIGTERM or SIGINT, which end the wait at once (a poll under way finishes first).
fn run(agent: &Agent, interval: Duration) -> ExitCode {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    let signals = mask
        .thread_block()
        .map_err(|e| e.to_string())
        .and_then(|()| {
            SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).map_err(|e| e.to_string())
        });
    let signals = match signals {
        Ok(s) => s,
        Err(e) => {
            log::line(&format!("cannot wait for signals ({e}); not starting"));
            return ExitCode::from(1);
        }
    };
    log::line(&format!(
        "started: polling {} every {} s",
        agent.endpoint(),
        interval.as_secs()
    ));
    let mut failures: u32 = 0;
    let mut server_interval = None;
    loop {
        // One poll per interval; a poll that ran (or refused) tasks is followed at once by one
        // request that only reports their results (the tasks it hands out wait for the next
        // poll), so a result reaches the server seconds after its task ran, not an interval
        // later. At most one extra request per poll that made results: never a busy loop.
        let wait = match agent.poll(true) {
            Ok(polled) => {
                failures = 0;
                server_interval = polled.interval;
                if polled.new_results > 0
                    && let Err(e) = agent.poll(false)
                {
                    // The results stay recorded and go out with the next poll.
                    log::line(&e.to_string());
                }
                next_wait(interval, server_interval, 0, random_unit())
            }
            Err(e) => {
                log::line(&e.to_string());
                if matches!(e, PollError::Unreachable(_)) {
                    failures = failures.saturating_add(1);
                } else {
                    failures = 0;
                }
                next_wait(interval, server_interval, failures, random_unit())
            }
        };
        if stop_requested(&signals, wait) {
            log::line("stopping on a signal");
            return ExitCode::SUCCESS;
        }
    }
}

/// Waits `wait`; true when SIGTERM or SIGINT arrived meanwhile.
fn stop_requested(signals: &SignalFd, wait: Duration) -> bool {
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, timeout) {
        Ok(0) => false,
        Ok(_) => true,
        // Interrupted by another signal: go on polling.
        Err(_) => false,
    }
}
