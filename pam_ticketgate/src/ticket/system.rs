//! Each ticket system's documented REST API: the request for one ticket, and the built-in checks
//! no configuration can switch off — the vendor's envelope says success, exactly one record, the
//! record's own number/key/display_id is the ID typed, and it is not closed or cancelled.

use serde_json::Value;

use super::TicketError;
use crate::config::{Ticket, TicketSystem};

/// `Accept` for ServiceDesk Plus API v3 (on-premises, MSP and Cloud).
pub const SDP_ACCEPT: &str = "application/vnd.manageengine.sdp.v3+json";

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

fn base(cfg: &Ticket) -> Result<&url::Url, TicketError> {
    cfg.base_url
        .as_ref()
        .ok_or_else(|| TicketError::Config("ticket.base_url is not set".into()))
}

/// The top-level names conditions read under `prefix` (`/result/0/` → `number`, `requested_by.user_name`).
fn condition_fields(cfg: &Ticket, prefix: &str) -> Vec<String> {
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

/// ServiceNow Table API: `GET /api/now/table/<table>?sysparm_query=number=<id>&sysparm_fields=…`.
pub fn servicenow_url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
    let mut url = url_with(base(cfg)?, &["api/now/table", &cfg.table], None)?;
    let mut fields = vec![
        "sys_id".to_string(),
        "number".into(),
        "state".into(),
        "active".into(),
    ];
    for f in condition_fields(cfg, "/result/0/") {
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    url.query_pairs_mut()
        .append_pair("sysparm_query", &format!("number={id}"))
        .append_pair("sysparm_fields", &fields.join(","))
        .append_pair("sysparm_limit", "2")
        .append_pair("sysparm_display_value", "false")
        .append_pair("sysparm_exclude_reference_link", "true");
    Ok(url)
}

/// Jira REST `GET /rest/api/<2|3>/issue/<key>?fields=status,…`.
pub fn jira_url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
    let version = cfg.api_version.to_string();
    let mut url = url_with(base(cfg)?, &["rest/api", &version, "issue"], Some(id))?;
    let mut fields = vec!["status".to_string()];
    for f in condition_fields(cfg, "/fields/") {
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    url.query_pairs_mut()
        .append_pair("fields", &fields.join(","));
    Ok(url)
}

/// Jira Service Management `GET /rest/servicedeskapi/request/<key>/approval`.
pub fn jsm_approvals_url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
    let mut url = url_with(base(cfg)?, &["rest/servicedeskapi/request"], Some(id))?;
    url.path_segments_mut()
        .map_err(|()| TicketError::Config("base_url cannot take a path".into()))?
        .push("approval");
    Ok(url)
}

/// `requests` / `changes` and the record's key in a ServiceDesk Plus answer.
pub fn sdp_names(cfg: &Ticket) -> (&'static str, &'static str) {
    if cfg.module == "change" {
        ("changes", "change")
    } else {
        ("requests", "request")
    }
}

/// ServiceDesk Plus Cloud's path prefix: `/app/<portal>/api/v3`.
fn sdp_cloud_prefix(cfg: &Ticket) -> String {
    format!("app/{}/api/v3", cfg.portal.as_deref().unwrap_or("itdesk"))
}

/// ServiceDesk Plus on-premises / MSP `GET /api/v3/<requests|changes>/<id>`; for Cloud the
/// same under `/app/<portal>` with the internal id.
pub fn sdp_url(cfg: &Ticket, internal_id: &str) -> Result<url::Url, TicketError> {
    let (list, _) = sdp_names(cfg);
    let prefix = if cfg.system == TicketSystem::SdpCloud {
        sdp_cloud_prefix(cfg)
    } else {
        "api/v3".to_string()
    };
    url_with(base(cfg)?, &[&prefix, list], Some(internal_id))
}

/// ServiceDesk Plus Cloud: the list call that finds the record whose `display_id` is `id`.
pub fn sdp_cloud_search_url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
    let (list, _) = sdp_names(cfg);
    let mut url = url_with(base(cfg)?, &[&sdp_cloud_prefix(cfg), list], None)?;
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

/// The `http` system: `url` with `{id}` replaced by the percent-encoded ID.
pub fn http_url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
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

/// A scalar (string or number) as text; SDP sends ids as strings, some versions as numbers.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        // ServiceDesk Plus Cloud may wrap values: {"value": …, "display_value": …}.
        Value::Object(o) => text(o.get("display_value")).or_else(|| text(o.get("value"))),
        _ => None,
    }
}

fn own_id_is(id: &str, seen: Option<String>) -> Result<(), TicketError> {
    match seen {
        Some(s) if s == id => Ok(()),
        Some(s) => Err(TicketError::WrongRecord(s)),
        None => Err(TicketError::Malformed(
            "the record carries no number/key/id".into(),
        )),
    }
}

