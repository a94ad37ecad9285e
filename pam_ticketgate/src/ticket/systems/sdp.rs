//! ServiceDesk Plus API v3 — on-premises, MSP and Cloud: the record by its id (Cloud: found by
//! its display ID first), and the built-in checks — the `response_status` envelope, which can
//! say failure inside HTTP 200, the record's own id is the ID typed, not Closed / Cancelled /
//! Resolved.

use serde_json::Value;

use super::common::{base, own_id_is, text, url_with};
use super::{Session, TicketSystem, main_only};
use crate::config::{Auth, Ticket};
use crate::secret::Secret;
use crate::ticket::{Docs, TicketError};

/// `Accept` for ServiceDesk Plus API v3 (on-premises, MSP and Cloud).
pub const ACCEPT: &str = "application/vnd.manageengine.sdp.v3+json";

/// ServiceDesk Plus in one of its editions.
#[derive(Debug)]
pub struct Sdp {
    name: &'static str,
    cloud: bool,
}

/// `system = "sdp"`: on-premises.
pub const ON_PREMISES: Sdp = Sdp {
    name: "sdp",
    cloud: false,
};

/// `system = "sdp-msp"`: MSP, the same API as on-premises.
pub const MSP: Sdp = Sdp {
    name: "sdp-msp",
    cloud: false,
};

/// `system = "sdp-cloud"`: Cloud, under `/app/<portal>`, with Zoho OAuth.
pub const CLOUD: Sdp = Sdp {
    name: "sdp-cloud",
    cloud: true,
};

impl TicketSystem for Sdp {
    fn name(&self) -> &'static str {
        self.name
    }

    fn default_auth(&self) -> Auth {
        if self.cloud {
            Auth::OAuthRefresh
        } else {
            Auth::AuthToken
        }
    }

    fn default_id_pattern(&self, _table: &str) -> &'static str {
        "^[0-9]{1,12}$"
    }

    fn accept(&self) -> &'static str {
        ACCEPT
    }

    fn fetch(&self, s: &Session, id: &str) -> Result<Docs, TicketError> {
        if !self.cloud {
            let doc = s.get(&url(s.cfg, id)?, &s.headers(None))?;
            check(s.cfg, id, None, &doc)?;
            return Ok(main_only(doc));
        }
        let token = s.access_token()?;
        // Zoho's own scheme, not `Bearer`.
        let authorization = Secret::new(format!("Zoho-oauthtoken {}", token.expose()));
        let h = s.headers(Some(&authorization));
        let found = s.get(&cloud_search_url(s.cfg, id)?, &h)?;
        let internal = cloud_internal_id(s.cfg, id, &found)?;
        let doc = s.get(&url(s.cfg, &internal)?, &h)?;
        check(s.cfg, id, Some(&internal), &doc)?;
        Ok(main_only(doc))
    }
}

/// `requests` / `changes` and the record's key in a ServiceDesk Plus answer.
pub fn names(cfg: &Ticket) -> (&'static str, &'static str) {
    if cfg.module == "change" {
        ("changes", "change")
    } else {
        ("requests", "request")
    }
}

/// ServiceDesk Plus Cloud's path prefix: `/app/<portal>/api/v3`.
fn cloud_prefix(cfg: &Ticket) -> String {
    format!("app/{}/api/v3", cfg.portal.as_deref().unwrap_or("itdesk"))
}

/// ServiceDesk Plus on-premises / MSP `GET /api/v3/<requests|changes>/<id>`; for Cloud the
/// same under `/app/<portal>` with the internal id.
pub fn url(cfg: &Ticket, internal_id: &str) -> Result<url::Url, TicketError> {
    let (list, _) = names(cfg);
    let prefix = if cfg.system.name() == CLOUD.name {
        cloud_prefix(cfg)
    } else {
        "api/v3".to_string()
    };
    url_with(base(cfg)?, &[&prefix, list], Some(internal_id))
}

