use std::path::Path;

use serde_json::json;

use super::*;
use crate::config::Config;

pub(crate) fn cfg(ticket: &str) -> Ticket {
    let text = format!("version = 1\n[ticket]\n{ticket}\n");
    Config::parse(Path::new("/t.toml"), &text)
        .unwrap()
        .ticket
        .unwrap()
}

fn snow(table: &str) -> Ticket {
    cfg(&format!(
        "system = \"servicenow\"\nbase_url = \"https://acme.service-now.com\"\nusername = \"svc\"\nsecret_file = \"/s\"\ntable = \"{table}\"\n\
         [[ticket.condition]]\nfield = \"/result/0/requested_by.user_name\"\nop = \"eq\"\nfrom = \"user\"\n\
         [[ticket.condition]]\nop = \"within\"\nstart = \"/result/0/start_date\"\nend = \"/result/0/end_date\"\ntime_format = \"servicenow\"\n"
    ))
}

fn query(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn servicenow_query_names_the_number_and_the_fields_conditions_use() {
    let url = servicenow_url(&snow("change_request"), "CHG0000001").unwrap();
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
        check_servicenow(&c, "CHG0000001", &snow_record("CHG0000001", "-1", "true")),
        Ok(())
    );
    assert_eq!(
        check_servicenow(&c, "CHG0000001", &json!({"result": []})),
        Err(TicketError::NotFound)
    );
    let two = json!({"result": [{"number": "CHG0000001"}, {"number": "CHG0000001"}]});
    assert_eq!(
        check_servicenow(&c, "CHG0000001", &two),
        Err(TicketError::NotUnique(2))
    );
    assert_eq!(
        check_servicenow(&c, "CHG0000001", &snow_record("CHG0000002", "-1", "true")),
        Err(TicketError::WrongRecord("CHG0000002".into()))
    );
    let err = json!({"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"});
    assert_eq!(
        check_servicenow(&c, "CHG0000001", &err),
        Err(TicketError::Vendor("User Not Authenticated".into()))
    );
    assert!(matches!(
        check_servicenow(&c, "CHG0000001", &json!({"records": []})),
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
        let r = check_servicenow(&snow(table), &id, &snow_record(&id, state, "true"));
        assert_eq!(
            matches!(r, Err(TicketError::Closed(_))),
            closed,
            "{table} {state}: {r:?}"
        );
    }
    let inactive = check_servicenow(
        &snow("incident"),
        "INC0000001",
        &snow_record("INC0000001", "2", "false"),
    );
    assert!(matches!(inactive, Err(TicketError::Closed(_))));
}

fn jira(system: &str, version: u32) -> Ticket {
    cfg(&format!(
        "system = \"{system}\"\nbase_url = \"https://acme.atlassian.net\"\nusername = \"a@b.c\"\nsecret_file = \"/s\"\napi_version = {version}\n\
         [[ticket.condition]]\nfield = \"/fields/assignee/emailAddress\"\nop = \"eq\"\nfrom = \"user_map\"\n\
         [[ticket.condition]]\nfield = \"/fields/customfield_10020\"\nop = \"exists\"\n"
    ))
}

#[test]
fn jira_url_per_api_version_with_fields() {
    let u = jira_url(&jira("jira", 3), "OPS-12").unwrap();
    assert_eq!(u.path(), "/rest/api/3/issue/OPS-12");
    assert_eq!(
        query(&u),
        vec![("fields".into(), "status,assignee,customfield_10020".into())]
    );
    assert_eq!(
        jira_url(&jira("jira", 2), "OPS-12").unwrap().path(),
        "/rest/api/2/issue/OPS-12"
    );
    assert_eq!(
        jsm_approvals_url(&jira("jsm", 3), "ITSM-7").unwrap().path(),
        "/rest/servicedeskapi/request/ITSM-7/approval"
    );
}

#[test]
fn jira_checks_key_status_category_and_error_envelope() {
    let issue = |key: &str, cat: &str| json!({"id": "10001", "key": key, "fields": {"status": {"name": "In Progress", "statusCategory": {"key": cat}}}});
    assert_eq!(
        check_jira("OPS-1", &issue("OPS-1", "indeterminate")),
        Ok(())
    );
    assert!(matches!(
        check_jira("OPS-1", &issue("OPS-1", "done")),
        Err(TicketError::Closed(_))
    ));
    assert_eq!(
        check_jira("OPS-1", &issue("NEW-9", "new")),
        Err(TicketError::WrongRecord("NEW-9".into())),
        "a moved issue answers with its new key"
    );
    let err = json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}});
    assert!(
        matches!(check_jira("OPS-1", &err), Err(TicketError::Vendor(m)) if m.starts_with("Issue does not exist"))
    );
    assert!(matches!(
        check_jira("OPS-1", &json!({"key": "OPS-1", "fields": {}})),
        Err(TicketError::Malformed(_))
    ));
    assert_eq!(
        check_jsm_approvals(&json!({"size": 0, "values": []})),
        Ok(())
    );
    assert!(check_jsm_approvals(&json!({"values": "x"})).is_err());
}

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
        sdp_url(&sdp("sdp", "request"), "42").unwrap().path(),
        "/api/v3/requests/42"
    );
    assert_eq!(
        sdp_url(&sdp("sdp-msp", "change"), "7").unwrap().path(),
        "/api/v3/changes/7"
    );
    let c = sdp("sdp-cloud", "request");
    assert_eq!(
        sdp_url(&c, "123000000456789").unwrap().path(),
        "/app/itdesk/api/v3/requests/123000000456789"
    );
    let s = sdp_cloud_search_url(&c, "245").unwrap();
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
    assert_eq!(check_sdp(&c, "42", None, &ok("Open")), Ok(()));
    for closed in ["Closed", "Cancelled", "Resolved", "canceled"] {
        assert!(
            matches!(
                check_sdp(&c, "42", None, &ok(closed)),
                Err(TicketError::Closed(_))
            ),
            "{closed}"
        );
    }
    let failed = json!({"response_status": {"status_code": 4000, "messages": [{"status_code": 4007, "type": "failed", "message": "Invalid URL"}], "status": "failed"}});
    assert_eq!(
        check_sdp(&c, "42", None, &failed),
        Err(TicketError::Vendor("Invalid URL".into()))
    );
    assert_eq!(
        check_sdp(&c, "43", None, &ok("Open")),
        Err(TicketError::WrongRecord("42".into()))
    );
    let numeric = json!({"request": {"id": 42, "status": {"name": "Open"}}, "response_status": {"status_code": "2000"}});
    assert_eq!(check_sdp(&c, "42", None, &numeric), Ok(()));
    let change = json!({"change": {"id": "7", "status": {"name": "Closed"}}, "response_status": {"status_code": 2000}});
    assert!(matches!(
        check_sdp(&sdp("sdp", "change"), "7", None, &change),
        Err(TicketError::Closed(_))
    ));
}

