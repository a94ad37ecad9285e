//! A small HTTP/1.1 server on 127.0.0.1 for the emulators: one thread per connection, every
//! request recorded, and hostile behaviours (slow, silent, huge, malformed, 429, 500) switchable
//! at run time. Bounded: requests over 64 KiB are cut, a silent answer holds the connection at
//! most 20 s, and dropping the server stops its accept loop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the emulator received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query exactly as sent (still percent-encoded).
    pub target: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    /// The path without the query, percent-decoded.
    pub fn path(&self) -> String {
        let raw = self.target.split('?').next().unwrap_or("");
        percent_decode(raw)
    }

    /// A query parameter, form-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        form_pairs(q)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body's form fields (`application/x-www-form-urlencoded`).
    pub fn form(&self) -> Vec<(String, String)> {
        form_pairs(&String::from_utf8_lossy(&self.body))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// What the emulator sends back.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A JSON body with this status.
    Json(u16, serde_json::Value),
    /// Any body, status and extra headers.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

impl Answer {
    pub fn json(value: serde_json::Value) -> Answer {
        Answer::Json(200, value)
    }
}

/// A behaviour that overrides the emulator's normal answers (the hostile servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Waits this long, then answers normally.
    Slow(Duration),
    /// Accepts, reads the request, never answers (until 20 s pass or the server is dropped).
    Silent,
    /// A 2 MiB JSON body (over the module's 1 MiB cap).
    Huge,
    /// `200` with a body that is not JSON.
    Malformed,
    /// This status with an empty JSON object (429, 500, 503, ...).
    Status(u16),
    /// Closes the connection without a word.
    Hangup,
}

type Handler = dyn Fn(&Request) -> Answer + Send + Sync;

/// A running emulator. Dropping it stops the accept loop.
pub struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Starts listening on 127.0.0.1 (a free port) with `handler` for normal answers.
    pub fn start(handler: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (r, m, s) = (requests.clone(), mode.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                // Answers that come at once are served on this thread (no thread start in the
                // measured latency); slow and silent ones get their own thread.
                let current = *m.lock().unwrap();
                if matches!(current, Mode::Slow(_) | Mode::Silent) {
                    let (r, m, s, h) = (r.clone(), m.clone(), s.clone(), handler.clone());
                    std::thread::spawn(move || serve(conn, &r, &m, &s, h.as_ref()));
                } else {
                    serve(conn, &r, &m, &s, handler.as_ref());
                }
            }
        });
        Server {
            port,
            requests,
            mode,
            stop,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

const MAX_REQUEST: u64 = 64 * 1024;

fn read_request(conn: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(conn.try_clone().ok()?.take(MAX_REQUEST));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(MAX_REQUEST as usize)];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn serve(
    mut conn: TcpStream,
    requests: &Mutex<Vec<Request>>,
    mode: &Mutex<Mode>,
    stop: &AtomicBool,
    handler: &Handler,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    // One request per connection (the answer says `Connection: close`).
    let Some(req) = read_request(&conn) else {
        return;
    };
    if stop.load(Ordering::SeqCst) {
        return;
    }
    requests.lock().unwrap().push(req.clone());
    let mode = *mode.lock().unwrap();
    let answer = match mode {
        Mode::Normal => handler(&req),
        Mode::Slow(d) => {
            std::thread::sleep(d);
            handler(&req)
        }
        Mode::Silent => {
            for _ in 0..200 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            return;
        }
        Mode::Hangup => return,
        Mode::Huge => {
            let filler = "x".repeat(2 * 1024 * 1024);
            Answer::Raw {
                status: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: format!("{{\"result\":[{{\"number\":\"{filler}\"}}]}}").into_bytes(),
            }
        }
        Mode::Malformed => Answer::Raw {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"{\"result\": [ {\"number\": \"CHG00".to_vec(),
        },
        Mode::Status(s) => {
            let headers = if s == 429 {
                vec![("Retry-After".into(), "30".into())]
            } else {
                Vec::new()
            };
            Answer::Raw {
                status: s,
                headers,
                body: b"{}".to_vec(),
            }
        }
    };
    let (status, headers, body) = match answer {
        Answer::Json(status, v) => (
            status,
            vec![(
                "Content-Type".to_string(),
                "application/json;charset=UTF-8".to_string(),
            )],
            v.to_string().into_bytes(),
        ),
        Answer::Raw {
            status,
            headers,
            body,
        } => (status, headers, body),
    };
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    // One write: a second small write would wait for the client's delayed ACK (Nagle).
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    let _ = conn.set_nodelay(true);
    let _ = conn.write_all(&bytes);
    let _ = conn.flush();
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
