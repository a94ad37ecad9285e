//! The host agent's task queue: tasks an administrator queues for one host (`task add`), handed
//! out to that host's agent on `POST /v1/agent/poll` until it reports a result or the task's
//! `not_after` passes.
//!
//! This module owns the plain types, the password's encryption ([`TaskKey`]) and the small
//! [`TaskStore`] trait a database implements. As with the fleet, every state change is one SQL
//! statement, and the store decides nothing: which task may change, and when, is written into
//! the statement's `WHERE` from plain values and `now`.
//!
//! A password (for `reset_password` and `verify_password`) is stored only encrypted with
//! ChaCha20-Poly1305 under the `[agent] task_key_file` key, with a random nonce per task and the
//! task's id and host as associated data, so a ciphertext copied onto another task's row does not
//! open. The column is set to NULL in the same statement that ends the task (a result, expiry).

pub mod api;
pub mod cli;
pub mod postgres;
pub mod sqlite;

use crate::secret::Secret;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// Most tasks handed out in one answer.
pub const MAX_PER_POLL: usize = 50;
/// Longest `detail` kept from an agent's result (longer ones are cut at a character boundary).
pub const MAX_DETAIL: usize = 256;
/// The key's length in bytes.
pub const KEY_LEN: usize = 32;
/// `[agent] interval` range and default.
pub const INTERVAL: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
/// The default `[agent] interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// `[agent] not_after` (and `task add --not-after`) range.
pub const NOT_AFTER: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(7 * 24 * 3600));
/// The default `[agent] not_after`.
pub const DEFAULT_NOT_AFTER: Duration = Duration::from_secs(3600);
/// Length of a generated password (`task add reset-password --generate`).
pub const GENERATED_LEN: usize = 20;
/// The `detail` of a task whose password the key no longer opens.
pub const KEY_MISMATCH: &str = "key_mismatch";

/// The server's `[agent]` table, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    /// The file (or `credential:NAME`) holding the 32-byte task key.
    pub task_key_file: PathBuf,
    /// The poll interval the server tells its agents.
    pub interval: Duration,
    /// How long a queued task stays valid by default.
    pub not_after: Duration,
}

/// A task's kind: the words the agent and the server share (`ticketgate-wire`).
pub use ticketgate_wire::TaskKind as Kind;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Queued, handed out on every poll until a result arrives.
    Pending,
    /// The agent ran it.
    Done,
    /// The agent ran it and it failed (or the server could not decrypt its password).
    Failed,
    /// The agent would not run it (the detail says why).
    Refused,
    /// No result before `not_after`.
    Expired,
}

impl TaskState {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::Expired => "expired",
        }
    }

    /// A result's `status`: only `done`, `failed` and `refused` come from an agent.
    pub fn from_result(word: &str) -> Option<Self> {
        match word {
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            "refused" => Some(Self::Refused),
            _ => None,
        }
    }
}

/// Why the task store could not answer.
#[derive(Debug)]
pub enum TaskError {
    /// `data_dir` or the database file could not be created or opened.
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `data_dir`, or a directory leading to it, may be written by someone else.
    Untrusted {
        path: PathBuf,
        refused: fs_trust::Refused,
    },
    /// SQLite reported an error.
    Database { path: PathBuf, message: String },
    /// PostgreSQL could not be reached or reported an error.
    Postgres { message: String },
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open { path, source } => {
                write!(f, "cannot open task store {}: {source}", path.display())
            }
            Self::Untrusted { path, refused } => {
                write!(f, "data_dir {} refused: {refused}", path.display())
            }
            Self::Database { path, message } => {
                write!(f, "task store {}: {message}", path.display())
            }
            Self::Postgres { message } => write!(f, "task store: {message}"),
        }
    }
}

impl std::error::Error for TaskError {}

/// One task as stored (times in seconds since the epoch).
#[derive(Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// UUID v4 text.
    pub id: String,
    /// The `[[host]]` name it is for.
    pub host: String,
    /// The protocol's kind word.
    pub kind: String,
    /// The account on the host.
    pub user: String,
    /// The state word.
    pub state: String,
    /// Nonce and ciphertext of the password (pending tasks that carry one only).
    pub sealed: Option<Vec<u8>>,
    /// Who queued it.
    pub queued_by: String,
    /// When.
    pub queued_at: i64,
    /// Not run, not handed out at or after this.
    pub not_after: i64,
    /// When it got its result or expired.
    pub finished_at: Option<i64>,
    /// The agent's detail (or `key_mismatch`).
    pub detail: Option<String>,
}

