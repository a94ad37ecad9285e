//! The module (pamtester harness) against the real `ticketgate-server` on loopback: enroll,
//! unlock with a TOTP code computed here (RFC 6238: SHA-1, 30 s, 6 digits), log in once; and a
//! server whose certificate the host does not trust is refused, never treated as offline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The module under test reads the real clock; the tests date records around it.
    clippy::disallowed_methods
)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

const SID: &str = "web-prod-01";
const TOKEN: &str = "real-server-token-5b1e0c9d7a";

fn server_bin() -> PathBuf {
    ticketgate_tests::workspace_bin("ticketgate-server", &["ticketgate-server/src"])
}

/// A ticketgate-server config directory: token file, optional TLS, `[[host]]` for this host.
struct Server {
    dir: tempfile::TempDir,
    child: Option<Child>,
    addr: String,
}

impl Server {
    fn config(&self) -> PathBuf {
        self.dir.path().join("server.toml")
    }

    fn start(tls: bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let token_file = dir.path().join("host.token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let tls_lines = if tls {
            make_cert(dir.path());
            "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n"
        } else {
            ""
        };
        let config = dir.path().join("server.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\nunlock_window = \"60s\"\n{tls_lines}[[host]]\nname = \"testhost\"\ntoken_file = \"host.token\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut p = Server {
            dir,
            child: None,
            addr: String::new(),
        };
        let mut child = Command::new(server_bin())
            .arg("--config")
            .arg(p.config())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split(' ').find_map(|f| f.strip_prefix("addr=")) {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        p.child = Some(child);
        p.addr = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("ticketgate-server did not log its address within 15 s");
        p
    }

    /// `enroll --service-id SID USER`; returns the TOTP secret from the otpauth:// URI.
    fn enroll(&self, user: &str) -> Vec<u8> {
        let out = Command::new(server_bin())
            .arg("--config")
            .arg(self.config())
            .args(["enroll", "--service-id", SID, user])
            .output()
            .unwrap();
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

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
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

fn make_cert(dir: &Path) {
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
fn base32_decode(s: &str) -> Vec<u8> {
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

/// RFC 6238 TOTP: HMAC-SHA-1 over the 30 s step, dynamic truncation, 6 digits.
fn totp(secret: &[u8], unix: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&(unix / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

#[test]
fn totp_matches_rfc_6238_test_vector() {
    // RFC 6238 appendix B, SHA-1, T = 59 -> 94287082 (8 digits); 6 digits = 287082.
    assert_eq!(totp(b"12345678901234567890", 59), "287082");
    assert_eq!(totp(b"12345678901234567890", 1_111_111_109), "081804");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sandbox(url: &str, offline: &str) -> Sandbox {
    let s = Sandbox::new("");
    std::fs::write(s.path("protect.secret"), format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(
        s.path("protect.secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"tguser\"]\nlogin_protect = true\n\
         [login_protect]\nurl = \"{url}\"\nservice_id = \"{SID}\"\nsecret_file = \"{}\"\ntimeout = \"3s\"\n\
         [offline]\n{offline}\n",
        s.path("protect.secret").display()
    ));
    s.lockout_stack("tg");
    s
}

fn login(s: &Sandbox) -> Output {
    s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{PASSWORD}\n"),
    )
}

fn events(s: &Sandbox) -> Vec<String> {
    s.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn unlock_with_a_totp_code_on_the_real_server_lets_one_login_through() {
    let server = Server::start(false);
    let secret = server.enroll(USER);
    let s = sandbox(&server.url("http"), "");

    let out = login(&s);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("Password:"),
        "before the password: {}",
        text(&out)
    );

    // The user's phone: POST /v1/unlock with the current code.
    let client = pam_ticketgate::net::Client::new(Duration::from_secs(5), None).unwrap();
    let unlock = url_of(&server.url("http"), "/v1/unlock");
    let answer = client
        .post_json(
            &unlock,
            &[],
            &serde_json::json!({"service_id": SID, "user": USER, "code": totp(&secret, now())}),
        )
        .unwrap();
    let until: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(until["unlocked_until"].as_i64().unwrap() > now() as i64);

    let out = login(&s);
    assert!(
        out.status.success() && text(&out).contains("successfully authenticated"),
        "{}",
        text(&out)
    );
    let out = login(&s);
    assert!(
        !out.status.success(),
        "the unlock was used up: {}",
        text(&out)
    );
    assert_eq!(
        events(&s),
        vec![
            "protect_locked",
            "protect_unlock_used",
            "auth_success",
            "protect_locked"
        ]
    );
}

#[test]
fn a_server_certificate_the_host_does_not_trust_is_refused_not_offline() {
    let server = Server::start(true);
    server.enroll(USER);
    let s = sandbox(&server.url("https"), "login_protect = \"unlocked\"");
    let out = login(&s);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("Password:"), "{}", text(&out));
    let e = s
        .events()
        .into_iter()
        .find(|e| e["event"] == "protect_locked")
        .unwrap_or_else(|| panic!("{:?}", events(&s)));
    assert_eq!(e["reason"], "server_refused");
    assert!(e["error"].as_str().unwrap().contains("TLS"), "{e}");
    assert!(!events(&s).contains(&"offline_fallback".to_string()));
}

fn url_of(base: &str, path: &str) -> pam_ticketgate::net::Url {
    pam_ticketgate::net::Url::parse(&format!("{base}{path}")).unwrap()
}
