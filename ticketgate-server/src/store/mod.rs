//! What the protect protocol shares, behind one trait: enrollments, used TOTP steps, unlock
//! windows and wrong-code counters. Two backends: `sqlite` (embedded, one process) and `postgres`
//! (every piece of state in the database, so replicas behind a load balancer act as one server).
//!
//! A trait rather than an enum over the two: the protocol code (`api`) sees only what it needs,
//! each backend keeps its own atomicity story next to its code (a mutex for SQLite, one SQL
//! statement per change for PostgreSQL), and tests can hand `api` either one.

pub mod postgres;
pub mod sqlite;

use crate::config::{Config, StoreKind};
use crate::secret::Secret;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use sqlite::{DB_FILE, SqliteStore, Store};

/// Why the store could not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    /// `data_dir` or the database file could not be created or opened.
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `data_dir`, or a directory leading to it, is not one only root (or the server's user)
    /// can have written (it is group/other-writable, someone else's, or a symbolic link).
    Untrusted {
        path: PathBuf,
        refused: fs_trust::Refused,
    },
    /// SQLite reported an error.
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The user already has an enrollment.
    AlreadyEnrolled { user: String },
    /// `postgres_url_file` or `postgres_ca_file` was refused or does not hold what it must
    /// (the message never contains the connection string).
    PostgresConfig { key: &'static str, message: String },
    /// PostgreSQL could not be reached or reported an error.
    Postgres { message: String },
    /// The database's schema is newer than this server knows.
    SchemaTooNew { found: i32, known: i32 },
    /// `store copy`: the target already holds enrollments.
    TargetNotEmpty { count: u64 },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open { path, source } => {
                write!(f, "cannot open store {}: {source}", path.display())
            }
            Self::Untrusted { path, refused } => {
                write!(f, "data_dir {} refused: {refused}", path.display())
            }
            Self::Sqlite { path, source } => write!(f, "store {}: {source}", path.display()),
            Self::AlreadyEnrolled { user } => write!(
                f,
                "{user} is already enrolled; to issue a new secret run `ticketgate-server revoke {user}` first"
            ),
            Self::PostgresConfig { key, message } => write!(f, "`{key}`: {message}"),
            Self::Postgres { message } => write!(f, "PostgreSQL: {message}"),
            Self::SchemaTooNew { found, known } => write!(
                f,
                "the database's schema is version {found}, newer than this server's {known}: \
                 upgrade ticketgate-server on every replica"
            ),
            Self::TargetNotEmpty { count } => write!(
                f,
                "the target store already holds {count} enrollment(s); nothing copied \
                 (pass --force to add to it, users already there are left as they are)"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// One enrollment as `list` shows it (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentInfo {
    /// The login name.
    pub user: String,
    /// The only service ID this enrollment unlocks; `None` means any.
    pub service_id: Option<String>,
    /// When it was created (seconds since the epoch).
    pub created: u64,
    /// The last time step whose code was accepted.
    pub last_step: Option<u64>,
}

/// One enrollment with its secret: what `store copy` moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// Everything but the secret.
    pub info: EnrollmentInfo,
    /// The TOTP secret.
    pub secret: Secret,
}

/// The window key an unlock without a service ID opens when the enrollment is bound to none:
/// `/v1/attempt` for any service ID of the user takes it (after the `[[host]] service_ids`
/// check). Never a service ID itself: requests naming it are refused.
pub const ANY_SERVICE: &str = "*";

/// What checking a typed code against the store found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeem {
    /// The code was right and fresh; its step is now used up. `bound` is the only service ID
    /// the enrollment unlocks (`None`: any).
    Accepted { bound: Option<String> },
    /// No enrollment for this user.
    UnknownUser,
    /// The enrollment is bound to another service ID.
    WrongService,
    /// The code matches no step in the window.
    WrongCode,
    /// The code was right but its step (or a later one) was already used.
    Replayed,
}

