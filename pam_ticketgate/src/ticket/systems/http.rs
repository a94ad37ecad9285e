//! The `http` system, for any HTTP/JSON ticket system: `url` with the ID in place of `{id}`,
//! and the built-in checks — one JSON object whose own `id` / `number` / `key` is the ID typed,
//! with no closed, cancelled, resolved or done `status` / `state`.

use serde_json::Value;

use super::common::{own_id_is, text};
use super::{Session, TicketSystem, main_only};
use crate::config::{Auth, Ticket};
use crate::ticket::{Docs, TicketError};

/// `system = "http"`.
#[derive(Debug)]
pub struct Http;

impl TicketSystem for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn default_auth(&self) -> Auth {
        Auth::Bearer
    }

    fn default_id_pattern(&self, _table: &str) -> &'static str {
        "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    }

    fn url_template(&self) -> bool {
        true
    }

    fn fetch(&self, s: &Session, id: &str) -> Result<Docs, TicketError> {
        let doc = s.get(&url(s.cfg, id)?, &s.headers(None))?;
        check(id, &doc)?;
        Ok(main_only(doc))
    }
}

/// The `http` system: `url` with `{id}` replaced by the percent-encoded ID.
pub fn url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
    let template = cfg
        .url
        .as_deref()
        .ok_or_else(|| TicketError::Config("ticket.url is not set".into()))?;
    let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    // byte_serialize writes spaces as '+', which a path does not decode: use %20.
    let encoded = encoded.replace('+', "%20");
    url::Url::parse(&template.replace("{id}", &encoded))
        .map_err(|e| TicketError::Config(format!("ticket.url with the ID: {e}")))
}

/// The `http` system: a JSON object whose `id`, `number` or `key` (the first present) is the
/// ID, and whose `status` / `state` (text or `{name}`) is not closed, cancelled, resolved or done.
pub fn check(id: &str, doc: &Value) -> Result<(), TicketError> {
    let Some(obj) = doc.as_object() else {
        return Err(TicketError::Malformed("not a JSON object".into()));
    };
    let own = ["id", "number", "key"]
        .iter()
        .find_map(|k| text(obj.get(*k)));
    own_id_is(id, own)?;
    for k in ["status", "state"] {
        let v = obj.get(k);
        let name = text(v).or_else(|| text(v.and_then(|v| v.get("name"))));
        if let Some(name) = name
            && matches!(
                name.to_ascii_lowercase().as_str(),
                "closed" | "cancelled" | "canceled" | "resolved" | "done"
            )
        {
            return Err(TicketError::Closed(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ticket::systems::tests::cfg;

    #[test]
    fn http_url_encodes_the_id_and_checks_own_id_and_status() {
        let c = cfg(
            "system = \"http\"\nurl = \"http://127.0.0.1:9/api/tickets/{id}?full=1\"\nsecret_file = \"/s\"\n",
        );
        let u = url(&c, "a/b c%").unwrap();
        assert_eq!(u.path(), "/api/tickets/a%2Fb%20c%25");
        assert_eq!(u.query(), Some("full=1"));
        assert_eq!(
            check("T-1", &json!({"id": "T-1", "status": "approved"})),
            Ok(())
        );
        assert!(matches!(
            check("T-1", &json!({"id": "T-1", "status": {"name": "Done"}})),
            Err(TicketError::Closed(_))
        ));
        assert_eq!(
            check("T-1", &json!({"id": "T-2"})),
            Err(TicketError::WrongRecord("T-2".into()))
        );
        assert!(matches!(
            check("T-1", &json!([{"id": "T-1"}])),
            Err(TicketError::Malformed(_))
        ));
    }
}
