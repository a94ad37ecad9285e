//! `ticketgate-server task add|list`: queueing tasks for a host's agent and showing where they
//! stand, through the same store the server uses. A password is read from standard input (or
//! generated and printed once), encrypted at once, and never printed, logged or put in an error.
//!
//! Exit statuses as the fleet's commands: 0 ok, 1 the store or the key failed, 2 usage (an
//! unknown host, a bad user name, a bad duration), 4 configuration broken (including no
//! `[agent]`).

use super::{Kind, TaskKey, TaskRow, TaskState, TaskStore, generate_password, new_id, user_ok};
use crate::audit::{self, Event, Sink};
use crate::clock::{Clock, SystemClock, since_epoch};
use crate::config::{Config, parse_duration};
use crate::secret::Secret;
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// A failed command: exit status and message.
pub type Failure = (u8, String);

fn settings(config: &Config) -> Result<&super::AgentSettings, Failure> {
    config.agent.as_ref().ok_or_else(|| {
        (
            4,
            "host agents are not configured: add an [agent] table (task_key_file) to the server's config"
                .to_owned(),
        )
    })
}

/// The task key, read before the command gives up root: a `credential:NAME` the unit loads is
/// read from its file under /etc/ticketgate-server when run outside the service (as
/// `postgres_url_file` is); a plain path as it is.
pub fn load_key(config: &Config) -> Result<TaskKey, Failure> {
    let setting = &settings(config)?.task_key_file;
    let in_service =
        std::env::var_os(crate::credentials::DIRECTORY_VAR).is_some_and(|d| !d.is_empty());
    let source = crate::credentials::name(setting)
        .filter(|_| !in_service)
        .and_then(crate::credentials::unit_source);
    match source {
        Some(file) => TaskKey::load_from(&file, crate::hosts::secret_rule()),
        None => TaskKey::load(setting),
    }
    .map_err(|e| (1, e.to_string()))
}

fn store(config: &Config) -> Result<Box<dyn TaskStore>, Failure> {
    settings(config)?;
    let protect = crate::store::open(config).map_err(|e| (1, e.to_string()))?;
    let (store, _) =
        super::open(&config.data_dir, protect.as_ref()).map_err(|e| (1, e.to_string()))?;
    Ok(store)
}

fn epoch(now: SystemTime) -> i64 {
    i64::try_from(since_epoch(now).as_secs()).unwrap_or(i64::MAX)
}

fn time_text(t: i64) -> String {
    audit::rfc3339(UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0)))
}

fn log(event: Event) {
    event.emit(&audit::Stderr as &dyn Sink);
}

/// One line of standard input: from a terminal with echo off (after a prompt on standard
/// error), from a pipe its first line. Without its line ending, zeroed on drop.
fn read_password(prompt: &str) -> Result<Secret, Failure> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let saved = if tty {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let saved = nix::sys::termios::tcgetattr(&stdin)
            .map_err(|e| (1, format!("cannot turn off the terminal's echo: {e}")))?;
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet)
            .map_err(|e| (1, format!("cannot turn off the terminal's echo: {e}")))?;
        Some(saved)
    } else {
        None
    };
    let mut line = Zeroizing::new(String::new());
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &saved);
        eprintln!();
    }
    match read {
        Ok(0) => Err((2, "no password given (standard input is empty)".into())),
        Ok(_) => {
            let text = line.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                return Err((2, "the password is empty".into()));
            }
            if text.chars().any(char::is_control) {
                return Err((2, "the password holds a control character".into()));
            }
            Ok(Secret::new(text.as_bytes().to_vec()))
        }
        Err(e) => Err((1, format!("cannot read the password: {e}"))),
    }
}

/// What `task add` was asked to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRequest {
    /// The `[[host]]` name.
    pub host: String,
    /// The task.
    pub kind: Kind,
    /// The account on the host.
    pub user: String,
    /// `--not-after`, as given.
    pub not_after: Option<String>,
    /// `reset-password --generate`.
    pub generate: bool,
}

