//! The fleet store on SQLite: `fleet.sqlite3` beside the enrollment store in `data_dir`.
//!
//! A file of its own, not tables in `enrollments.sqlite3`: fleet events are written at the rate
//! hosts fail logins, and SQLite has one writer per file, so sharing would make every failure
//! wait for enrollments' writes and the reverse; the two schemas can then also evolve (and be
//! moved to PostgreSQL) independently.
//!
//! Every change is ONE statement, written so a PostgreSQL store can use the same text with `$n`
//! for `?n` (hence `CAST(? AS …)` where PostgreSQL cannot infer a parameter's type, and
//! `CASE` instead of SQLite's two-argument `MAX`). A failure is two statements in one
//! transaction: remembering its id (which decides whether it counts at all) and the count
//! itself; neither reads a value into Rust to write it back.
//!
//! Crash semantics: `synchronous = FULL`, and no answer before its commit, so a counted failure
//! or a lock that was answered survives a crash.
//!
//! Group commit: one writer thread owns the writing connection and runs the changes waiting for
//! it together in one transaction (each change in its own savepoint, so one failing rolls back
//! only itself), then answers them all after the one commit. A commit's fsync costs about a
//! millisecond here; concurrent events share it instead of queueing for one each. Reads
//! (`check`, `status`) use a second connection, which WAL lets read while the writer writes.

use super::{
    AdminRow, Cleared, Count, CountRow, Counted, Credential, Event, EventRow, FleetDump,
    FleetError, FleetStore, Imported, Record,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

/// The database file's name inside `data_dir`.
pub const DB_FILE: &str = "fleet.sqlite3";

/// The schema (SQLite types; PostgreSQL: `BIGINT` for `INTEGER`, no `STRICT`).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS fleet_event (
    id         TEXT PRIMARY KEY NOT NULL,  -- the host's UUID for the event
    kind       TEXT NOT NULL,              -- 'failure' | 'success'
    username   TEXT NOT NULL,
    credential TEXT NOT NULL,
    host       TEXT NOT NULL,
    at         INTEGER NOT NULL,           -- when it happened on the host (clamped)
    seen       INTEGER NOT NULL            -- when the server first got it (for pruning)
) STRICT;
CREATE INDEX IF NOT EXISTS fleet_event_seen ON fleet_event (seen);
CREATE TABLE IF NOT EXISTS fleet_count (
    username     TEXT NOT NULL,
    credential   TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    last_failure INTEGER NOT NULL,
    locked_at    INTEGER,                  -- a failures lock began
    locked_until INTEGER,                  -- NULL with locked_at: until an admin unlocks
    lock_host    TEXT,                     -- the host whose failure set the lock
    lock_event   TEXT,                     -- that failure's id
    PRIMARY KEY (username, credential)
) STRICT;
CREATE TABLE IF NOT EXISTS fleet_admin_lock (
    username TEXT PRIMARY KEY NOT NULL,
    since    INTEGER NOT NULL,
    operator TEXT NOT NULL
) STRICT;
";

/// Remembers an event id: 1 row when new, 0 for a replay.
/// ?1 id, ?2 kind, ?3 user, ?4 credential, ?5 host, ?6 at, ?7 now.
const REMEMBER: &str = "
INSERT INTO fleet_event (id, kind, username, credential, host, at, seen)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (id) DO NOTHING";

/// Counts one failure, locking when it reaches the limit, as one upsert.
/// ?1 user, ?2 credential, ?3 at, ?4 now, ?5 window_start, ?6 limit (0 = never),
/// ?7 lock end (NULL = until an admin unlocks), ?8 host, ?9 event id.
///
/// LOCKED (a failures lock in force): nothing changes (the lock is not extended).
/// ALIVE (no lock, the last failure after window_start): the count goes on, else it restarts
/// at 1 (also after a lock ended). Reaching the limit sets the lock and keeps the count.
const COUNT_FAILURE: &str = "
INSERT INTO fleet_count AS c
    (username, credential, failures, last_failure, locked_at, locked_until, lock_host, lock_event)
VALUES (?1, ?2, 1, ?3,
    CASE WHEN ?6 = 1 THEN CAST(?4 AS BIGINT) END,
    CASE WHEN ?6 = 1 THEN CAST(?7 AS BIGINT) END,
    CASE WHEN ?6 = 1 THEN CAST(?8 AS TEXT) END,
    CASE WHEN ?6 = 1 THEN CAST(?9 AS TEXT) END)
