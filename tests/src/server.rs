//! The real `ticketgate-server` as the module's tests meet it: a config directory of its own
//! (host tokens, optional TLS, extra TOML such as `[fleet]` or a PostgreSQL store), started on a
//! loopback port it logs, stopped and started again on the same port, and its CLI.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::sandbox::text;

/// The built server binary (fails when it is older than its sources).
pub fn server_bin() -> PathBuf {
    crate::workspace_bin("ticketgate-server", &["ticketgate-server/src"])
}

/// One `[[host]]` table: its name, token and (when set) the service IDs it may ask about.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub token: String,
    pub service_ids: Option<Vec<String>>,
}

impl Host {
    /// A host that may ask about any service ID.
    pub fn new(name: &str, token: &str) -> Host {
        Host {
            name: name.to_string(),
            token: token.to_string(),
            service_ids: None,
        }
    }
}

/// A running (or stopped) server with its config directory.
pub struct Server {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Every line it logged (standard error), across restarts.
    log: Arc<Mutex<Vec<String>>>,
    /// `127.0.0.1:PORT`, fixed after the first start so a restart keeps it.
    pub addr: String,
    tls: bool,
}

impl Server {
    /// Writes the config (`extra` is appended before the `[[host]]` tables) and starts it.
    pub fn start(tls: bool, hosts: &[Host], extra: &str) -> Server {
        Server::start_with_files(tls, hosts, extra, &[])
    }

    /// As [`Server::start`], with secret files (mode 0600) written into the config directory
    /// first, such as `pg.url` for `postgres_url_file = "pg.url"`.
    pub fn start_with_files(
        tls: bool,
        hosts: &[Host],
        extra: &str,
        files: &[(&str, &str)],
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("{text}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut host_tables = String::new();
        for h in hosts {
            let token_file = dir.path().join(format!("{}.token", h.name));
            std::fs::write(&token_file, format!("{}\n", h.token)).unwrap();
            std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
            host_tables.push_str(&format!(
                "[[host]]\nname = \"{}\"\ntoken_file = \"{}.token\"\n",
                h.name, h.name
            ));
            if let Some(ids) = &h.service_ids {
                host_tables.push_str(&format!("service_ids = {ids:?}\n"));
            }
        }
        if tls {
            make_cert(dir.path());
        }
        let mut s = Server {
            dir,
            child: None,
            log: Arc::default(),
            addr: "127.0.0.1:0".to_string(),
            tls,
        };
        s.write_config(&format!("{extra}\n{host_tables}"));
        s.run();
        s
    }

    fn write_config(&self, body: &str) {
        let tls_lines = if self.tls {
            "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n"
        } else {
            ""
        };
        // Top-level keys first: `body` may open tables.
        let config = format!(
            "listen = \"{}\"\ndata_dir = \"data\"\nunlock_window = \"60s\"\n{tls_lines}{body}",
            self.addr
        );
        std::fs::write(self.config(), config).unwrap();
        std::fs::set_permissions(self.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn run(&mut self) {
        let mut child = Command::new(server_bin())
            .arg("--config")
            .arg(self.config())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split(' ').find_map(|f| f.strip_prefix("addr=")) {
                    let _ = tx.send(addr.to_string());
                }
                log.lock().unwrap().push(line);
            }
        });
        self.child = Some(child);
        let addr = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("ticketgate-server did not log its address within 15 s");
        if self.addr.ends_with(":0") {
            // Keep the port for a restart.
            let text = std::fs::read_to_string(self.config()).unwrap();
            std::fs::write(
                self.config(),
                text.replacen(&format!("\"{}\"", self.addr), &format!("\"{addr}\""), 1),
            )
            .unwrap();
        }
        self.addr = addr;
    }

    /// Another replica: a copy of this server's config directory (config, tokens, TLS and
    /// PostgreSQL files; not its data) started on a port of its own. Meant for `store =
    /// "postgres"`, where both then share every piece of state.
    pub fn replica(&self) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let to = dir.path().join(entry.file_name());
                std::fs::copy(entry.path(), &to).unwrap();
            }
        }
        let config = dir.path().join("server.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replacen(&format!("\"{}\"", self.addr), "\"127.0.0.1:0\"", 1),
        )
        .unwrap();
        let mut s = Server {
            dir,
            child: None,
            log: Arc::default(),
            addr: "127.0.0.1:0".to_string(),
            tls: self.tls,
        };
        s.run();
        s
    }

    /// The lines it logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The lines it logged so far that contain every one of `parts`, waiting up to 10 s for at
    /// least `n` of them (the server writes a line before it answers; the reader thread may
    /// see it a moment after the client has its answer).
    pub fn log_lines(&self, parts: &[&str], n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| parts.iter().all(|p| l.contains(p)))
                .collect();
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("server.toml")
    }

    /// A file in the config directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Stops the process (SIGKILL: what a crash or a lost machine does); the data stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same address with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `ticketgate-server --config CONFIG ARGS…`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(server_bin())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .unwrap()
    }

    /// `enroll --service-id SID USER`; returns the TOTP secret from the otpauth:// URI.
    pub fn enroll(&self, sid: &str, user: &str) -> Vec<u8> {
        let out = self.cli(&["enroll", "--service-id", sid, user]);
        assert!(out.status.success(), "enroll: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let uri = stdout
            .lines()
            .find(|l| l.starts_with("otpauth://totp/"))
            .expect("no otpauth:// line");
        let b32 = uri
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("secret="))
            .expect("no secret=");
        base32_decode(b32)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A self-signed certificate for `localhost` / 127.0.0.1 in `dir` (cert.pem, key.pem 0600).
pub fn make_cert(dir: &Path) {
    let status = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("openssl not found (install openssl): {e}"));
    assert!(
        status.success(),
        "openssl could not make a test certificate"
    );
    std::fs::set_permissions(dir.join("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// RFC 4648 base32 without padding (what otpauth:// URIs carry).
pub fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .unwrap_or_else(|| panic!("not base32: {s}")) as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
