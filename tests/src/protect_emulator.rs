//! A login-protect server emulator on loopback (protocol v1, docs/design.md §5), scriptable with
//! hostile answers, plus a silent server that accepts connections and never answers.

use std::collections::{HashSet, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One scripted answer to the next `/v1/attempt` (instead of the unlock state).
#[derive(Debug, Clone)]
pub enum Reply {
    /// `200 {"unlocked": b}`.
    Unlocked(bool),
    /// Any status with a body.
    Status(u16, String),
    /// These exact bytes, then close.
    Raw(Vec<u8>),
    /// `200` with a body of this many bytes of JSON-looking padding.
    Huge(usize),
    /// Headers, then the body one byte every 100 ms (never done inside a short deadline).
    Trickle,
}

/// One request the emulator saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct State {
    unlocks: HashSet<(String, String)>,
    script: VecDeque<Reply>,
    seen: Vec<Seen>,
}

/// The emulator; stops when dropped.
pub struct Emulator {
    port: u16,
    token: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Emulator {
    /// Starts on 127.0.0.1 (a free port), accepting `Authorization: Bearer <token>`.
    pub fn start(token: &str) -> Emulator {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, tok) = (state.clone(), stop.clone(), token.to_string());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (st, tok) = (st.clone(), tok.clone());
                thread::spawn(move || handle(conn, &st, &tok));
            }
        });
        Emulator {
            port,
            token: token.to_string(),
            state,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The user unlocked from the device: the next attempt for (service_id, user) gets `true`.
    pub fn unlock(&self, service_id: &str, user: &str) {
        self.state
            .lock()
            .unwrap()
            .unlocks
            .insert((service_id.into(), user.into()));
    }

    /// Answers the next attempts with `replies`, in order, before falling back to the unlock state.
    pub fn script(&self, replies: Vec<Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(mut conn: TcpStream, state: &Mutex<State>, token: &str) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let Some((head, body)) = read_request(&mut conn) else {
        return;
    };
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let authorization = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_string())
    });
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let reply = {
        let mut st = state.lock().unwrap();
        st.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            authorization: authorization.clone(),
            body: json.clone(),
        });
        if method == "GET" && path == "/v1/health" {
            Reply::Status(200, "{}".into())
        } else if method != "POST" || path != "/v1/attempt" {
            Reply::Status(404, r#"{"error":"not found"}"#.into())
        } else if authorization.as_deref() != Some(&format!("Bearer {token}")) {
            Reply::Status(401, r#"{"error":"wrong or missing host token"}"#.into())
        } else if let Some(r) = st.script.pop_front() {
            r
        } else {
            let key = (
                json["service_id"].as_str().unwrap_or("").to_string(),
                json["user"].as_str().unwrap_or("").to_string(),
            );
            Reply::Unlocked(st.unlocks.remove(&key))
        }
    };
    let _ = send(&mut conn, reply);
}

fn send(conn: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    let status_line = |code: u16| match code {
        200 => "200 OK",
        401 => "401 Unauthorized",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        429 => "429 Too Many Requests",
        500 => "500 Internal Server Error",
        503 => "503 Service Unavailable",
        _ => "418 Unexpected",
    };
    let simple = |code: u16, body: &[u8]| {
        let mut r = format!(
            "HTTP/1.1 {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            status_line(code),
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    match reply {
        Reply::Unlocked(b) => {
            conn.write_all(&simple(200, format!(r#"{{"unlocked":{b}}}"#).as_bytes()))
        }
        Reply::Status(code, body) => conn.write_all(&simple(code, body.as_bytes())),
        Reply::Raw(bytes) => conn.write_all(&bytes),
        Reply::Huge(n) => {
            conn.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )?;
            let chunk = vec![b' '; 65536];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len());
                conn.write_all(&chunk[..k])?;
                left -= k;
            }
            Ok(())
        }
        Reply::Trickle => {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")?;
            for _ in 0..100 {
                conn.write_all(b" ")?;
                thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
    }
}

fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((head, buf[end + 4..end + 4 + len].to_vec()));
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    }
}

/// A server that accepts TCP connections and never answers; counts the connections.
pub struct Silent {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (acc, sp) = (accepted.clone(), stop.clone());
        thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(c) = conn {
                    acc.fetch_add(1, Ordering::SeqCst);
                    held.push(c); // kept open, never read or written
                }
            }
        });
        Silent {
            port,
            accepted,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A loopback URL nothing listens on (connection refused).
pub fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}
