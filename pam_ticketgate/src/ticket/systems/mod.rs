//! The ticket systems, one file each behind [`TicketSystem`]: the config's `system` word, the
//! default `auth` and `id_pattern`, the requests for one ticket, and the built-in checks no
//! configuration can switch off — the vendor's envelope says success, exactly one record, the
//! record's own number/key/display_id is the ID typed, and it is not closed or cancelled.
//! [`SYSTEMS`] maps the `system` words to them: adding a system is one file and one line there.

pub mod common;
pub mod http;
pub mod jira;
pub mod sdp;
pub mod servicenow;

use std::fmt;

use serde_json::Value;

use super::token::{self, TokenCache};
use super::{Credentials, Docs, Fetch, TicketError};
use crate::config::{Auth, Ticket};
use crate::secret::Secret;

/// One ticket system, as the config's `system` word selects it.
pub trait TicketSystem: fmt::Debug + Sync {
    /// The `system` word in the config and in the audit trail (`system=`).
    fn name(&self) -> &'static str;
    /// `auth` when the config sets none.
    fn default_auth(&self) -> Auth;
    /// `id_pattern` when the config sets none; `table` is ServiceNow's (resolved, so
    /// `change_request` unless set), which the other systems ignore.
    fn default_id_pattern(&self, table: &str) -> &'static str;
    /// The system's IDs are upper-case: what is typed is upper-cased before its checks.
    fn upper_case_ids(&self) -> bool {
        false
    }
    /// Addressed by `url` (a template holding `{id}`) instead of `base_url`.
    fn url_template(&self) -> bool {
        false
    }
    /// Fetches a second document, `approvals`, that conditions may read (`doc = "approvals"`).
    fn has_approvals(&self) -> bool {
        false
    }
    /// The `Accept` header of the ticket requests.
    fn accept(&self) -> &'static str {
        "application/json"
    }
    /// The requests for ticket `id` (already normalised) and the built-in checks of every
    /// answer; the checked answers, as the vendor sent them, are the documents conditions read.
    fn fetch(&self, session: &Session, id: &str) -> Result<Docs, TicketError>;
}

/// Every system the config accepts, in the order its error message lists them.
pub static SYSTEMS: &[&dyn TicketSystem] = &[
    &servicenow::ServiceNow,
    &jira::JIRA,
    &jira::JSM,
    &sdp::ON_PREMISES,
    &sdp::MSP,
    &sdp::CLOUD,
    &http::Http,
];

/// The system a config's `system` word names.
pub fn find(name: &str) -> Option<&'static dyn TicketSystem> {
    SYSTEMS.iter().copied().find(|s| s.name() == name)
}

/// One ticket check's means: the resolved `[ticket]`, the credentials, the HTTP client, the
/// token cache and the time.
pub struct Session<'a> {
    pub cfg: &'a Ticket,
    pub creds: &'a Credentials,
    pub http: &'a dyn Fetch,
    pub tokens: &'a dyn TokenCache,
    pub now: i64,
}

impl Session<'_> {
    /// The request headers: the system's `Accept` and the credentials, or `oauth`: the whole
    /// `Authorization` value for an OAuth access token (the scheme is the system's).
    pub fn headers(&self, oauth: Option<&Secret>) -> Vec<(String, Secret)> {
        super::headers(self.cfg, self.creds, oauth)
    }

    /// GET `url`; the answer must be JSON.
    pub fn get(&self, url: &url::Url, headers: &[(String, Secret)]) -> Result<Value, TicketError> {
        super::get(self.http, url, headers)
    }

    /// A valid OAuth access token (cached, or refreshed at `token_url`).
    pub fn access_token(&self) -> Result<Secret, TicketError> {
        token::access_token(self.cfg, self.creds, self.http, self.tokens, self.now)
    }
}

/// The checked answer when it is the only document.
fn main_only(doc: Value) -> Docs {
    Docs {
        main: doc,
        approvals: None,
    }
}

#[cfg(test)]
pub(crate) mod tests;