impl fmt::Debug for TaskRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRow")
            .field("id", &self.id)
            .field("host", &self.host)
            .field("kind", &self.kind)
            .field("user", &self.user)
            .field("state", &self.state)
            .field("sealed", &self.sealed.as_ref().map(|_| "<encrypted>"))
            .field("queued_by", &self.queued_by)
            .field("queued_at", &self.queued_at)
            .field("not_after", &self.not_after)
            .field("finished_at", &self.finished_at)
            .field("detail", &self.detail)
            .finish()
    }
}

/// One result from an agent, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    /// The task's id (lower case).
    pub id: String,
    /// `done`, `failed` or `refused`.
    pub state: TaskState,
    /// The agent's detail, cut to [`MAX_DETAIL`] bytes, control characters replaced.
    pub detail: String,
}

/// A task that left `pending` in one statement (taken by a result, or expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Its id.
    pub id: String,
    /// Its host.
    pub host: String,
    /// Its user.
    pub user: String,
    /// Its kind word.
    pub kind: String,
}

/// The task queue in a database; each change is one statement (see `sqlite.rs`).
pub trait TaskStore: Send + Sync {
    /// Queues `task` (its state `pending`, no finish time).
    fn add(&self, task: &TaskRow) -> Result<(), TaskError>;
    /// Ends each task of `results` that is still pending and belongs to `host` (state, detail,
    /// `finished_at = now`, password NULL); answers the ones it ended.
    fn take_results(
        &self,
        host: &str,
        results: &[TaskResult],
        now: i64,
    ) -> Result<Vec<Ended>, TaskError>;
    /// Pending tasks of `host` whose `not_after` is after `now`, oldest queued first (within a
    /// second, in the order they were queued), at most
    /// [`MAX_PER_POLL`].
    fn pending(&self, host: &str, now: i64) -> Result<Vec<TaskRow>, TaskError>;
    /// Marks every pending task whose `not_after` is at or before `now` expired (password
    /// NULL); answers them.
    fn expire(&self, now: i64) -> Result<Vec<Ended>, TaskError>;
    /// Every task (of `host` when given), newest queued first (within a second, the later
    /// queued first).
    fn list(&self, host: Option<&str>) -> Result<Vec<TaskRow>, TaskError>;
    /// Adds rows exactly as they are, given in [`TaskStore::list`]'s order (`store copy`):
    /// added oldest first, so the hand-out order survives; rows whose id exists are kept;
    /// answers how many were added.
    fn import(&self, rows: &[TaskRow]) -> Result<u64, TaskError>;
}

/// The task store beside `protect`: on its PostgreSQL pool when it has one, else
/// `tasks.sqlite3` in `data_dir`. Answers the store and where it is, for the start line.
pub fn open(
    data_dir: &Path,
    protect: &dyn crate::store::ProtectStore,
) -> Result<(Box<dyn TaskStore>, String), TaskError> {
    match protect.postgres_pool() {
        Some(pool) => Ok((
            Box::new(postgres::PgTasks::new(pool)),
            "postgres".to_owned(),
        )),
        None => {
            let store = sqlite::SqliteTasks::open(data_dir)?;
            let at = store.path().display().to_string();
            Ok((Box::new(store), at))
        }
    }
}

