//! The ticket gate's core (docs/design.md: the `ticket` line, `[ticket]`, offline): ID checks before any
//! request, the fetch from each ticket system, its built-in checks, and the conditions.
//! Plain values in, a verdict out; the gate (`gate/auth.rs`) prompts, audits and decides.

pub mod breakglass;
pub mod cache;
pub mod eval;
pub mod fetch;
pub mod login;
pub mod systems;
pub mod time;
pub mod token;

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use serde_json::Value;

pub use eval::{CondResult, Docs, Facts};
pub use fetch::{Fetch, NetTicketSource, TicketSource};

use crate::config::{Auth, Ticket, read_secret_file};
use crate::net::NetError;
use crate::secret::Secret;

/// The longest ticket ID accepted (checked before the pattern and before any request).
pub const MAX_ID_LEN: usize = 64;

/// Why a typed ticket ID was refused before any request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    Empty,
    TooLong,
    Pattern,
    /// A control character, or `.` / `..`: refused whatever `id_pattern` allows, because the
    /// URL parser drops tabs and newlines and resolves dot segments, so the request would name
    /// another resource than the ID typed.
    Unsafe,
}

/// Everything that can stop a ticket. `Unreachable` is the only one the offline fallback may
/// turn around; every other variant denies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketError {
    /// The ID typed is empty, too long or does not match `id_pattern`; no request was made.
    InvalidId(IdProblem),
    /// DNS, refused, deadline, 5xx, 429, or the breaker is open.
    Unreachable(String),
    /// 401/403/404/other non-2xx, TLS, oversized body: the server's (or the network's) verdict.
    Denied(String),
    /// The system answered that there is no such ticket.
    NotFound,
    /// More than one record came back.
    NotUnique(usize),
    /// The record's own number/key/display_id is not the ID typed (shown: what it is).
    WrongRecord(String),
    /// The vendor's envelope says failure (message from the vendor).
    Vendor(String),
    /// The ticket is closed, cancelled or resolved.
    Closed(String),
    /// The answer is not what the vendor documents.
    Malformed(String),
    /// The configuration or a secret file cannot be used.
    Config(String),
}

impl TicketError {
    /// A short word for the audit trail (`reason=`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidId(IdProblem::Empty) => "empty_id",
            Self::InvalidId(IdProblem::TooLong) => "id_too_long",
            Self::InvalidId(IdProblem::Pattern | IdProblem::Unsafe) => "id_pattern",
            Self::Unreachable(_) => "unreachable",
            Self::Denied(_) => "denied",
            Self::NotFound => "not_found",
            Self::NotUnique(_) => "not_unique",
            Self::WrongRecord(_) => "wrong_record",
            Self::Vendor(_) => "vendor_error",
            Self::Closed(_) => "closed",
            Self::Malformed(_) => "malformed",
            Self::Config(_) => "config",
        }
    }

    /// The one short line the user sees.
    pub fn user_message(&self) -> &'static str {
        match self {
            Self::InvalidId(_) => "Ticket rejected: not a valid ticket ID.",
            Self::NotFound | Self::WrongRecord(_) | Self::NotUnique(_) => {
                "Ticket rejected: no such ticket."
            }
            Self::Closed(_) => "Ticket rejected: the ticket is closed.",
            Self::Unreachable(_) => "Ticket rejected: the ticket system cannot be reached.",
            Self::Denied(_) | Self::Vendor(_) | Self::Malformed(_) | Self::Config(_) => {
                "Ticket rejected: the ticket system refused the check."
            }
        }
    }
}

impl fmt::Display for TicketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidId(IdProblem::Empty) => write!(f, "no ticket ID given"),
            Self::InvalidId(IdProblem::TooLong) => {
                write!(f, "ticket ID longer than {MAX_ID_LEN} characters")
            }
            Self::InvalidId(IdProblem::Pattern) => write!(f, "ticket ID does not match id_pattern"),
            Self::InvalidId(IdProblem::Unsafe) => write!(
                f,
                "ticket ID holds a control character or is '.' or '..' (refused whatever id_pattern allows)"
            ),
            Self::Unreachable(m) => write!(f, "ticket system unreachable: {m}"),
            Self::Denied(m) => write!(f, "ticket system refused the request: {m}"),
            Self::NotFound => write!(f, "no such ticket"),
            Self::NotUnique(n) => write!(f, "{n} records match the ticket ID, expected one"),
            Self::WrongRecord(s) => write!(f, "the record returned is {s:?}, not the ticket typed"),
            Self::Vendor(m) => write!(f, "the ticket system reported an error: {m}"),
            Self::Closed(s) => write!(f, "the ticket is closed ({s})"),
            Self::Malformed(m) => write!(f, "unexpected answer from the ticket system: {m}"),
            Self::Config(m) => write!(f, "ticket configuration: {m}"),
        }
    }
}

impl std::error::Error for TicketError {}

impl From<NetError> for TicketError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Unreachable(m) => Self::Unreachable(m),
            NetError::Denied(m) => Self::Denied(m),
        }
    }
}

/// Trims, upper-cases for systems whose IDs are upper-case, checks the length cap, refuses
/// control characters and dot segments, then checks `id_pattern`. Nothing reaches the network
/// before this passed.
pub fn normalise_id(cfg: &Ticket, raw: &str) -> Result<String, TicketError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TicketError::InvalidId(IdProblem::Empty));
    }
    if trimmed.chars().count() > MAX_ID_LEN {
        return Err(TicketError::InvalidId(IdProblem::TooLong));
    }
    let id = if cfg.system.upper_case_ids() {
        trimmed.to_ascii_uppercase()
    } else {
        trimmed.to_string()
    };
    if id.chars().any(char::is_control) || id == "." || id == ".." {
        return Err(TicketError::InvalidId(IdProblem::Unsafe));
    }
    if !cfg.id_pattern.is_match(&id) {
        return Err(TicketError::InvalidId(IdProblem::Pattern));
    }
    Ok(id)
}

