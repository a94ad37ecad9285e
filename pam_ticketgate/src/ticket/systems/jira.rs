//! Jira (REST API v2 / v3) and Jira Service Management: the issue by its key, JSM's approvals
//! page, and the built-in checks — the error envelope, the issue's own key is the ID typed
//! (a moved issue answers with its new key), its status category is not `done`.

use serde_json::Value;

use super::common::{base, condition_fields, own_id_is, text, url_with};
use super::{Session, TicketSystem};
use crate::config::{Auth, Ticket};
use crate::secret::Secret;
use crate::ticket::{Docs, TicketError};

/// Jira, or Jira Service Management: the issue, and for JSM the request's approvals as the
/// second document.
#[derive(Debug)]
pub struct Jira {
    service_management: bool,
}

/// `system = "jira"`: Jira Cloud or Data Center.
pub const JIRA: Jira = Jira {
    service_management: false,
};

/// `system = "jsm"`: as `jira`, plus the request's approvals.
pub const JSM: Jira = Jira {
    service_management: true,
};

impl TicketSystem for Jira {
    fn name(&self) -> &'static str {
        if self.service_management {
            "jsm"
        } else {
            "jira"
        }
    }

    fn default_auth(&self) -> Auth {
        Auth::Basic
    }

    fn default_id_pattern(&self, _table: &str) -> &'static str {
        "^[A-Z][A-Z0-9_]{1,9}-[0-9]{1,10}$"
    }

    fn upper_case_ids(&self) -> bool {
        true
    }

    fn has_approvals(&self) -> bool {
        self.service_management
    }

    fn fetch(&self, s: &Session, id: &str) -> Result<Docs, TicketError> {
        let h = s.headers(None);
        let doc = s.get(&url(s.cfg, id)?, &h)?;
        check(id, &doc)?;
        let approvals = if self.service_management {
            let mut h = h;
            h.push((
                "X-ExperimentalApi".to_string(),
                Secret::new("opt-in".to_string()),
            ));
            let a = s.get(&approvals_url(s.cfg, id)?, &h)?;
            check_approvals(&a)?;
            Some(a)
        } else {
            None
        };
        Ok(Docs {
            main: doc,
            approvals,
        })
    }
}

/// Jira REST `GET /rest/api/<2|3>/issue/<key>?fields=status,…`.
pub fn url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
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
pub fn approvals_url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
    let mut url = url_with(base(cfg)?, &["rest/servicedeskapi/request"], Some(id))?;
    url.path_segments_mut()
        .map_err(|()| TicketError::Config("base_url cannot take a path".into()))?
        .push("approval");
    Ok(url)
}

/// Jira / JSM: an issue whose `key` is the ID (a moved issue answers with its new key) and
/// whose status category is not `done`. Errors: `{"errorMessages": […], "errors": {…}}`.
pub fn check(id: &str, doc: &Value) -> Result<(), TicketError> {
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
pub fn check_approvals(doc: &Value) -> Result<(), TicketError> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ticket::systems::tests::{cfg, query};

    fn jira(system: &str, version: u32) -> Ticket {
        cfg(&format!(
            "system = \"{system}\"\nbase_url = \"https://acme.atlassian.net\"\nusername = \"a@b.c\"\nsecret_file = \"/s\"\napi_version = {version}\n\
             [[ticket.condition]]\nfield = \"/fields/assignee/emailAddress\"\nop = \"eq\"\nfrom = \"user_map\"\n\
             [[ticket.condition]]\nfield = \"/fields/customfield_10020\"\nop = \"exists\"\n"
        ))
    }

    #[test]
    fn jira_url_per_api_version_with_fields() {
        let u = url(&jira("jira", 3), "OPS-12").unwrap();
        assert_eq!(u.path(), "/rest/api/3/issue/OPS-12");
        assert_eq!(
            query(&u),
            vec![("fields".into(), "status,assignee,customfield_10020".into())]
        );
        assert_eq!(
            url(&jira("jira", 2), "OPS-12").unwrap().path(),
            "/rest/api/2/issue/OPS-12"
        );
        assert_eq!(
            approvals_url(&jira("jsm", 3), "ITSM-7").unwrap().path(),
            "/rest/servicedeskapi/request/ITSM-7/approval"
        );
    }

    #[test]
    fn jira_checks_key_status_category_and_error_envelope() {
        let issue = |key: &str, cat: &str| json!({"id": "10001", "key": key, "fields": {"status": {"name": "In Progress", "statusCategory": {"key": cat}}}});
        assert_eq!(check("OPS-1", &issue("OPS-1", "indeterminate")), Ok(()));
        assert!(matches!(
            check("OPS-1", &issue("OPS-1", "done")),
            Err(TicketError::Closed(_))
        ));
        assert_eq!(
            check("OPS-1", &issue("NEW-9", "new")),
            Err(TicketError::WrongRecord("NEW-9".into())),
            "a moved issue answers with its new key"
        );
        let err = json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}});
        assert!(
            matches!(check("OPS-1", &err), Err(TicketError::Vendor(m)) if m.starts_with("Issue does not exist"))
        );
        assert!(matches!(
            check("OPS-1", &json!({"key": "OPS-1", "fields": {}})),
            Err(TicketError::Malformed(_))
        ));
        assert_eq!(check_approvals(&json!({"size": 0, "values": []})), Ok(()));
        assert!(check_approvals(&json!({"values": "x"})).is_err());
    }
}
