//! The embedded store (`store = "sqlite"`): one SQLite file under `data_dir` holding each user's
//! TOTP secret and the last time step accepted from it; unlock windows and wrong-code counters in
//! this process's memory, since one process serves.
//!
//! Crash semantics: an enrollment, a revocation and every accepted code's step are committed with
//! `synchronous = FULL` before the caller is answered, so after a crash or restart enrollments are
//! all there and an accepted code is still refused as a replay. Open unlock windows are *not* kept
//! on disk (see `unlocks`): the attempt path never touches disk, and a restart only drops them.

use super::{
    CodeOutcome, CodeRecord, Enrollment, EnrollmentInfo, PendingCode, ProtectStore, Redeem,
    StoreError, Verdict,
};
use crate::clock::since_epoch;
use crate::enroll_code::{self, Refused};
use crate::ratelimit::MissLimiter;
use crate::secret::Secret;
use crate::unlocks::Unlocks;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::fmt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// The database file's name inside `data_dir`.
pub const DB_FILE: &str = "enrollments.sqlite3";

/// The SQLite-backed store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn step_to_sql(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

fn sql_to_step(v: Option<i64>) -> Option<u64> {
    v.and_then(|n| u64::try_from(n).ok())
}

/// A store error for the database at `path` (for use while `conn` is borrowed mutably).
fn sql_at(path: PathBuf) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite {
        path: path.clone(),
        source,
    }
}

fn secs_to_sql(t: SystemTime) -> i64 {
    i64::try_from(since_epoch(t).as_secs()).unwrap_or(i64::MAX)
}

fn sql_to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Why [`private_db_file`] could not give a database file.
#[derive(Debug)]
pub(crate) enum PrivateFileError {
    /// `data_dir` or the file could not be created or opened.
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `data_dir` (or a directory leading to it) is one others could have written.
    Untrusted {
        path: PathBuf,
        refused: fs_trust::Refused,
    },
}

/// `data_dir/NAME` for one of the server's SQLite databases (enrollments, the fleet): creates
/// `data_dir` (mode 0700) when missing, refuses it unless only root or the server's user can
/// have written it and the directories leading to it, and creates the file itself mode 0600
/// from its first byte (SQLite gives its -wal and -shm files the same mode).
pub(crate) fn private_db_file(data_dir: &Path, name: &str) -> Result<PathBuf, PrivateFileError> {
    let open_err = |path: &Path| {
        let path = path.to_owned();
        move |source| PrivateFileError::Open { path, source }
    };
    if !data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(open_err(data_dir))?;
    }
    // A directory others may write to would let them swap the database file.
    fs_trust::check_dir(data_dir, crate::hosts::dir_owner()).map_err(|refused| {
        PrivateFileError::Untrusted {
            path: data_dir.to_owned(),
            refused,
        }
    })?;
    let path = data_dir.join(name);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(open_err(&path))?;
    Ok(path)
}