/// Why the task key was refused.
#[derive(Debug)]
pub enum KeyError {
    /// `credential:NAME` names no credential systemd loaded.
    Credential(crate::credentials::CredentialError),
    /// The file could not be read, or fails the secret file rule.
    File {
        path: PathBuf,
        error: fs_trust::SecretError,
    },
    /// The first line is not 32 bytes in base64 or hex.
    Format { path: PathBuf },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Credential(e) => write!(f, "[agent] task_key_file {e}"),
            Self::File { path, error } => {
                let hint = match error {
                    fs_trust::SecretError::Read(e)
                    | fs_trust::SecretError::Refused(fs_trust::Refused {
                        problem: fs_trust::Problem::Io(e),
                        ..
                    }) => crate::credentials::permission_hint(e),
                    _ => "",
                };
                write!(f, "[agent] task_key_file {}: {error}{hint}", path.display())
            }
            Self::Format { path } => write!(
                f,
                "[agent] task_key_file {}: the first line must be a {KEY_LEN}-byte key in base64 \
                 (44 characters) or hex (64); make one with: (umask 077; head -c 32 \
                 /dev/urandom | base64 > {})",
                path.display(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// The key that seals queued passwords.
pub struct TaskKey {
    key: LessSafeKey,
}

impl fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskKey(<redacted>)")
    }
}

/// The associated data: the task's id and host, so a ciphertext opens only on its own row.
fn aad(id: &str, host: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(24 + id.len() + host.len());
    a.extend_from_slice(b"ticketgate-task-v1\0");
    a.extend_from_slice(id.as_bytes());
    a.push(0);
    a.extend_from_slice(host.as_bytes());
    a
}

impl TaskKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes).ok()?;
        Some(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Reads `task_key_file` (a path or `credential:NAME`) by the secret file rule: its first
    /// line, 32 bytes in base64 or hex.
    pub fn load(setting: &Path) -> Result<Self, KeyError> {
        let path = crate::credentials::locate(setting).map_err(KeyError::Credential)?;
        Self::load_from(&path, crate::credentials::secret_rule_for(setting))
    }

    /// Reads the key from `path` under `rule`.
    pub fn load_from(path: &Path, rule: fs_trust::Rule) -> Result<Self, KeyError> {
        let text = fs_trust::read_secret(path, rule).map_err(|error| KeyError::File {
            path: path.to_owned(),
            error,
        })?;
        // 64 hex digits are also valid base64 (of 48 bytes): the length tells them apart.
        let decoded = if text.len() == 2 * KEY_LEN {
            data_encoding::HEXLOWER_PERMISSIVE.decode(&text)
        } else {
            data_encoding::BASE64.decode(&text)
        };
        let bytes = Zeroizing::new(decoded.unwrap_or_default());
        Self::from_bytes(&bytes).ok_or_else(|| KeyError::Format {
            path: path.to_owned(),
        })
    }

    /// Encrypts `password` for task `id` of `host`: the random nonce, then ciphertext and tag.
    /// Fails only when the OS gives no random bytes.
    pub fn seal(&self, id: &str, host: &str, password: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("cannot draw random bytes: {e}"))?;
        let mut body = Zeroizing::new(password.to_vec());
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(id, host)),
                body.as_mut_slice(),
            )
            .map_err(|_| "the password is too long to encrypt".to_owned())?;
        let mut out = Vec::with_capacity(NONCE_LEN + body.len() + tag.as_ref().len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// The password sealed for task `id` of `host`, or `None` when `sealed` does not open
    /// under this key with that id and host.
    pub fn open(&self, id: &str, host: &str, sealed: &[u8]) -> Option<Zeroizing<String>> {
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(body.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(id, host)), &mut buf)
            .ok()?;
        let text = std::str::from_utf8(plain).ok()?;
        Some(Zeroizing::new(text.to_owned()))
    }
}

/// A fresh task id: UUID v4 text.
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut b = [0_u8; 16];
    getrandom::fill(&mut b)?;
    if let Some(v) = b.get_mut(6) {
        *v = (*v & 0x0f) | 0x40;
    }
    if let Some(v) = b.get_mut(8) {
        *v = (*v & 0x3f) | 0x80;
    }
    let hex = data_encoding::HEXLOWER.encode(&b);
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_owned();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    ))
}

/// A random password of [`GENERATED_LEN`] characters from letters and digits (no look-alikes
/// dropped: it is pasted, not read aloud), about 119 bits.
pub fn generate_password() -> Result<Secret, getrandom::Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = Zeroizing::new(Vec::with_capacity(GENERATED_LEN));
    while out.len() < GENERATED_LEN {
        let mut byte = [0_u8; 1];
        getrandom::fill(&mut byte)?;
        let [b] = byte;
        // 62 * 4 = 248: bytes at or above are drawn again, so every character is equally likely.
        let b = usize::from(b);
        if b < ALPHABET.len() * 4
            && let Some(c) = ALPHABET.get(b % ALPHABET.len())
        {
            out.push(*c);
        }
    }
    Ok(Secret::new(out.to_vec()))
}

/// Whether `user` may be a task's account name: the module's rule (1-256 bytes, no NUL, a file
/// stem of at most 200 bytes) and no white space, control character or `:` (the agent hands the
/// name to `chpasswd` as `NAME:PASSWORD`).
pub fn user_ok(user: &str) -> bool {
    let stem: usize = user
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let plain =
                b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && matches!(b, b'.' | b'-'));
            if plain { 1 } else { 3 }
        })
        .sum();
    !user.is_empty()
        && user.len() <= crate::api::MAX_FIELD_LEN
        && stem <= 200
        && !user
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == ':')
}

/// An agent's detail made safe to store and show: control characters replaced by `?`, cut to
/// [`MAX_DETAIL`] bytes at a character boundary.
pub fn clean_detail(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len().min(MAX_DETAIL));
    for c in detail.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > MAX_DETAIL {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