/// `task add --host NAME KIND USER [--not-after DURATION]`; prints the task id.
pub fn add(config: &Config, key: Option<&TaskKey>, req: &AddRequest) -> Result<(), Failure> {
    let settings = settings(config)?;
    if !config.hosts.iter().any(|h| h.name == req.host) {
        let known: Vec<&str> = config.hosts.iter().map(|h| h.name.as_str()).collect();
        return Err((
            2,
            format!(
                "no [[host]] named {:?} in the config (configured: {})",
                req.host,
                known.join(", ")
            ),
        ));
    }
    if !user_ok(&req.user) {
        return Err((
            2,
            format!(
                "user {:?} must be 1-256 bytes without spaces, control characters or ':'",
                req.user
            ),
        ));
    }
    let (low, high) = super::NOT_AFTER;
    let valid_for = match &req.not_after {
        None => settings.not_after,
        Some(text) => parse_duration(text)
            .filter(|d| (low..=high).contains(d))
            .ok_or_else(|| {
                (
                    2,
                    format!(
                        "--not-after {text:?} must be a duration from \"1m\" to \"168h\" (units s, m, h)"
                    ),
                )
            })?,
    };
    if req.generate && req.kind != Kind::ResetPassword {
        return Err((2, "--generate goes with reset-password only".into()));
    }
    let password = match (req.kind.carries_password(), req.generate) {
        (false, _) => None,
        (true, true) => {
            Some(generate_password().map_err(|e| (1, format!("cannot draw random bytes: {e}")))?)
        }
        (true, false) => Some(read_password(&format!(
            "Password for {} on {}: ",
            req.user, req.host
        ))?),
    };
    let id = new_id().map_err(|e| (1, format!("cannot draw random bytes: {e}")))?;
    let sealed = match &password {
        None => None,
        Some(p) => {
            let key = key.ok_or_else(|| (1, "the task key was not read".to_owned()))?;
            Some(key.seal(&id, &req.host, p.expose()).map_err(|e| (1, e))?)
        }
    };
    let store = store(config)?;
    let now = SystemClock.now();
    let at = epoch(now);
    let by = crate::fleet::cli::operator();
    let row = TaskRow {
        id: id.clone(),
        host: req.host.clone(),
        kind: req.kind.as_str().to_owned(),
        user: req.user.clone(),
        state: TaskState::Pending.as_str().to_owned(),
        sealed,
        queued_by: by.clone(),
        queued_at: at,
        not_after: at.saturating_add(crate::fleet::secs(valid_for)),
        finished_at: None,
        detail: None,
    };
    store.add(&row).map_err(|e| (1, e.to_string()))?;
    log(Event::new("task_added", now)
        .field("task_id", &id)
        .field("host", &row.host)
        .field("user", &row.user)
        .field("kind", &row.kind)
        .field("operator", &by)
        .num("not_after", row.not_after));
    if req.generate
        && let Some(p) = &password
    {
        // The one place a generated password is shown: standard output, once.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"Password: ");
        let _ = out.write_all(p.expose());
        let _ = out.write_all(b"\n");
    }
    println!("{id}");
    Ok(())
}

/// `task list [--host NAME] [--json]`: overdue tasks are expired first, so the list is true.
pub fn list(config: &Config, host: Option<&str>, json: bool) -> Result<(), Failure> {
    let store = store(config)?;
    let now = SystemClock.now();
    let db = |e: super::TaskError| (1, e.to_string());
    for e in store.expire(epoch(now)).map_err(db)? {
        log(Event::new("task_expired", now)
            .field("task_id", &e.id)
            .field("host", &e.host)
            .field("user", &e.user)
            .field("kind", &e.kind));
    }
    let rows = store.list(host).map_err(db)?;
    if json {
        let tasks: Vec<serde_json::Value> = rows.iter().map(task_json).collect();
        println!("{}", serde_json::json!({ "tasks": tasks }));
    } else {
        print!("{}", table(&rows));
    }
    Ok(())
}

/// One task as `task list --json` shows it (never the password): times as epoch seconds, as
/// `status --json` gives them.
pub fn task_json(t: &TaskRow) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "host": t.host,
        "kind": t.kind,
        "user": t.user,
        "state": t.state,
        "queued_by": t.queued_by,
        "queued_at": t.queued_at,
        "not_after": t.not_after,
        "finished_at": t.finished_at,
        "detail": t.detail,
    })
}

/// The human table of `task list`.
pub fn table(rows: &[TaskRow]) -> String {
    let mut out = format!(
        "{:<36} {:<16} {:<15} {:<16} {:<8} {:<12} {:<20} {:<20} {:<20} DETAIL\n",
        "ID",
        "HOST",
        "KIND",
        "USER",
        "STATE",
        "QUEUED BY",
        "QUEUED (UTC)",
        "NOT AFTER (UTC)",
        "FINISHED (UTC)"
    );
    for t in rows {
        out.push_str(&format!(
            "{:<36} {:<16} {:<15} {:<16} {:<8} {:<12} {:<20} {:<20} {:<20} {}\n",
            t.id,
            t.host,
            t.kind,
            t.user,
            t.state,
            t.queued_by,
            time_text(t.queued_at),
            time_text(t.not_after),
            t.finished_at.map_or_else(|| "-".to_owned(), time_text),
            t.detail.as_deref().unwrap_or("-"),
        ));
    }
    if rows.is_empty() {
        out.push_str("no tasks\n");
    }
    out
}
