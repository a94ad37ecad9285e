//! What the ticket gate needs from the network, as a small trait: the real client (`net`) in
//! production, scripted fakes in unit tests. Failures are `net`'s one error type, sorted into
//! unreachable (the offline fallbacks apply) and denied (a verdict).

use std::path::PathBuf;

use super::token::TokenCache;
use super::{Credentials, Docs, TicketError, fetch_docs};
use crate::config::Ticket;
use crate::net::{NetError, Response};

/// GET and form POST with headers; the implementation owns the deadline, TLS and body cap.
pub trait Fetch {
    fn get(&self, url: &url::Url, headers: &[(&str, &str)]) -> Result<Response, NetError>;
    fn post_form(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Result<Response, NetError>;
}

impl Fetch for crate::net::Client {
    fn get(&self, url: &url::Url, headers: &[(&str, &str)]) -> Result<Response, NetError> {
        crate::net::Client::get(self, url, headers)
    }

    fn post_form(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Result<Response, NetError> {
        crate::net::Client::post_form(self, url, headers, form)
    }
}

/// The ticket system as the gate reaches it: reads the `[ticket]` secrets, makes the vendor's
/// requests and answers the ticket's documents. [`NetTicketSource`] in production, scripted in
/// tests.
pub trait TicketSource {
    /// The documents of ticket `id` (already normalised); `tokens` keeps an OAuth access token
    /// between logins.
    fn fetch(
        &self,
        cfg: &Ticket,
        id: &str,
        tokens: &dyn TokenCache,
        now: i64,
    ) -> Result<Docs, TicketError>;
}

/// The real ticket system: the secret files `[ticket]` names (checked as the config is) and
/// `net::Client` with the ticket's deadline and `ca_file`.
pub struct NetTicketSource {
    /// The config file, for error messages about its secret files.
    pub config_path: PathBuf,
}

impl TicketSource for NetTicketSource {
    fn fetch(
        &self,
        cfg: &Ticket,
        id: &str,
        tokens: &dyn TokenCache,
        now: i64,
    ) -> Result<Docs, TicketError> {
        let creds = Credentials::load(&self.config_path, cfg)?;
        let http = connect_net(cfg)?;
        fetch_docs(cfg, id, &creds, &http, tokens, now)
    }
}

/// The production client: `net::Client` with the ticket's deadline and `ca_file`.
pub fn connect_net(cfg: &Ticket) -> Result<crate::net::Client, TicketError> {
    crate::net::Client::new(cfg.timeout, cfg.ca_file.as_deref())
        .map_err(|e| TicketError::Config(e.to_string()))
}