impl Store {
    /// Opens (creating if needed) `data_dir` (mode 0700) and its database (mode 0600).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = private_db_file(data_dir, DB_FILE).map_err(|e| match e {
            PrivateFileError::Open { path, source } => StoreError::Open { path, source },
            PrivateFileError::Untrusted { path, refused } => {
                StoreError::Untrusted { path, refused }
            }
        })?;
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS enrollment (
                user       TEXT PRIMARY KEY NOT NULL,
                service_id TEXT,
                secret     BLOB NOT NULL,
                created    INTEGER NOT NULL,
                last_step  INTEGER
            ) STRICT;
            CREATE TABLE IF NOT EXISTS enroll_code (
                user       TEXT PRIMARY KEY NOT NULL,
                service_id TEXT,
                code_hash  BLOB NOT NULL,
                created    INTEGER NOT NULL,
                expires    INTEGER NOT NULL,
                tries      INTEGER NOT NULL,
                secret     BLOB
            ) STRICT;",
        )
        .map_err(sql)?;
        Ok(Self { conn, path })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Records a new enrollment; refuses when the user already has one.
    pub fn enroll(
        &mut self,
        user: &str,
        service_id: Option<&str>,
        secret: &Secret,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.enroll_many(std::iter::once((user, service_id, secret)), now)
    }

    /// Records many enrollments in one transaction (bulk provisioning, the load benchmark).
    pub fn enroll_many<'a>(
        &mut self,
        items: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a Secret)>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let sql = sql_at(self.path.clone());
        let created = i64::try_from(since_epoch(now).as_secs()).unwrap_or(i64::MAX);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO enrollment (user, service_id, secret, created, last_step)
                     VALUES (?1, ?2, ?3, ?4, NULL) ON CONFLICT (user) DO NOTHING",
                )
                .map_err(&sql)?;
            for (user, service_id, secret) in items {
                let added = insert
                    .execute(params![user, service_id, secret.expose(), created])
                    .map_err(&sql)?;
                if added == 0 {
                    return Err(StoreError::AlreadyEnrolled {
                        user: user.to_owned(),
                    });
                }
            }
        }
        tx.commit().map_err(&sql)
    }

    /// Removes a user's enrollment and pending enrollment code; false when there was neither.
    pub fn revoke(&mut self, user: &str) -> Result<bool, StoreError> {
        let sql = sql_at(self.path.clone());
        let tx = self.conn.transaction().map_err(&sql)?;
        let n = tx
            .execute("DELETE FROM enrollment WHERE user = ?1", params![user])
            .map_err(&sql)?
            + tx.execute("DELETE FROM enroll_code WHERE user = ?1", params![user])
                .map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(n > 0)
    }

    /// Every enrollment, sorted by user, without secrets.
    pub fn list(&self) -> Result<Vec<EnrollmentInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT user, service_id, created, last_step FROM enrollment ORDER BY user")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |row| {
                Ok(EnrollmentInfo {
                    user: row.get(0)?,
                    service_id: row.get(1)?,
                    created: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    last_step: sql_to_step(row.get(3)?),
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// How many users are enrolled.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM enrollment", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(self.sql())
    }

    /// Checks a typed code for `user` and `service_id` at `now`; an accepted code's step is
    /// committed as used before this returns, atomically with the check.
    pub fn redeem(
        &mut self,
        user: &str,
        service_id: Option<&str>,
        code: &str,
        now: SystemTime,
    ) -> Result<Redeem, StoreError> {
        let sql = sql_at(self.path.clone());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let row = tx
            .query_row(
                "SELECT service_id, secret, last_step FROM enrollment WHERE user = ?1",
                params![user],
                |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        Secret::new(row.get::<_, Vec<u8>>(1)?),
                        sql_to_step(row.get(2)?),
                    ))
                },
            )
            .optional()
            .map_err(&sql)?;
        let Some((bound, secret, last_step)) = row else {
            return Ok(Redeem::UnknownUser);
        };
        let step = match super::judge(bound.as_deref(), service_id, &secret, code, now, last_step) {
            Ok(step) => step,
            Err(refused) => return Ok(refused),
        };
        tx.execute(
            "UPDATE enrollment SET last_step = ?1 WHERE user = ?2",
            params![step_to_sql(step), user],
        )
        .map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(Redeem::Accepted { bound })
    }

    /// Stores a pending enrollment code's hash (replacing an older one); refused when the user
    /// is already enrolled.
    pub fn issue_code(
        &mut self,
        user: &str,
        service_id: Option<&str>,
        hash: &[u8; 32],
        now: SystemTime,
        expires: SystemTime,
    ) -> Result<(), StoreError> {
        let sql = sql_at(self.path.clone());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let enrolled: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM enrollment WHERE user = ?1)",
                params![user],
                |row| row.get(0),
            )
            .map_err(&sql)?;
        if enrolled {
            return Err(StoreError::AlreadyEnrolled {
                user: user.to_owned(),
            });
        }
        tx.execute(
            "INSERT OR REPLACE INTO enroll_code
             (user, service_id, code_hash, created, expires, tries, secret)
             VALUES (?1, ?2, ?3, ?4, ?5, 0, NULL)",
            params![
                user,
                service_id,
                hash.as_slice(),
                secs_to_sql(now),
                secs_to_sql(expires)
            ],
        )
        .map_err(&sql)?;
        tx.commit().map_err(&sql)
    }

    /// Checks `user`'s pending code; with `then` run on success inside the same transaction.
    /// A wrong code (or a `then` that refuses with a wrong try) counts a try.
    fn with_code(
        &mut self,
        user: &str,
        hash: &[u8; 32],
        now: SystemTime,
        then: impl FnOnce(
            &rusqlite::Transaction<'_>,
            Option<String>,
            Option<Secret>,
        ) -> Result<CodeOutcome, rusqlite::Error>,
    ) -> Result<CodeOutcome, StoreError> {
        let sql = sql_at(self.path.clone());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let row = tx
            .query_row(
                "SELECT service_id, code_hash, expires, tries, secret FROM enroll_code
                 WHERE user = ?1",
                params![user],
                |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        sql_to_u64(row.get(2)?),
                        u32::try_from(row.get::<_, i64>(3)?).unwrap_or(u32::MAX),
                        row.get::<_, Option<Vec<u8>>>(4)?.map(Secret::new),
                    ))
                },
            )
            .optional()
            .map_err(&sql)?;
        let Some((service_id, stored, expires, tries, secret)) = row else {
            return Ok(CodeOutcome::Refused(Refused::NoCode));
        };
        let outcome = match enroll_code::judge(&stored, expires, tries, hash, now) {
            Ok(()) => then(&tx, service_id, secret).map_err(&sql)?,
            Err(refused) => CodeOutcome::Refused(refused),
        };
        if let CodeOutcome::Refused(r) = outcome
            && r.is_wrong_try()
        {
            tx.execute(
                "UPDATE enroll_code SET tries = tries + 1 WHERE user = ?1",
                params![user],
            )
            .map_err(&sql)?;
        }
        tx.commit().map_err(&sql)?;
        Ok(outcome)
    }

    /// Redeems `user`'s pending code: stores `secret` as its pending secret.
    pub fn redeem_code(
        &mut self,
        user: &str,
        hash: &[u8; 32],
        secret: &Secret,
        now: SystemTime,
    ) -> Result<CodeOutcome, StoreError> {
        self.with_code(user, hash, now, |tx, service_id, _| {
            tx.execute(
                "UPDATE enroll_code SET secret = ?2 WHERE user = ?1",
                params![user, secret.expose()],
            )?;
            Ok(CodeOutcome::Redeemed { service_id })
        })
    }

    /// Confirms a redeemed code with the first TOTP code: the enrollment is created with that
    /// code's step used, and the pending code deleted.
    pub fn confirm_code(
        &mut self,
        user: &str,
        hash: &[u8; 32],
        totp_code: &str,
        now: SystemTime,
    ) -> Result<CodeOutcome, StoreError> {
        self.with_code(user, hash, now, |tx, service_id, secret| {
            let Some(secret) = secret else {
                return Ok(CodeOutcome::Refused(Refused::NotRedeemed));
            };
            let Some(step) = crate::totp::matching_step(&secret, totp_code, now, None) else {
                return Ok(CodeOutcome::Refused(Refused::WrongTotp));
            };
            let added = tx.execute(
                "INSERT INTO enrollment (user, service_id, secret, created, last_step)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user) DO NOTHING",
                params![
                    user,
                    service_id,
                    secret.expose(),
                    secs_to_sql(now),
                    step_to_sql(step)
                ],
            )?;
            tx.execute("DELETE FROM enroll_code WHERE user = ?1", params![user])?;
            Ok(if added == 1 {
                CodeOutcome::Enrolled { service_id }
            } else {
                CodeOutcome::Refused(Refused::AlreadyEnrolled)
            })
        })
    }

    /// Every pending code with its hash and secret, sorted by user.
    pub fn export_codes(&self) -> Result<Vec<CodeRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT user, service_id, created, expires, tries, code_hash, secret
                 FROM enroll_code ORDER BY user",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |row| {
                let secret = row.get::<_, Option<Vec<u8>>>(6)?.map(Secret::new);
                Ok(CodeRecord {
                    info: PendingCode {
                        user: row.get(0)?,
                        service_id: row.get(1)?,
                        created: sql_to_u64(row.get(2)?),
                        expires: sql_to_u64(row.get(3)?),
                        tries: u32::try_from(row.get::<_, i64>(4)?).unwrap_or(u32::MAX),
                        redeemed: secret.is_some(),
                    },
                    hash: row.get(5)?,
                    secret,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Adds pending codes in one transaction; users with one already are left as they are.
    pub fn import_codes(&mut self, all: &[CodeRecord]) -> Result<u64, StoreError> {
        let sql = sql_at(self.path.clone());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let mut added = 0;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO enroll_code
                     (user, service_id, code_hash, created, expires, tries, secret)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (user) DO NOTHING",
                )
                .map_err(&sql)?;
            for c in all {
                added += insert
                    .execute(params![
                        c.info.user,
                        c.info.service_id,
                        c.hash,
                        i64::try_from(c.info.created).unwrap_or(i64::MAX),
                        i64::try_from(c.info.expires).unwrap_or(i64::MAX),
                        i64::from(c.info.tries),
                        c.secret.as_ref().map(Secret::expose),
                    ])
                    .map_err(&sql)?;
            }
        }
        tx.commit().map_err(&sql)?;
        Ok(u64::try_from(added).unwrap_or(u64::MAX))
    }

    /// Every enrollment with its secret and used step, sorted by user.
    pub fn export(&self) -> Result<Vec<Enrollment>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT user, service_id, created, last_step, secret FROM enrollment ORDER BY user",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |row| {
                Ok(Enrollment {
                    info: EnrollmentInfo {
                        user: row.get(0)?,
                        service_id: row.get(1)?,
                        created: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                        last_step: sql_to_step(row.get(3)?),
                    },
                    secret: Secret::new(row.get(4)?),
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Adds enrollments with their used steps in one transaction; users already present are
    /// left as they are. Returns how many were added.
    pub fn import(&mut self, all: &[Enrollment]) -> Result<u64, StoreError> {
        let sql = sql_at(self.path.clone());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let mut added = 0;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO enrollment (user, service_id, secret, created, last_step)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user) DO NOTHING",
                )
                .map_err(&sql)?;
            for e in all {
                added += insert
                    .execute(params![
                        e.info.user,
                        e.info.service_id,
                        e.secret.expose(),
                        i64::try_from(e.info.created).unwrap_or(i64::MAX),
                        e.info.last_step.map(step_to_sql),
                    ])
                    .map_err(&sql)?;
            }
        }
        tx.commit().map_err(&sql)?;
        Ok(u64::try_from(added).unwrap_or(u64::MAX))
    }
}

