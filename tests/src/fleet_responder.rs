//! A fleet lockout server on loopback speaking the module's side of the protocol
//! (`POST /v1/fleet/check|failure|success`, bearer token), for the module's tests and the
//! benchmark, and [`AgentServer`], the server side of `POST /v1/agent/poll` for the host
//! agent's tests; the end-to-end tests run the real ticketgate-server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A fleet server on loopback: `check` answers `check` (settable), `failure` a standing with
/// the failures counted so far, `success` `{}`; a request without `Bearer <token>` gets 401.
/// Keeps every (path, body); stops when dropped.
pub struct Fleet {
    port: u16,
    token: Arc<str>,
    check: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    stop: Arc<AtomicBool>,
}

impl Fleet {
    /// Starts on 127.0.0.1 (a free port), accepting `Authorization: Bearer <token>`.
    pub fn start(token: &str) -> Fleet {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let check = Arc::new(Mutex::new(
            r#"{"locked":false,"reason":null,"until":null,"failures":0}"#.to_string(),
        ));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let token: Arc<str> = Arc::from(token);
        let (c, s, st, tok) = (check.clone(), seen.clone(), stop.clone(), token.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn {
                    answer(conn, &tok, &c, &s);
                }
            }
        });
        Fleet {
            port,
            token,
            check,
            seen,
            stop,
        }
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// The paths asked, in order.
    pub fn paths(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }
    /// The JSON bodies sent, in order.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
    /// What `check` answers from now on.
    pub fn answer_check(&self, body: &str) {
        *self.check.lock().unwrap() = body.to_string();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one HTTP request: (head, path, body), or `None` when the client sent no whole head.
fn read_request(conn: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut head_end = None;
    // Bounded: a fleet or agent request is far smaller than 64 reads.
    for _ in 0..64 {
        let k = conn.read(&mut chunk).unwrap_or(0);
        if k == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..k]);
        let t = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = t.find("\r\n\r\n") {
            let len = t
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            head_end = Some(end);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    let end = head_end?;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    Some((head, path, buf[end + 4..].to_vec()))
}

fn is_authorized(head: &str, token: &str) -> bool {
    head.lines()
        .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {token}")))
}

fn reply(conn: &mut TcpStream, status: &str, body: &str) {
    let _ = conn.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

fn answer(
    mut conn: TcpStream,
    token: &str,
    check: &Mutex<String>,
    seen: &Mutex<Vec<(String, serde_json::Value)>>,
) {
    let Some((head, path, body)) = read_request(&mut conn) else {
        return;
    };
    let authorized = is_authorized(&head, token);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let (status, answer) = {
        let mut seen = seen.lock().unwrap();
        seen.push((path.clone(), body));
        let failures = seen
            .iter()
            .filter(|(p, _)| p == "/v1/fleet/failure")
            .count();
        match path.as_str() {
            _ if !authorized => ("401 Unauthorized", "{}".to_string()),
            "/v1/fleet/check" => ("200 OK", check.lock().unwrap().clone()),
            "/v1/fleet/failure" => (
                "200 OK",
                format!(r#"{{"locked":false,"reason":null,"until":null,"failures":{failures}}}"#),
            ),
            "/v1/fleet/success" => ("200 OK", "{}".to_string()),
            _ => ("404 Not Found", "{}".to_string()),
        }
    };
    reply(&mut conn, status, &answer);
}

impl Fleet {
    /// The host token it accepts.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// The server side of `POST /v1/agent/poll` on loopback, as the protocol has it: queued tasks
/// are handed out on every poll until a result for them arrives (results are taken before
/// tasks are chosen; the first result wins); `script` makes the next answers something else
/// (garbage, a 5xx). Keeps every poll's body; stops when dropped.
pub struct AgentServer {
    port: u16,
    state: Arc<Mutex<AgentState>>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct AgentState {
    tasks: Vec<serde_json::Value>,
    results: Vec<serde_json::Value>,
    polls: Vec<serde_json::Value>,
    script: std::collections::VecDeque<(String, String)>,
    always: Option<(String, String)>,
    interval: u64,
}

impl AgentServer {
    /// Starts on 127.0.0.1 (a free port), accepting `Authorization: Bearer <token>`.
    pub fn start(token: &str) -> AgentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(AgentState {
            interval: 60,
            ..AgentState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, stp, tok) = (state.clone(), stop.clone(), token.to_string());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stp.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn {
                    agent_answer(conn, &tok, &st);
                }
            }
        });
        AgentServer { port, state, stop }
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// Queues a task (a JSON object as the server hands it out).
    pub fn queue(&self, task: serde_json::Value) {
        self.state.lock().unwrap().tasks.push(task);
    }
    /// The next answer is `status` with `body` instead of the protocol's (one each call; an
    /// empty `status` is one answer as the protocol has it, to script a later one).
    pub fn script(&self, status: &str, body: &str) {
        self.state
            .lock()
            .unwrap()
            .script
            .push_back((status.to_string(), body.to_string()));
    }
    /// Every answer from now on is `status` with `body` (a server that is down: 503).
    pub fn always(&self, status: &str, body: &str) {
        self.state.lock().unwrap().always = Some((status.to_string(), body.to_string()));
    }
    /// The `interval` the answers carry.
    pub fn set_interval(&self, secs: u64) {
        self.state.lock().unwrap().interval = secs;
    }
    /// Every poll's request body, in order.
    pub fn polls(&self) -> Vec<serde_json::Value> {
        self.state.lock().unwrap().polls.clone()
    }
    /// The first result of each task, in arrival order.
    pub fn results(&self) -> Vec<serde_json::Value> {
        self.state.lock().unwrap().results.clone()
    }
    /// The first result for task `id`.
    pub fn result(&self, id: &str) -> Option<serde_json::Value> {
        self.results().into_iter().find(|r| r["task_id"] == id)
    }
}

impl Drop for AgentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn agent_answer(mut conn: TcpStream, token: &str, state: &Mutex<AgentState>) {
    let Some((head, path, body)) = read_request(&mut conn) else {
        return;
    };
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let (status, answer) = {
        let mut st = state.lock().unwrap();
        st.polls.push(body.clone());
        if let Some((status, answer)) = st.always.clone() {
            (status, answer)
        } else if let Some((status, answer)) = st.script.pop_front().filter(|(s, _)| !s.is_empty())
        {
            (status, answer)
        } else if !is_authorized(&head, token) {
            (
                "401 Unauthorized".to_string(),
                r#"{"error":"unauthorized"}"#.to_string(),
            )
        } else if path != "/v1/agent/poll" {
            (
                "404 Not Found".to_string(),
                r#"{"error":"not found"}"#.to_string(),
            )
        } else {
            // Results first, then the tasks still without one.
            for r in body["results"].as_array().cloned().unwrap_or_default() {
                let known = st.tasks.iter().any(|t| t["id"] == r["task_id"]);
                let first = !st.results.iter().any(|x| x["task_id"] == r["task_id"]);
                if known && first {
                    st.results.push(r);
                }
            }
            let pending: Vec<serde_json::Value> = st
                .tasks
                .iter()
                .filter(|t| !st.results.iter().any(|r| r["task_id"] == t["id"]))
                .take(50)
                .cloned()
                .collect();
            (
                "200 OK".to_string(),
                serde_json::json!({"tasks": pending, "interval": st.interval}).to_string(),
            )
        }
    };
    reply(&mut conn, &status, &answer);
}
