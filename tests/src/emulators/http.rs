//! A generic HTTP/JSON ticket system: `GET /api/tickets/<id>` with `Authorization: Bearer`,
//! `200 {"id", "status", …}` or `404 {"error": "not found"}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{Answer, Server};

pub const TOKEN: &str = "http-ticket-token";

pub struct HttpTickets {
    pub server: Server,
    tickets: Arc<Mutex<BTreeMap<String, Value>>>,
}

/// A ticket in this system's shape.
pub fn ticket(id: &str, status: &str, owner: &str, host: &str) -> Value {
    json!({"id": id, "status": status, "owner": owner, "hosts": [host], "approved": true})
}

impl HttpTickets {
    pub fn start() -> HttpTickets {
        let tickets: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
        let t = tickets.clone();
        let server = Server::start(move |req| {
            if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
                return Answer::Json(401, json!({"error": "unauthorized"}));
            }
            let path = req.path();
            match path
                .strip_prefix("/api/tickets/")
                .and_then(|id| t.lock().unwrap().get(id).cloned())
            {
                Some(v) => Answer::json(v),
                None => Answer::Json(404, json!({"error": "not found"})),
            }
        });
        HttpTickets { server, tickets }
    }

    pub fn add(&self, ticket: Value) {
        let id = ticket["id"].as_str().unwrap().to_string();
        self.tickets.lock().unwrap().insert(id, ticket);
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}