#[test]
fn sdp_cloud_resolves_display_id_to_internal_id() {
    let c = sdp("sdp-cloud", "request");
    let list = |records: Value| json!({"requests": records, "list_info": {"has_more_rows": false}, "response_status": [{"status_code": 2000, "status": "success"}]});
    let one = list(json!([{"id": "123000000456789", "display_id": "245"}]));
    assert_eq!(
        sdp_cloud_internal_id(&c, "245", &one),
        Ok("123000000456789".into())
    );
    assert_eq!(
        sdp_cloud_internal_id(&c, "245", &list(json!([]))),
        Err(TicketError::NotFound)
    );
    let two = list(json!([{"id": "1", "display_id": "245"}, {"id": "2", "display_id": "245"}]));
    assert_eq!(
        sdp_cloud_internal_id(&c, "245", &two),
        Err(TicketError::NotUnique(2))
    );
    let hostile = list(json!([{"id": "../1", "display_id": "245"}]));
    assert!(matches!(
        sdp_cloud_internal_id(&c, "245", &hostile),
        Err(TicketError::Malformed(_))
    ));
    let wrapped =
        list(json!([{"id": "9", "display_id": {"display_value": "245", "value": "245"}}]));
    assert_eq!(sdp_cloud_internal_id(&c, "245", &wrapped), Ok("9".into()));
    let rec = json!({"request": {"id": "9", "display_id": "245", "status": {"name": "Open"}}, "response_status": {"status_code": 2000}});
    assert_eq!(check_sdp(&c, "245", Some("9"), &rec), Ok(()));
    assert!(
        check_sdp(&c, "245", Some("8"), &rec).is_err(),
        "internal id must match too"
    );
}

#[test]
fn zoho_token_errors_come_with_http_200() {
    assert_eq!(
        zoho_token(
            &json!({"access_token": "1000.abc", "expires_in": 3600, "token_type": "Bearer"})
        ),
        Ok(("1000.abc".into(), 3600))
    );
    assert!(matches!(
        zoho_token(&json!({"error": "invalid_code"})),
        Err(TicketError::Vendor(_))
    ));
    assert!(zoho_token(&json!({"access_token": "bad token"})).is_err());
}

#[test]
fn http_url_encodes_the_id_and_checks_own_id_and_status() {
    let c = cfg(
        "system = \"http\"\nurl = \"http://127.0.0.1:9/api/tickets/{id}?full=1\"\nsecret_file = \"/s\"\n",
    );
    let u = http_url(&c, "a/b c%").unwrap();
    assert_eq!(u.path(), "/api/tickets/a%2Fb%20c%25");
    assert_eq!(u.query(), Some("full=1"));
    assert_eq!(
        check_http("T-1", &json!({"id": "T-1", "status": "approved"})),
        Ok(())
    );
    assert!(matches!(
        check_http("T-1", &json!({"id": "T-1", "status": {"name": "Done"}})),
        Err(TicketError::Closed(_))
    ));
    assert_eq!(
        check_http("T-1", &json!({"id": "T-2"})),
        Err(TicketError::WrongRecord("T-2".into()))
    );
    assert!(matches!(
        check_http("T-1", &json!([{"id": "T-1"}])),
        Err(TicketError::Malformed(_))
    ));
}
