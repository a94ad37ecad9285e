//! The administrator's operations on one account: lock, unlock, reset, must-change, ending its
//! sessions, and recording a password set from outside a login. The `ticketgate` CLI and the
//! host agent (`ticketgate-agent`) both run them, so a task from the server does exactly what
//! the command does.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::args::Credential;
use crate::audit::{AuditSink, Event, EventName};
use crate::config::{Config, Policy};
use crate::directory::{Account, Directory, DirectoryError};
use crate::rules::Violation;
use crate::run_dir::{RunDir, RunDirError};
use crate::secret::Secret;
use crate::session::{self, SessionError, SessionRecord, Sessions};
use crate::store::{Record, StateStore, StoreError};
use crate::user::UserName;
use crate::{lifecycle, lockout};

/// Most history entries kept (the Cisco maximum).
pub const MAX_HISTORY: usize = 25;

/// Why an operation could not be done.
#[derive(Debug)]
pub enum AdminError {
    /// NSS does not know the user: nothing was changed.
    UnknownUser(String),
    /// NSS answers with a name that cannot be an account (`"{name}": why`).
    BadName { name: String, why: String },
    /// NSS could not be asked.
    Directory(DirectoryError),
    /// The state store failed.
    Store(StoreError),
    /// `run_dir` failed its checks.
    RunDir(RunDirError),
    /// The session records could not be read.
    Session(SessionError),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownUser(name) => write!(f, "{name}: no such user"),
            Self::BadName { name, why } => write!(f, "{name:?}: {why}"),
            Self::Directory(e) => write!(f, "{e}"),
            Self::Store(e) => write!(f, "{e}"),
            Self::RunDir(e) => write!(f, "{e}"),
            Self::Session(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<DirectoryError> for AdminError {
    fn from(e: DirectoryError) -> Self {
        Self::Directory(e)
    }
}

/// A change to one account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Forget failed logons and lift a lock they caused (an admin lock stays).
    Reset,
    /// Lock until unlocked (admin lock).
    Lock,
    /// Lift every lock and forget failed logons.
    Unlock,
    /// The credential must be changed at the next login.
    MustChange(Credential),
}

impl Action {
    /// The audit event it writes.
    pub fn event(self) -> EventName {
        match self {
            Self::Reset => EventName::AdminReset,
            Self::Lock => EventName::AdminLock,
            Self::Unlock => EventName::AdminUnlock,
            Self::MustChange(_) => EventName::MustChange,
        }
    }

    /// What it did, for people (`ticketgate` prints it after the user's name).
    pub fn done(self) -> &'static str {
        match self {
            Self::Lock => "locked by administrator",
            Self::Unlock => "unlocked; failed logons forgotten",
            Self::MustChange(_) => "must change the credential at the next login",
            Self::Reset => "failed logons forgotten",
        }
    }
}

/// What [`apply`] did beyond the action itself.
#[derive(Debug)]
pub struct Applied {
    /// The account, under the name NSS answers with.
    pub user: UserName,
    /// `Reset` of a record that did not parse removed it (its path and what was wrong).
    pub removed_corrupt: Option<(PathBuf, String)>,
}

/// An account NSS knows, under the name it answers with (a name it does not know is an error,
/// not a new record under a typo).
pub fn known_user(
    directory: &dyn Directory,
    name: &str,
) -> Result<(UserName, Account), AdminError> {
    let account = directory
        .lookup(name)?
        .ok_or_else(|| AdminError::UnknownUser(name.to_string()))?;
    let user = UserName::parse(&account.name).map_err(|why| AdminError::BadName {
        name: name.to_string(),
        why,
    })?;
    Ok((user, account))
}

/// Applies `action` to the account NSS knows as `name` and audits it (`by` = `operator`,
/// service `service`). A user NSS does not know changes nothing.
pub fn apply(
    store: &dyn StateStore,
    directory: &dyn Directory,
    audit: &dyn AuditSink,
    name: &str,
    action: Action,
    who: (&str, &str),
    now: i64,
) -> Result<Applied, AdminError> {
    let (service, operator) = who;
    let (user, _) = known_user(directory, name)?;
    let mut removed_corrupt = None;
    match action {
        Action::Reset => match store.update(&user, &mut lockout::reset) {
            // A corrupt record keeps the account locked until reset: removing it is the repair.
            Err(StoreError::Corrupt { path, detail }) => {
                store.remove(&user)?;
                removed_corrupt = Some((path, detail));
            }
            other => other.map(drop)?,
        },
        Action::Lock => store
            .update(&user, &mut |r| lockout::admin_lock(r, now))
            .map(drop)?,
        Action::Unlock => store
            .update(&user, &mut |r| lockout::admin_unlock(r, now))
            .map(drop)?,
        Action::MustChange(which) => store
            .update(&user, &mut |r| {
                lifecycle::credential_mut(r, which).must_change = true;
            })
            .map(drop)?,
    }
    audit.event(
        &Event::new(action.event(), user.as_str(), service, "").with("by", operator),
        now,
    );
    Ok(Applied {
        user,
        removed_corrupt,
    })
}