/// A typed code's fate: checked, or not even looked at because of the wrong-code limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<R = Redeem> {
    /// The code was checked; anything but success counted as a miss.
    Checked(R),
    /// Too many wrong codes for this user: try again after this long.
    RateLimited(Duration),
}

/// A pending enrollment code as `list` shows it (never the code, which is not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCode {
    /// The login name.
    pub user: String,
    /// The service ID the enrollment will be bound to; `None` means any.
    pub service_id: Option<String>,
    /// When it was issued (seconds since the epoch).
    pub created: u64,
    /// The first second it is no longer good (seconds since the epoch).
    pub expires: u64,
    /// Wrong tries so far (dead at `enroll_code::MAX_TRIES`).
    pub tries: u32,
    /// True once redeemed on the page (a secret is drawn, waiting for the first TOTP code).
    pub redeemed: bool,
}

/// One pending code with its hash and any drawn secret: what `store copy` moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// Everything `list` shows.
    pub info: PendingCode,
    /// SHA-256 of the normalized code.
    pub hash: Vec<u8>,
    /// The secret drawn when the code was redeemed, not active until confirmed.
    pub secret: Option<Secret>,
}

/// What redeeming or confirming an enrollment code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    /// Redeemed: the secret given is stored, waiting for the first TOTP code.
    Redeemed { service_id: Option<String> },
    /// Confirmed: the enrollment is active and the code gone.
    Enrolled { service_id: Option<String> },
    /// Refused (a wrong code or TOTP code counted as one of the code's tries and as a miss).
    Refused(crate::enroll_code::Refused),
}

/// Everything the protect protocol shares, with each change atomic in the backend.
pub trait ProtectStore: Send + Sync {
    /// `"sqlite"` or `"postgres"`, for the start line.
    fn backend(&self) -> &'static str;

    /// True when `take_window` may wait on I/O (the HTTP glue then runs it on the blocking pool).
    fn attempt_blocks(&self) -> bool;

    /// Records a new enrollment; refuses when the user already has one.
    fn enroll(
        &self,
        user: &str,
        service_id: Option<&str>,
        secret: &Secret,
        now: SystemTime,
    ) -> Result<(), StoreError>;

    /// Removes a user's enrollment and any pending enrollment code; false when there was
    /// neither.
    fn revoke(&self, user: &str) -> Result<bool, StoreError>;

    /// Every enrollment, sorted by user, without secrets.
    fn list(&self) -> Result<Vec<EnrollmentInfo>, StoreError>;

    /// How many users are enrolled.
    fn count(&self) -> Result<u64, StoreError>;

    /// The wrong-code limit, the code check and the miss as one step: of any number of
    /// concurrent wrong codes for a user (on any replica) at most the limit are checked; an
    /// accepted code's step is committed as used before this returns. Without `service_id`
    /// the enrollment's binding is not checked (the caller opens the window it returns).
    fn check_code(
        &self,
        user: &str,
        service_id: Option<&str>,
        code: &str,
        now: SystemTime,
    ) -> Result<Verdict, StoreError>;

    /// Stores a pending enrollment code's hash for `user` (replacing an older pending code),
    /// good until `expires`; refused when the user is already enrolled.
    fn issue_code(
        &self,
        user: &str,
        service_id: Option<&str>,
        hash: &[u8; 32],
        now: SystemTime,
        expires: SystemTime,
    ) -> Result<(), StoreError>;

    /// Redeems `user`'s pending code: behind the wrong-code limit (as `check_code`), checks
    /// expiry, tries and hash, and on success stores `secret` as the pending secret (a code
    /// redeemed again replaces it). A wrong code counts a try.
    fn redeem_code(
        &self,
        user: &str,
        hash: &[u8; 32],
        secret: &Secret,
        now: SystemTime,
    ) -> Result<Verdict<CodeOutcome>, StoreError>;

    /// Confirms a redeemed code with the first TOTP code of its secret: on success the
    /// enrollment is created (that code's step used) and the pending code deleted, atomically.
    /// A wrong TOTP code counts a try.
    fn confirm_code(
        &self,
        user: &str,
        hash: &[u8; 32],
        totp_code: &str,
        now: SystemTime,
    ) -> Result<Verdict<CodeOutcome>, StoreError>;

