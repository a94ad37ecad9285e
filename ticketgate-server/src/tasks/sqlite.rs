//! The task queue on SQLite: `tasks.sqlite3` beside the other stores in `data_dir` (a file of
//! its own, so agents' polls never wait for the fleet's writes or the reverse).
//!
//! Every change is ONE statement, written so `postgres.rs` can use the same text with `$n` for
//! `?n`: a result ends its task only `WHERE state = 'pending' AND host = ?`, so the first result
//! wins, another host's result changes nothing, and the password column is NULLed by the very
//! statement that ends the task. One connection behind a mutex: at one poll per agent per
//! interval the queue is read far more than written, and a poll without results or expiries
//! writes nothing.

use super::{Ended, TaskError, TaskResult, TaskRow, TaskStore};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The database file's name inside `data_dir`.
pub const DB_FILE: &str = "tasks.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS agent_task (
    id          TEXT PRIMARY KEY NOT NULL,  -- UUID v4 text
    host        TEXT NOT NULL,              -- the [[host]] name
    kind        TEXT NOT NULL,              -- reset_password | verify_password | lock | ...
    username    TEXT NOT NULL,
    state       TEXT NOT NULL,              -- pending | done | failed | refused | expired
    sealed      BLOB,                       -- nonce + ChaCha20-Poly1305 ciphertext; NULL once ended
    queued_by   TEXT NOT NULL,
    queued_at   INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    finished_at INTEGER,
    detail      TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS agent_task_pending ON agent_task (state, host, queued_at);
CREATE INDEX IF NOT EXISTS agent_task_expiry ON agent_task (state, not_after);
";

/// Queues a task. ?1 id … ?9 not_after.
const ADD: &str = "
INSERT INTO agent_task (id, host, kind, username, state, sealed, queued_by, queued_at, not_after)
VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8)";

/// Ends a pending task of this host with an agent's result; also an expired one: handed out
/// just before its `not_after`, it ran, and its result says so. ?1 id, ?2 host, ?3 state,
/// ?4 detail, ?5 now.
const TAKE_RESULT: &str = "
UPDATE agent_task SET state = ?3, detail = ?4, finished_at = ?5, sealed = NULL
WHERE id = ?1 AND host = ?2 AND state IN ('pending', 'expired')
RETURNING id, host, username, kind";

/// The host's tasks to hand out. ?1 host, ?2 now, ?3 limit.
const PENDING: &str = "
SELECT id, host, kind, username, state, sealed, queued_by, queued_at, not_after, finished_at, detail
FROM agent_task
WHERE host = ?1 AND state = 'pending' AND not_after > ?2
ORDER BY queued_at, rowid
LIMIT ?3";

/// Pending tasks past their `not_after`. ?1 now.
const EXPIRE: &str = "
UPDATE agent_task SET state = 'expired', finished_at = ?1, sealed = NULL
WHERE state = 'pending' AND not_after <= ?1
RETURNING id, host, username, kind";

/// `task list`. ?1 host or NULL for all.
const LIST: &str = "
SELECT id, host, kind, username, state, sealed, queued_by, queued_at, not_after, finished_at, detail
FROM agent_task
WHERE ?1 IS NULL OR host = ?1
ORDER BY queued_at DESC, rowid DESC";

/// `store copy`: rows kept exactly, an existing id left as it is.
const IMPORT: &str = "
INSERT INTO agent_task
    (id, host, kind, username, state, sealed, queued_by, queued_at, not_after, finished_at, detail)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT (id) DO NOTHING";

/// The SQLite-backed task queue.
pub struct SqliteTasks {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTasks")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: r.get(0)?,
        host: r.get(1)?,
        kind: r.get(2)?,
        user: r.get(3)?,
        state: r.get(4)?,
        sealed: r.get(5)?,
        queued_by: r.get(6)?,
        queued_at: r.get(7)?,
        not_after: r.get(8)?,
        finished_at: r.get(9)?,
        detail: r.get(10)?,
    })
}

