//! The fleet store on PostgreSQL (`store = "postgres"`): the same database and connection pool
//! as the protect store, so every replica counts into one set of rows.
//!
//! The statements are those of `sqlite.rs` with `$n` for `?n`, `BIGINT` for `INTEGER` and the
//! tables prefixed `ticketgate_` (migration 2 in `store/postgres/schema.rs`). SQLite runs a
//! failure's two changes (remembering its id, counting it) in one transaction; here they are ONE
//! statement: the id is inserted in a data-modifying `WITH`, and the count's upsert reads only
//! from that insert's `RETURNING`, so a replayed id (on this replica or another) counts nothing,
//! and the record comes back in the same round trip. `ON CONFLICT … DO UPDATE` locks the count's
//! row, so concurrent failures on any number of replicas are counted one after the other, never
//! read into Rust and written back.
//!
//! There is no writer thread: PostgreSQL already commits concurrent transactions together.

use super::{
    AdminRow, Cleared, Count, CountRow, Counted, Credential, Event, EventRow, FleetDump,
    FleetError, FleetStore, Imported, Record,
};
use crate::store::postgres::Pool;

/// Remembers a failure's id and, when it is new and `$10` says so, counts it; answers whether
/// the id was new, the count's row as the upsert left it (when it ran), and the record as it
/// was before (admin lock and count).
/// $1 user, $2 credential, $3 at, $4 now, $5 window_start, $6 limit (0 = never),
/// $7 lock end (NULL = until an admin unlocks), $8 host, $9 event id, $10 count it, $11 now.
const FAILURE: &str = "
WITH new_event AS (
    INSERT INTO ticketgate_fleet_event (id, kind, username, credential, host, at, seen)
    VALUES ($9::TEXT, 'failure', $1::TEXT, $2::TEXT, $8::TEXT, $3::BIGINT, $11::BIGINT)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), counted AS (
    INSERT INTO ticketgate_fleet_count AS c
        (username, credential, failures, last_failure, locked_at, locked_until, lock_host, lock_event)
    SELECT $1::TEXT, $2::TEXT, 1, $3::BIGINT,
        CASE WHEN $6::BIGINT = 1 THEN $4::BIGINT END,
        CASE WHEN $6::BIGINT = 1 THEN $7::BIGINT END,
        CASE WHEN $6::BIGINT = 1 THEN $8::TEXT END,
        CASE WHEN $6::BIGINT = 1 THEN $9::TEXT END
    FROM new_event WHERE $10::BOOLEAN
    ON CONFLICT (username, credential) DO UPDATE SET
        failures = CASE
            WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > $4::BIGINT)
                THEN c.failures
            WHEN c.locked_at IS NULL AND c.last_failure > $5::BIGINT THEN c.failures + 1
            ELSE 1 END,
        last_failure = CASE
            WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > $4::BIGINT)
                THEN c.last_failure
            WHEN c.locked_at IS NULL AND c.last_failure > $5::BIGINT AND c.last_failure > $3::BIGINT
                THEN c.last_failure
            ELSE $3::BIGINT END,
        locked_at = CASE
            WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > $4::BIGINT)
                THEN c.locked_at
            WHEN $6::BIGINT > 0 AND (CASE WHEN c.locked_at IS NULL AND c.last_failure > $5::BIGINT
                                  THEN c.failures + 1 ELSE 1 END) >= $6::BIGINT
                THEN $4::BIGINT
            ELSE NULL END,
        locked_until = CASE
            WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > $4::BIGINT)
                THEN c.locked_until
            WHEN $6::BIGINT > 0 AND (CASE WHEN c.locked_at IS NULL AND c.last_failure > $5::BIGINT
                                  THEN c.failures + 1 ELSE 1 END) >= $6::BIGINT
                THEN $7::BIGINT
            ELSE NULL END,
        lock_host = CASE
            WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > $4::BIGINT)
                THEN c.lock_host
            WHEN $6::BIGINT > 0 AND (CASE WHEN c.locked_at IS NULL AND c.last_failure > $5::BIGINT
                                  THEN c.failures + 1 ELSE 1 END) >= $6::BIGINT
                THEN $8::TEXT
            ELSE NULL END,
        lock_event = CASE
            WHEN c.locked_at IS NOT NULL AND (c.locked_until IS NULL OR c.locked_until > $4::BIGINT)
                THEN c.lock_event
            WHEN $6::BIGINT > 0 AND (CASE WHEN c.locked_at IS NULL AND c.last_failure > $5::BIGINT
                                  THEN c.failures + 1 ELSE 1 END) >= $6::BIGINT
                THEN $9::TEXT
            ELSE NULL END
    RETURNING failures, last_failure, locked_at, locked_until, lock_host, lock_event
)
SELECT (SELECT count(*) FROM new_event) AS new,
       a.since, a.operator,
       k.failures, k.last_failure, k.locked_at, k.locked_until, k.lock_host, k.lock_event,
       o.failures, o.last_failure, o.locked_at, o.locked_until, o.lock_host,
       k.failures IS NOT NULL AS ran