/// ServiceDesk Plus Cloud: the list call that finds the record whose `display_id` is `id`.
pub fn cloud_search_url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
    let (list, _) = names(cfg);
    let mut url = url_with(base(cfg)?, &[&cloud_prefix(cfg), list], None)?;
    let input = serde_json::json!({
        "list_info": {
            "row_count": 2,
            "search_criteria": [{"field": "display_id", "condition": "is", "value": id}],
            "fields_required": ["id", "display_id"]
        }
    });
    url.query_pairs_mut()
        .append_pair("input_data", &input.to_string());
    Ok(url)
}

/// ServiceDesk Plus envelope: `response_status` (an object, or a list in list answers) with
/// `status_code` 2000. It can say failure inside HTTP 200.
pub fn check_envelope(doc: &Value) -> Result<(), TicketError> {
    let status = match doc.get("response_status") {
        Some(Value::Array(list)) => list.first(),
        other => other,
    };
    let Some(status) = status else {
        return Err(TicketError::Malformed("no response_status".into()));
    };
    let code = text(status.get("status_code"));
    if code.as_deref() == Some("2000") {
        return Ok(());
    }
    let msg = status
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
        .and_then(|m| text(m.get("message")))
        .unwrap_or_else(|| format!("status_code {}", code.unwrap_or_else(|| "?".into())));
    Err(TicketError::Vendor(msg))
}

/// SDP status names that never pass.
fn closed(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "closed" | "cancelled" | "canceled" | "resolved"
    )
}

/// ServiceDesk Plus (all three): envelope, one record under `request`/`change` whose `id`
/// (on-premises, MSP) or `display_id` (Cloud) is the ID typed, status not Closed/Cancelled/Resolved.
pub fn check(
    cfg: &Ticket,
    id: &str,
    internal: Option<&str>,
    doc: &Value,
) -> Result<(), TicketError> {
    check_envelope(doc)?;
    let (_, one) = names(cfg);
    let record = doc
        .get(one)
        .filter(|r| r.is_object())
        .ok_or_else(|| TicketError::Malformed(format!("no \"{one}\" record")))?;
    match internal {
        Some(internal) => {
            own_id_is(id, text(record.get("display_id")))?;
            own_id_is(internal, text(record.get("id")))?;
        }
        None => own_id_is(id, text(record.get("id")))?,
    }
    let status = text(record.pointer("/status/name"))
        .ok_or_else(|| TicketError::Malformed("the record has no status".into()))?;
    if closed(&status) {
        return Err(TicketError::Closed(status));
    }
    Ok(())
}

