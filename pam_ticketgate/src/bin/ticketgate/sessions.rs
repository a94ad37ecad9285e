//! `ticketgate sessions [USER]` and `ticketgate terminate USER`.

use std::time::Duration;

use pam_ticketgate::audit::AuditSink;
use pam_ticketgate::config::Config;
use pam_ticketgate::session::{SessionRecord, Sessions};
use pam_ticketgate::timefmt::utc;

use crate::error::CliError;

/// The session records under the config's `run_dir`, once it passed its checks.
fn sessions(config: &Config) -> Result<Sessions, CliError> {
    Ok(pam_ticketgate::admin::sessions(config)?)
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

/// Ends every session of `user` (`pam_ticketgate::admin::terminate`: SIGHUP and SIGTERM, then
/// SIGKILL after `grace`) and prints one line per session.
pub fn terminate(
    config: &Config,
    audit: &dyn AuditSink,
    user: &str,
    grace: Duration,
    now: i64,
) -> Result<(), CliError> {
    let ended = pam_ticketgate::admin::terminate(config, audit, user, grace, now)?;
    if ended.is_empty() {
        println!("{user}: no sessions");
    }
    for (s, signal) in &ended {
        println!("terminated ({signal}): {}", line(s));
    }
    Ok(())
}