ON CONFLICT (username, credential) DO UPDATE SET
    failures = CASE
        WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > ?4)
            THEN c.failures
        WHEN c.locked_at IS NULL AND c.last_failure > ?5 THEN c.failures + 1
        ELSE 1 END,
    last_failure = CASE
        WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > ?4)
            THEN c.last_failure
        WHEN c.locked_at IS NULL AND c.last_failure > ?5 AND c.last_failure > ?3
            THEN c.last_failure
        ELSE CAST(?3 AS BIGINT) END,
    locked_at = CASE
        WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > ?4)
            THEN c.locked_at
        WHEN ?6 > 0 AND (CASE WHEN c.locked_at IS NULL AND c.last_failure > ?5
                              THEN c.failures + 1 ELSE 1 END) >= ?6
            THEN CAST(?4 AS BIGINT)
        ELSE NULL END,
    locked_until = CASE
        WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > ?4)
            THEN c.locked_until
        WHEN ?6 > 0 AND (CASE WHEN c.locked_at IS NULL AND c.last_failure > ?5
                              THEN c.failures + 1 ELSE 1 END) >= ?6
            THEN CAST(?7 AS BIGINT)
        ELSE NULL END,
    lock_host = CASE
        WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > ?4)
            THEN c.lock_host
        WHEN ?6 > 0 AND (CASE WHEN c.locked_at IS NULL AND c.last_failure > ?5
                              THEN c.failures + 1 ELSE 1 END) >= ?6
            THEN CAST(?8 AS TEXT)
        ELSE NULL END,
    lock_event = CASE
        WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > ?4)
            THEN c.lock_event
        WHEN ?6 > 0 AND (CASE WHEN c.locked_at IS NULL AND c.last_failure > ?5
                              THEN c.failures + 1 ELSE 1 END) >= ?6
            THEN CAST(?9 AS TEXT)
        ELSE NULL END
RETURNING locked_at, locked_until, lock_event";

/// A success clears the count unless a failures lock is in force or a newer failure counted.
/// ?1 user, ?2 credential, ?3 at, ?4 now.
const CLEAR_ON_SUCCESS: &str = "
DELETE FROM fleet_count
WHERE username = ?1 AND credential = ?2 AND last_failure <= ?3
  AND (locked_at IS NULL OR (locked_until IS NOT NULL AND locked_until <= ?4))";

/// Whether a count row remains (after a success that did not clear it).
const COUNT_EXISTS: &str = "SELECT 1 FROM fleet_count WHERE username = ?1 AND credential = ?2";

/// One user's record for one credential. ?1 user, ?2 credential.
const RECORD: &str = "
SELECT a.since, a.operator, c.failures, c.last_failure, c.locked_at, c.locked_until, c.lock_host
FROM (SELECT CAST(?1 AS TEXT) AS username) AS u
LEFT JOIN fleet_admin_lock AS a ON a.username = u.username
LEFT JOIN fleet_count AS c ON c.username = u.username AND c.credential = ?2";

/// `lock`: ?1 user, ?2 now, ?3 operator; 0 rows when already locked.
const ADMIN_LOCK: &str = "
INSERT INTO fleet_admin_lock (username, since, operator) VALUES (?1, ?2, ?3)
ON CONFLICT (username) DO NOTHING";

/// The time of an existing admin lock. ?1 user.
const ADMIN_SINCE: &str = "SELECT since FROM fleet_admin_lock WHERE username = ?1";

/// `unlock` (with `RESET` in the same transaction): ?1 user.
const ADMIN_UNLOCK: &str = "DELETE FROM fleet_admin_lock WHERE username = ?1";

/// `reset`, and the second half of `unlock`: ?1 user.
const RESET: &str = "DELETE FROM fleet_count WHERE username = ?1";

/// Users `status` lists. ?1 now, ?2 window_start.
const LISTED: &str = "
SELECT username FROM fleet_admin_lock
UNION
SELECT username FROM fleet_count
WHERE (locked_at IS NOT NULL AND (locked_until IS NULL OR locked_until > ?1))
   OR (locked_at IS NULL AND last_failure > ?2)
ORDER BY username";

/// Forgets old event ids. ?1 cutoff.
const PRUNE: &str = "DELETE FROM fleet_event WHERE seen < ?1";

