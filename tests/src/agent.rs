//! Helpers for the host agent's tests (`tests/tests/agent.rs`) and the end-to-end tests against
//! the real ticketgate-server: a sandbox whose config has `[agent]` pointing at any server URL
//! with any token, `ticketgate-agent --once` or the service inside it, tasks as the server hands
//! them out, and the checks that a password appears nowhere.

use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::agent_bin;
use crate::sandbox::{Sandbox, USER, text};

/// Epoch seconds now (`not_after` is dated around the real clock the agent reads).
#[allow(clippy::disallowed_methods)]
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A fresh task id (UUID v4 text), unique within this test binary.
pub fn new_id() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A task as the server hands it out, due in an hour.
pub fn task(kind: &str, user: &str, password: Option<&str>) -> (String, Value) {
    let id = new_id();
    let mut t = json!({"id": id, "kind": kind, "user": user, "not_after": now() + 3600});
    if let Some(p) = password {
        t["password"] = json!(p);
    }
    (id, t)
}

/// The sandbox with tguser covered by a scope (history kept), the agent polling `url` with
/// `token` every `interval`, allowing `tasks` (None: the default, all six).
pub fn agent_sandbox(url: &str, token: &str, interval: &str, tasks: Option<&str>) -> Sandbox {
    let s = Sandbox::new("");
    let secret = s.path("agent.secret");
    std::fs::write(&secret, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let tasks = tasks.map(|t| format!("tasks = {t}\n")).unwrap_or_default();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\n[policy.default]\nhistory = 5\n\
         [agent]\nurl = \"{url}\"\nsecret_file = \"{}\"\ninterval = \"{interval}\"\n{tasks}",
        secret.display()
    ));
    s.lockout_stack("tg");
    s
}

/// `ticketgate-agent --config <the sandbox's> --once` inside the sandbox.
pub fn once(s: &Sandbox) -> Output {
    let bin = agent_bin();
    let cfg = s.config();
    s.run(
        &[
            bin.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--once",
        ],
        "",
    )
}

pub fn login_works(s: &Sandbox, password: &str) -> bool {
    let out = s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{password}\n"),
    );
    out.status.success() && text(&out).contains("account management done")
}

pub fn shadow_hash(s: &Sandbox) -> String {
    let shadow = std::fs::read_to_string(s.path("etc/shadow")).unwrap();
    shadow
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{USER}:")))
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

pub fn set_shadow_hash(s: &Sandbox, hash: &str) {
    let path = s.path("etc/shadow");
    let shadow = std::fs::read_to_string(&path).unwrap();
    let out: String = shadow
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{USER}:")) {
                format!("{USER}:{hash}:19000:0:99999:7:::\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&path, out).unwrap();
}

pub fn events(s: &Sandbox, name: &str) -> Vec<Value> {
    s.events()
        .into_iter()
        .filter(|e| e["event"] == name)
        .collect()
}

/// Every file under `dir`, read as text (lossy).
pub fn files_under(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

/// The password is in none of: the agent's output, its and the module's syslog lines, the
/// audit file, the state directory.
pub fn assert_nowhere(s: &Sandbox, out: &Output, password: &str) {
    assert!(!text(out).contains(password), "agent output: {}", text(out));
    for line in s.syslog_of("ticketgate-agent") {
        assert!(!line.contains(password), "syslog: {line}");
    }
    let audit = std::fs::read_to_string(s.audit_file()).unwrap_or_default();
    assert!(!audit.contains(password), "audit file: {audit}");
    for (path, content) in files_under(&s.path("state")) {
        assert!(!content.contains(password), "{path}: {content}");
    }
}

/// Starts the agent as the service runs it (no `--once`), inside the sandbox.
pub fn spawn_service(s: &Sandbox) -> std::process::Child {
    let bin = agent_bin();
    let cfg = s.config();
    let mut agent = s.command(&[bin.to_str().unwrap(), "--config", cfg.to_str().unwrap()]);
    agent
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    agent.spawn().unwrap()
}

/// SIGTERM, then the exit status and standard error (bounded: 10 s).
pub fn stop_service(mut agent: std::process::Child) -> (std::process::ExitStatus, String) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = agent.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(agent.stderr.as_mut().unwrap(), &mut err).unwrap();
    (status, err)
}

/// A real `su` session of tguser inside the sandbox (`sleep 120`, the module's session line
/// recording it), once `ticketgate sessions` lists it (bounded: 60 s, for a busy machine).
pub fn su_session(s: &Sandbox) -> std::process::Child {
    let (so, cfg) = (crate::module_so(), s.config());
    s.service(
        "su",
        &format!(
            "auth sufficient pam_rootok.so\naccount required pam_unix.so\nsession optional {} config={}\nsession required pam_unix.so\n",
            so.display(),
            cfg.display()
        ),
    );
    let mut su = s.command(&["su", "-s", "/bin/sh", USER, "-c", "sleep 120"]);
    su.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut su = su.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !text(&s.ticketgate(&["sessions", USER])).contains(" su ") {
        assert!(su.try_wait().unwrap().is_none(), "su ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    su
}