fn ended(r: &rusqlite::Row<'_>) -> rusqlite::Result<Ended> {
    Ok(Ended {
        id: r.get(0)?,
        host: r.get(1)?,
        user: r.get(2)?,
        kind: r.get(3)?,
    })
}

impl SqliteTasks {
    /// Opens (creating if needed) `data_dir` (mode 0700) and `tasks.sqlite3` in it (mode 0600).
    pub fn open(data_dir: &Path) -> Result<Self, TaskError> {
        use crate::store::sqlite::{PrivateFileError, private_db_file};
        let path = private_db_file(data_dir, DB_FILE).map_err(|e| match e {
            PrivateFileError::Open { path, source } => TaskError::Open { path, source },
            PrivateFileError::Untrusted { path, refused } => TaskError::Untrusted { path, refused },
        })?;
        let db = |e: rusqlite::Error| TaskError::Database {
            path: path.clone(),
            message: e.to_string(),
        };
        let conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(3)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        // A sealed password set to NULL is overwritten with zeros in the database file, not left
        // in a free page (copies in the WAL go when it is checkpointed and reused).
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, TaskError> {
        // A statement cannot leave the connection half-changed: go on after a panic elsewhere.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| TaskError::Database {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

impl TaskStore for SqliteTasks {
    fn add(&self, t: &TaskRow) -> Result<(), TaskError> {
        self.with(|c| {
            c.prepare_cached(ADD)?
                .execute(params![
                    t.id,
                    t.host,
                    t.kind,
                    t.user,
                    t.sealed,
                    t.queued_by,
                    t.queued_at,
                    t.not_after
                ])
                .map(|_| ())
        })
    }

    fn take_results(
        &self,
        host: &str,
        results: &[TaskResult],
        now: i64,
    ) -> Result<Vec<Ended>, TaskError> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            // One transaction: the results of one poll are committed with one fsync.
            let tx = c.transaction()?;
            let mut taken = Vec::new();
            {
                let mut stmt = tx.prepare_cached(TAKE_RESULT)?;
                for r in results {
                    let mut rows =
                        stmt.query(params![r.id, host, r.state.as_str(), r.detail, now])?;
                    while let Some(row) = rows.next()? {
                        taken.push(ended(row)?);
                    }
                }
            }
            tx.commit()?;
            Ok(taken)
        })
    }

    fn pending(&self, host: &str, now: i64) -> Result<Vec<TaskRow>, TaskError> {
        let limit = i64::try_from(super::MAX_PER_POLL).unwrap_or(50);
        self.with(|c| {
            c.prepare_cached(PENDING)?
                .query_map(params![host, now, limit], row)?
                .collect()
        })
    }

    fn expire(&self, now: i64) -> Result<Vec<Ended>, TaskError> {
        self.with(|c| {
            c.prepare_cached(EXPIRE)?
                .query_map(params![now], ended)?
                .collect()
        })
    }

    fn list(&self, host: Option<&str>) -> Result<Vec<TaskRow>, TaskError> {
        self.with(|c| {
            c.prepare_cached(LIST)?
                .query_map(params![host], row)?
                .collect()
        })
    }

    fn import(&self, rows: &[TaskRow]) -> Result<u64, TaskError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut added = 0_u64;
            {
                let mut stmt = tx.prepare_cached(IMPORT)?;
                // Oldest first, so tasks queued in the same second keep their order.
                for t in rows.iter().rev() {
                    let n = stmt.execute(params![
                        t.id,
                        t.host,
                        t.kind,
                        t.user,
                        t.state,
                        t.sealed,
                        t.queued_by,
                        t.queued_at,
                        t.not_after,
                        t.finished_at,
                        t.detail
                    ])?;
                    added += u64::try_from(n).unwrap_or(0);
                }
            }
            tx.commit()?;
            Ok(added)
        })
    }
}
