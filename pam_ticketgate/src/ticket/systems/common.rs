//! What the ticket systems' files share: the JSON body, URLs built from literal segments, the
//! fields conditions read, vendor scalars as text, and the own-ID check.

use serde_json::Value;

use crate::config::Ticket;
use crate::ticket::TicketError;

/// Parses a response body as JSON (a body that is not JSON is a verdict: deny).
pub fn json(body: &[u8], what: &str) -> Result<Value, TicketError> {
    serde_json::from_slice(body)
        .map_err(|e| TicketError::Malformed(format!("{what}: not JSON ({e})")))
}

/// `base` + `/`-separated literal path segments, then `id` as one percent-encoded segment.
pub fn url_with(base: &url::Url, path: &[&str], id: Option<&str>) -> Result<url::Url, TicketError> {
    let mut url = base.clone();
    {
        let mut segs = url
            .path_segments_mut()
            .map_err(|()| TicketError::Config(format!("{base} cannot take a path")))?;
        segs.pop_if_empty();
        for p in path {
            segs.extend(p.split('/').filter(|s| !s.is_empty()));
        }
        if let Some(id) = id {
            segs.push(id);
        }
    }
    url.set_query(None);
    Ok(url)
}

/// `ticket.base_url`, which every system but `http` requires.
pub(super) fn base(cfg: &Ticket) -> Result<&url::Url, TicketError> {
    cfg.base_url
        .as_ref()
        .ok_or_else(|| TicketError::Config("ticket.base_url is not set".into()))
}

/// The top-level names conditions read under `prefix` (`/result/0/` → `number`, `requested_by.user_name`).
pub(super) fn condition_fields(cfg: &Ticket, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &cfg.conditions {
        if c.doc != crate::config::ConditionDoc::Main {
            continue;
        }
        for p in [Some(&c.field), c.start.as_ref(), c.end.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Some(rest) = p.strip_prefix(prefix) {
                let name = rest.split('/').next().unwrap_or("");
                let name = name.replace("~1", "/").replace("~0", "~");
                if !name.is_empty() && !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// A scalar (string or number) as text; SDP sends ids as strings, some versions as numbers.
pub(in crate::ticket) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        // ServiceDesk Plus Cloud may wrap values: {"value": …, "display_value": …}.
        Value::Object(o) => text(o.get("display_value")).or_else(|| text(o.get("value"))),
        _ => None,
    }
}

/// The record's own number / key / id is the ID asked for.
pub(super) fn own_id_is(id: &str, seen: Option<String>) -> Result<(), TicketError> {
    match seen {
        Some(s) if s == id => Ok(()),
        Some(s) => Err(TicketError::WrongRecord(s)),
        None => Err(TicketError::Malformed(
            "the record carries no number/key/id".into(),
        )),
    }
}