    /// Every pending code, sorted by user.
    fn pending_codes(&self) -> Result<Vec<PendingCode>, StoreError>;

    /// Every pending code with its hash and secret (for `store copy`).
    fn export_codes(&self) -> Result<Vec<CodeRecord>, StoreError>;

    /// Adds pending codes in one transaction; users with one already are left as they are.
    fn import_codes(&self, all: &[CodeRecord]) -> Result<u64, StoreError>;

    /// Opens (or reopens), at `now`, the unlock window for `user` at `service_id` until `until`.
    fn open_window(
        &self,
        service_id: &str,
        user: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<(), StoreError>;

    /// One login attempt at `service_id`: true when the user's window for it or their
    /// [`ANY_SERVICE`] window is open at `now`; both are then closed (one login uses up every
    /// window that covers it). Of any number of concurrent attempts at most one sees `true`.
    fn take_window(
        &self,
        service_id: &str,
        user: &str,
        now: SystemTime,
    ) -> Result<bool, StoreError>;

    /// Every enrollment with its secret and used step (for `store copy`).
    fn export(&self) -> Result<Vec<Enrollment>, StoreError>;

    /// Adds enrollments with their used steps in one transaction; users already present are
    /// left as they are. Returns how many were added.
    fn import(&self, all: &[Enrollment]) -> Result<u64, StoreError>;

    /// The PostgreSQL pool, for other modules' tables in the same database (none with SQLite).
    fn postgres_pool(&self) -> Option<postgres::Pool> {
        None
    }
}

/// The window an accepted unlock opens: the one asked for, else the enrollment's bound
/// service ID, else [`ANY_SERVICE`].
pub fn window_for<'a>(asked: Option<&'a str>, bound: Option<&'a str>) -> &'a str {
    asked.or(bound).unwrap_or(ANY_SERVICE)
}

/// Opens the store the config names (`store = "sqlite"` or `"postgres"`); PostgreSQL's schema is
/// created or migrated before this returns.
pub fn open(config: &Config) -> Result<Arc<dyn ProtectStore>, StoreError> {
    match &config.store {
        StoreKind::Sqlite => Ok(Arc::new(SqliteStore::open(&config.data_dir)?)),
        StoreKind::Postgres => {
            let settings = config.postgres.as_ref().ok_or(StoreError::PostgresConfig {
                key: "postgres_url_file",
                message: "store = \"postgres\" needs postgres_url_file".into(),
            })?;
            Ok(Arc::new(postgres::PgStore::open(settings)?))
        }
    }
}

/// Copies every enrollment and pending enrollment code of `from` into `to`: refused when `to`
/// already holds enrollments unless `force`. Returns how many enrollments and codes were copied.
pub fn copy(
    from: &dyn ProtectStore,
    to: &dyn ProtectStore,
    force: bool,
) -> Result<(u64, u64), StoreError> {
    let there = to.count()?;
    if there > 0 && !force {
        return Err(StoreError::TargetNotEmpty { count: there });
    }
    let all = from.export()?;
    let enrollments = to.import(&all)?;
    let codes = to.import_codes(&from.export_codes()?)?;
    Ok((enrollments, codes))
}

/// The code check both backends share: the fresh step `code` matches (to be recorded as used),
/// or why it is refused.
pub(crate) fn judge(
    bound: Option<&str>,
    service_id: Option<&str>,
    secret: &Secret,
    code: &str,
    now: SystemTime,
    last_step: Option<u64>,
) -> Result<u64, Redeem> {
    if let (Some(b), Some(asked)) = (bound, service_id)
        && b != asked
    {
        return Err(Redeem::WrongService);
    }
    crate::totp::matching_step(secret, code, now, last_step).ok_or_else(|| {
        if crate::totp::matching_step(secret, code, now, None).is_some() {
            Redeem::Replayed
        } else {
            Redeem::WrongCode
        }
    })
}
