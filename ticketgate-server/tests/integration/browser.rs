//! The unlock page in headless Chromium (Debian `chromium` + `chromium-driver`) driven over
//! WebDriver on a phone-sized screen (Chromium's mobile emulation, 390×844 CSS pixels at
//! device pixel ratio 1): fill the forms, press the buttons, read the messages; screenshots go
//! to the test artifacts.

use crate::harness::{SERVICE, Setup, request, require_program};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C WebDriver key naming an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// The emulated phone's screen in CSS pixels (an iPhone 12-14's), and so the screenshots'
/// size at device pixel ratio 1.
const PHONE: (u32, u32) = (390, 844);

/// Where screenshots go: `$TICKETGATE_TEST_ARTIFACTS/server`, else the target dir's tmp.
fn artifacts_dir() -> PathBuf {
    let base = std::env::var_os("TICKETGATE_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artifacts"));
    let dir = base.join("server");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver in its own process group, stopped (with the browsers it started) on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
    session: Option<String>,
}

impl Driver {
    fn start() -> Self {
        require_program(CHROMIUM, "chromium");
        require_program(CHROMEDRIVER, "chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let driver = Self {
            child,
            addr,
            session: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(addr).is_ok() {
                let status = driver.call("GET", "/status", None);
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let text = body.map(|b| b.to_string());
        let r = request(self.addr, method, path, &[], text.as_deref());
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        assert!(
            r.status < 300,
            "WebDriver {method} {path} answered {}: {}",
            r.status,
            r.body
        );
        v
    }

    fn new_session(&mut self, profile: &std::path::Path) {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "mobileEmulation": {
                    "deviceMetrics": {"width": PHONE.0, "height": PHONE.1, "pixelRatio": 1.0, "touch": true, "mobile": true},
                    "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
                },
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={},{}", PHONE.0, PHONE.1), "--no-first-run", "--disable-extensions",
                         "--disable-background-networking", "--disable-sync", "--disable-component-update",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = self.call("POST", "/session", Some(caps));
        self.session = Some(v["value"]["sessionId"].as_str().unwrap().to_owned());
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session.as_ref().unwrap())
    }

    fn go(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v["value"][ELEMENT].as_str().unwrap().to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/clear")),
            Some(json!({})),
        );
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/value")),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.call("GET", &self.s(&format!("/element/{id}/text")), None)["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn attribute(&self, css: &str, name: &str) -> String {
        let id = self.find(css);
        self.call(
            "GET",
            &self.s(&format!("/element/{id}/attribute/{name}")),
            None,
        )["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (bounded) for the message box to hold text, and returns it.
    fn message(&self) -> String {
        self.wait_text("#msg", |t| !t.is_empty())
    }

    /// Waits (bounded, 15 s) for the text of `css` to satisfy `ok`, and returns it.
    fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let t = self.text(css);
            if ok(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} still shows {t:?} after 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The document's title.
    fn title(&self) -> String {
        self.call("GET", &self.s("/title"), None)["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.call("GET", &self.s("/screenshot"), None);
        let png = data_encoding::BASE64
            .decode(v["value"].as_str().unwrap().as_bytes())
            .unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot is not a PNG"
        );
        let path = artifacts_dir().join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                request(self.addr, "DELETE", &format!("/session/{id}"), &[], None)
            }));
        }
        // chromedriver leads its own process group: end it and any browser it left behind.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &group])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .status();
        let _ = self.child.wait();
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn unlock_page_in_headless_chromium_unlocks_and_shows_success() {
    let setup = Setup::new("60s", "issuer = \"Acme <Ops>\"\n");
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    let profile = tempfile::tempdir().unwrap();
    let mut driver = Driver::start();
    driver.new_session(profile.path());
    driver.go(&format!("http://{}/?service_id={SERVICE}", server.addr));
    assert_eq!(driver.text("#svcnote"), format!("Service: {SERVICE}"));
    // Issue 16 (item 7): the configured issuer, as text (escaped in the HTML).
    assert_eq!(driver.text("#issuer"), "Acme <Ops>");
    assert_eq!(driver.title(), "Acme <Ops>: unlock login");

    // A wrong code first: a clear error, and nothing unlocked.
    driver.type_into("#user", "alice");
    driver.type_into("#code", &alice.wrong_code());
    driver.click("#unlock");
    let err = driver.message();
    assert!(
        err.starts_with("Not unlocked: wrong or already used code"),
        "{err}"
    );
    assert_eq!(driver.attribute("#msg", "class"), "msg err");
    driver.screenshot("unlock-page-wrong-code.png");
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );

