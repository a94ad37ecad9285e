//! Fleet lockout: one failure count and lock per user across every host, kept by the fleet
//! server (`ticketgate-server`). This host asks it (`check`), reports to it (`failure`,
//! `success`) behind the shared breaker, and spools the events it could not send.

pub(crate) mod client;
pub mod spool;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::args::Credential;
use crate::config::{ConfigError, Fleet, read_secret_file};
use crate::net::NetError;
use crate::offline::Breaker;
use crate::secret::Secret;

/// The breaker's name under `run_dir`.
pub const BREAKER: &str = "fleet";

/// The most events the spool keeps; when it is full the oldest is dropped.
pub const SPOOL_LIMIT: usize = 1000;

/// Which report an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `POST /v1/fleet/failure`: a failed logon.
    Failure,
    /// `POST /v1/fleet/success`: a successful one (clears the fleet's count).
    Success,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Failure => "failure",
            Kind::Success => "success",
        }
    }

    fn from_word(word: &str) -> Option<Kind> {
        [Kind::Failure, Kind::Success]
            .into_iter()
            .find(|k| k.as_str() == word)
    }
}

/// One report to the fleet, as sent and as spooled. Its `id` is made once, so a retried or
/// spooled event is counted once by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetEvent {
    pub kind: Kind,
    /// A UUID v4.
    pub id: String,
    pub user: String,
    /// `password` or `pin`: the credential of the stack line.
    pub credential: String,
    /// This host's name (the FQDN, else the short name).
    pub host: String,
    pub service: String,
    /// Sent with failures only.
    pub rhost: String,
    /// When it happened (epoch seconds), not when it was sent.
    pub at: i64,
}

/// Where a login happens, for its events.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub user: &'a str,
    pub credential: Credential,
    pub host: &'a str,
    pub service: &'a str,
    pub rhost: &'a str,
}

impl FleetEvent {
    /// A new event with a fresh id; an error when the OS gives no random bytes.
    pub fn new(kind: Kind, origin: &Origin, at: i64) -> Result<Self, getrandom::Error> {
        Ok(Self {
            kind,
            id: new_id()?,
            user: origin.user.to_string(),
            credential: credential_word(origin.credential).to_string(),
            host: origin.host.to_string(),
            service: origin.service.to_string(),
            rhost: origin.rhost.to_string(),
            at,
        })
    }
}

impl FleetEvent {
    /// The event as one JSON object (a spool line): the protocol's fields and `kind`.
    ///
    /// Read and written through `serde_json::Value` rather than derived code: the module
    /// already carries Value's parser and printer, and a derive would add its own copies.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "id": self.id,
            "user": self.user,
            "credential": self.credential,
            "host": self.host,
            "service": self.service,
            "rhost": self.rhost,
            "at": self.at,
        })
    }

    /// The event [`to_json`](Self::to_json) wrote, or what is wrong with `value`.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let map = value.as_object().ok_or("not a JSON object")?;
        let text = |key: &str| {
            map.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("no string {key:?}"))
        };
        if let Some(key) = map.keys().find(|k| !EVENT_KEYS.contains(&k.as_str())) {
            return Err(format!("unknown field {key:?}"));
        }
        let kind = text("kind")?;
        Ok(Self {
            kind: Kind::from_word(&kind).ok_or_else(|| format!("unknown kind {kind:?}"))?,
            id: text("id")?,
            user: text("user")?,
            credential: text("credential")?,
            host: text("host")?,
            service: text("service")?,
            rhost: text("rhost")?,
            at: map
                .get("at")
                .and_then(serde_json::Value::as_i64)
                .ok_or("no integer \"at\"")?,
        })
    }
}

/// The fields of a spooled event.
const EVENT_KEYS: [&str; 8] = [
    "kind",
    "id",
    "user",
    "credential",
    "host",
    "service",
    "rhost",
    "at",
];

/// The word the protocol uses for `credential`.
pub fn credential_word(credential: Credential) -> &'static str {
    match credential {
        Credential::Password => "password",
        Credential::Pin => "pin",
    }
}

/// A random (version 4) UUID, lower-case hex with dashes.
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    // RFC 9562: version 4 in the high nibble of byte 6, variant 10 in the top bits of byte 8.
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        for nibble in [x >> 4, x & 0x0f] {
            id.push(char::from(
                HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    Ok(id)
}

/// Why the fleet has locked a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockReason {
    /// Failed logons across the fleet reached the server's limit.
    Failures,
    /// An administrator locked the user fleet-wide (`ticketgate-server lock`).
    Admin,
}

impl LockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LockReason::Failures => "failures",
            LockReason::Admin => "admin",
        }
    }
}

