//! The database schema: a version table and an ordered list of migrations, applied on start by
//! whichever replica gets there first (the others wait on an advisory lock, then find them done).
//!
//! To add tables (the fleet's, say), append a migration with the next version; never edit one
//! that has shipped.

use crate::store::StoreError;
use postgres::Client;

/// One step of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Applied in increasing order, each once.
    pub version: i32,
    /// What it adds, for the log.
    pub what: &'static str,
    /// The statements, run in the migration's transaction.
    pub sql: &'static str,
}

/// Every migration this server knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "protect: enrollments, unlock windows, wrong-code counters",
        // Unlock windows are UNLOGGED: a database crash empties them (users unlock again: closed,
        // as a restart of the SQLite server does), and taking one writes no WAL.
        sql: "CREATE TABLE ticketgate_enrollment (
              username   TEXT PRIMARY KEY,
              service_id TEXT,
              secret     BYTEA NOT NULL,
              created    BIGINT NOT NULL,
              last_step  BIGINT
          );
          CREATE UNLOGGED TABLE ticketgate_unlock_window (
              service_id TEXT NOT NULL,
              username   TEXT NOT NULL,
              until_ms   BIGINT NOT NULL,
              PRIMARY KEY (service_id, username)
          );
          CREATE INDEX ticketgate_unlock_window_until ON ticketgate_unlock_window (until_ms);
          CREATE TABLE ticketgate_wrong_code (
              username TEXT PRIMARY KEY,
              tries_ms BIGINT[] NOT NULL
          );",
    },
    Migration {
        version: 2,
        what: "fleet: event ids, failure counts and locks, admin locks",
        // The statements that use them are in `fleet/postgres.rs`.
        sql: "CREATE TABLE ticketgate_fleet_event (
              id         TEXT PRIMARY KEY,
              kind       TEXT NOT NULL,
              username   TEXT NOT NULL,
              credential TEXT NOT NULL,
              host       TEXT NOT NULL,
              at         BIGINT NOT NULL,
              seen       BIGINT NOT NULL
          );
          CREATE INDEX ticketgate_fleet_event_seen ON ticketgate_fleet_event (seen);
          CREATE TABLE ticketgate_fleet_count (
              username     TEXT NOT NULL,
              credential   TEXT NOT NULL,
              failures     BIGINT NOT NULL,
              last_failure BIGINT NOT NULL,
              locked_at    BIGINT,
              locked_until BIGINT,
              lock_host    TEXT,
              lock_event   TEXT,
              PRIMARY KEY (username, credential)
          );
          CREATE TABLE ticketgate_fleet_admin_lock (
              username TEXT PRIMARY KEY,
              since    BIGINT NOT NULL,
              operator TEXT NOT NULL
          );",
    },
    Migration {
        version: 3,
        what: "protect: pending enrollment codes",
        // Only the code's SHA-256; `secret` is drawn when the code is redeemed and becomes an
        // enrollment once its first TOTP code is confirmed.
        sql: "CREATE TABLE ticketgate_enroll_code (
              username   TEXT PRIMARY KEY,
              service_id TEXT,
              code_hash  BYTEA NOT NULL,
              created    BIGINT NOT NULL,
              expires    BIGINT NOT NULL,
              tries      INTEGER NOT NULL,
              secret     BYTEA
          );",
    },
    Migration {
        version: 4,
        what: "agent: the task queue of the host agents",
        // The statements that use it are in `tasks/postgres.rs`. `sealed` holds a queued
        // password encrypted under [agent] task_key_file; NULL once the task has ended.
        sql: "CREATE TABLE ticketgate_agent_task (
              id          TEXT PRIMARY KEY,
              host        TEXT NOT NULL,
              kind        TEXT NOT NULL,
              username    TEXT NOT NULL,
              state       TEXT NOT NULL,
              sealed      BYTEA,
              queued_by   TEXT NOT NULL,
              queued_at   BIGINT NOT NULL,
              not_after   BIGINT NOT NULL,
              finished_at BIGINT,
              detail      TEXT,
              seq         BIGINT GENERATED ALWAYS AS IDENTITY
          );
          CREATE INDEX ticketgate_agent_task_pending
              ON ticketgate_agent_task (state, host, queued_at, seq);
          CREATE INDEX ticketgate_agent_task_expiry ON ticketgate_agent_task (state, not_after);",
    },
];

/// Serializes migrations across replicas starting together ("tgschema" in ASCII).
const LOCK_KEY: i64 = 0x7467_7363_6865_6d61;

/// Brings the schema to the newest of `migrations`; returns (version before, version after).
pub fn migrate(client: &mut Client, migrations: &[Migration]) -> Result<(i32, i32), StoreError> {
    let pg = |e: postgres::Error| StoreError::Postgres {
        message: format!("migrating the schema: {}", super::pool::describe(&e)),
    };
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS ticketgate_schema (
             version    INTEGER PRIMARY KEY,
             what       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .map_err(pg)?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM ticketgate_schema",
            &[],
        )
        .map_err(pg)?
        .get(0);
    let known = migrations.last().map_or(0, |m| m.version);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for m in migrations.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.sql).map_err(pg)?;
        tx.execute(
            "INSERT INTO ticketgate_schema (version, what) VALUES ($1, $2)",
            &[&m.version, &m.what],
        )
        .map_err(pg)?;
    }
    tx.commit().map_err(pg)?;
    Ok((current, known.max(current)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(m.version).ok(), Some(i + 1), "{}", m.what);
        }
    }
}