    // Then the right one.
    driver.type_into("#user", "alice");
    driver.type_into("#code", &alice.fresh_code());
    driver.click("#unlock");
    let deadline = Instant::now() + Duration::from_secs(15);
    let ok = loop {
        let t = driver.message();
        if t.starts_with("Unlocked") || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        ok.starts_with(&format!("Unlocked on {SERVICE}. Log in before ")),
        "{ok}"
    );
    assert_eq!(driver.attribute("#msg", "class"), "msg ok");
    let shot = driver.screenshot("unlock-page-success.png");
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    assert_eq!(
        png_size(&shot),
        PHONE,
        "the screenshot is the phone's screen"
    );

    server.wait_for_log(&["event=unlock ", "user=alice", "service_id=web-prod-01"]);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
}

/// Issue 16 (item 7), on the phone: the administrator issues a code (`enroll --code`); the user
/// redeems it on the page, which shows the otpauth URI and a QR code; a TOTP code computed here
/// from that URI confirms the enrollment; then an unlock without a service ID opens the next
/// login on any service ID, once.
#[test]
fn enroll_with_a_code_then_unlock_without_a_service_id_in_headless_chromium() {
    let setup = Setup::new("60s", "issuer = \"Acme Ops\"\n");
    let issued = setup.run(&["enroll", "--code", "bob"]);
    assert!(issued.status.success());
    let stdout = String::from_utf8_lossy(&issued.stdout).into_owned();
    let code = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 14 && l.matches('-').count() == 2)
        .unwrap_or_else(|| panic!("no code in {stdout}"))
        .to_owned();
    let server = setup.start();
    let profile = tempfile::tempdir().unwrap();
    let mut driver = Driver::start();
    driver.new_session(profile.path());
    driver.go(&format!("http://{}/#enroll", server.addr));
    assert_eq!(driver.text("#issuer"), "Acme Ops");

    driver.type_into("#enroll-user", "bob");
    driver.type_into("#enroll-code", &code.to_lowercase());
    driver.click("#enroll-go");
    let uri = driver.wait_text("#otpauth", |t| !t.is_empty());
    assert!(
        uri.starts_with("otpauth://totp/Acme%20Ops:bob?secret="),
        "{uri}"
    );
    let qr = driver.find("#qr svg");
    assert!(!qr.is_empty());
    let shot = driver.screenshot("enroll-page-qr.png");
    assert_eq!(png_size(&shot), PHONE);
    let secret = crate::harness::secret_from_output(&uri);
    let step = ticketgate_server::totp::step_at(std::time::SystemTime::now());
    let first = ticketgate_server::totp::code_for_step(&secret, step);
    driver.type_into("#enroll-totp", &first);
    driver.click("#enroll-confirm");
    let done = driver.wait_text("#enroll-msg", |t| !t.is_empty());
    assert!(done.starts_with("Enrolled."), "{done}");
    server.wait_for_log(&["event=enroll_code_confirmed", "user=bob"]);
    let shot = driver.screenshot("enroll-page-done.png");
    assert_eq!(png_size(&shot), PHONE);

    // Back to the unlock form: the service ID left empty.
    driver.click("#to-unlock");
    let bob = crate::harness::User::new("bob", secret, Some(step));
    driver.type_into("#user", "bob");
    driver.type_into("#code", &bob.fresh_code());
    driver.click("#unlock");
    let ok = driver.message();
    assert!(
        ok.starts_with("Unlocked on any service. Log in before "),
        "{ok}"
    );
    let shot = driver.screenshot("unlock-page-any-service.png");
    assert_eq!(png_size(&shot), PHONE);
    assert!(
        server
            .attempt_with(Some(&setup.token), "db-prod-07", "bob")
            .unlocked()
    );
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "bob")
            .unlocked()
    );
}
