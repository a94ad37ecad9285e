//! `serve`: binds the listener, loads host tokens, TLS and the store, accepts connections, and
//! shuts down gracefully when asked (SIGTERM / SIGINT in the binary).

use crate::api::Protect;
use crate::audit::{Event, Sink};
use crate::clock::Clock;
use crate::config::{Config, TlsFiles};
use crate::fleet::api::Fleet;
use crate::hosts::{HostTokens, TokenFileError, public_rule};
use crate::http::{App, handle};
use crate::store::{self, ProtectStore, StoreError};
use crate::tasks::api::Agent;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// How long open connections get to finish after a shutdown request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a client may take to send request headers (slow-loris guard).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `serve` refused to start.
#[derive(Debug)]
pub enum ServeError {
    /// A `[[host]]` token file was refused.
    Token(TokenFileError),
    /// No `[[host]]` table, so no module could ever call `/v1/attempt`.
    NoHosts,
    /// The TLS certificate or key could not be used.
    Tls { path: PathBuf, message: String },
    /// The enrollment store could not be opened.
    Store(StoreError),
    /// The fleet store could not be opened.
    Fleet(crate::fleet::FleetError),
    /// `[agent] task_key_file` was refused.
    TaskKey(crate::tasks::KeyError),
    /// The task store could not be opened.
    Tasks(crate::tasks::TaskError),
    /// The listen address could not be bound.
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(e) => e.fmt(f),
            Self::NoHosts => f.write_str(
                "no [[host]] table in the config: add one (name, token_file) per host whose pam_ticketgate may call /v1/attempt",
            ),
            Self::Tls { path, message } => write!(f, "TLS file {}: {message}", path.display()),
            Self::Store(e) => e.fmt(f),
            Self::Fleet(e) => e.fmt(f),
            Self::TaskKey(e) => e.fmt(f),
            Self::Tasks(e) => e.fmt(f),
            Self::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for ServeError {}

impl ServeError {
    /// True when the configuration (or a file it names) is at fault, so restarting cannot help;
    /// false for a database that could not be reached (it may be back in a moment).
    pub fn is_config(&self) -> bool {
        !matches!(
            self,
            Self::Store(StoreError::Postgres { .. })
                | Self::Fleet(crate::fleet::FleetError::Postgres { .. })
                | Self::Tasks(crate::tasks::TaskError::Postgres { .. })
        )
    }
}

/// A server ready to accept: every check done, the port bound.
pub struct Prepared {
    listener: std::net::TcpListener,
    /// The `/metrics` listener, when `metrics_listen` is set.
    metrics_listener: Option<std::net::TcpListener>,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    log: Arc<dyn Sink>,
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |path: &PathBuf, message: String| ServeError::Tls {
        path: path.clone(),
        message,
    };
    // Either may be a systemd credential (`credential:NAME`): read from where systemd put it.
    let located =
        |path: &PathBuf| crate::credentials::locate(path).map_err(|e| tls_err(path, e.to_string()));
    let key_rule = crate::credentials::secret_rule_for(&files.key);
    let files = &TlsFiles {
        cert: located(&files.cert)?,
        key: located(&files.key)?,
    };
    // The key may be read by nobody else; the certificate by anyone, but written by neither.
    fs_trust::check_file(&files.key, key_rule).map_err(|r| {
        let hint = match &r.problem {
            fs_trust::Problem::Io(e) => crate::credentials::permission_hint(e),
            _ => "",
        };
        tls_err(&files.key, format!("refused: {r}{hint}"))
    })?;
    fs_trust::check_file(&files.cert, public_rule())
        .map_err(|r| tls_err(&files.cert, format!("refused: {r}")))?;
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_err(&files.cert, format!("cannot read PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(&files.cert, "holds no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_err(&files.key, format!("cannot read a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            tls_err(
                &files.cert,
                format!("certificate and key do not fit together: {e}"),
            )
        })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Binds `metrics_listen` when set.
fn bind_metrics(config: &Config) -> Result<Option<std::net::TcpListener>, ServeError> {
    let Some(addr) = config.metrics_listen else {
        return Ok(None);
    };
    let bind_err = |source| ServeError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(bind_err)?;
    Ok(Some(listener))
}

/// Serves `/metrics` on its own listener until the runtime stops (plain HTTP: keep it on
/// loopback or a management network).
async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Arc<crate::metrics::Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service =
                service_fn(move |req| crate::http::handle_metrics(Arc::clone(&metrics), req));
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Does every check `serve` needs, opens the store and binds the port; nothing is accepted yet.
/// Call it outside an async runtime (the PostgreSQL client blocks).
pub fn prepare(
    config: &Config,
    clock: Arc<dyn Clock>,
    log: Arc<dyn Sink>,
) -> Result<Prepared, ServeError> {
    if config.hosts.is_empty() {
        return Err(ServeError::NoHosts);
    }
    let hosts = HostTokens::load(&config.hosts).map_err(ServeError::Token)?;
    // Read before anything is opened or bound: a missing, short or unsafe key stops the start.
    let task_key = config
        .agent
        .as_ref()
        .map(|a| crate::tasks::TaskKey::load(&a.task_key_file))
        .transpose()
        .map_err(ServeError::TaskKey)?;
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let store = store::open(config).map_err(ServeError::Store)?;
    let enrolled = store.count().map_err(ServeError::Store)?;
    let listener = std::net::TcpListener::bind(config.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let metrics_listener = bind_metrics(config)?;
    let now = clock.now();
    Event::new("listening", now)
        .field("addr", &addr.to_string())
        .field("tls", if tls.is_some() { "true" } else { "false" })
        .num("hosts", hosts.len())
        .field("store", store.backend())
        .num("enrolled", enrolled)
        .num("unlock_window_s", config.unlock_window.as_secs())
        .field("data_dir", &config.data_dir.display().to_string())
        .emit(log.as_ref());
    // After the listening line: its addr= is the first a reader of the log finds.
    if let Some(m) = metrics_listener.as_ref().and_then(|m| m.local_addr().ok()) {
        Event::new("metrics_listening", now)
            .field("metrics_addr", &m.to_string())
            .emit(log.as_ref());
    }
    if tls.is_none() {
        Event::new("warning", now)
            .field("reason", "plain_http")
            .field(
                "detail",
                "no tls_cert/tls_key: serve only on loopback or behind a TLS proxy",
            )
            .emit(log.as_ref());
    }
    for host in hosts.unrestricted() {
        Event::new("warning", now)
            .field("reason", "host_without_service_ids")
            .field("host", host)
            .field(
                "detail",
                "this host token may use any service ID on /v1/attempt; set [[host]] service_ids",
            )
            .emit(log.as_ref());
    }
    let fleet = match &config.fleet {
        None => Fleet::disabled(Arc::clone(&log)),
        Some(policy) => {
            // One `store` setting decides both: with PostgreSQL every replica counts in the
            // same rows.
            let (fleet_store, at) =
                crate::fleet::open(&config.data_dir, store.as_ref()).map_err(ServeError::Fleet)?;
            Event::new("fleet", now)
                .field("store", &at)
                .num("failed_logon", policy.failed_logon)
                .num("reset_failed_after_s", policy.reset_failed_after.as_secs())
                .num(
                    "lockout_duration_s",
                    policy.lockout_duration.map_or(0, |d| d.as_secs()),
                )
                .field("lock_root", if policy.lock_root { "true" } else { "false" })
                .emit(log.as_ref());
            Fleet::new(*policy, fleet_store, Arc::clone(&log))
        }
    };
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let agent = match (&config.agent, task_key) {
        (Some(settings), Some(key)) => {
            let (task_store, at) =
                crate::tasks::open(&config.data_dir, store.as_ref()).map_err(ServeError::Tasks)?;
            Event::new("agent", now)
                .field("store", &at)
                .num("interval_s", settings.interval.as_secs())
                .num("not_after_s", settings.not_after.as_secs())
                .emit(log.as_ref());
            Agent::new(
                key,
                settings.interval,
                task_store,
                Arc::clone(&log),
                Arc::clone(&metrics),
            )
        }
        _ => Agent::disabled(Arc::clone(&log), Arc::clone(&metrics)),
    };
    let protect = Protect {
        hosts,
        store,
        window: config.unlock_window,
        log: Arc::clone(&log),
        issuer: config.issuer.clone(),
    };
    Ok(Prepared {
        listener,
        metrics_listener,
        tls,
        app: Arc::new(App {
            protect: Arc::new(protect),
            fleet: Arc::new(fleet),
            agent: Arc::new(agent),
            clock,
            metrics,
        }),
        log,
    })
}

impl Prepared {
    /// The store, to be dropped by the caller after the async runtime: a PostgreSQL client
    /// closes its connection with a blocking call, which a runtime's own threads may not make.
    pub fn store(&self) -> Arc<dyn ProtectStore> {
        Arc::clone(&self.app.protect.store)
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets open requests finish (up to `SHUTDOWN_GRACE`).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        if let Some(m) = self.metrics_listener {
            let m = tokio::net::TcpListener::from_std(m)?;
            tokio::spawn(serve_metrics(m, Arc::clone(&self.app.metrics)));
        }
        let graceful = GracefulShutdown::new();
        let clock = Arc::clone(&self.app.clock);
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: say so, breathe, go on.
                    Event::new("error", clock.now())
                        .field("reason", "accept_failed")
                        .field("detail", &e.to_string())
                        .emit(self.log.as_ref());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let app = Arc::clone(&self.app);
            let watcher = graceful.watcher();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&app), Some(peer), req));
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT);
                match tls {
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        let _ = watcher.watch(conn).await;
                    }
                    Some(acceptor) => {
                        let Ok(Ok(tls_stream)) =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        else {
                            return;
                        };
                        let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                        let _ = watcher.watch(conn).await;
                    }
                }
            });
        }
        drop(listener);
        Event::new("shutdown", clock.now())
            .field("stage", "begin")
            .emit(self.log.as_ref());
        let finished = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_ok();
        Event::new("shutdown", clock.now())
            .field("stage", "done")
            .field("clean", if finished { "true" } else { "false" })
            .emit(self.log.as_ref());
        Ok(())
    }
}
