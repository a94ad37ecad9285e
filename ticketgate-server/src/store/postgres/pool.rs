//! Connections to PostgreSQL: the connection string from its secret file, the TLS policy, and a
//! bounded pool of synchronous clients, each with its own cache of prepared statements.
//!
//! Why the synchronous `postgres` client: the protocol functions (`api`) are plain sync calls, as
//! with SQLite; the HTTP glue runs them on tokio's blocking pool, under one deadline. Why r2d2:
//! a small, long-kept pool with a bounded checkout (`get_timeout`), from the same author as the
//! client. Any module may use [`Pool::with_client`] for its own tables (add them to
//! `schema::MIGRATIONS`).

use crate::config::PostgresSettings;
use crate::hosts::public_rule;
use crate::store::StoreError;
use postgres::config::{Host, SslMode};
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls;

/// How long a new connection (TCP, TLS and authentication) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request waits for a pooled connection before it is answered 503.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(2);
/// Most connections one server process holds.
pub const POOL_SIZE: u32 = 8;
/// Connections kept open while idle (made in the background from the start, so the first burst
/// of requests does not wait for TLS and authentication one connection at a time).
pub const MIN_IDLE: u32 = 8;
/// The system trust bundles tried, in order, when `postgres_ca_file` is not set.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// A client error as one line: the database's own message and SQLSTATE when it has one
/// (`Display` alone says only "db error").
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => {
            // The client's `Display` leaves out the cause (a TLS alert, an I/O error): add it.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            text
        }
    }
}

/// Why a new connection failed, described in full (r2d2 keeps only the text of the last one).
#[derive(Debug)]
pub struct ConnectFailed(String);

impl std::fmt::Display for ConnectFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectFailed {}

fn pg_err(e: &postgres::Error) -> StoreError {
    StoreError::Postgres {
        message: describe(e),
    }
}

fn url_err(message: impl Into<String>) -> StoreError {
    StoreError::PostgresConfig {
        key: "postgres_url_file",
        message: message.into(),
    }
}

fn ca_err(message: impl Into<String>) -> StoreError {
    StoreError::PostgresConfig {
        key: "postgres_ca_file",
        message: message.into(),
    }
}

/// Reads the connection string from `path` under `rule`; a "permission denied" says how to load
/// it as a credential.
pub fn read_url(
    path: &Path,
    rule: fs_trust::Rule,
) -> Result<zeroize::Zeroizing<String>, StoreError> {
    fs_trust::read_secret_text(path, rule).map_err(|e| {
        let hint = match &e {
            fs_trust::SecretError::Read(io) => crate::credentials::permission_hint(io),
            fs_trust::SecretError::Refused(r) => match &r.problem {
                fs_trust::Problem::Io(io) => crate::credentials::permission_hint(io),
                _ => "",
            },
            _ => "",
        };
        url_err(format!("{}: {e}{hint}", path.display()))
    })
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || IpAddr::from_str(name.trim_start_matches('[').trim_end_matches(']'))
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

/// The client config from the secret file, with the TLS policy applied: TLS with a verified
/// certificate unless `sslmode=disable` names only loopback hosts or Unix sockets (refused
/// otherwise); Unix sockets never use TLS.
pub fn client_config(settings: &PostgresSettings) -> Result<postgres::Config, StoreError> {
    // `credential:NAME` under systemd (the server's user cannot read root's files).
    let setting = &settings.url_file;
    let located = crate::credentials::locate(setting).map_err(|e| url_err(e.to_string()))?;
    let path = &located;
    let text = match &settings.url_text {
        Some(text) => text.0.clone(),
        None => read_url(path, crate::credentials::secret_rule_for(setting))?,
    };
    // The parser's messages name an option, never the string's password.
    let mut config = postgres::Config::from_str(&text).map_err(|e| {
        url_err(format!(
            "{} does not hold a PostgreSQL connection string: {e}",
            path.display()
        ))
    })?;
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return Err(url_err(format!(
            "the connection string in {} names no host",
            path.display()
        )));
    }
    let all_local = hosts.iter().all(is_loopback) && config.get_hostaddrs().is_empty();
    let all_sockets = hosts.iter().all(|h| matches!(h, Host::Unix(_)));
    match config.get_ssl_mode() {
        SslMode::Disable if !all_local => {
            return Err(url_err(format!(
                "the connection string in {} has sslmode=disable for a host that is not loopback \
                 or a Unix socket: the database password and every secret would cross the network \
                 in clear; remove sslmode (TLS is the default)",
                path.display()
            )));
        }
        SslMode::Disable => {}
        // "prefer" would fall back to clear text when the server offers no TLS: never.
        _ if all_sockets => {
            config.ssl_mode(SslMode::Disable);
        }
        _ => {
            config.ssl_mode(SslMode::Require);
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // A database that vanished without closing its sockets is noticed, not waited on forever.
    config.keepalives_idle(Duration::from_secs(10));
    config.tcp_user_timeout(Duration::from_secs(10));
    config.application_name("ticketgate-server");
    Ok(config)
}

fn read_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: cannot read PEM certificates: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("{}: holds no usable CERTIFICATE", path.display()));
    }
    Ok(roots)
}

