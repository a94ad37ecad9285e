//! A fleet lockout server on loopback speaking the module's side of the protocol
//! (`POST /v1/fleet/check|failure|success`, bearer token), for the module's tests and the
//! benchmark; the end-to-end tests run the real ticketgate-server.

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

fn answer(
    mut conn: TcpStream,
    token: &str,
    check: &Mutex<String>,
    seen: &Mutex<Vec<(String, serde_json::Value)>>,
) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut head_end = None;
    // Bounded: a fleet request is far smaller than 64 reads.
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
    let Some(end) = head_end else { return };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    let authorized = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {token}")));
    let body: serde_json::Value =
        serde_json::from_slice(&buf[end + 4..]).unwrap_or(serde_json::Value::Null);
    let (status, reply) = {
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
    let _ = conn.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        )
        .as_bytes(),
    );
}

impl Fleet {
    /// The host token it accepts.
    pub fn token(&self) -> &str {
        &self.token
    }
}