FROM (SELECT $1::TEXT AS username) AS u
LEFT JOIN ticketgate_fleet_admin_lock AS a ON a.username = u.username
LEFT JOIN counted AS k ON TRUE
LEFT JOIN ticketgate_fleet_count AS o ON o.username = u.username AND o.credential = $2::TEXT";

/// Remembers a success's id and, when it is new, clears the count unless a failures lock is in
/// force or a newer failure was counted; answers whether the id was new, whether a row was
/// deleted, and whether one was there before. $1 user, $2 credential, $3 at, $4 now, $5 id,
/// $6 host.
const SUCCESS: &str = "
WITH new_event AS (
    INSERT INTO ticketgate_fleet_event (id, kind, username, credential, host, at, seen)
    VALUES ($5::TEXT, 'success', $1::TEXT, $2::TEXT, $6::TEXT, $3::BIGINT, $4::BIGINT)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), cleared AS (
    DELETE FROM ticketgate_fleet_count
    WHERE username = $1::TEXT AND credential = $2::TEXT AND last_failure <= $3::BIGINT
      AND (locked_at IS NULL OR (locked_until IS NOT NULL AND locked_until <= $4::BIGINT))
      AND EXISTS (SELECT 1 FROM new_event)
    RETURNING 1
)
SELECT (SELECT count(*) FROM new_event),
       (SELECT count(*) FROM cleared),
       EXISTS (SELECT 1 FROM ticketgate_fleet_count WHERE username = $1::TEXT AND credential = $2::TEXT)";

/// One user's record for one credential. $1 user, $2 credential.
const RECORD: &str = "
SELECT a.since, a.operator, c.failures, c.last_failure, c.locked_at, c.locked_until, c.lock_host
FROM (SELECT $1::TEXT AS username) AS u
LEFT JOIN ticketgate_fleet_admin_lock AS a ON a.username = u.username
LEFT JOIN ticketgate_fleet_count AS c ON c.username = u.username AND c.credential = $2::TEXT";

/// `lock`: $1 user, $2 now, $3 operator; 0 rows when already locked.
const ADMIN_LOCK: &str = "
INSERT INTO ticketgate_fleet_admin_lock (username, since, operator) VALUES ($1, $2, $3)
ON CONFLICT (username) DO NOTHING";

/// The time of an existing admin lock. $1 user.
const ADMIN_SINCE: &str = "SELECT since FROM ticketgate_fleet_admin_lock WHERE username = $1";

/// `unlock`: the admin lock and the counts, in one statement. $1 user.
const UNLOCK: &str = "
WITH a AS (DELETE FROM ticketgate_fleet_admin_lock WHERE username = $1::TEXT RETURNING 1),
     c AS (DELETE FROM ticketgate_fleet_count WHERE username = $1::TEXT RETURNING 1)
SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM c)";

/// `reset`: $1 user.
const RESET: &str = "DELETE FROM ticketgate_fleet_count WHERE username = $1";

/// Users `status` lists. $1 now, $2 window_start.
const LISTED: &str = "
SELECT username FROM ticketgate_fleet_admin_lock
UNION
SELECT username FROM ticketgate_fleet_count
WHERE (locked_at IS NOT NULL AND (locked_until IS NULL OR locked_until > $1::BIGINT))
   OR (locked_at IS NULL AND last_failure > $2::BIGINT)
ORDER BY username";

/// Forgets old event ids. $1 cutoff.
const PRUNE: &str = "DELETE FROM ticketgate_fleet_event WHERE seen < $1";