/// TLS for the database connections: `postgres_ca_file`'s CAs, or the system bundle.
pub fn tls(settings: &PostgresSettings) -> Result<MakeRustlsConnect, StoreError> {
    let roots = match &settings.ca_file {
        Some(path) => {
            fs_trust::check_file(path, public_rule())
                .map_err(|r| ca_err(format!("{} refused: {r}", path.display())))?;
            read_roots(path).map_err(ca_err)?
        }
        None => SYSTEM_BUNDLES
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .ok_or_else(|| {
                ca_err("not set, and no system CA bundle found (install ca-certificates)")
            })
            .and_then(|p| read_roots(p).map_err(ca_err))?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ca_err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// One pooled connection and the statements prepared on it.
pub struct Conn {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Conn {
    /// The client itself, for transactions.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `sql` prepared once on this connection, then reused (one round trip per call after that).
    pub fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.prepared.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs a prepared `sql`; its rows.
    pub fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query(&s, params)
    }

    /// Runs a prepared `sql`; at most one row.
    pub fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params)
    }

    /// Runs a prepared `sql`; how many rows it changed.
    pub fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params)
    }
}

struct Manager {
    config: postgres::Config,
    tls: MakeRustlsConnect,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = ConnectFailed;

    fn connect(&self) -> Result<Conn, ConnectFailed> {
        let client = self
            .config
            .connect(self.tls.clone())
            .map_err(|e| ConnectFailed(describe(&e)))?;
        Ok(Conn {
            client,
            prepared: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), ConnectFailed> {
        conn.client
            .simple_query("")
            .map(|_| ())
            .map_err(|e| ConnectFailed(describe(&e)))
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// A bounded pool of connections to one database.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<Manager>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state();
        f.debug_struct("Pool")
            .field("connections", &state.connections)
            .field("idle", &state.idle_connections)
            .finish()
    }
}

impl Pool {
    /// A pool for the database `settings` name; connections are made in the background.
    pub fn new(settings: &PostgresSettings) -> Result<Self, StoreError> {
        let manager = Manager {
            config: client_config(settings)?,
            tls: tls(settings)?,
        };
        let inner = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(MIN_IDLE))
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A broken connection shows as a failed statement (then `is_closed`), not by a
            // round trip before every use.
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self { inner })
    }

