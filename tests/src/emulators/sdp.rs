//! ManageEngine ServiceDesk Plus API v3. On-premises and MSP: `GET /api/v3/<requests|changes>/<id>`
//! with the `authtoken` header. Cloud: Zoho OAuth (`POST /oauth/v2/token`,
//! `grant_type=refresh_token`, errors as `200 {"error": "invalid_code"}`), then
//! `GET /app/<portal>/api/v3/requests?input_data={"list_info":{"search_criteria":…}}` and
//! `GET /app/<portal>/api/v3/requests/<internal id>` with `Authorization: Zoho-oauthtoken …`.
//! Every answer carries `response_status`; failures (bad id) come inside HTTP 200.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{Answer, Request, Server};

pub const AUTHTOKEN: &str = "5A2B3C4D-1111-2222-3333-SDPTECHKEY";
pub const CLIENT_ID: &str = "1000.CLIENTID0000000000000000";
pub const CLIENT_SECRET: &str = "zoho-client-secret";
pub const REFRESH_TOKEN: &str = "1000.refresh.token";
pub const ACCEPT: &str = "application/vnd.manageengine.sdp.v3+json";

#[derive(Default)]
struct State {
    /// Keyed by module (`request` / `change`), then by internal id.
    records: BTreeMap<(String, String), Value>,
    issued: Vec<String>,
}

pub struct Sdp {
    pub server: Server,
    state: Arc<Mutex<State>>,
    pub token_requests: Arc<AtomicUsize>,
}

fn ok() -> Value {
    json!({"status_code": 2000, "status": "success"})
}

fn failed(code: u32, message: &str) -> Value {
    json!({"response_status": {"status_code": 4000, "messages": [{"status_code": code, "type": "failed", "message": message}], "status": "failed"}})
}

/// A request (incident) as SDP v3 returns it; `display_id` is what users see (Cloud).
pub fn request(id: &str, display_id: &str, status: &str, requester: &str, account: &str) -> Value {
    json!({
        "id": id,
        "display_id": display_id,
        "subject": "Root access to db01 for patching",
        "status": {"id": "2", "name": status, "in_progress": true, "color": "#0066ff"},
        "requester": {"id": "4", "name": requester, "email_id": format!("{requester}@example.com")},
        "technician": {"id": "5", "name": "Tech", "email_id": "tech@example.com"},
        "approval_status": {"id": "1", "name": "Approved"},
        "account": {"id": "301", "name": account},
        "site": {"id": "1", "name": "HQ"},
        "created_time": {"display_value": "Nov 20, 2026 10:00 AM", "value": "1795168800000"},
        "due_by_time": {"display_value": "Dec 1, 2026 10:00 AM", "value": "1796119200000"}
    })
}

/// A change as SDP v3 returns it, with its schedule.
pub fn change(id: &str, status: &str, owner: &str, start_ms: i64, end_ms: i64) -> Value {
    json!({
        "id": id,
        "display_id": id,
        "title": "Kernel update db01",
        "status": {"id": "3", "name": status},
        "stage": {"id": "4", "name": "Implementation"},
        "approval_status": {"id": "2", "name": "Approved"},
        "change_owner": {"id": "7", "name": owner, "email_id": format!("{owner}@example.com")},
        "scheduled_start_time": {"display_value": "", "value": start_ms.to_string()},
        "scheduled_end_time": {"display_value": "", "value": end_ms.to_string()}
    })
}

impl Sdp {
    pub fn start() -> Sdp {
        let state: Arc<Mutex<State>> = Arc::default();
        let tokens = Arc::new(AtomicUsize::new(0));
        let (s, t) = (state.clone(), tokens.clone());
        let server = Server::start(move |req| answer(req, &mut s.lock().unwrap(), &t));
        Sdp {
            server,
            state,
            token_requests: tokens,
        }
    }

