//! ServiceNow's Table API: the request for one record by its number, and the built-in checks —
//! the envelope, exactly one record, its number is the ID typed, not closed for its table.

use serde_json::Value;

use super::common::{base, condition_fields, own_id_is, text, url_with};
use super::{Session, TicketSystem, main_only};
use crate::config::{Auth, Ticket};
use crate::ticket::{Docs, TicketError};

/// `system = "servicenow"`.
#[derive(Debug)]
pub struct ServiceNow;

impl TicketSystem for ServiceNow {
    fn name(&self) -> &'static str {
        "servicenow"
    }

    fn default_auth(&self) -> Auth {
        Auth::Basic
    }

    fn default_id_pattern(&self, table: &str) -> &'static str {
        match table {
            "incident" => "^INC[0-9]{7,}$",
            "sc_req_item" => "^RITM[0-9]{7,}$",
            _ => "^CHG[0-9]{7,}$",
        }
    }

    fn upper_case_ids(&self) -> bool {
        true
    }

    fn fetch(&self, s: &Session, id: &str) -> Result<Docs, TicketError> {
        let doc = s.get(&url(s.cfg, id)?, &s.headers(None))?;
        check(s.cfg, id, &doc)?;
        Ok(main_only(doc))
    }
}

/// ServiceNow Table API: `GET /api/now/table/<table>?sysparm_query=number=<id>&sysparm_fields=…`.
pub fn url(cfg: &Ticket, id: &str) -> Result<url::Url, TicketError> {
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

/// ServiceNow: `{"result": [one record]}` whose `number` is the ID and that is not closed.
/// Not found is `200 {"result": []}`; errors are `{"error": {"message", "detail"}, "status": "failure"}`.
pub fn check(cfg: &Ticket, id: &str, doc: &Value) -> Result<(), TicketError> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ticket::systems::tests::{cfg, query};

    fn snow(table: &str) -> Ticket {
        cfg(&format!(
            "system = \"servicenow\"\nbase_url = \"https://acme.service-now.com\"\nusername = \"svc\"\nsecret_file = \"/s\"\ntable = \"{table}\"\n\
             [[ticket.condition]]\nfield = \"/result/0/requested_by.user_name\"\nop = \"eq\"\nfrom = \"user\"\n\
             [[ticket.condition]]\nop = \"within\"\nstart = \"/result/0/start_date\"\nend = \"/result/0/end_date\"\ntime_format = \"servicenow\"\n"
        ))
    }

    #[test]
    fn servicenow_query_names_the_number_and_the_fields_conditions_use() {
        let url = url(&snow("change_request"), "CHG0000001").unwrap();
        assert_eq!(url.path(), "/api/now/table/change_request");
        let q = query(&url);
        assert!(q.contains(&("sysparm_query".into(), "number=CHG0000001".into())));
        assert!(q.contains(&(
            "sysparm_fields".into(),
            "sys_id,number,state,active,requested_by.user_name,start_date,end_date".into()
        )));
        assert!(q.contains(&("sysparm_limit".into(), "2".into())));
    }

    fn snow_record(number: &str, state: &str, active: &str) -> Value {
        json!({"result": [{"number": number, "state": state, "active": active, "sys_id": "a1b2"}]})
    }

    #[test]
    fn servicenow_envelope_not_found_duplicates_and_wrong_record() {
        let c = snow("change_request");
        assert_eq!(
            check(&c, "CHG0000001", &snow_record("CHG0000001", "-1", "true")),
            Ok(())
        );
        assert_eq!(
            check(&c, "CHG0000001", &json!({"result": []})),
            Err(TicketError::NotFound)
        );
        let two = json!({"result": [{"number": "CHG0000001"}, {"number": "CHG0000001"}]});
        assert_eq!(
            check(&c, "CHG0000001", &two),
            Err(TicketError::NotUnique(2))
        );
        assert_eq!(
            check(&c, "CHG0000001", &snow_record("CHG0000002", "-1", "true")),
            Err(TicketError::WrongRecord("CHG0000002".into()))
        );
        let err = json!({"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"});
        assert_eq!(
            check(&c, "CHG0000001", &err),
            Err(TicketError::Vendor("User Not Authenticated".into()))
        );
        assert!(matches!(
            check(&c, "CHG0000001", &json!({"records": []})),
            Err(TicketError::Malformed(_))
        ));
    }

    #[test]
    fn servicenow_closed_states_per_table() {
        let cases = [
            ("change_request", "3", true),
            ("change_request", "4", true),
            ("change_request", "-2", false),
            ("incident", "6", true),
            ("incident", "7", true),
            ("incident", "8", true),
            ("incident", "2", false),
            ("sc_req_item", "3", true),
            ("sc_req_item", "7", true),
            ("sc_req_item", "2", false),
        ];
        for (table, state, closed) in cases {
            let prefix = match table {
                "incident" => "INC",
                "sc_req_item" => "RITM",
                _ => "CHG",
            };
            let id = format!("{prefix}0000001");
            let r = check(&snow(table), &id, &snow_record(&id, state, "true"));
            assert_eq!(
                matches!(r, Err(TicketError::Closed(_))),
                closed,
                "{table} {state}: {r:?}"
            );
        }
        let inactive = check(
            &snow("incident"),
            "INC0000001",
            &snow_record("INC0000001", "2", "false"),
        );
        assert!(matches!(inactive, Err(TicketError::Closed(_))));
    }
}
