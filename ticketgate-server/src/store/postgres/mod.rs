//! The shared store (`store = "postgres"`): enrollments, used TOTP steps, unlock windows and
//! wrong-code counters all in the database, so any number of replicas act as one server.
//!
//! Each change is one atomic statement, never a read in Rust followed by a write: taking an
//! unlock is a `DELETE … RETURNING`, a used step is an `UPDATE` that refuses a step not greater
//! than the stored one, a wrong-code try is an `INSERT … ON CONFLICT DO UPDATE … WHERE` that
//! only succeeds below the limit.

pub mod pool;
pub mod schema;

pub use pool::{Conn, Pool};

use super::{Enrollment, EnrollmentInfo, ProtectStore, Redeem, StoreError, Verdict};
use crate::clock::since_epoch;
use crate::config::PostgresSettings;
use crate::ratelimit::{MAX_MISSES, PERIOD};
use crate::secret::Secret;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Delete counters with no try inside the period once every this many tries (per process).
const PRUNE_EVERY: u64 = 1024;

fn ms(t: SystemTime) -> i64 {
    i64::try_from(since_epoch(t).as_millis()).unwrap_or(i64::MAX)
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

const TAKE: &str = "DELETE FROM ticketgate_unlock_window WHERE service_id = $1 AND username = $2
                    RETURNING until_ms > $3";
const OPEN: &str = "INSERT INTO ticketgate_unlock_window (service_id, username, until_ms)
                    VALUES ($1, $2, $3)
                    ON CONFLICT (service_id, username) DO UPDATE SET until_ms = EXCLUDED.until_ms";
const PRUNE_WINDOWS: &str = "DELETE FROM ticketgate_unlock_window WHERE until_ms <= $1";
/// One more try for `$1` at `$2`, only while fewer than `$4` tries are inside the period `$3`:
/// no row back means the user is at the limit.
const TRY: &str = "INSERT INTO ticketgate_wrong_code AS w (username, tries_ms)
                   VALUES ($1, ARRAY[$2::BIGINT])
                   ON CONFLICT (username) DO UPDATE
                   SET tries_ms = ARRAY(SELECT t FROM unnest(w.tries_ms) AS t
                                        WHERE t > $2::BIGINT - $3::BIGINT ORDER BY t) || $2::BIGINT
                   WHERE (SELECT count(*) FROM unnest(w.tries_ms) AS t WHERE t > $2::BIGINT - $3::BIGINT) < $4
                   RETURNING 1";
/// An accepted code gives its try back: one entry equal to `$2` removed.
const UNTRY: &str = "UPDATE ticketgate_wrong_code
                     SET tries_ms = tries_ms[:array_position(tries_ms, $2::BIGINT) - 1]
                                 || tries_ms[array_position(tries_ms, $2::BIGINT) + 1:]
                     WHERE username = $1 AND array_position(tries_ms, $2::BIGINT) IS NOT NULL";
const OLDEST_TRY: &str = "SELECT min(t) FROM ticketgate_wrong_code AS w, unnest(w.tries_ms) AS t
                          WHERE w.username = $1 AND t > $2::BIGINT - $3::BIGINT";
const PRUNE_TRIES: &str = "DELETE FROM ticketgate_wrong_code AS w WHERE NOT EXISTS
                           (SELECT 1 FROM unnest(w.tries_ms) AS t WHERE t > $1::BIGINT - $2::BIGINT)";
const SELECT_ENROLLMENT: &str =
    "SELECT service_id, secret, last_step FROM ticketgate_enrollment WHERE username = $1";
/// Records a used step, refusing one not greater than the stored one in the same statement.
const USE_STEP: &str = "UPDATE ticketgate_enrollment SET last_step = $2
                        WHERE username = $1 AND (last_step IS NULL OR last_step < $2)";
const ENROLL: &str = "INSERT INTO ticketgate_enrollment
                      (username, service_id, secret, created, last_step)
                      VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING";
const REVOKE: &str = "DELETE FROM ticketgate_enrollment WHERE username = $1";
const LIST: &str = "SELECT username, service_id, created, last_step, secret
                    FROM ticketgate_enrollment ORDER BY username";
const COUNT: &str = "SELECT count(*) FROM ticketgate_enrollment";

/// The PostgreSQL store.
#[derive(Debug)]
pub struct PgStore {
    pool: Pool,
    max_misses: i64,
    period_ms: i64,
    tries: AtomicU64,
}

impl PgStore {
    /// Connects, creates or migrates the schema, and returns the store.
    pub fn open(settings: &PostgresSettings) -> Result<Self, StoreError> {
        let pool = Pool::new(settings)?;
        pool.with_client(|conn| Ok(schema::migrate(conn.client(), schema::MIGRATIONS)))??;
        Ok(Self {
            pool,
            max_misses: i64::try_from(MAX_MISSES).unwrap_or(i64::MAX),
            period_ms: i64::try_from(PERIOD.as_millis()).unwrap_or(i64::MAX),
            tries: AtomicU64::new(0),
        })
    }

    /// The pool, for other modules' tables in the same database.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn info(row: &postgres::Row) -> EnrollmentInfo {
        EnrollmentInfo {
            user: row.get(0),
            service_id: row.get(1),
            created: from_sql(row.get(2)),
            last_step: row.get::<_, Option<i64>>(3).map(from_sql),
        }
    }

    /// Takes one try for `user` below the limit; `Some(wait)` when at the limit.
    fn take_try(&self, user: &str, now_ms: i64) -> Result<Option<Duration>, StoreError> {
        if self.tries.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.pool
                .with_client(|c| c.execute(PRUNE_TRIES, &[&now_ms, &self.period_ms]))?;
        }
        let (period, max) = (self.period_ms, self.max_misses);
        let got = self
            .pool
            .with_client(|c| c.query_opt(TRY, &[&user, &now_ms, &period, &max]))?;
        if got.is_some() {
            return Ok(None);
        }
        let oldest: Option<i64> = self
            .pool
            .with_client(|c| c.query_opt(OLDEST_TRY, &[&user, &now_ms, &period]))?
            .and_then(|row| row.get(0));
        let free_in_ms = oldest.map_or(0, |t| t.saturating_add(period).saturating_sub(now_ms));
        let wait = Duration::from_millis(u64::try_from(free_in_ms).unwrap_or(0));
        Ok(Some(wait.max(Duration::from_secs(1))))
    }

    fn redeem(
        &self,
        user: &str,
        service_id: &str,
        code: &str,
        now: SystemTime,
    ) -> Result<Redeem, StoreError> {
        let row = self
            .pool
            .with_client(|c| c.query_opt(SELECT_ENROLLMENT, &[&user]))?;
        let Some(row) = row else {
            return Ok(Redeem::UnknownUser);
        };
        let bound: Option<String> = row.get(0);
        let secret = Secret::new(row.get(1));
        let last_step = row.get::<_, Option<i64>>(2).map(from_sql);
        let step = match super::judge(bound.as_deref(), service_id, &secret, code, now, last_step) {
            Ok(step) => to_sql(step),
            Err(refused) => return Ok(refused),
        };
        // Another replica may have used this step (or a later one) since the read: the update
        // then changes nothing and the code is a replay.
        let used = self
            .pool
            .with_client(|c| c.execute(USE_STEP, &[&user, &step]))?;
        Ok(if used == 1 {
            Redeem::Accepted
        } else {
            Redeem::Replayed
        })
    }
}