/// The session records under the config's `run_dir`, once it passed its checks.
pub fn sessions(config: &Config) -> Result<Sessions, AdminError> {
    let run = RunDir::open(&config.module.run_dir).map_err(AdminError::RunDir)?;
    Sessions::new(&run).map_err(AdminError::RunDir)
}

/// Ends every session of `user`: SIGHUP (what sshd and a terminal hang-up use) and SIGTERM
/// (what su and login act on) to each session's process and every process below it (an sshd
/// session without a terminal passes no hang-up on to the user's commands), then SIGKILL for
/// those still running after `grace`. A session's process is signalled only while `/proc`
/// shows the recorded pid, start time and uid (checked again before each signal); the
/// processes below it only while they have the start time they had when found. Returns each
/// session with the signal that ended it (`SIGHUP+SIGTERM` or `SIGKILL`), each audited.
pub fn terminate(
    config: &Config,
    audit: &dyn AuditSink,
    user: &str,
    grace: Duration,
    now: i64,
) -> Result<Vec<(SessionRecord, &'static str)>, AdminError> {
    let sessions = sessions(config)?
        .list(Some(user))
        .map_err(AdminError::Session)?;
    let me = nix::unistd::getpid().as_raw();
    let targets: Vec<SessionRecord> = sessions
        .into_iter()
        .filter(|s| s.pid > 1 && s.pid != me)
        .collect();
    // Found before any signal: once a leader ends, its children belong to init.
    let below: Vec<(i32, u64)> = targets
        .iter()
        .flat_map(|s| session::descendants(s.pid))
        .filter(|&(p, _)| p > 1 && p != me)
        .collect();
    for s in &targets {
        // `list` checked pid, start time and uid; a process that changed since is left alone.
        if s.is_running() {
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGHUP);
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGTERM);
        }
    }
    for &(p, start) in &below {
        if session::is_alive(p, start) {
            let _ = kill(Pid::from_raw(p), Signal::SIGHUP);
            let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline
        && (targets.iter().any(SessionRecord::is_running)
            || below.iter().any(|&(p, start)| session::is_alive(p, start)))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &(p, start) in &below {
        if session::is_alive(p, start) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
    let mut ended = Vec::new();
    for s in targets {
        let signal = if s.is_running() {
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
            "SIGKILL"
        } else {
            "SIGHUP+SIGTERM"
        };
        let event = Event::new(EventName::SessionTerminated, &s.user, &s.service, &s.rhost)
            .with("pid", s.pid)
            .with("tty", &s.tty)
            .with("signal", signal);
        audit.event(&event, now);
        ended.push((s, signal));
    }
    Ok(ended)
}

/// The password rules and the history of `policy` for a new password set from outside a
/// login (the agent's reset): the same checks the `password` line makes.
pub fn check_new_password(
    new: &Secret,
    policy: &Policy,
    account: &Account,
    record: Option<&Record>,
) -> Result<(), Violation> {
    crate::rules::check_password(new.expose(), policy, account)?;
    let keep = usize::try_from(policy.history).unwrap_or(0);
    let history = record.map_or(&[][..], |r| {
        lifecycle::credential(r, Credential::Password)
            .history
            .as_slice()
    });
    if history
        .iter()
        .rev()
        .take(keep)
        .any(|h| crate::hash::verify(new, h))
    {
        return Err(Violation::new(
            "history",
            "You used this password recently; choose another.".to_string(),
        ));
    }
    Ok(())
}

/// Records a changed credential in `record`: the time, must-change cleared, and `history_hash`
/// (the salted hash of the new one) appended to the history, or the history cleared without one.
pub fn note_change(
    record: &mut Record,
    which: Credential,
    history_hash: Option<&String>,
    now: i64,
) {
    let state = lifecycle::credential_mut(record, which);
    state.last_change = Some(now);
    state.must_change = false;
    match history_hash {
        Some(h) => {
            state.history.push(h.clone());
            let excess = state.history.len().saturating_sub(MAX_HISTORY);
            state.history.drain(..excess);
        }
        None => state.history.clear(),
    }
}

/// Records a password set from outside a login (the agent's reset through `chpasswd`) as the
/// `commit` line records a change, and audits `credential_update` (service `service`).
pub fn record_password_change(
    store: &dyn StateStore,
    audit: &dyn AuditSink,
    user: &UserName,
    new: &Secret,
    policy: &Policy,
    service: &str,
    now: i64,
) -> Result<(), AdminError> {
    let hash = if policy.history > 0 {
        // A hash that cannot be made (no randomness) records the change without history.
        crate::hash::hash(new).ok()
    } else {
        None
    };
    store.update(user, &mut |r| {
        note_change(r, Credential::Password, hash.as_ref(), now);
    })?;
    audit.event(
        &Event::new(EventName::CredentialUpdate, user.as_str(), service, "")
            .with("credential", "password"),
        now,
    );
    Ok(())
}