/// The fleet's answer about one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub locked: bool,
    pub reason: Option<LockReason>,
    /// Until when a failures lock lasts (epoch seconds); `None` = until an administrator unlocks.
    pub until: Option<i64>,
    /// Failed logons counted fleet-wide in the server's window.
    pub failures: u32,
}

/// The fleet server as the gate sees it: the HTTP client in production, a script in tests.
pub trait FleetServer {
    /// `POST /v1/fleet/check`.
    fn check(&self, user: &str, credential: Credential) -> Result<Standing, NetError>;
    /// `POST /v1/fleet/failure`: the standing after counting it.
    fn failure(&self, event: &FleetEvent) -> Result<Standing, NetError>;
    /// `POST /v1/fleet/success`.
    fn success(&self, event: &FleetEvent) -> Result<(), NetError>;
    /// Sends a spooled event to the endpoint of its kind (a failure's answer is the standing
    /// after it). Every spooled event one line sends shares one deadline (`timeout`), so a
    /// long spool cannot hold a login up; the line's own request has a deadline of its own.
    fn spooled(&self, event: &FleetEvent) -> Result<Option<Standing>, NetError>;
}

/// The real server at `[fleet] url`, authenticated with the host's bearer token.
pub struct HttpFleet {
    fleet: Fleet,
    token: Secret,
    /// The drain's one client, made at its first spooled event.
    drain: std::cell::OnceCell<Result<crate::net::Client, NetError>>,
}

impl HttpFleet {
    /// The server `fleet` names, with the token read from its `secret_file` (checked as the
    /// config is; `config` names the file in errors).
    pub fn connect(config: &Path, fleet: &Fleet) -> Result<Self, ConfigError> {
        let token = read_secret_file(config, "fleet.secret_file", &fleet.secret_file)?;
        Ok(Self {
            fleet: fleet.clone(),
            token,
            drain: std::cell::OnceCell::new(),
        })
    }
}

impl FleetServer for HttpFleet {
    fn check(&self, user: &str, credential: Credential) -> Result<Standing, NetError> {
        client::check(&self.fleet, &self.token, user, credential)
    }
    fn failure(&self, event: &FleetEvent) -> Result<Standing, NetError> {
        client::failure(&self.fleet, &self.token, event)
    }
    fn success(&self, event: &FleetEvent) -> Result<(), NetError> {
        client::success(&self.fleet, &self.token, event)
    }
    fn spooled(&self, event: &FleetEvent) -> Result<Option<Standing>, NetError> {
        let client = self.drain.get_or_init(|| {
            crate::net::Client::new(self.fleet.timeout, self.fleet.ca_file.as_deref())
        });
        match client {
            Ok(c) => client::spooled(c, &self.fleet, &self.token, event),
            Err(e) => Err(e.clone()),
        }
    }
}

/// What one call to the fleet came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    Answered(T),
    /// Unreachable, or skipped while the breaker is open: `[offline] fleet` decides.
    Offline(String),
    /// A verdict or misconfiguration (401/403/404, TLS, malformed answer): deny, never fall back.
    Denied(String),
}

/// Makes `call` unless the breaker is open; trips the breaker when the server is unreachable
/// (for `retry_after`, so a dead server costs one deadline), closes it when it answers.
pub fn ask<T>(
    breaker: &dyn Breaker,
    retry_after: Duration,
    now: i64,
    call: impl FnOnce() -> Result<T, NetError>,
) -> Reply<T> {
    if breaker.is_open(now) {
        let until = breaker.open_until().unwrap_or(now);
        return Reply::Offline(format!(
            "skipped: the server failed recently (retry after {until})"
        ));
    }
    match call() {
        Ok(answer) => {
            breaker.close();
            Reply::Answered(answer)
        }
        Err(NetError::Unreachable(m)) => {
            breaker.trip(now, retry_after);
            Reply::Offline(m)
        }
        Err(NetError::Denied(m)) => {
            // The server answered: it is up, whatever it said.
            breaker.close();
            Reply::Denied(m)
        }
    }
}

#[cfg(test)]
mod tests;