/// ServiceNow: `{"result": [one record]}` whose `number` is the ID and that is not closed.
/// Not found is `200 {"result": []}`; errors are `{"error": {"message", "detail"}, "status": "failure"}`.
pub fn check_servicenow(cfg: &Ticket, id: &str, doc: &Value) -> Result<(), TicketError> {
    if let Some(err) = doc.get("error") {
        let msg = text(err.get("message")).unwrap_or_else(|| "error".into());
        return Err(TicketError::Vendor(msg));
    }
    let Some(records) = doc.get("result").and_then(Value::as_array) else {
        return Err(TicketError::Malformed("no \"result\" list".into()));
    };
    let record = match records.as_slice() {
        [] => return Err(TicketError::NotFound),
        [one] => one,
        more => return Err(TicketError::NotUnique(more.len())),
    };
    own_id_is(id, text(record.get("number")))?;
    let state = text(record.get("state"))
        .ok_or_else(|| TicketError::Malformed("the record has no state (field ACL?)".into()))?;
    // Closed (and cancelled / resolved) per table, in the Table API's raw values.
    let closed: &[&str] = match cfg.table.as_str() {
        "incident" => &["6", "7", "8"],
        "sc_req_item" => &["3", "4", "7"],
        _ => &["3", "4"],
    };
    if closed.contains(&state.as_str()) {
        return Err(TicketError::Closed(format!("state {state}")));
    }
    if text(record.get("active")).as_deref() == Some("false") {
        return Err(TicketError::Closed("active false".into()));
    }
    Ok(())
}

/// Jira / JSM: an issue whose `key` is the ID (a moved issue answers with its new key) and
/// whose status category is not `done`. Errors: `{"errorMessages": […], "errors": {…}}`.
pub fn check_jira(id: &str, doc: &Value) -> Result<(), TicketError> {
    if let Some(msgs) = doc.get("errorMessages").and_then(Value::as_array)
        && !msgs.is_empty()
    {
        let msg = msgs.first().and_then(Value::as_str).unwrap_or("error");
        return Err(TicketError::Vendor(msg.to_string()));
    }
    if !doc.is_object() || doc.get("fields").is_none() {
        return Err(TicketError::Malformed(
            "not an issue (no \"fields\")".into(),
        ));
    }
    own_id_is(id, text(doc.get("key")))?;
    let category = doc
        .pointer("/fields/status/statusCategory/key")
        .and_then(Value::as_str)
        .ok_or_else(|| TicketError::Malformed("the issue has no status category".into()))?;
    if category == "done" {
        let name = text(doc.pointer("/fields/status/name")).unwrap_or_else(|| "done".into());
        return Err(TicketError::Closed(name));
    }
    Ok(())
}

/// JSM approvals: a page `{"values": […], …}`.
pub fn check_jsm_approvals(doc: &Value) -> Result<(), TicketError> {
    if let Some(msg) = doc.get("errorMessage").and_then(Value::as_str) {
        return Err(TicketError::Vendor(msg.to_string()));
    }
    if doc.get("values").and_then(Value::as_array).is_none() {
        return Err(TicketError::Malformed(
            "approvals: no \"values\" list".into(),
        ));
    }
    Ok(())
}

/// ServiceDesk Plus envelope: `response_status` (an object, or a list in list answers) with
/// `status_code` 2000. It can say failure inside HTTP 200.
pub fn check_sdp_envelope(doc: &Value) -> Result<(), TicketError> {
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
fn sdp_closed(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "closed" | "cancelled" | "canceled" | "resolved"
    )
}

/// ServiceDesk Plus (all three): envelope, one record under `request`/`change` whose `id`
/// (on-premises, MSP) or `display_id` (Cloud) is the ID typed, status not Closed/Cancelled/Resolved.
pub fn check_sdp(
    cfg: &Ticket,
    id: &str,
    internal: Option<&str>,
    doc: &Value,
) -> Result<(), TicketError> {
    check_sdp_envelope(doc)?;
    let (_, one) = sdp_names(cfg);
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
    if sdp_closed(&status) {
        return Err(TicketError::Closed(status));
    }
    Ok(())
}

/// ServiceDesk Plus Cloud search answer: exactly one record whose `display_id` is the ID;
/// returns its internal `id` (digits only, or it never reaches a URL).
pub fn sdp_cloud_internal_id(cfg: &Ticket, id: &str, doc: &Value) -> Result<String, TicketError> {
    check_sdp_envelope(doc)?;
    let (list, _) = sdp_names(cfg);
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

/// The `http` system: a JSON object whose `id`, `number` or `key` (the first present) is the
/// ID, and whose `status` / `state` (text or `{name}`) is not closed, cancelled, resolved or done.
pub fn check_http(id: &str, doc: &Value) -> Result<(), TicketError> {
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

/// Zoho OAuth token answer: `{"access_token", "expires_in", …}`; errors come as
/// `{"error": "invalid_code"}`, even with HTTP 200.
pub fn zoho_token(doc: &Value) -> Result<(String, i64), TicketError> {
    if let Some(e) = doc.get("error") {
        return Err(TicketError::Vendor(format!(
            "token refresh: {}",
            text(Some(e)).unwrap_or_else(|| "error".into())
        )));
    }
    let token = doc
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| TicketError::Malformed("token refresh: no access_token".into()))?;
    let expires = doc
        .get("expires_in")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    Ok((token.to_string(), expires))
}

#[cfg(test)]
pub(crate) mod tests;
