//! The shared store (`store = "postgres"`): enrollments, used TOTP steps, unlock windows and
//! wrong-code counters all in the database, so any number of replicas act as one server.
//!
//! Each change is one atomic statement, never a read in Rust followed by a write: taking an
//! unlock is a `DELETE … RETURNING`, a used step is an `UPDATE` that refuses a step not greater
//! than the stored one, a wrong-code try is an `INSERT … ON CONFLICT DO UPDATE … WHERE` that
//! only succeeds below the limit. The one exception is an enrollment code (several checks on
//! one row, then a change): it is read `FOR UPDATE` in a transaction, so concurrent tries on any
//! replica wait for each other.

pub mod pool;
pub mod schema;

pub use pool::{Conn, Pool};

use super::{
    CodeOutcome, CodeRecord, Enrollment, EnrollmentInfo, PendingCode, ProtectStore, Redeem,
    StoreError, Verdict,
};
use crate::clock::since_epoch;
use crate::config::PostgresSettings;
use crate::enroll_code::{self, Refused};
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

/// Takes the window at `$1` and the user's wildcard window together: one login uses up both.
const TAKE: &str = "DELETE FROM ticketgate_unlock_window
                    WHERE username = $2 AND service_id IN ($1, '*')
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
/// The enrollment and any pending code: how many rows went.
const REVOKE: &str =
    "WITH e AS (DELETE FROM ticketgate_enrollment WHERE username = $1 RETURNING 1),
                           c AS (DELETE FROM ticketgate_enroll_code WHERE username = $1 RETURNING 1)
                      SELECT (SELECT count(*) FROM e) + (SELECT count(*) FROM c)";
/// A new pending code replaces an older one; nothing when the user is enrolled.
const ISSUE_CODE: &str = "INSERT INTO ticketgate_enroll_code
                          (username, service_id, code_hash, created, expires, tries, secret)
                          SELECT $1, $2, $3, $4, $5, 0, NULL
                          WHERE NOT EXISTS (SELECT 1 FROM ticketgate_enrollment WHERE username = $1)
                          ON CONFLICT (username) DO UPDATE
                          SET service_id = EXCLUDED.service_id, code_hash = EXCLUDED.code_hash,
                              created = EXCLUDED.created, expires = EXCLUDED.expires,
                              tries = 0, secret = NULL";
const SELECT_CODE: &str = "SELECT service_id, code_hash, expires, tries, secret
                           FROM ticketgate_enroll_code WHERE username = $1 FOR UPDATE";
const CODE_TRY: &str = "UPDATE ticketgate_enroll_code SET tries = tries + 1 WHERE username = $1";
const CODE_SECRET: &str = "UPDATE ticketgate_enroll_code SET secret = $2 WHERE username = $1";
const DELETE_CODE: &str = "DELETE FROM ticketgate_enroll_code WHERE username = $1";
const LIST_CODES: &str = "SELECT username, service_id, created, expires, tries, code_hash, secret
                          FROM ticketgate_enroll_code ORDER BY username";
const IMPORT_CODE: &str = "INSERT INTO ticketgate_enroll_code
                           (username, service_id, code_hash, created, expires, tries, secret)
                           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (username) DO NOTHING";
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
        service_id: Option<&str>,
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
            Redeem::Accepted { bound }
        } else {
            Redeem::Replayed
        })
    }
}

/// What `with_code`'s success step sees of the row: the bound service ID and any drawn secret.
type CodeRow = (Option<String>, Option<Secret>);

