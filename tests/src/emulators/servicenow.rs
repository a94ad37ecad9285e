//! ServiceNow Table API: `GET /api/now/table/<table>?sysparm_query=…&sysparm_fields=…`.
//! Answers `{"result": [...]}`; "not found" is `200 {"result": []}`; errors are
//! `{"error": {"message", "detail"}, "status": "failure"}` (401 without valid credentials,
//! 400 for an unknown table). Dot-walked fields (`requested_by.user_name`) come back as flat keys.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{Answer, Request, Server, basic};

pub const USER: &str = "svc_ticketgate";
pub const PASSWORD: &str = "sn-Pa55word";
pub const TOKEN: &str = "sn-oauth-token";
const TABLES: [&str; 3] = ["change_request", "incident", "sc_req_item"];

pub struct ServiceNow {
    pub server: Server,
    records: Arc<Mutex<Vec<(String, Value)>>>,
}

impl ServiceNow {
    pub fn start() -> ServiceNow {
        let records: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let r = records.clone();
        let server = Server::start(move |req| answer(req, &r.lock().unwrap()));
        ServiceNow { server, records }
    }

    /// Adds a record to `table` (its `number` is the ticket ID; flat keys, dot-walks included).
    pub fn add(&self, table: &str, record: Value) {
        self.records
            .lock()
            .unwrap()
            .push((table.to_string(), record));
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

fn error(status: u16, message: &str, detail: Value) -> Answer {
    Answer::Json(
        status,
        json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

/// A change request as the Table API returns it without display values.
pub fn change(number: &str, requested_by: &str, start: &str, end: &str) -> Value {
    json!({
        "sys_id": format!("{:x}", number.len() * 7919),
        "number": number,
        "state": "-1",
        "active": "true",
        "approval": "approved",
        "type": "normal",
        "short_description": "Patch db01",
        "requested_by.user_name": requested_by,
        "assignment_group.name": "Database",
        "cmdb_ci.name": "db01",
        "start_date": start,
        "end_date": end,
    })
}

fn answer(req: &Request, records: &[(String, Value)]) -> Answer {
    let auth = req.header("authorization").unwrap_or("");
    if auth != basic(USER, PASSWORD) && auth != format!("Bearer {TOKEN}") {
        return error(
            401,
            "User Not Authenticated",
            json!("Required to provide Auth information"),
        );
    }
    let path = req.path();
    let Some(table) = path.strip_prefix("/api/now/table/") else {
        return error(
            400,
            "Requested URI does not represent any resource",
            Value::Null,
        );
    };
    if !TABLES.contains(&table) {
        return error(400, &format!("Invalid table {table}"), Value::Null);
    }
    let query = req.query("sysparm_query").unwrap_or_default();
    // The encoded-query language, enough of it to show what an injection would do.
    let matched: Vec<&Value> = records
        .iter()
        .filter(|(t, _)| t == table)
        .map(|(_, r)| r)
        .filter(|r| {
            query.split("^OR").any(|clause| {
                if clause.ends_with("ISNOTEMPTY") {
                    return true;
                }
                match clause.split_once('=') {
                    Some(("number", n)) => r["number"] == n,
                    _ => false,
                }
            })
        })
        .collect();
    let limit: usize = req
        .query("sysparm_limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10_000);
    let fields = req.query("sysparm_fields");
    let result: Vec<Value> = matched
        .iter()
        .take(limit)
        .map(|r| match &fields {
            None => (*r).clone(),
            Some(f) => {
                let mut out = serde_json::Map::new();
                for name in f.split(',') {
                    if let Some(v) = r.get(name) {
                        out.insert(name.to_string(), v.clone());
                    }
                }
                Value::Object(out)
            }
        })
        .collect();
    Answer::Raw {
        status: 200,
        headers: vec![
            (
                "Content-Type".into(),
                "application/json;charset=UTF-8".into(),
            ),
            ("X-Total-Count".into(), matched.len().to_string()),
        ],
        body: json!({ "result": result }).to_string().into_bytes(),
    }
}