/// The SQLite store with the unlock windows and wrong-code counters this one process keeps in
/// memory: the `ProtectStore` of `store = "sqlite"`.
#[derive(Debug)]
pub struct SqliteStore {
    store: Mutex<Store>,
    unlocks: Unlocks,
    misses: MissLimiter,
}

impl SqliteStore {
    /// Opens (creating if needed) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self::with_limiter(
            Store::open(data_dir)?,
            MissLimiter::default(),
        ))
    }

    /// An opened store with a given wrong-code limiter (tests use short periods).
    pub fn with_limiter(store: Store, misses: MissLimiter) -> Self {
        Self {
            store: Mutex::new(store),
            unlocks: Unlocks::new(),
            misses,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic under the lock leaves SQLite's own transaction rolled back: still consistent.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An enrollment code's check behind the same wrong-code limit as `check_code`, under the
    /// store's lock; any refusal counts as a miss.
    fn limited(
        &self,
        user: &str,
        now: SystemTime,
        check: impl FnOnce(&mut Store) -> Result<CodeOutcome, StoreError>,
    ) -> Result<Verdict<CodeOutcome>, StoreError> {
        let mut store = self.lock();
        if let Some(wait) = self.misses.blocked(user, now) {
            return Ok(Verdict::RateLimited(wait));
        }
        let outcome = check(&mut store)?;
        if matches!(outcome, CodeOutcome::Refused(_)) {
            self.misses.miss(user, now);
        }
        Ok(Verdict::Checked(outcome))
    }
}

impl ProtectStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn attempt_blocks(&self) -> bool {
        false
    }

    fn enroll(
        &self,
        user: &str,
        service_id: Option<&str>,
        secret: &Secret,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.lock().enroll(user, service_id, secret, now)
    }

    fn revoke(&self, user: &str) -> Result<bool, StoreError> {
        self.lock().revoke(user)
    }

    fn list(&self) -> Result<Vec<EnrollmentInfo>, StoreError> {
        self.lock().list()
    }

    fn count(&self) -> Result<u64, StoreError> {
        self.lock().count()
    }

    fn check_code(
        &self,
        user: &str,
        service_id: Option<&str>,
        code: &str,
        now: SystemTime,
    ) -> Result<Verdict, StoreError> {
        // The limiter check, the code check and the miss are one step under the store's lock, so
        // concurrent wrong codes cannot slip past the limit.
        let mut store = self.lock();
        if let Some(wait) = self.misses.blocked(user, now) {
            return Ok(Verdict::RateLimited(wait));
        }
        let verdict = store.redeem(user, service_id, code, now)?;
        if !matches!(verdict, Redeem::Accepted { .. }) {
            self.misses.miss(user, now);
        }
        Ok(Verdict::Checked(verdict))
    }

    fn issue_code(
        &self,
        user: &str,
        service_id: Option<&str>,
        hash: &[u8; 32],
        now: SystemTime,
        expires: SystemTime,
    ) -> Result<(), StoreError> {
        self.lock().issue_code(user, service_id, hash, now, expires)
    }

    fn redeem_code(
        &self,
        user: &str,
        hash: &[u8; 32],
        secret: &Secret,
        now: SystemTime,
    ) -> Result<Verdict<CodeOutcome>, StoreError> {
        self.limited(user, now, |store| {
            store.redeem_code(user, hash, secret, now)
        })
    }

    fn confirm_code(
        &self,
        user: &str,
        hash: &[u8; 32],
        totp_code: &str,
        now: SystemTime,
    ) -> Result<Verdict<CodeOutcome>, StoreError> {
        self.limited(user, now, |store| {
            store.confirm_code(user, hash, totp_code, now)
        })
    }

    fn pending_codes(&self) -> Result<Vec<PendingCode>, StoreError> {
        Ok(self
            .lock()
            .export_codes()?
            .into_iter()
            .map(|c| c.info)
            .collect())
    }

    fn export_codes(&self) -> Result<Vec<CodeRecord>, StoreError> {
        self.lock().export_codes()
    }

    fn import_codes(&self, all: &[CodeRecord]) -> Result<u64, StoreError> {
        self.lock().import_codes(all)
    }

    fn open_window(
        &self,
        service_id: &str,
        user: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<(), StoreError> {
        self.unlocks.open_until(service_id, user, now, until);
        Ok(())
    }

    fn take_window(
        &self,
        service_id: &str,
        user: &str,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        Ok(self.unlocks.take(service_id, user, now))
    }

    fn export(&self) -> Result<Vec<Enrollment>, StoreError> {
        self.lock().export()
    }

    fn import(&self, all: &[Enrollment]) -> Result<u64, StoreError> {
        self.lock().import(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::totp;
    use std::os::unix::fs::PermissionsExt;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn secret() -> Secret {
        Secret::new(b"12345678901234567890".to_vec())
    }

    #[test]
    fn enrollments_survive_reopening_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        {
            let mut s = Store::open(&data).unwrap();
            s.enroll("alice", None, &secret(), at(100)).unwrap();
            s.enroll("bob", Some("web"), &secret(), at(200)).unwrap();
        }
        let s = Store::open(&data).unwrap();
        let list = s.list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].service_id.as_deref(), Some("web"));
        assert_eq!(list[0].created, 100);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(DB_FILE)), 0o600);
    }

    #[test]
    fn second_enrollment_for_a_user_is_refused_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.enroll("alice", None, &secret(), at(1)).unwrap();
        let err = s.enroll("alice", None, &secret(), at(2)).unwrap_err();
        assert!(err.to_string().contains("revoke alice"), "{err}");
        assert!(s.revoke("alice").unwrap());
        assert!(!s.revoke("alice").unwrap());
        s.enroll("alice", None, &secret(), at(3)).unwrap();
    }

    #[test]
    fn a_code_is_accepted_once_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        {
            let mut s = Store::open(dir.path()).unwrap();
            s.enroll("alice", None, &secret(), now).unwrap();
            assert_eq!(
                s.redeem("alice", Some("web"), &code, now).unwrap(),
                Redeem::Accepted { bound: None }
            );
            assert_eq!(
                s.redeem("alice", Some("web"), &code, now).unwrap(),
                Redeem::Replayed
            );
        }
        let mut s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.redeem("alice", Some("web"), &code, now).unwrap(),
            Redeem::Replayed
        );
        let previous = totp::code_for_step(&secret(), totp::step_at(now) - 1);
        assert_eq!(
            s.redeem("alice", Some("web"), &previous, now).unwrap(),
            Redeem::Replayed
        );
        let next = totp::code_for_step(&secret(), totp::step_at(now) + 1);
        assert_eq!(
            s.redeem("alice", Some("web"), &next, now).unwrap(),
            Redeem::Accepted { bound: None }
        );
    }

    #[test]
    fn unknown_users_wrong_codes_and_other_services_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let now = at(1_000_000_020);
        let mut s = Store::open(dir.path()).unwrap();
        s.enroll("bob", Some("web"), &secret(), now).unwrap();
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        assert_eq!(
            s.redeem("carol", Some("web"), &code, now).unwrap(),
            Redeem::UnknownUser
        );
        assert_eq!(
            s.redeem("bob", Some("db"), &code, now).unwrap(),
            Redeem::WrongService
        );
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(
            s.redeem("bob", Some("web"), wrong, now).unwrap(),
            Redeem::WrongCode
        );
        assert_eq!(
            s.redeem("bob", Some("web"), &code, now).unwrap(),
            Redeem::Accepted {
                bound: Some("web".into())
            }
        );
    }

    #[test]
    fn open_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("mode 0777") && err.contains("chmod go-w"),
            "{err}"
        );
    }

    /// Issue 12 (item 6): the directory leading to data_dir is checked too: one others can
    /// write would let them swap the whole store.
    #[test]
    fn data_dir_below_a_directory_others_can_write_is_refused_issue_12() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Store::open(&open.join("data")).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}: mode 0777", open.display())),
            "{err}"
        );
    }
}