impl PgStore {
    /// An enrollment code's check behind the wrong-code limit (as `check_code`): the row is
    /// read `FOR UPDATE` in a transaction, judged, and on success `then` runs in the same
    /// transaction; a wrong code (or a `then` refusing with a wrong try) counts a try.
    fn with_code(
        &self,
        user: &str,
        hash: &[u8; 32],
        now: SystemTime,
        then: impl Fn(&mut postgres::Transaction<'_>, CodeRow) -> Result<CodeOutcome, postgres::Error>,
    ) -> Result<Verdict<CodeOutcome>, StoreError> {
        let now_ms = ms(now);
        if let Some(wait) = self.take_try(user, now_ms)? {
            return Ok(Verdict::RateLimited(wait));
        }
        let outcome = self.pool.with_client(|c| {
            let select = c.statement(SELECT_CODE)?;
            let mut tx = c.client().transaction()?;
            let Some(row) = tx.query_opt(&select, &[&user])? else {
                return Ok(CodeOutcome::Refused(Refused::NoCode));
            };
            let stored: Vec<u8> = row.get(1);
            let expires = from_sql(row.get(2));
            let tries = u32::try_from(row.get::<_, i32>(3)).unwrap_or(u32::MAX);
            let found = (
                row.get(0),
                row.get::<_, Option<Vec<u8>>>(4).map(Secret::new),
            );
            let outcome = match enroll_code::judge(&stored, expires, tries, hash, now) {
                Ok(()) => then(&mut tx, found)?,
                Err(refused) => CodeOutcome::Refused(refused),
            };
            if let CodeOutcome::Refused(r) = outcome
                && r.is_wrong_try()
            {
                tx.execute(CODE_TRY, &[&user])?;
            }
            tx.commit()?;
            Ok(outcome)
        })?;
        if !matches!(outcome, CodeOutcome::Refused(_)) {
            self.pool
                .with_client(|c| c.execute(UNTRY, &[&user, &now_ms]))?;
        }
        Ok(Verdict::Checked(outcome))
    }

    fn code_record(row: &postgres::Row) -> CodeRecord {
        let secret = row.get::<_, Option<Vec<u8>>>(6).map(Secret::new);
        CodeRecord {
            info: PendingCode {
                user: row.get(0),
                service_id: row.get(1),
                created: from_sql(row.get(2)),
                expires: from_sql(row.get(3)),
                tries: u32::try_from(row.get::<_, i32>(4)).unwrap_or(u32::MAX),
                redeemed: secret.is_some(),
            },
            hash: row.get(5),
            secret,
        }
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
        let row = self.pool.with_client(|c| c.query_opt(REVOKE, &[&user]))?;
        Ok(row.is_some_and(|r| r.get::<_, i64>(0) > 0))
    }

    fn issue_code(
        &self,
        user: &str,
        service_id: Option<&str>,
        hash: &[u8; 32],
        now: SystemTime,
        expires: SystemTime,
    ) -> Result<(), StoreError> {
        let (created, expires) = (
            to_sql(since_epoch(now).as_secs()),
            to_sql(since_epoch(expires).as_secs()),
        );
        let hash = hash.as_slice();
        let stored = self.pool.with_client(|c| {
            c.execute(ISSUE_CODE, &[&user, &service_id, &hash, &created, &expires])
        })?;
        if stored == 0 {
            return Err(StoreError::AlreadyEnrolled {
                user: user.to_owned(),
            });
        }
        Ok(())
    }

    fn redeem_code(
        &self,
        user: &str,
        hash: &[u8; 32],
        secret: &Secret,
        now: SystemTime,
    ) -> Result<Verdict<CodeOutcome>, StoreError> {
        self.with_code(user, hash, now, |tx, (service_id, _)| {
            tx.execute(CODE_SECRET, &[&user, &secret.expose()])?;
            Ok(CodeOutcome::Redeemed { service_id })
        })
    }

    fn confirm_code(
        &self,
        user: &str,
        hash: &[u8; 32],
        totp_code: &str,
        now: SystemTime,
    ) -> Result<Verdict<CodeOutcome>, StoreError> {
        let created = to_sql(since_epoch(now).as_secs());
        self.with_code(user, hash, now, |tx, (service_id, secret)| {
            let Some(secret) = secret else {
                return Ok(CodeOutcome::Refused(Refused::NotRedeemed));
            };
            let Some(step) = crate::totp::matching_step(&secret, totp_code, now, None) else {
                return Ok(CodeOutcome::Refused(Refused::WrongTotp));
            };
            let step = Some(to_sql(step));
            let added = tx.execute(
                ENROLL,
                &[&user, &service_id, &secret.expose(), &created, &step],
            )?;
            tx.execute(DELETE_CODE, &[&user])?;
            Ok(if added == 1 {
                CodeOutcome::Enrolled { service_id }
            } else {
                CodeOutcome::Refused(Refused::AlreadyEnrolled)
            })
        })
    }

    fn pending_codes(&self) -> Result<Vec<PendingCode>, StoreError> {
        Ok(self.export_codes()?.into_iter().map(|c| c.info).collect())
    }

    fn export_codes(&self) -> Result<Vec<CodeRecord>, StoreError> {
        let rows = self.pool.with_client(|c| c.query(LIST_CODES, &[]))?;
        Ok(rows.iter().map(Self::code_record).collect())
    }

    fn import_codes(&self, all: &[CodeRecord]) -> Result<u64, StoreError> {
        self.pool.with_client(|c| {
            let insert = c.statement(IMPORT_CODE)?;
            let mut tx = c.client().transaction()?;
            let mut added = 0;
            for r in all {
                let tries = i32::try_from(r.info.tries).unwrap_or(i32::MAX);
                added += tx.execute(
                    &insert,
                    &[
                        &r.info.user,
                        &r.info.service_id,
                        &r.hash,
                        &to_sql(r.info.created),
                        &to_sql(r.info.expires),
                        &tries,
                        &r.secret.as_ref().map(Secret::expose),
                    ],
                )?;
            }
            tx.commit()?;
            Ok(added)
        })
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
        service_id: Option<&str>,
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
        if matches!(verdict, Redeem::Accepted { .. }) {
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
        let rows = self
            .pool
            .with_client(|c| c.query(TAKE, &[&service_id, &user, &now_ms]))?;
        Ok(rows.iter().any(|r| r.get::<_, bool>(0)))
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