impl ProtectStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn attempt_blocks(&self) -> bool {
        true
    }

    fn enroll(
        &self,
        user: &str,
        service_id: Option<&str>,
        secret: &Secret,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let created = to_sql(since_epoch(now).as_secs());
        let none: Option<i64> = None;
        let added = self.pool.with_client(|c| {
            c.execute(
                ENROLL,
                &[&user, &service_id, &secret.expose(), &created, &none],
            )
        })?;
        if added == 0 {
            return Err(StoreError::AlreadyEnrolled {
                user: user.to_owned(),
            });
        }
        Ok(())
    }

    fn revoke(&self, user: &str) -> Result<bool, StoreError> {
        Ok(self.pool.with_client(|c| c.execute(REVOKE, &[&user]))? > 0)
    }

    fn list(&self) -> Result<Vec<EnrollmentInfo>, StoreError> {
        let rows = self.pool.with_client(|c| c.query(LIST, &[]))?;
        Ok(rows.iter().map(Self::info).collect())
    }

    fn count(&self) -> Result<u64, StoreError> {
        let row = self.pool.with_client(|c| c.query_opt(COUNT, &[]))?;
        Ok(row.map_or(0, |r| from_sql(r.get(0))))
    }

    fn check_code(
        &self,
        user: &str,
        service_id: &str,
        code: &str,
        now: SystemTime,
    ) -> Result<Verdict, StoreError> {
        // The try is taken before the code is looked at, so concurrent wrong codes on any
        // replica cannot pass the limit; an accepted code gives its try back.
        let now_ms = ms(now);
        if let Some(wait) = self.take_try(user, now_ms)? {
            return Ok(Verdict::RateLimited(wait));
        }
        let verdict = self.redeem(user, service_id, code, now)?;
        if verdict == Redeem::Accepted {
            self.pool
                .with_client(|c| c.execute(UNTRY, &[&user, &now_ms]))?;
        }
        Ok(Verdict::Checked(verdict))
    }

    fn open_window(
        &self,
        service_id: &str,
        user: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<(), StoreError> {
        let (now_ms, until_ms) = (ms(now), ms(until));
        self.pool.with_client(|c| {
            c.execute(PRUNE_WINDOWS, &[&now_ms])?;
            c.execute(OPEN, &[&service_id, &user, &until_ms])
        })?;
        Ok(())
    }

    fn take_window(
        &self,
        service_id: &str,
        user: &str,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let now_ms = ms(now);
        let row = self
            .pool
            .with_client(|c| c.query_opt(TAKE, &[&service_id, &user, &now_ms]))?;
        Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
    }

    fn export(&self) -> Result<Vec<Enrollment>, StoreError> {
        let rows = self.pool.with_client(|c| c.query(LIST, &[]))?;
        Ok(rows
            .iter()
            .map(|r| Enrollment {
                info: Self::info(r),
                secret: Secret::new(r.get(4)),
            })
            .collect())
    }

    fn import(&self, all: &[Enrollment]) -> Result<u64, StoreError> {
        self.pool.with_client(|c| {
            let insert = c.statement(ENROLL)?;
            let mut tx = c.client().transaction()?;
            let mut added = 0;
            for e in all {
                added += tx.execute(
                    &insert,
                    &[
                        &e.info.user,
                        &e.info.service_id,
                        &e.secret.expose(),
                        &to_sql(e.info.created),
                        &e.info.last_step.map(to_sql),
                    ],
                )?;
            }
            tx.commit()?;
            Ok(added)
        })
    }

    fn postgres_pool(&self) -> Option<Pool> {
        Some(self.pool.clone())
    }
}
