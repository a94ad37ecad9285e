//! What the ticket gate needs from the network, as a small trait: the real client (`net`) in
//! production, scripted fakes in unit tests. Failures are `net`'s one error type, sorted into
//! unreachable (the offline fallbacks apply) and denied (a verdict).

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
