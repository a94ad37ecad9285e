//! What the ticket gate needs from the network, as a small trait: the real client (`net`) in
//! production, scripted fakes in unit tests.

use std::fmt;

/// A 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A failed request, sorted as DESIGN §5 sorts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// DNS, refused, deadline, 5xx, 429: the offline fallback applies.
    Unreachable(String),
    /// 401/403/404/other non-2xx, TLS errors, oversized bodies: a verdict that denies.
    Denied(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(m) => write!(f, "unreachable: {m}"),
            Self::Denied(m) => write!(f, "refused: {m}"),
        }
    }
}

/// GET and form POST with headers; the implementation owns the deadline, TLS and body cap.
pub trait Fetch {
    fn get(&self, url: &url::Url, headers: &[(&str, &str)]) -> Result<Reply, FetchError>;
    fn post_form(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Result<Reply, FetchError>;
}

impl Fetch for crate::net::Client {
    fn get(&self, url: &url::Url, headers: &[(&str, &str)]) -> Result<Reply, FetchError> {
        crate::net::Client::get(self, url, headers)
            .map(|r| Reply {
                status: r.status,
                body: r.body,
            })
            .map_err(from_net)
    }

    fn post_form(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Result<Reply, FetchError> {
        crate::net::Client::post_form(self, url, headers, form)
            .map(|r| Reply {
                status: r.status,
                body: r.body,
            })
            .map_err(from_net)
    }
}

fn from_net(e: crate::net::NetError) -> FetchError {
    match e {
        crate::net::NetError::Unreachable(m) => FetchError::Unreachable(m),
        crate::net::NetError::Denied(m) => FetchError::Denied(m),
    }
}