/// `store copy`: everything, in key order.
const EXPORT_EVENTS: &str = "SELECT id, kind, username, credential, host, at, seen
                             FROM ticketgate_fleet_event ORDER BY id";
const EXPORT_COUNTS: &str = "SELECT username, credential, failures, last_failure, locked_at,
                                    locked_until, lock_host, lock_event
                             FROM ticketgate_fleet_count ORDER BY username, credential";
const EXPORT_ADMIN: &str =
    "SELECT username, since, operator FROM ticketgate_fleet_admin_lock ORDER BY username";
/// `store copy`: rows already present are kept.
const IMPORT_EVENT: &str = "INSERT INTO ticketgate_fleet_event
                            (id, kind, username, credential, host, at, seen)
                            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";
const IMPORT_COUNT: &str = "INSERT INTO ticketgate_fleet_count
                            (username, credential, failures, last_failure, locked_at,
                             locked_until, lock_host, lock_event)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                            ON CONFLICT (username, credential) DO NOTHING";

/// The PostgreSQL-backed fleet store.
#[derive(Debug, Clone)]
pub struct PgFleet {
    pool: Pool,
}

fn failures_of(n: Option<i64>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

fn limit_sql(n: u32) -> i64 {
    i64::from(n)
}

impl PgFleet {
    /// The fleet store on `pool` (the protect store's, whose migrations made the tables).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    fn run<T>(
        &self,
        f: impl FnMut(&mut crate::store::postgres::Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, FleetError> {
        self.pool.with_client(f).map_err(|e| FleetError::Postgres {
            message: e.to_string(),
        })
    }
}

impl FleetStore for PgFleet {
    fn record(&self, user: &str, credential: Credential) -> Result<Record, FleetError> {
        let cred = credential.as_str();
        let row = self.run(|c| c.query_opt(RECORD, &[&user, &cred]))?;
        Ok(row.map_or_else(Record::default, |r| Record {
            admin_since: r.get(0),
            admin_by: r.get(1),
            failures: failures_of(r.get(2)),
            last_failure: r.get(3),
            locked_at: r.get(4),
            locked_until: r.get(5),
            lock_host: r.get(6),
        }))
    }

    fn failure(
        &self,
        event: &Event,
        now: i64,
        count: Option<&Count>,
    ) -> Result<(Counted, Record), FleetError> {
        let cred = event.credential.as_str();
        let counting = count.is_some();
        let c = count.copied().unwrap_or(Count {
            limit: 0,
            window_start: now,
            until: None,
            now,
        });
        let limit = limit_sql(c.limit);
        let row = self.run(|conn| {
            conn.query_opt(
                FAILURE,
                &[
                    &event.user,
                    &cred,
                    &event.at,
                    &c.now,
                    &c.window_start,
                    &limit,
                    &c.until,
                    &event.host,
                    &event.id,
                    &counting,
                    &now,
                ],
            )
        })?;
        let Some(r) = row else {
            return Err(FleetError::Postgres {
                message: "the failure statement answered no row".into(),
            });
        };
        let new: i64 = r.get(0);
        if new == 0 {
            // A replay. When the first copy of this event was still being counted, the id insert
            // waited for it to commit, but the rest of this statement reads the snapshot taken
            // before that (READ COMMITTED): read the record again, in a statement of its own.
            return Ok((
                Counted::Replayed,
                self.record(&event.user, event.credential)?,
            ));
        }
        let ran: bool = r.get(14);
        let admin_since: Option<i64> = r.get(1);
        let admin_by: Option<String> = r.get(2);
        // The count's row as the upsert left it, or (when it did not run) as it was.
        let (first, lock_event): (usize, Option<String>) =
            if ran { (3, r.get(8)) } else { (9, None) };
        let record = Record {
            admin_since,
            admin_by,
            failures: failures_of(r.get(first)),
            last_failure: r.get(first + 1),
            locked_at: r.get(first + 2),
            locked_until: r.get(first + 3),
            lock_host: r.get(first + 4),
        };
        let counted = match ran {
            false => Counted::TooOld,
            true => {
                let lock_active =
                    record.locked_at.is_some() && record.locked_until.is_none_or(|u| u > c.now);
                let mine = lock_event.as_deref() == Some(event.id.as_str());
                if lock_active && !mine {
                    Counted::WhileLocked
                } else {
                    Counted::Counted {
                        locked_now: lock_active && mine,
                    }
                }
            }
        };
        Ok((counted, record))
    }

    fn success(&self, event: &Event, now: i64) -> Result<Cleared, FleetError> {
        let cred = event.credential.as_str();
        let row = self.run(|c| {
            c.query_opt(
                SUCCESS,
                &[&event.user, &cred, &event.at, &now, &event.id, &event.host],
            )
        })?;
        let Some(r) = row else {
            return Err(FleetError::Postgres {
                message: "the success statement answered no row".into(),
            });
        };
        let (new, cleared, existed): (i64, i64, bool) = (r.get(0), r.get(1), r.get(2));
        Ok(if new == 0 {
            Cleared::Replayed
        } else if cleared > 0 || !existed {
            Cleared::Cleared
        } else {
            Cleared::Kept
        })
    }

    fn lock(&self, user: &str, operator: &str, now: i64) -> Result<Option<i64>, FleetError> {
        let added = self.run(|c| c.execute(ADMIN_LOCK, &[&user, &now, &operator]))?;
        if added == 1 {
            return Ok(None);
        }
        let row = self.run(|c| c.query_opt(ADMIN_SINCE, &[&user]))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn unlock(&self, user: &str) -> Result<bool, FleetError> {
        let row = self.run(|c| c.query_opt(UNLOCK, &[&user]))?;
        Ok(row.is_some_and(|r| r.get::<_, i64>(0) > 0))
    }

    fn reset(&self, user: &str) -> Result<bool, FleetError> {
        Ok(self.run(|c| c.execute(RESET, &[&user]))? > 0)
    }

    fn listed(&self, now: i64, window_start: i64) -> Result<Vec<String>, FleetError> {
        let rows = self.run(|c| c.query(LISTED, &[&now, &window_start]))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn prune(&self, before: i64) -> Result<u64, FleetError> {
        self.run(|c| c.execute(PRUNE, &[&before]))
    }

    fn export(&self) -> Result<FleetDump, FleetError> {
        let events = self.run(|c| c.query(EXPORT_EVENTS, &[]))?;
        let counts = self.run(|c| c.query(EXPORT_COUNTS, &[]))?;
        let admin_locks = self.run(|c| c.query(EXPORT_ADMIN, &[]))?;
        Ok(FleetDump {
            events: events
                .iter()
                .map(|r| EventRow {
                    id: r.get(0),
                    kind: r.get(1),
                    user: r.get(2),
                    credential: r.get(3),
                    host: r.get(4),
                    at: r.get(5),
                    seen: r.get(6),
                })
                .collect(),
            counts: counts
                .iter()
                .map(|r| CountRow {
                    user: r.get(0),
                    credential: r.get(1),
                    failures: r.get(2),
                    last_failure: r.get(3),
                    locked_at: r.get(4),
                    locked_until: r.get(5),
                    lock_host: r.get(6),
                    lock_event: r.get(7),
                })
                .collect(),
            admin_locks: admin_locks
                .iter()
                .map(|r| AdminRow {
                    user: r.get(0),
                    since: r.get(1),
                    operator: r.get(2),
                })
                .collect(),
        })
    }

    fn import(&self, dump: &FleetDump) -> Result<Imported, FleetError> {
        self.run(|c| {
            let (event, count, admin) = (
                c.statement(IMPORT_EVENT)?,
                c.statement(IMPORT_COUNT)?,
                c.statement(ADMIN_LOCK)?,
            );
            let mut tx = c.client().transaction()?;
            let mut done = Imported::default();
            for e in &dump.events {
                done.events += tx.execute(
                    &event,
                    &[
                        &e.id,
                        &e.kind,
                        &e.user,
                        &e.credential,
                        &e.host,
                        &e.at,
                        &e.seen,
                    ],
                )?;
            }
            for k in &dump.counts {
                done.counts += tx.execute(
                    &count,
                    &[
                        &k.user,
                        &k.credential,
                        &k.failures,
                        &k.last_failure,
                        &k.locked_at,
                        &k.locked_until,
                        &k.lock_host,
                        &k.lock_event,
                    ],
                )?;
            }
            for a in &dump.admin_locks {
                done.admin_locks += tx.execute(&admin, &[&a.user, &a.since, &a.operator])?;
            }
            tx.commit()?;
            Ok(done)
        })
    }
}
