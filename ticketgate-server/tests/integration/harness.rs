//! Test harness: a throwaway config and data dir, the real binary started on loopback, a tiny
//! blocking HTTP/1.1 client, and TOTP codes computed from enrolled secrets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use ticketgate_server::secret::Secret;
use ticketgate_server::totp;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ticketgate-server");
/// The service ID most tests use.
pub const SERVICE: &str = "web-prod-01";

/// Which store a test's server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `store = "sqlite"` under the setup's data dir.
    Sqlite,
    /// `store = "postgres"`, a fresh database on the shared test cluster.
    Postgres,
}

/// A config, a token and a data dir in a temporary directory.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub token: String,
    /// The test's own database on the shared cluster (PostgreSQL setups only).
    pub db: Option<String>,
}

/// Writes a secret file (mode 0600) in `dir`.
pub fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

impl Setup {
    /// A setup on `backend` (PostgreSQL: its own database on the shared cluster).
    pub fn with(backend: Backend, unlock_window: &str, extra: &str) -> Self {
        match backend {
            Backend::Sqlite => Self::new(unlock_window, extra),
            Backend::Postgres => {
                let (db, url) = crate::pg::shared_database();
                let mut setup = Self::postgres_url(unlock_window, extra, &url, None);
                setup.db = Some(db);
                setup
            }
        }
    }

    /// A PostgreSQL setup for the connection string `url` (written to pg.url, mode 0600) and an
    /// optional `postgres_ca_file`.
    pub fn postgres_url(unlock_window: &str, extra: &str, url: &str, ca: Option<&Path>) -> Self {
        let ca_line = ca
            .map(|p| format!("postgres_ca_file = \"{}\"\n", p.display()))
            .unwrap_or_default();
        let setup = Self::new(
            unlock_window,
            &format!("store = \"postgres\"\npostgres_url_file = \"pg.url\"\n{ca_line}{extra}"),
        );
        secret_file(setup.dir.path(), "pg.url", url);
        setup
    }

    /// A setup with `unlock_window` and any extra TOML lines.
    pub fn new(unlock_window: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let token = "test-token-0123456789abcdef-web01".to_owned();
        let token_file = dir.path().join("web01.token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = dir.path().join("server.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\nunlock_window = \"{unlock_window}\"\n{extra}\n[[host]]\nname = \"web01\"\ntoken_file = \"web01.token\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        Self {
            dir,
            config,
            token,
            db: None,
        }
    }

    /// Runs the binary with `--config` and `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    /// Enrolls `user` with the CLI and returns the secret read back from the printed URI.
    pub fn enroll(&self, user: &str, service_id: Option<&str>) -> User {
        let mut args = vec!["enroll"];
        if let Some(id) = service_id {
            args.extend(["--service-id", id]);
        }
        args.push(user);
        let out = self.run(&args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "enroll failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        User {
            name: user.to_owned(),
            secret: secret_from_output(&stdout),
            next_step: Mutex::new(None),
        }
    }

    /// Starts `serve` and waits until it logs the address it listens on.
    pub fn start(&self) -> Server {
        Server::start(&self.config, &[], None)
    }

    /// Starts `serve` with these environment variables set (`NOTIFY_SOCKET`, ...).
    pub fn start_with_env(&self, env: &[(&str, &std::ffi::OsStr)]) -> Server {
        Server::start(&self.config, env, None)
    }

    /// Starts `serve` as this user and group id (the test must run as root), with `env`.
    pub fn start_as(&self, uid: u32, env: &[(&str, &std::ffi::OsStr)]) -> Server {
        Server::start(&self.config, env, Some(uid))
    }
}

/// The secret in an enroll command's `otpauth://` line.
pub fn secret_from_output(stdout: &str) -> Secret {
    let uri = stdout
        .lines()
        .find(|l| l.starts_with("otpauth://totp/"))
        .expect("no otpauth:// line");
    let secret = uri
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("secret="))
        .expect("no secret= in the URI");
    totp::secret_from_base32(secret).expect("secret is not base32")
}

/// An enrolled user and the codes the test has used.
pub struct User {
    pub name: String,
    pub secret: Secret,
    next_step: Mutex<Option<u64>>,
}

impl User {
    /// A user enrolled some other way (the page), whose codes up to `used_step` are used.
    pub fn new(name: &str, secret: Secret, used_step: Option<u64>) -> Self {
        Self {
            name: name.to_owned(),
            secret,
            next_step: Mutex::new(used_step.map(|s| s + 1)),
        }
    }

    /// A code the server has not seen yet: the current step's, or the next one's when the
    /// current one was used (a server accepts one step of skew, so two fresh codes per 30 s).
    pub fn fresh_code(&self) -> String {
        let now = totp::step_at(SystemTime::now());
        let mut next = self.next_step.lock().unwrap();
        let step = next.map_or(now, |n| n.max(now));
        assert!(
            step <= now + 1,
            "test needs more than two fresh codes for {} inside 30 s",
            self.name
        );
        *next = Some(step + 1);
        totp::code_for_step(&self.secret, step)
    }

