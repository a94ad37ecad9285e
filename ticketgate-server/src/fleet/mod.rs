//! Fleet lockout: one failure count and one lock per user across every host, kept by the server.
//!
//! This module owns the policy (`[fleet]`), the plain types the endpoints and the CLI share, and
//! the small [`FleetStore`] trait a database implements. The store only runs SQL: every policy
//! decision (which failure counts, when a lock ends, what an answer says) is made here, from
//! plain values and `now`, so each backend's SQL stays a transcription of the same statements.

pub mod api;
pub mod cli;
pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::time::Duration;

/// How far in the future an event's `at` may lie before it is clamped to `now + MAX_AHEAD`.
pub const MAX_AHEAD: Duration = Duration::from_secs(60);
/// How far in the past an event's `at` may lie before it is clamped to `now - MAX_BEHIND`.
pub const MAX_BEHIND: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long event ids are remembered: beyond [`MAX_BEHIND`] plus a day, a replayed id carries
/// an `at` that is clamped to a week ago, far outside any `reset_failed_after`, so it counts
/// nothing even once its id is forgotten.
pub const REMEMBER_IDS: Duration = Duration::from_secs(8 * 24 * 3600);
/// Longest event id accepted (a UUID's text form).
pub const ID_LEN: usize = 36;

/// `failed_logon` range (as the module's `[policy.NAME]`).
pub const FAILED_LOGON_MAX: u32 = 100;
/// `reset_failed_after` range.
pub const RESET_FAILED_AFTER: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(120 * 60));
/// `lockout_duration` upper bound (0 = until an administrator unlocks).
pub const LOCKOUT_DURATION_MAX: Duration = Duration::from_secs(1440 * 60);

/// The server's `[fleet]` policy, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetPolicy {
    /// Failures inside the window that lock; 0 = never lock (failures are still counted).
    pub failed_logon: u32,
    /// The count starts again once this long has passed since the last counted failure.
    pub reset_failed_after: Duration,
    /// How long a failures lock lasts; `None` = until an administrator unlocks.
    pub lockout_duration: Option<Duration>,
    /// Whether `root` can be locked by failures (an admin lock always applies).
    pub lock_root: bool,
}

impl Default for FleetPolicy {
    fn default() -> Self {
        Self {
            failed_logon: 3,
            reset_failed_after: Duration::from_secs(30 * 60),
            lockout_duration: Some(Duration::from_secs(30 * 60)),
            lock_root: false,
        }
    }
}

/// Which credential a count is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Credential {
    /// The account password.
    Password,
    /// The ticketgate PIN.
    Pin,
}

impl Credential {
    /// Both, in the order `status` shows them.
    pub const ALL: [Self; 2] = [Self::Password, Self::Pin];

    /// The protocol's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Pin => "pin",
        }
    }

    /// Parses the protocol's word.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "password" => Some(Self::Password),
            "pin" => Some(Self::Pin),
            _ => None,
        }
    }
}

/// Why the store could not answer.
#[derive(Debug)]
pub enum FleetError {
    /// `data_dir` or the database file could not be created or opened.
    Open {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// `data_dir`, or a directory leading to it, may be written by someone else.
    Untrusted {
        path: std::path::PathBuf,
        refused: fs_trust::Refused,
    },
    /// The database reported an error.
    Database {
        path: std::path::PathBuf,
        message: String,
    },
    /// PostgreSQL could not be reached or reported an error (`store = "postgres"`).
    Postgres { message: String },
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open { path, source } => {
                write!(f, "cannot open fleet store {}: {source}", path.display())
            }
            Self::Untrusted { path, refused } => {
                write!(f, "data_dir {} refused: {refused}", path.display())
            }
            Self::Database { path, message } => {
                write!(f, "fleet store {}: {message}", path.display())
            }
            Self::Postgres { message } => write!(f, "fleet store: {message}"),
        }
    }
}

impl std::error::Error for FleetError {}

/// What the store holds for one user and credential (all times in seconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// When an administrator locked the user (any credential).
    pub admin_since: Option<i64>,
    /// Who did.
    pub admin_by: Option<String>,
    /// Failures of the current run (kept as they were when a failures lock began).
    pub failures: u32,
    /// The newest counted failure's `at`.
    pub last_failure: Option<i64>,
    /// When the failures lock began.
    pub locked_at: Option<i64>,
    /// When it ends; `None` with `locked_at` set: until an administrator unlocks.
    pub locked_until: Option<i64>,
    /// The host whose failure set the lock.
    pub lock_host: Option<String>,
}

/// Why a user is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `failed_logon` failures inside the window.
    Failures,
    /// `ticketgate-server lock`.
    Admin,
}

