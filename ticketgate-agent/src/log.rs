//! The agent's log: one line per event that needs an administrator's eye, on standard error
//! (the journal, under systemd) and to syslog (authpriv, ident `ticketgate-agent`), as the
//! `ticketgate` CLI does. Never a password: callers pass none, and every line is made one line.

use pam_ticketgate::audit::one_line;

/// Writes `message` to standard error and syslog.
pub fn line(message: &str) {
    let message = one_line(message);
    eprintln!("ticketgate-agent: {message}");
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_AUTHPRIV,
        hostname: None,
        process: "ticketgate-agent".into(),
        pid: std::process::id(),
    };
    // No syslog daemon is no reason to stop: standard error still has the line.
    if let Ok(mut logger) = syslog::unix(formatter) {
        // A wedged syslog daemon must not stall the agent: never block.
        let _ = match &logger.backend {
            syslog::LoggerBackend::Unix(sock) => sock.set_nonblocking(true),
            syslog::LoggerBackend::UnixStream(sock) => sock.get_ref().set_nonblocking(true),
            _ => Ok(()),
        };
        let _ = logger.notice(message.as_str());
    }
}