    /// Stores a record of `module` (`request` / `change`) under its `id`.
    pub fn add(&self, module: &str, record: Value) {
        let id = record["id"].as_str().unwrap().to_string();
        self.state
            .lock()
            .unwrap()
            .records
            .insert((module.into(), id), record);
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn tokens_issued(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }
}

fn answer(req: &Request, state: &mut State, tokens: &AtomicUsize) -> Answer {
    let path = req.path();
    if path == "/oauth/v2/token" {
        let form: BTreeMap<String, String> = req.form().into_iter().collect();
        let get = |k: &str| form.get(k).map(String::as_str);
        if req.method != "POST"
            || get("grant_type") != Some("refresh_token")
            || get("client_id") != Some(CLIENT_ID)
            || get("client_secret") != Some(CLIENT_SECRET)
            || get("refresh_token") != Some(REFRESH_TOKEN)
        {
            // Zoho answers errors with HTTP 200.
            return Answer::json(json!({"error": "invalid_code"}));
        }
        let n = tokens.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("1000.access{n}");
        state.issued.push(token.clone());
        return Answer::json(
            json!({"access_token": token, "scope": "SDPOnDemand.requests.READ", "api_domain": "https://www.zohoapis.com", "token_type": "Bearer", "expires_in": 3600}),
        );
    }
    if req.header("accept") != Some(ACCEPT) {
        return Answer::Json(
            400,
            failed(
                4000,
                "Accept header must be application/vnd.manageengine.sdp.v3+json",
            ),
        );
    }
    let (cloud, rest) = match path.strip_prefix("/app/") {
        Some(r) => match r.split_once("/api/v3/") {
            Some((_portal, rest)) => (true, rest.to_string()),
            None => return Answer::Json(404, failed(4007, "Invalid URL")),
        },
        None => match path.strip_prefix("/api/v3/") {
            Some(rest) => (false, rest.to_string()),
            None => return Answer::Json(404, failed(4007, "Invalid URL")),
        },
    };
    let authorized = if cloud {
        req.header("authorization")
            .and_then(|a| a.strip_prefix("Zoho-oauthtoken "))
            .is_some_and(|t| state.issued.iter().any(|i| i == t))
    } else {
        req.header("authtoken") == Some(AUTHTOKEN)
    };
    if !authorized {
        return Answer::Json(401, failed(4001, "Invalid authtoken"));
    }
    let (list, one, rest) = if let Some(r) = rest.strip_prefix("requests") {
        ("requests", "request", r)
    } else if let Some(r) = rest.strip_prefix("changes") {
        ("changes", "change", r)
    } else {
        return Answer::Json(404, failed(4007, "Invalid URL"));
    };
    if rest.is_empty() {
        // The list call (Cloud resolves display_id this way).
        let input: Value = req
            .query("input_data")
            .and_then(|i| serde_json::from_str(&i).ok())
            .unwrap_or(Value::Null);
        let criteria = &input["list_info"]["search_criteria"];
        let criteria: Vec<Value> = match criteria {
            Value::Array(a) => a.clone(),
            Value::Object(_) => vec![criteria.clone()],
            _ => Vec::new(),
        };
        let records: Vec<Value> = state
            .records
            .iter()
            .filter(|((m, _), _)| m == one)
            .map(|(_, r)| r)
            .filter(|r| {
                criteria.iter().all(|c| {
                    c["condition"] == "is" && r[c["field"].as_str().unwrap_or("")] == c["value"]
                })
            })
            .map(|r| json!({"id": r["id"], "display_id": r["display_id"]}))
            .collect();
        return Answer::json(json!({
            list: records,
            "list_info": {"has_more_rows": false, "row_count": records.len(), "start_index": 1},
            "response_status": [ok()]
        }));
    }
    let id = rest.trim_start_matches('/');
    match state.records.get(&(one.to_string(), id.to_string())) {
        Some(r) => Answer::json(json!({ one: r, "response_status": ok() })),
        // SDP reports a wrong id inside HTTP 200.
        None => Answer::json(failed(4007, &format!("Invalid {one} id {id}"))),
    }
}