/// `store copy`: everything, in key order.
const EXPORT_EVENTS: &str =
    "SELECT id, kind, username, credential, host, at, seen FROM fleet_event ORDER BY id";
const EXPORT_COUNTS: &str = "
SELECT username, credential, failures, last_failure, locked_at, locked_until, lock_host, lock_event
FROM fleet_count ORDER BY username, credential";
const EXPORT_ADMIN: &str =
    "SELECT username, since, operator FROM fleet_admin_lock ORDER BY username";
/// `store copy`: rows already present are kept.
const IMPORT_COUNT: &str = "
INSERT INTO fleet_count
    (username, credential, failures, last_failure, locked_at, locked_until, lock_host, lock_event)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (username, credential) DO NOTHING";

/// Most changes committed together.
const MAX_BATCH: usize = 256;

/// Hands a change's result to its caller once the commit's outcome is known.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A change for the writer: run on its connection (`None`: the transaction could not begin).
type Job = Box<dyn FnOnce(Option<&Connection>) -> Deliver + Send>;

/// The SQLite-backed fleet store.
pub struct SqliteFleet {
    jobs: mpsc::Sender<Job>,
    reader: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteFleet")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// The writer: takes what is waiting (up to `MAX_BATCH`), one transaction, one commit, answers.
/// Ends when the store is dropped.
fn write_loop(conn: &Connection, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        let ran = begun.is_ok().then_some(conn);
        let delivers: Vec<Deliver> = batch.into_iter().map(|job| job(ran)).collect();
        let outcome = match begun {
            Err(e) => Err(format!("cannot begin a transaction: {e}")),
            Ok(()) => conn.execute_batch("COMMIT").map_err(|e| {
                // Nothing of this batch was answered yet: undo it all, answer errors.
                let _ = conn.execute_batch("ROLLBACK");
                format!("commit failed: {e}")
            }),
        };
        for deliver in delivers {
            deliver(outcome.clone());
        }
    }
}