    /// Runs `f` on a pooled connection. When `f` fails and its connection is found closed (the
    /// database restarted since it was last used, so the pool's other idle connections are
    /// likely dead too), the connection is dropped and `f` runs again on the next one, at most
    /// once per pool slot, so a fresh connection is reached; any other failure is the caller's
    /// answer. Each of the store's statements is safe to run again (at worst it fails closed:
    /// an unlock not given, a try counted twice).
    pub fn with_client<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut tries_left = POOL_SIZE;
        loop {
            let mut conn = self.checkout()?;
            match f(&mut conn) {
                Ok(v) => return Ok(v),
                Err(_) if conn.client.is_closed() && tries_left > 0 => tries_left -= 1,
                Err(e) => return Err(pg_err(&e)),
            }
        }
    }

    fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.inner
            .get_timeout(CHECKOUT_TIMEOUT)
            .map_err(|e| StoreError::Postgres {
                message: format!("no connection within {} s: {e}", CHECKOUT_TIMEOUT.as_secs()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn settings(url: &str) -> (tempfile::TempDir, PostgresSettings) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("pg.url");
        std::fs::write(&path, format!("{url}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        (
            dir,
            PostgresSettings {
                url_file: path,
                ca_file: None,
                url_text: None,
            },
        )
    }

    fn mode(url: &str) -> Result<SslMode, String> {
        let (_dir, s) = settings(url);
        client_config(&s)
            .map(|c| c.get_ssl_mode())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn tls_is_required_unless_disabled_for_loopback_or_a_socket() {
        assert_eq!(
            mode("postgresql://u:p@db.example.com/tg"),
            Ok(SslMode::Require)
        );
        assert_eq!(
            mode("postgresql://u:p@db.example.com/tg?sslmode=prefer"),
            Ok(SslMode::Require)
        );
        assert_eq!(
            mode("postgresql://u:p@127.0.0.1:5433/tg?sslmode=disable"),
            Ok(SslMode::Disable)
        );
        assert_eq!(
            mode("host=localhost user=u password=p sslmode=disable"),
            Ok(SslMode::Disable)
        );
        assert_eq!(
            mode("host=::1 user=u password=p sslmode=disable"),
            Ok(SslMode::Disable)
        );
        // A Unix socket never negotiates TLS.
        assert_eq!(mode("host=/run/postgresql user=u"), Ok(SslMode::Disable));
    }

    #[test]
    fn sslmode_disable_to_a_remote_host_is_refused_without_the_password() {
        for url in [
            "postgresql://u:s3cret-pw@db.example.com/tg?sslmode=disable",
            "host=127.0.0.1,db.example.com user=u password=s3cret-pw sslmode=disable",
            "host=10.0.0.5 user=u password=s3cret-pw sslmode=disable",
        ] {
            let err = mode(url).unwrap_err();
            assert!(
                err.contains("`postgres_url_file`") && err.contains("sslmode=disable"),
                "{url}: {err}"
            );
            assert!(!err.contains("s3cret-pw"), "{err}");
        }
    }

    #[test]
    fn a_url_file_others_can_read_or_without_a_host_is_refused() {
        let (_dir, s) = settings("postgresql://u:p@db.example.com/tg");
        std::fs::set_permissions(&s.url_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = client_config(&s).unwrap_err().to_string();
        assert!(err.contains("`postgres_url_file`"), "{err}");
        let (_dir, s) = settings("user=u password=p dbname=tg");
        let err = client_config(&s).unwrap_err().to_string();
        assert!(err.contains("names no host"), "{err}");
        let (_dir, s) = settings("postgresql://u:p@db.example.com/tg?bogus_option=1");
        let err = client_config(&s).unwrap_err().to_string();
        assert!(
            err.contains("does not hold a PostgreSQL connection string"),
            "{err}"
        );
    }

    #[test]
    fn a_ca_file_others_can_write_is_refused() {
        let (dir, mut s) = settings("postgresql://u:p@db.example.com/tg");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o666)).unwrap();
        s.ca_file = Some(ca.clone());
        let err = tls(&s).err().unwrap().to_string();
        assert!(
            err.contains("`postgres_ca_file`") && err.contains("refused"),
            "{err}"
        );
        std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = tls(&s).err().unwrap().to_string();
        assert!(
            err.contains("no usable CERTIFICATE") || err.contains("PEM"),
            "{err}"
        );
    }
}