impl Reason {
    /// The protocol's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failures => "failures",
            Self::Admin => "admin",
        }
    }
}

/// The answer of `/v1/fleet/check` and `/v1/fleet/failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Whether logins with this credential are refused now.
    pub reason: Option<Reason>,
    /// When a failures lock ends (`None`: not locked, an admin lock, or until an admin unlocks).
    pub until: Option<i64>,
    /// Failures counted in the current run (0 once it has expired).
    pub failures: u32,
}

impl State {
    /// The state `record` means at `now` under `policy`.
    pub fn of(record: &Record, now: i64, policy: &FleetPolicy) -> Self {
        let failures_lock = failures_lock_active(record, now);
        let reason = if record.admin_since.is_some() {
            Some(Reason::Admin)
        } else if failures_lock {
            Some(Reason::Failures)
        } else {
            None
        };
        let run_alive = record.locked_at.is_none()
            && record
                .last_failure
                .is_some_and(|t| t > window_start(now, policy));
        Self {
            reason,
            until: match reason {
                Some(Reason::Failures) => record.locked_until,
                Some(Reason::Admin) | None => None,
            },
            failures: if failures_lock || run_alive {
                record.failures
            } else {
                0
            },
        }
    }

    /// Whether logins are refused.
    pub fn locked(&self) -> bool {
        self.reason.is_some()
    }

    /// `{"locked","reason","until","failures"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "locked": self.locked(),
            "reason": self.reason.map(Reason::as_str),
            "until": self.until,
            "failures": self.failures,
        })
    }
}

fn failures_lock_active(record: &Record, now: i64) -> bool {
    record.locked_at.is_some() && record.locked_until.is_none_or(|u| u > now)
}

/// A failure or success reported by a host (`at` already clamped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The host's UUID for it (lower case).
    pub id: String,
    /// Whose login it was.
    pub user: String,
    /// Which credential.
    pub credential: Credential,
    /// The authenticated host.
    pub host: String,
    /// When it happened on the host (seconds since the epoch).
    pub at: i64,
}

/// How one failure is to be counted: the policy turned into plain numbers for the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// The count that locks; 0 = never (no limit, or root without `lock_root`).
    pub limit: u32,
    /// A previous run whose last failure is at or before this is over.
    pub window_start: i64,
    /// When a lock set now ends (`None`: until an administrator unlocks).
    pub until: Option<i64>,
    /// The server's time.
    pub now: i64,
}

impl Count {
    /// The numbers for a failure of `user` at server time `now`.
    pub fn new(policy: &FleetPolicy, user: &str, now: i64) -> Self {
        let exempt = user == "root" && !policy.lock_root;
        Self {
            limit: if exempt { 0 } else { policy.failed_logon },
            window_start: window_start(now, policy),
            until: policy.lockout_duration.map(|d| now.saturating_add(secs(d))),
            now,
        }
    }
}

/// What recording a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The id was seen before: nothing changed.
    Replayed,
    /// Older than `reset_failed_after`: the id is remembered, nothing counted.
    TooOld,
    /// The user was already locked by failures: not counted, the lock not extended.
    WhileLocked,
    /// Counted; `locked_now` when this failure reached the limit.
    Counted { locked_now: bool },
}

/// What recording a success did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleared {
    /// The id was seen before: nothing changed.
    Replayed,
    /// The count of that user and credential was cleared (or there was none).
    Cleared,
    /// Kept: a failures lock is in force, or a failure newer than the success was counted.
    Kept,
}

/// One line of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatus {
    /// The user.
    pub user: String,
    /// Each credential's record (admin fields repeated in both).
    pub records: Vec<(Credential, Record)>,
}

/// One remembered event id (`store copy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// The host's UUID for it.
    pub id: String,
    /// `failure` or `success`.
    pub kind: String,
    /// Whose login.
    pub user: String,
    /// `password` or `pin`.
    pub credential: String,
    /// The host.
    pub host: String,
    /// When it happened (clamped).
    pub at: i64,
    /// When the server first got it.
    pub seen: i64,
}

/// One count row as stored (`store copy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    /// The user.
    pub user: String,
    /// `password` or `pin`.
    pub credential: String,
    /// Failures of the run.
    pub failures: i64,
    /// The newest counted failure's `at`.
    pub last_failure: i64,
    /// When a failures lock began.
    pub locked_at: Option<i64>,
    /// When it ends.
    pub locked_until: Option<i64>,
    /// The host whose failure set it.
    pub lock_host: Option<String>,
    /// That failure's id.
    pub lock_event: Option<String>,
}

/// One admin lock (`store copy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRow {
    /// The user.
    pub user: String,
    /// Since when.
    pub since: i64,
    /// Who locked.
    pub operator: String,
}

