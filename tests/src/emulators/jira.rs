//! Jira Cloud (REST v3) / Data Center (v2) `GET /rest/api/<v>/issue/<key>?fields=…` and Jira
//! Service Management `GET /rest/servicedeskapi/request/<key>/approval`. Not found (or no
//! permission) is 404 `{"errorMessages": […], "errors": {}}`; bad credentials 401 with a text
//! body; a moved issue answers under its old key with its new `key`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{Answer, Request, Server, basic};

pub const EMAIL: &str = "svc-ticketgate@example.com";
pub const API_TOKEN: &str = "ATATT3xFfGF0-jira-token";
pub const PAT: &str = "NjM2-jira-dc-pat";

#[derive(Default)]
struct State {
    issues: BTreeMap<String, Value>,
    approvals: BTreeMap<String, Value>,
    moved: BTreeMap<String, String>,
}

pub struct Jira {
    pub server: Server,
    state: Arc<Mutex<State>>,
}

/// An issue as REST v3 returns it (status with its category; assignee with e-mail).
pub fn issue(key: &str, status: &str, category: &str, assignee_email: &str) -> Value {
    json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": "10042",
        "self": format!("https://acme.atlassian.net/rest/api/3/issue/10042"),
        "key": key,
        "fields": {
            "status": {
                "name": status,
                "id": "3",
                "statusCategory": {"id": 4, "key": category, "colorName": "yellow", "name": "In Progress"}
            },
            "issuetype": {"name": "Change"},
            "assignee": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "emailAddress": assignee_email, "displayName": "Alice"},
            "labels": ["prod", "db01"],
            "customfield_10040": {"value": "Approved"},
            "duedate": "2026-12-01"
        }
    })
}

/// One approval as JSM returns it.
pub fn approval(decision: &str) -> Value {
    json!({
        "id": "1",
        "name": "Change manager approval",
        "finalDecision": decision,
        "canAnswerApprovalDecision": false,
        "approvers": [{"approver": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Carol"}, "approverDecision": decision}],
        "createdDate": {"iso8601": "2026-11-20T10:00:00+0000", "epochMillis": 1_795_168_800_000_i64},
        "completedDate": {"iso8601": "2026-11-20T11:00:00+0000", "epochMillis": 1_795_172_400_000_i64}
    })
}

impl Jira {
    pub fn start() -> Jira {
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        let server = Server::start(move |req| answer(req, &s.lock().unwrap()));
        Jira { server, state }
    }

    pub fn add(&self, issue: Value) {
        let key = issue["key"].as_str().unwrap().to_string();
        self.state.lock().unwrap().issues.insert(key, issue);
    }

    pub fn set_approvals(&self, key: &str, approvals: Vec<Value>) {
        self.state
            .lock()
            .unwrap()
            .approvals
            .insert(key.into(), Value::Array(approvals));
    }

    /// `old` now answers with the issue stored under `new` (Jira follows moved issues).
    pub fn moved(&self, old: &str, new: &str) {
        self.state
            .lock()
            .unwrap()
            .moved
            .insert(old.into(), new.into());
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

fn not_found() -> Answer {
    Answer::Json(
        404,
        json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
    )
}

fn answer(req: &Request, state: &State) -> Answer {
    let auth = req.header("authorization").unwrap_or("");
    if auth != basic(EMAIL, API_TOKEN) && auth != format!("Bearer {PAT}") {
        return Answer::Raw {
            status: 401,
            headers: vec![("Content-Type".into(), "text/plain;charset=UTF-8".into())],
            body: b"Client must be authenticated to access this resource.".to_vec(),
        };
    }
    let path = req.path();
    let lookup = |key: &str| {
        let key = state.moved.get(key).map_or(key, String::as_str);
        state.issues.get(key)
    };
    if let Some(key) = path
        .strip_prefix("/rest/servicedeskapi/request/")
        .and_then(|k| k.strip_suffix("/approval"))
    {
        if lookup(key).is_none() {
            return Answer::Json(
                404,
                json!({"errorMessage": "The request could not be found.", "i18nErrorMessage": {"i18nKey": "sd.request.error.notfound", "parameters": []}}),
            );
        }
        let values = state
            .approvals
            .get(key)
            .cloned()
            .unwrap_or_else(|| json!([]));
        let n = values.as_array().map_or(0, Vec::len);
        return Answer::json(json!({
            "_expands": [], "size": n, "start": 0, "limit": 50, "isLastPage": true,
            "_links": {"base": "https://acme.atlassian.net", "context": "", "self": format!("https://acme.atlassian.net/rest/servicedeskapi/request/{key}/approval")},
            "values": values
        }));
    }
    for version in ["2", "3"] {
        if let Some(key) = path.strip_prefix(&format!("/rest/api/{version}/issue/")) {
            let Some(issue) = lookup(key) else {
                return not_found();
            };
            let mut issue = issue.clone();
            if let Some(wanted) = req.query("fields") {
                let names: Vec<&str> = wanted.split(',').collect();
                let fields = issue["fields"].as_object().unwrap().clone();
                issue["fields"] = Value::Object(
                    fields
                        .into_iter()
                        .filter(|(k, _)| names.contains(&k.as_str()))
                        .collect(),
                );
            }
            return Answer::json(issue);
        }
    }
    not_found()
}
