//! Login protect (PassLogic model): asks the protect server whether the user unlocked this login, with the breaker, the administrator's switch and the offline PIN.

pub(crate) mod client;
pub mod login;
pub mod pin;
pub mod switch;

use std::path::Path;
use std::time::Duration;

pub use client::answer_of;

use crate::config::{ConfigError, Protect, read_secret_file};
use crate::net::{Client, NetError};
use crate::offline::Breaker;
use crate::secret::Secret;

/// The breaker's name under `run_dir`.
pub const BREAKER: &str = "login_protect";

/// The fields of one `POST /v1/attempt` (docs/design.md §5).
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub service_id: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub service: &'a str,
    pub rhost: &'a str,
}

/// What the server (or its absence) says about one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The user unlocked; the server has used the unlock up.
    Unlocked,
    /// Protection is on: refuse before the password.
    Locked,
    /// The server cannot be reached (or the breaker says skip it): `[offline] login_protect` decides.
    Offline(String),
    /// A verdict or misconfiguration (401/403, TLS, malformed answer): refuse, never fall back.
    Denied(String),
}

/// The protect server as the gate sees it: the HTTP client in production, a script in tests.
pub trait ProtectServer {
    /// `POST /v1/attempt`: `Ok(true)` = the user unlocked this login (the unlock is used up).
    fn attempt(&self, attempt: &Attempt) -> Result<bool, NetError>;
    /// The same check with `"dry_run": true`: the answer, with no unlock used up (report mode,
    /// `ticketgate test-protect`).
    fn probe(&self, attempt: &Attempt) -> Result<bool, NetError>;
}

/// A server whose `attempt` is its `probe`: [`check`] through it takes no unlock.
pub struct DryRun<'s>(pub &'s dyn ProtectServer);

impl ProtectServer for DryRun<'_> {
    fn attempt(&self, attempt: &Attempt) -> Result<bool, NetError> {
        self.0.probe(attempt)
    }
    fn probe(&self, attempt: &Attempt) -> Result<bool, NetError> {
        self.0.probe(attempt)
    }
}

/// The real server at `[login_protect] url`, authenticated with the host's bearer token.
pub struct HttpServer {
    protect: Protect,
    token: Secret,
}

impl HttpServer {
    /// The server `protect` names, with the token read from its `secret_file` (checked as the
    /// config is; `config` names the file in errors).
    pub fn connect(config: &Path, protect: &Protect) -> Result<Self, ConfigError> {
        let token = read_secret_file(config, "login_protect.secret_file", &protect.secret_file)?;
        Ok(Self {
            protect: protect.clone(),
            token,
        })
    }
}

impl HttpServer {
    /// A dry-run attempt (`ticketgate test-protect`): checked by the server as a login's, but
    /// no unlock is taken.
    pub fn probe(&self, attempt: &Attempt) -> Result<bool, NetError> {
        client::probe(&self.protect, &self.token, attempt)
    }
}

impl ProtectServer for HttpServer {
    fn attempt(&self, attempt: &Attempt) -> Result<bool, NetError> {
        client::attempt(&self.protect, &self.token, attempt)
    }
    fn probe(&self, attempt: &Attempt) -> Result<bool, NetError> {
        client::probe(&self.protect, &self.token, attempt)
    }
}

/// Asks `server` about `attempt` unless the breaker is open; trips the breaker when it is
/// unreachable (for `retry_after`), closes it when it answers.
pub fn check(
    server: &dyn ProtectServer,
    breaker: &dyn Breaker,
    retry_after: Duration,
    attempt: &Attempt,
    now: i64,
) -> Check {
    if breaker.is_open(now) {
        let until = breaker.open_until().unwrap_or(now);
        return Check::Offline(format!(
            "skipped: the server failed recently (retry after {until})"
        ));
    }
    match server.attempt(attempt) {
        Ok(true) => {
            breaker.close();
            Check::Unlocked
        }
        Ok(false) => {
            breaker.close();
            Check::Locked
        }
        Err(NetError::Unreachable(m)) => {
            breaker.trip(now, retry_after);
            Check::Offline(m)
        }
        Err(NetError::Denied(m)) => {
            // The server answered: it is up, whatever it said.
            breaker.close();
            Check::Denied(m)
        }
    }
}

/// One client per call: the config's `timeout` is the one deadline.
fn client(protect: &Protect) -> Result<Client, NetError> {
    Client::new(protect.timeout, None)
}

#[cfg(test)]
mod tests;
