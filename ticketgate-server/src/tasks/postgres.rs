//! The task queue on PostgreSQL (`store = "postgres"`): table `ticketgate_agent_task` (migration 4
//! in `store/postgres/schema.rs`) on the protect store's pool, so every replica hands out and
//! ends the same tasks.
//!
//! The statements are those of `sqlite.rs` with `$n` for `?n`, except that a poll's results are
//! ended by ONE statement over `unnest` of their arrays (SQLite runs one per result inside a
//! transaction). `WHERE state = 'pending'` makes concurrent results for one task (two replicas,
//! a replay) end it once: the second `UPDATE` waits for the first's row lock, then finds the row
//! no longer pending.

use super::{Ended, MAX_PER_POLL, TaskError, TaskResult, TaskRow, TaskStore};
use crate::store::postgres::Pool;

const ADD: &str = "
INSERT INTO ticketgate_agent_task
    (id, host, kind, username, state, sealed, queued_by, queued_at, not_after)
VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8)";

/// $1 ids, $2 host, $3 states, $4 details, $5 now (ids distinct: the caller keeps the first).
/// An expired task is ended too: handed out just before its `not_after`, it ran.
const TAKE_RESULTS: &str = "
UPDATE ticketgate_agent_task AS t
SET state = r.state, detail = r.detail, finished_at = $5::BIGINT, sealed = NULL
FROM unnest($1::TEXT[], $3::TEXT[], $4::TEXT[]) AS r(id, state, detail)
WHERE t.id = r.id AND t.host = $2::TEXT AND t.state IN ('pending', 'expired')
RETURNING t.id, t.host, t.username, t.kind";

const PENDING: &str = "
SELECT id, host, kind, username, state, sealed, queued_by, queued_at, not_after, finished_at, detail
FROM ticketgate_agent_task
WHERE host = $1 AND state = 'pending' AND not_after > $2
ORDER BY queued_at, seq
LIMIT $3";

const EXPIRE: &str = "
UPDATE ticketgate_agent_task SET state = 'expired', finished_at = $1, sealed = NULL
WHERE state = 'pending' AND not_after <= $1
RETURNING id, host, username, kind";

const LIST: &str = "
SELECT id, host, kind, username, state, sealed, queued_by, queued_at, not_after, finished_at, detail
FROM ticketgate_agent_task
WHERE $1::TEXT IS NULL OR host = $1::TEXT
ORDER BY queued_at DESC, seq DESC";

const IMPORT: &str = "
INSERT INTO ticketgate_agent_task
    (id, host, kind, username, state, sealed, queued_by, queued_at, not_after, finished_at, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (id) DO NOTHING";

/// The PostgreSQL-backed task queue.
#[derive(Debug, Clone)]
pub struct PgTasks {
    pool: Pool,
}

fn task_row(r: &postgres::Row) -> TaskRow {
    TaskRow {
        id: r.get(0),
        host: r.get(1),
        kind: r.get(2),
        user: r.get(3),
        state: r.get(4),
        sealed: r.get(5),
        queued_by: r.get(6),
        queued_at: r.get(7),
        not_after: r.get(8),
        finished_at: r.get(9),
        detail: r.get(10),
    }
}

fn ended(r: &postgres::Row) -> Ended {
    Ended {
        id: r.get(0),
        host: r.get(1),
        user: r.get(2),
        kind: r.get(3),
    }
}

impl PgTasks {
    /// The task queue on `pool` (the protect store's, whose migrations made the table).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    fn run<T>(
        &self,
        f: impl FnMut(&mut crate::store::postgres::Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, TaskError> {
        self.pool.with_client(f).map_err(|e| TaskError::Postgres {
            message: e.to_string(),
        })
    }
}

impl TaskStore for PgTasks {
    fn add(&self, t: &TaskRow) -> Result<(), TaskError> {
        self.run(|c| {
            c.execute(
                ADD,
                &[
                    &t.id,
                    &t.host,
                    &t.kind,
                    &t.user,
                    &t.sealed,
                    &t.queued_by,
                    &t.queued_at,
                    &t.not_after,
                ],
            )
        })
        .map(|_| ())
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
        let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
        let states: Vec<&str> = results.iter().map(|r| r.state.as_str()).collect();
        let details: Vec<&str> = results.iter().map(|r| r.detail.as_str()).collect();
        let rows = self.run(|c| c.query(TAKE_RESULTS, &[&ids, &host, &states, &details, &now]))?;
        Ok(rows.iter().map(ended).collect())
    }

    fn pending(&self, host: &str, now: i64) -> Result<Vec<TaskRow>, TaskError> {
        let limit = i64::try_from(MAX_PER_POLL).unwrap_or(50);
        let rows = self.run(|c| c.query(PENDING, &[&host, &now, &limit]))?;
        Ok(rows.iter().map(task_row).collect())
    }

    fn expire(&self, now: i64) -> Result<Vec<Ended>, TaskError> {
        let rows = self.run(|c| c.query(EXPIRE, &[&now]))?;
        Ok(rows.iter().map(ended).collect())
    }

    fn list(&self, host: Option<&str>) -> Result<Vec<TaskRow>, TaskError> {
        let rows = self.run(|c| c.query(LIST, &[&host]))?;
        Ok(rows.iter().map(task_row).collect())
    }

    fn import(&self, rows: &[TaskRow]) -> Result<u64, TaskError> {
        let rows = rows.to_vec();
        self.run(move |c| {
            let mut tx = c.client().transaction()?;
            let stmt = tx.prepare(IMPORT)?;
            let mut added = 0;
            // Oldest first, so tasks queued in the same second keep their order.
            for t in rows.iter().rev() {
                added += tx.execute(
                    &stmt,
                    &[
                        &t.id,
                        &t.host,
                        &t.kind,
                        &t.user,
                        &t.state,
                        &t.sealed,
                        &t.queued_by,
                        &t.queued_at,
                        &t.not_after,
                        &t.finished_at,
                        &t.detail,
                    ],
                )?;
            }
            tx.commit()?;
            Ok(added)
        })
    }
}