/// Everything a fleet store holds: what `store copy` moves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetDump {
    /// Remembered event ids (so a host's spooled event sent again after the move counts nothing).
    pub events: Vec<EventRow>,
    /// Failure counts and failures locks.
    pub counts: Vec<CountRow>,
    /// Admin locks.
    pub admin_locks: Vec<AdminRow>,
}

/// How many rows of each kind an import added (rows already in the target are kept as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Remembered event ids.
    pub events: u64,
    /// Counts (with their failures locks).
    pub counts: u64,
    /// Admin locks.
    pub admin_locks: u64,
}

/// The fleet's state in a database: each change is one atomic statement (see `sqlite.rs`).
pub trait FleetStore: Send + Sync {
    /// The record of `user` and `credential` (all empty when there is none).
    fn record(&self, user: &str, credential: Credential) -> Result<Record, FleetError>;
    /// Remembers the event's id (first seen at `now`) and, when `count` is given and the id
    /// is new, counts it. Answers what happened and the record afterwards.
    fn failure(
        &self,
        event: &Event,
        now: i64,
        count: Option<&Count>,
    ) -> Result<(Counted, Record), FleetError>;
    /// Remembers the event's id and, when it is new, clears the count unless a failures lock
    /// is in force at `now` or a failure newer than `event.at` was counted.
    fn success(&self, event: &Event, now: i64) -> Result<Cleared, FleetError>;
    /// Locks `user` for every credential; answers the earlier lock's time when there was one.
    fn lock(&self, user: &str, operator: &str, now: i64) -> Result<Option<i64>, FleetError>;
    /// Lifts every lock of `user` and forgets the failures; false when there was nothing.
    fn unlock(&self, user: &str) -> Result<bool, FleetError>;
    /// Forgets the failures and failures locks of `user` (an admin lock stays).
    fn reset(&self, user: &str) -> Result<bool, FleetError>;
    /// Users with an admin lock, a failures lock in force at `now`, or a failure after
    /// `window_start`, sorted by name.
    fn listed(&self, now: i64, window_start: i64) -> Result<Vec<String>, FleetError>;
    /// Forgets event ids first seen before `before`; answers how many.
    fn prune(&self, before: i64) -> Result<u64, FleetError>;
    /// Everything the store holds (for `store copy`).
    fn export(&self) -> Result<FleetDump, FleetError>;
    /// Adds `dump` in one transaction; rows already present (same key) are left as they are.
    fn import(&self, dump: &FleetDump) -> Result<Imported, FleetError>;
}

/// The fleet store beside `protect`: on its PostgreSQL pool when it has one (`store =
/// "postgres"`, the tables made by its migrations), else `fleet.sqlite3` in `data_dir`. Answers
/// the store and where it is, for the start line.
pub fn open(
    data_dir: &std::path::Path,
    protect: &dyn crate::store::ProtectStore,
) -> Result<(Box<dyn FleetStore>, String), FleetError> {
    match protect.postgres_pool() {
        Some(pool) => Ok((
            Box::new(postgres::PgFleet::new(pool)),
            "postgres".to_owned(),
        )),
        None => {
            let store = sqlite::SqliteFleet::open(data_dir)?;
            let at = store.path().display().to_string();
            Ok((Box::new(store), at))
        }
    }
}

/// Every credential's record of `user`.
pub fn user_status(store: &dyn FleetStore, user: &str) -> Result<UserStatus, FleetError> {
    let mut records = Vec::with_capacity(Credential::ALL.len());
    for c in Credential::ALL {
        records.push((c, store.record(user, c)?));
    }
    Ok(UserStatus {
        user: user.to_owned(),
        records,
    })
}

/// The start of the counting window at `now`.
pub fn window_start(now: i64, policy: &FleetPolicy) -> i64 {
    now.saturating_sub(secs(policy.reset_failed_after))
}

/// `at` moved into `[now - MAX_BEHIND, now + MAX_AHEAD]`; the second value says whether it moved.
pub fn clamp_at(at: i64, now: i64) -> (i64, bool) {
    let low = now.saturating_sub(secs(MAX_BEHIND));
    let high = now.saturating_add(secs(MAX_AHEAD));
    let clamped = at.clamp(low, high);
    (clamped, clamped != at)
}

/// An event id in canonical form (lower-case UUID text), or `None` when it is not one.
pub fn canonical_id(id: &str) -> Option<String> {
    let bytes = id.as_bytes();
    if bytes.len() != ID_LEN {
        return None;
    }
    let shape_ok = bytes.iter().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    shape_ok.then(|| id.to_ascii_lowercase())
}

/// Seconds of `d` as the store's integer type.
pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