/// ServiceDesk Plus Cloud search answer: exactly one record whose `display_id` is the ID;
/// returns its internal `id` (digits only, or it never reaches a URL).
pub fn cloud_internal_id(cfg: &Ticket, id: &str, doc: &Value) -> Result<String, TicketError> {
    check_envelope(doc)?;
    let (list, _) = names(cfg);
    let records = doc
        .get(list)
        .and_then(Value::as_array)
        .ok_or_else(|| TicketError::Malformed(format!("no \"{list}\" list")))?;
    let record = match records.as_slice() {
        [] => return Err(TicketError::NotFound),
        [one] => one,
        more => return Err(TicketError::NotUnique(more.len())),
    };
    own_id_is(id, text(record.get("display_id")))?;
    let internal = text(record.get("id"))
        .ok_or_else(|| TicketError::Malformed("the record has no id".into()))?;
    if internal.is_empty() || internal.len() > 30 || !internal.chars().all(|c| c.is_ascii_digit()) {
        return Err(TicketError::Malformed(format!(
            "internal id {internal:?} is not a number"
        )));
    }
    Ok(internal)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ticket::systems::tests::{cfg, query};

    fn sdp(system: &str, module: &str) -> Ticket {
        let auth = if system == "sdp-cloud" {
            "token_url = \"https://accounts.zoho.com/oauth/v2/token\"\nclient_id = \"1000.X\"\nclient_secret_file = \"/c\"\nrefresh_token_file = \"/r\"\nportal = \"itdesk\""
        } else {
            "secret_file = \"/s\""
        };
        cfg(&format!(
            "system = \"{system}\"\nbase_url = \"https://sdp.example.com:8080\"\nmodule = \"{module}\"\n{auth}\n"
        ))
    }

    #[test]
    fn sdp_urls_on_premises_and_cloud() {
        assert_eq!(
            url(&sdp("sdp", "request"), "42").unwrap().path(),
            "/api/v3/requests/42"
        );
        assert_eq!(
            url(&sdp("sdp-msp", "change"), "7").unwrap().path(),
            "/api/v3/changes/7"
        );
        let c = sdp("sdp-cloud", "request");
        assert_eq!(
            url(&c, "123000000456789").unwrap().path(),
            "/app/itdesk/api/v3/requests/123000000456789"
        );
        let s = cloud_search_url(&c, "245").unwrap();
        assert_eq!(s.path(), "/app/itdesk/api/v3/requests");
        let (_, input) = query(&s)
            .into_iter()
            .find(|(k, _)| k == "input_data")
            .unwrap();
        let input: Value = serde_json::from_str(&input).unwrap();
        assert_eq!(
            input["list_info"]["search_criteria"][0],
            json!({"field": "display_id", "condition": "is", "value": "245"})
        );
    }

    #[test]
    fn sdp_fails_inside_http_200_and_closed_statuses_never_pass() {
        let c = sdp("sdp", "request");
        let ok = |status: &str| json!({"request": {"id": "42", "status": {"name": status}}, "response_status": {"status_code": 2000, "status": "success"}});
        assert_eq!(check(&c, "42", None, &ok("Open")), Ok(()));
        for closed in ["Closed", "Cancelled", "Resolved", "canceled"] {
            assert!(
                matches!(
                    check(&c, "42", None, &ok(closed)),
                    Err(TicketError::Closed(_))
                ),
                "{closed}"
            );
        }
        let failed = json!({"response_status": {"status_code": 4000, "messages": [{"status_code": 4007, "type": "failed", "message": "Invalid URL"}], "status": "failed"}});
        assert_eq!(
            check(&c, "42", None, &failed),
            Err(TicketError::Vendor("Invalid URL".into()))
        );
        assert_eq!(
            check(&c, "43", None, &ok("Open")),
            Err(TicketError::WrongRecord("42".into()))
        );
        let numeric = json!({"request": {"id": 42, "status": {"name": "Open"}}, "response_status": {"status_code": "2000"}});
        assert_eq!(check(&c, "42", None, &numeric), Ok(()));
        let change = json!({"change": {"id": "7", "status": {"name": "Closed"}}, "response_status": {"status_code": 2000}});
        assert!(matches!(
            check(&sdp("sdp", "change"), "7", None, &change),
            Err(TicketError::Closed(_))
        ));
    }

    #[test]
    fn sdp_cloud_resolves_display_id_to_internal_id() {
        let c = sdp("sdp-cloud", "request");
        let list = |records: Value| json!({"requests": records, "list_info": {"has_more_rows": false}, "response_status": [{"status_code": 2000, "status": "success"}]});
        let one = list(json!([{"id": "123000000456789", "display_id": "245"}]));
        assert_eq!(
            cloud_internal_id(&c, "245", &one),
            Ok("123000000456789".into())
        );
        assert_eq!(
            cloud_internal_id(&c, "245", &list(json!([]))),
            Err(TicketError::NotFound)
        );
        let two = list(json!([{"id": "1", "display_id": "245"}, {"id": "2", "display_id": "245"}]));
        assert_eq!(
            cloud_internal_id(&c, "245", &two),
            Err(TicketError::NotUnique(2))
        );
        let hostile = list(json!([{"id": "../1", "display_id": "245"}]));
        assert!(matches!(
            cloud_internal_id(&c, "245", &hostile),
            Err(TicketError::Malformed(_))
        ));
        let wrapped =
            list(json!([{"id": "9", "display_id": {"display_value": "245", "value": "245"}}]));
        assert_eq!(cloud_internal_id(&c, "245", &wrapped), Ok("9".into()));
        let rec = json!({"request": {"id": "9", "display_id": "245", "status": {"name": "Open"}}, "response_status": {"status_code": 2000}});
        assert_eq!(check(&c, "245", Some("9"), &rec), Ok(()));
        assert!(
            check(&c, "245", Some("8"), &rec).is_err(),
            "internal id must match too"
        );
    }
}