/// Runs `work` inside a savepoint: on an error only its own statements are undone.
fn in_savepoint<R>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<R>,
) -> rusqlite::Result<R> {
    conn.execute_batch("SAVEPOINT job")?;
    match work(conn) {
        Ok(r) => conn.execute_batch("RELEASE job").map(|()| r),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

impl SqliteFleet {
    /// Opens (creating if needed) `data_dir` (mode 0700) and `fleet.sqlite3` in it (mode 0600),
    /// and starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<Self, FleetError> {
        use crate::store::sqlite::{PrivateFileError, private_db_file};
        let path = private_db_file(data_dir, DB_FILE).map_err(|e| match e {
            PrivateFileError::Open { path, source } => FleetError::Open { path, source },
            PrivateFileError::Untrusted { path, refused } => {
                FleetError::Untrusted { path, refused }
            }
        })?;
        let db = |e: rusqlite::Error| FleetError::Database {
            path: path.clone(),
            message: e.to_string(),
        };
        let writer = connect(&path).map_err(db)?;
        writer.execute_batch(SCHEMA).map_err(db)?;
        let reader = connect(&path).map_err(db)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("fleet-writer".into())
            .spawn(move || write_loop(&writer, &queue))
            .map_err(|source| FleetError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            jobs,
            reader: Mutex::new(reader),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, message: String) -> FleetError {
        FleetError::Database {
            path: self.path.clone(),
            message,
        }
    }

    /// Runs `work` in the writer's next transaction and answers once it is committed.
    fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, FleetError> {
        let (reply, answer) = mpsc::sync_channel::<Result<R, String>>(1);
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let result = conn.map(|c| in_savepoint(c, work).map_err(|e| e.to_string()));
            Box::new(move |commit: Result<(), String>| {
                let out = match (result, commit) {
                    (Some(Ok(r)), Ok(())) => Ok(r),
                    (Some(Err(e)), _) | (_, Err(e)) => Err(e),
                    (None, Ok(())) => Err("the change did not run".to_owned()),
                };
                // The caller may have gone; nothing to do then.
                let _ = reply.send(out);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| self.error("the fleet store's writer has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| self.error("the fleet store's writer has stopped".into()))?
            .map_err(|e| self.error(e))
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A read cannot leave the connection half-changed: go on after a panic elsewhere.
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn read_record(conn: &Connection, user: &str, credential: Credential) -> rusqlite::Result<Record> {
    conn.prepare_cached(RECORD)?
        .query_row(params![user, credential.as_str()], |row| {
            Ok(Record {
                admin_since: row.get(0)?,
                admin_by: row.get(1)?,
                failures: row
                    .get::<_, Option<i64>>(2)?
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
                last_failure: row.get(3)?,
                locked_at: row.get(4)?,
                locked_until: row.get(5)?,
                lock_host: row.get(6)?,
            })
        })
}

fn remember(conn: &Connection, kind: &str, e: &Event, now: i64) -> rusqlite::Result<bool> {
    let added = conn.prepare_cached(REMEMBER)?.execute(params![
        e.id,
        kind,
        e.user,
        e.credential.as_str(),
        e.host,
        e.at,
        now
    ])?;
    Ok(added == 1)
}

fn count_failure(conn: &Connection, event: &Event, c: &Count) -> rusqlite::Result<Counted> {
    let (locked_at, locked_until, lock_event): (Option<i64>, Option<i64>, Option<String>) =
        conn.prepare_cached(COUNT_FAILURE)?.query_row(
            params![
                event.user,
                event.credential.as_str(),
                event.at,
                c.now,
                c.window_start,
                c.limit,
                c.until,
                event.host,
                event.id
            ],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
    let lock_active = locked_at.is_some() && locked_until.is_none_or(|u| u > c.now);
    let mine = lock_event.as_deref() == Some(event.id.as_str());
    Ok(if lock_active && !mine {
        Counted::WhileLocked
    } else {
        Counted::Counted {
            locked_now: lock_active && mine,
        }
    })
}

impl FleetStore for SqliteFleet {
    fn record(&self, user: &str, credential: Credential) -> Result<Record, FleetError> {
        read_record(&self.reader(), user, credential).map_err(|e| self.error(e.to_string()))
    }

    fn failure(
        &self,
        event: &Event,
        now: i64,
        count: Option<&Count>,
    ) -> Result<(Counted, Record), FleetError> {
        let (event, count) = (event.clone(), count.copied());
        self.write(move |conn| {
            let counted = match (remember(conn, "failure", &event, now)?, count) {
                (false, _) => Counted::Replayed,
                (true, None) => Counted::TooOld,
                (true, Some(c)) => count_failure(conn, &event, &c)?,
            };
            Ok((counted, read_record(conn, &event.user, event.credential)?))
        })
    }

    fn success(&self, event: &Event, now: i64) -> Result<Cleared, FleetError> {
        let event = event.clone();
        self.write(move |conn| {
            if !remember(conn, "success", &event, now)? {
                return Ok(Cleared::Replayed);
            }
            let cred = event.credential.as_str();
            conn.prepare_cached(CLEAR_ON_SUCCESS)?
                .execute(params![event.user, cred, event.at, now])?;
            let left = conn
                .prepare_cached(COUNT_EXISTS)?
                .query_row(params![event.user, cred], |_| Ok(()))
                .optional()?;
            Ok(if left.is_some() {
                Cleared::Kept
            } else {
                Cleared::Cleared
            })
        })
    }

    fn lock(&self, user: &str, operator: &str, now: i64) -> Result<Option<i64>, FleetError> {
        let (user, operator) = (user.to_owned(), operator.to_owned());
        self.write(move |conn| {
            let added = conn
                .prepare_cached(ADMIN_LOCK)?
                .execute(params![user, now, operator])?;
            if added == 1 {
                return Ok(None);
            }
            conn.prepare_cached(ADMIN_SINCE)?
                .query_row(params![user], |row| row.get(0))
                .optional()
        })
    }

    fn unlock(&self, user: &str) -> Result<bool, FleetError> {
        let user = user.to_owned();
        self.write(move |conn| {
            let admin = conn.execute(ADMIN_UNLOCK, params![user])?;
            let counts = conn.execute(RESET, params![user])?;
            Ok(admin + counts > 0)
        })
    }

    fn reset(&self, user: &str) -> Result<bool, FleetError> {
        let user = user.to_owned();
        self.write(move |conn| Ok(conn.execute(RESET, params![user])? > 0))
    }

    fn listed(&self, now: i64, window_start: i64) -> Result<Vec<String>, FleetError> {
        let conn = self.reader();
        let rows = conn.prepare_cached(LISTED).and_then(|mut stmt| {
            stmt.query_map(params![now, window_start], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()
        });
        rows.map_err(|e| self.error(e.to_string()))
    }

    fn prune(&self, before: i64) -> Result<u64, FleetError> {
        self.write(move |conn| {
            let removed = conn.execute(PRUNE, params![before])?;
            Ok(u64::try_from(removed).unwrap_or(u64::MAX))
        })
    }

    fn export(&self) -> Result<FleetDump, FleetError> {
        let conn = self.reader();
        let dump = (|| -> rusqlite::Result<FleetDump> {
            let events = conn
                .prepare(EXPORT_EVENTS)?
                .query_map([], |r| {
                    Ok(EventRow {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        user: r.get(2)?,
                        credential: r.get(3)?,
                        host: r.get(4)?,
                        at: r.get(5)?,
                        seen: r.get(6)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let counts = conn
                .prepare(EXPORT_COUNTS)?
                .query_map([], |r| {
                    Ok(CountRow {
                        user: r.get(0)?,
                        credential: r.get(1)?,
                        failures: r.get(2)?,
                        last_failure: r.get(3)?,
                        locked_at: r.get(4)?,
                        locked_until: r.get(5)?,
                        lock_host: r.get(6)?,
                        lock_event: r.get(7)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let admin_locks = conn
                .prepare(EXPORT_ADMIN)?
                .query_map([], |r| {
                    Ok(AdminRow {
                        user: r.get(0)?,
                        since: r.get(1)?,
                        operator: r.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(FleetDump {
                events,
                counts,
                admin_locks,
            })
        })();
        dump.map_err(|e| self.error(e.to_string()))
    }

    fn import(&self, dump: &FleetDump) -> Result<Imported, FleetError> {
        let dump = dump.clone();
        self.write(move |conn| {
            let n = |added: usize| u64::try_from(added).unwrap_or(u64::MAX);
            let mut done = Imported::default();
            for e in &dump.events {
                done.events += n(conn.prepare_cached(REMEMBER)?.execute(params![
                    e.id,
                    e.kind,
                    e.user,
                    e.credential,
                    e.host,
                    e.at,
                    e.seen
                ])?);
            }
            for c in &dump.counts {
                done.counts += n(conn.prepare_cached(IMPORT_COUNT)?.execute(params![
                    c.user,
                    c.credential,
                    c.failures,
                    c.last_failure,
                    c.locked_at,
                    c.locked_until,
                    c.lock_host,
                    c.lock_event
                ])?);
            }
            for a in &dump.admin_locks {
                done.admin_locks += n(conn
                    .prepare_cached(ADMIN_LOCK)?
                    .execute(params![a.user, a.since, a.operator])?);
            }
            Ok(done)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_failing_change_in_a_batch_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let conn = connect(&dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let admin = |user: &'static str| {
            move |c: &Connection| c.execute(ADMIN_LOCK, params![user, 1_i64, "op"])
        };
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        assert_eq!(in_savepoint(&conn, admin("alice")).unwrap(), 1);
        let failed = in_savepoint(&conn, |c| {
            admin("bob")(c)?;
            c.execute("INSERT INTO no_such_table VALUES (1)", [])
        });
        assert!(failed.is_err());
        assert_eq!(in_savepoint(&conn, admin("carol")).unwrap(), 1);
        conn.execute_batch("COMMIT").unwrap();
        let users: Vec<String> = conn
            .prepare("SELECT username FROM fleet_admin_lock ORDER BY username")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(users, ["alice", "carol"]);
    }

    #[test]
    fn an_answer_comes_after_its_commit_so_another_connection_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteFleet::open(dir.path()).unwrap();
        assert_eq!(store.lock("alice", "op", 5).unwrap(), None);
        let other = connect(&dir.path().join(DB_FILE)).unwrap();
        let since: i64 = other
            .query_row(ADMIN_SINCE, params!["alice"], |r| r.get(0))
            .unwrap();
        assert_eq!(since, 5);
        // A change that fails reports the error and leaves nothing behind.
        let err = store
            .write(|c| {
                c.execute(ADMIN_LOCK, params!["bob", 6_i64, "op"])?;
                c.execute("INSERT INTO no_such_table VALUES (1)", [])
            })
            .unwrap_err();
        assert!(err.to_string().contains("no_such_table"), "{err}");
        assert_eq!(store.lock("bob", "op", 7).unwrap(), None);
    }
}