    /// A six-digit code valid for none of the steps the server accepts now.
    pub fn wrong_code(&self) -> String {
        let now = totp::step_at(SystemTime::now());
        let valid: Vec<String> = (now - 2..=now + 2)
            .map(|s| totp::code_for_step(&self.secret, s))
            .collect();
        (0..)
            .map(|n| format!("{n:06}"))
            .find(|c| !valid.contains(c))
            .unwrap()
    }
}

/// A running `ticketgate-server serve`.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(config: &Path, env: &[(&str, &std::ffi::OsStr)], uid: Option<u32>) -> Self {
        let mut command = Command::new(BIN);
        if let Some(id) = uid {
            std::os::unix::process::CommandExt::uid(&mut command, id);
            std::os::unix::process::CommandExt::gid(&mut command, id);
        }
        let mut child = command
            .envs(env.iter().copied())
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split(' ').find_map(|f| f.strip_prefix("addr=")) {
                    let _ = tx.send(addr.to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(a) => a.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not log event=listening; log: {:?}",
                    log.lock().unwrap()
                );
            }
        };
        Self {
            child: Some(child),
            addr,
            log,
            reader: Some(reader),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap()
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (bounded) until a log line containing all `parts` appears.
    pub fn wait_for_log(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(l) = self
                .log()
                .into_iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {parts:?}; log: {:#?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) until at least `n` log lines contain all `parts` (the log is read by
    /// another thread, so a line may trail the answer it belongs to); returns those lines.
    pub fn wait_for_lines(&self, parts: &[&str], n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| parts.iter().all(|p| l.contains(p)))
                .collect();
            if lines.len() >= n || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns the full log.
    pub fn stop(mut self) -> Vec<String> {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("server did not exit within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        assert!(
            exit.success(),
            "server exited with {exit} after SIGTERM; log: {:#?}",
            self.log()
        );
        self.log()
    }

    /// `POST /v1/unlock`.
    pub fn unlock(&self, user: &str, code: &str) -> Reply {
        self.unlock_for(SERVICE, user, code)
    }

    /// `POST /v1/unlock` for a given service ID.
    pub fn unlock_for(&self, service_id: &str, user: &str, code: &str) -> Reply {
        let body =
            serde_json::json!({"service_id": service_id, "user": user, "code": code}).to_string();
        request(self.addr, "POST", "/v1/unlock", &[], Some(&body))
    }

    /// `POST /v1/attempt` with the given bearer token.
    pub fn attempt_with(&self, token: Option<&str>, service_id: &str, user: &str) -> Reply {
        let body = attempt_body(service_id, user);
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        request(self.addr, "POST", "/v1/attempt", &headers, Some(&body))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The JSON a module sends to `/v1/attempt`.
pub fn attempt_body(service_id: &str, user: &str) -> String {
    serde_json::json!({"service_id": service_id, "user": user, "host": "web01.example.com", "service": "sshd", "rhost": "192.0.2.7"})
        .to_string()
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `{"unlocked": b}` from an attempt, asserting a 200.
    pub fn unlocked(&self) -> bool {
        assert_eq!(
            self.status, 200,
            "attempt answered {}: {}",
            self.status, self.body
        );
        self.json()["unlocked"].as_bool().unwrap()
    }
}

/// The bytes of one HTTP/1.1 request with `Connection: close`.
pub fn request_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b.as_bytes());
    }
    bytes
}

/// Reads one response: up to its Content-Length, the last chunk, or the end of the stream
/// (some servers, chromedriver among them, keep the connection open despite `Connection: close`).
pub fn read_reply(mut stream: impl Read) -> Reply {
    let mut raw = Vec::new();
    let mut buf = [0_u8; 8192];
    let mut interrupts = 0;
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| raw.len() >= end + 4 + n) {
                raw.truncate(end + 4 + length.unwrap_or(0));
                break;
            }
            if head.contains("transfer-encoding: chunked") && raw.ends_with(b"0\r\n\r\n") {
                break;
            }
        }
        // A signal for this process (a child exiting) can interrupt the read: read again
        // (a bounded number of times).
        let n = match stream.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && interrupts < 100 => {
                interrupts += 1;
                continue;
            }
            other => other.unwrap(),
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    parse_reply(&raw)
}

/// Parses status, headers and body (plain or chunked).
pub fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        body = out;
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// One request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&request_bytes(addr, method, path, headers, body))
        .unwrap();
    read_reply(s)
}

/// Fails the test with a clear message when a program the test needs is missing.
pub fn require_program(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` (listed in scripts/apt-packages.txt)"
    );
}
