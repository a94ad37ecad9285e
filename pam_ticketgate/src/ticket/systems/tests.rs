use std::path::Path;

use crate::config::{Config, Ticket};

/// `[ticket]` from its TOML body, resolved as the module would.
pub(crate) fn cfg(ticket: &str) -> Ticket {
    let text = format!("version = 1\n[ticket]\n{ticket}\n");
    Config::parse(Path::new("/t.toml"), &text)
        .unwrap()
        .ticket
        .unwrap()
}

/// A URL's query as decoded pairs.
pub(crate) fn query(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