/// The credentials read from the `*_file` secrets.
#[derive(Debug)]
pub enum Credentials {
    Basic {
        username: String,
        password: Secret,
    },
    Bearer(Secret),
    AuthToken(Secret),
    OAuthRefresh {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
    },
}

fn read_secret(config: &Path, key: &str, file: Option<&Path>) -> Result<Secret, TicketError> {
    let file = file.ok_or_else(|| TicketError::Config(format!("{key} is not set")))?;
    read_secret_file(config, key, file).map_err(|e| TicketError::Config(e.to_string()))
}

impl Credentials {
    /// Reads (and checks the ownership and mode of) the secret files `cfg` names.
    pub fn load(config: &Path, cfg: &Ticket) -> Result<Self, TicketError> {
        Ok(match cfg.auth {
            Auth::Basic => Self::Basic {
                username: cfg.username.clone().unwrap_or_default(),
                password: read_secret(config, "ticket.secret_file", cfg.secret_file.as_deref())?,
            },
            Auth::Bearer => Self::Bearer(read_secret(
                config,
                "ticket.secret_file",
                cfg.secret_file.as_deref(),
            )?),
            Auth::AuthToken => Self::AuthToken(read_secret(
                config,
                "ticket.secret_file",
                cfg.secret_file.as_deref(),
            )?),
            Auth::OAuthRefresh => Self::OAuthRefresh {
                client_id: cfg.client_id.clone().unwrap_or_default(),
                client_secret: read_secret(
                    config,
                    "ticket.client_secret_file",
                    cfg.client_secret_file.as_deref(),
                )?,
                refresh_token: read_secret(
                    config,
                    "ticket.refresh_token_file",
                    cfg.refresh_token_file.as_deref(),
                )?,
            },
        })
    }
}

/// Standard base64 with padding (RFC 4648 §4), as `Authorization: Basic` wants.
fn base64(input: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(input)
}

/// The fetched documents plus every condition's result.
#[derive(Debug, Clone)]
pub struct Checked {
    pub docs: Docs,
    pub results: Vec<CondResult>,
    /// End of the ticket's change window, when a `within` condition gave one.
    pub window_end: Option<i64>,
}

impl Checked {
    /// All conditions held.
    pub fn accepted(&self) -> bool {
        self.results.iter().all(|r| r.ok)
    }
}

/// Fetches ticket `id` (already normalised) and evaluates the conditions. Errors are the
/// built-in checks and the transport; a `Checked` may still have failing conditions.
pub fn check(
    cfg: &Ticket,
    id: &str,
    creds: &Credentials,
    http: &dyn Fetch,
    tokens: &dyn token::TokenCache,
    facts: &Facts,
    now: i64,
) -> Result<Checked, TicketError> {
    let docs = fetch_docs(cfg, id, creds, http, tokens, now)?;
    Ok(evaluate(cfg, docs, facts, now))
}

/// Every condition of `cfg` over the fetched `docs`.
pub fn evaluate(cfg: &Ticket, docs: Docs, facts: &Facts, now: i64) -> Checked {
    let results = eval::evaluate_all(&cfg.conditions, &docs, facts, now);
    let window_end = eval::window_end(&cfg.conditions, &docs);
    Checked {
        docs,
        results,
        window_end,
    }
}

/// The request headers: the vendor's `Accept` and authentication (`oauth`: the whole
/// `Authorization` value for an OAuth access token, in the system's scheme).
fn headers(cfg: &Ticket, creds: &Credentials, oauth: Option<&Secret>) -> Vec<(String, Secret)> {
    let accept = cfg.system.accept();
    let mut h = vec![("Accept".to_string(), Secret::new(accept.to_string()))];
    let auth = match (creds, oauth) {
        (_, Some(token)) => Some(("Authorization", token.expose().to_string())),
        (Credentials::Basic { username, password }, None) => Some((
            "Authorization",
            format!(
                "Basic {}",
                base64(format!("{username}:{}", password.expose()).as_bytes())
            ),
        )),
        (Credentials::Bearer(t), None) => Some(("Authorization", format!("Bearer {}", t.expose()))),
        (Credentials::AuthToken(t), None) => Some(("authtoken", t.expose().to_string())),
        (Credentials::OAuthRefresh { .. }, None) => None,
    };
    if let Some((name, value)) = auth {
        h.push((name.to_string(), Secret::new(value)));
    }
    h
}

fn get(
    http: &dyn Fetch,
    url: &url::Url,
    headers: &[(String, Secret)],
) -> Result<Value, TicketError> {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    let reply = http.get(url, &h)?;
    systems::common::json(&reply.body, url.path())
}

/// The system's request sequence and built-in checks (`systems`).
pub fn fetch_docs(
    cfg: &Ticket,
    id: &str,
    creds: &Credentials,
    http: &dyn Fetch,
    tokens: &dyn token::TokenCache,
    now: i64,
) -> Result<Docs, TicketError> {
    let session = systems::Session {
        cfg,
        creds,
        http,
        tokens,
        now,
    };
    cfg.system.fetch(&session, id)
}

#[cfg(test)]
mod tests;
