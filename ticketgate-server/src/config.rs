//! The server's TOML configuration: raw serde structs resolved into checked values in one step.

use crate::fleet::{self, FleetPolicy};
use crate::tasks::{self, AgentSettings};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Shortest accepted `unlock_window`.
pub const MIN_UNLOCK_WINDOW: Duration = Duration::from_secs(1);
/// Longest accepted `unlock_window`.
pub const MAX_UNLOCK_WINDOW: Duration = Duration::from_secs(3600);
/// `unlock_window` when the file does not set it (PassLogic: 60 s).
pub const DEFAULT_UNLOCK_WINDOW: Duration = Duration::from_secs(60);

/// Why a configuration file was refused.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file, or a directory leading to it, is not one only root (or the server's user) can
    /// have written: anyone could point the server elsewhere.
    Untrusted {
        path: PathBuf,
        refused: fs_trust::Refused,
    },
    /// TOML syntax, an unknown key or a wrong type (the message names key and line).
    Parse { path: PathBuf, message: String },
    /// A value parsed but is not acceptable.
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => {
                write!(f, "cannot read config {}: {source}", path.display())
            }
            Self::Untrusted { path, refused } => {
                write!(f, "config {} refused: {refused}", path.display())
            }
            Self::Parse { path, message } => {
                write!(f, "config {}: {}", path.display(), message.trim_end())
            }
            Self::Invalid { path, key, message } => {
                write!(f, "config {}: `{key}`: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    metrics_listen: Option<String>,
    data_dir: PathBuf,
    unlock_window: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    issuer: Option<String>,
    fleet: Option<RawFleet>,
    agent: Option<RawAgent>,
    store: Option<String>,
    postgres_url_file: Option<PathBuf>,
    postgres_ca_file: Option<PathBuf>,
    #[serde(default)]
    host: Vec<RawHost>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: String,
    token_file: PathBuf,
    service_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    failed_logon: Option<i64>,
    reset_failed_after: Option<String>,
    lockout_duration: Option<String>,
    lock_root: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    task_key_file: Option<PathBuf>,
    interval: Option<String>,
    not_after: Option<String>,
}

/// One key of the server's file, for ticketgate-server(8); a test holds it to `RawConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// `""` for the top level, `"host"` for a `[[host]]` table, `"fleet"` for `[fleet]`,
    /// `"agent"` for `[agent]`.
    pub table: &'static str,
    pub key: &'static str,
    /// A TOML value, or `required` / `none`.
    pub default: &'static str,
    pub doc: &'static str,
}

/// Every key the server reads, top level first.
pub const KEYS: &[KeyDoc] = &[
    KeyDoc {
        table: "",
        key: "listen",
        default: "required",
        doc: "Address and port to listen on, such as \"[::]:8443\"; \"127.0.0.1:0\" picks a free port and logs it.",
    },
    KeyDoc {
        table: "",
        key: "metrics_listen",
        default: "off",
        doc: "Address and port of a second listener that answers only GET /metrics (Prometheus \
              text format: attempts, unlocks, wrong codes, rate-limited, store errors, request \
              latency); unauthenticated, so keep it on loopback or a management network.",
    },
    KeyDoc {
        table: "",
        key: "data_dir",
        default: "required",
        doc: "Directory of the enrollment store (enrollments.sqlite3, mode 0600); it and the \
              directories leading to it must not be writable by group or others.",
    },
    KeyDoc {
        table: "",
        key: "unlock_window",
        default: "\"60s\"",
        doc: "How long an unlock stays usable: \"1s\" to \"1h\" (units s, m, h).",
    },
    KeyDoc {
        table: "",
        key: "tls_cert",
        default: "none",
        doc: "TLS certificate chain (PEM), leaf first. Set both tls_cert and tls_key or neither; \
              without them the server speaks plain HTTP, so keep it on loopback or behind a TLS proxy. \
              Owned by root (or the server's user) and not writable by group or others; or \
              \"credential:NAME\", a systemd credential.",
    },
    KeyDoc {
        table: "",
        key: "tls_key",
        default: "none",
        doc: "The TLS private key (PEM: PKCS#8, PKCS#1 or SEC1), mode 0600; or \
              \"credential:tls_privkey.pem\", a systemd credential.",
    },
    KeyDoc {
        table: "",
        key: "issuer",
        default: "\"ticketgate\"",
        doc: "The name authenticator apps show beside the account, and the unlock page's \
              title and heading; no ':'.",
    },
    KeyDoc {
        table: "",
        key: "store",
        default: "\"sqlite\"",
        doc: "Where enrollments, used codes, unlock windows, wrong-code counts and the fleet's \
              failure counts and locks live: \"sqlite\" (embedded, under data_dir, one server \
              process) or \"postgres\" (postgres_url_file; every piece of shared state in the \
              database, so any number of replicas behind a load balancer act as one server and \
              count one fleet).",
    },
    KeyDoc {
        table: "",
        key: "postgres_url_file",
        default: "none",
        doc: "File holding the PostgreSQL connection string (postgresql://user:password@host/db or \
              key=value form), root-owned (or the server's user), mode 0600 or stricter; or \
              \"credential:db_NAME\": the file /etc/ticketgate-server/db/NAME that the unit loads \
              as a systemd credential (the server's user cannot read root's files). TLS is \
              always used and the server's certificate verified against the system bundle or \
              postgres_ca_file; sslmode=disable is accepted only for a loopback host or a Unix socket. \
              Required with store = \"postgres\"; also read by store copy.",
    },
    KeyDoc {
        table: "",
        key: "postgres_ca_file",
        default: "none",
        doc: "CA certificate(s) (PEM) that sign the PostgreSQL server's certificate, for a private CA; \
              without it the system bundle (/etc/ssl/certs/ca-certificates.crt) is used.",
    },
    KeyDoc {
        table: "host",
        key: "name",
        default: "required",
        doc: "The host's name, logged with each attempt its token authenticates; unique.",
    },
    KeyDoc {
        table: "host",
        key: "token_file",
        default: "required",
        doc: "File holding the host's bearer token: root-owned (or the server's user), mode 0600 \
              or stricter; the token is its first line without surrounding white space, at least \
              16 characters (the module reads its secret_file by the same rule). Or \
              \"credential:hosts_NAME.token\": the file /etc/ticketgate-server/hosts/NAME.token \
              that the unit loads as a systemd credential.",
    },
    KeyDoc {
        table: "host",
        key: "service_ids",
        default: "none",
        doc: "The service IDs this host may ask about (and use up unlocks of) through /v1/attempt, \
              such as [\"web-prod-01\"]; another one is refused with 403 and logged. Without it the \
              host may use any service ID (the server warns at start): set it on every host.",
    },
    KeyDoc {
        table: "fleet",
        key: "failed_logon",
        default: "3",
        doc: "Fleet mode (the [fleet] table turns on /v1/fleet/*): failed logons of one user and \
              credential, on any host, that lock the user on every host; 0 to 100, 0 = never lock \
              (failures are still counted).",
    },
    KeyDoc {
        table: "fleet",
        key: "reset_failed_after",
        default: "\"30m\"",
        doc: "Failures add up while each comes less than this after the previous one counted; then \
              the count starts again. \"1m\" to \"120m\" (units s, m, h).",
    },
    KeyDoc {
        table: "fleet",
        key: "lockout_duration",
        default: "\"30m\"",
        doc: "How long a lock set by failures lasts: \"0m\" to \"1440m\"; \"0m\" = until \
              ticketgate-server unlock or reset.",
    },
    KeyDoc {
        table: "fleet",
        key: "lock_root",
        default: "false",
        doc: "Whether root can be locked by failures (its failures are counted either way; \
              ticketgate-server lock applies to root too).",
    },
    KeyDoc {
        table: "agent",
        key: "task_key_file",
        default: "required",
        doc: "Host agents (the [agent] table turns on POST /v1/agent/poll and task add): the file \
              holding the 32-byte key that encrypts the passwords of queued tasks, its first line \
              in base64 or hex, by the token files' rule (root-owned or the server's user's, \
              mode 0600 or stricter). Make one with (umask 077; head -c 32 /dev/urandom | base64 \
              > /etc/ticketgate-server/task.key); or \"credential:task_key\", the credential the \
              unit's LoadCredential=task_key:/etc/ticketgate-server/task.key line loads. Every \
              replica, and task add, need the same key.",
    },
    KeyDoc {
        table: "agent",
        key: "interval",
        default: "\"60s\"",
        doc: "How often agents should poll, told to them in every answer: \"1s\" to \"1h\" (an \
              agent never polls faster than its own interval; a longer one here slows it down).",
    },
    KeyDoc {
        table: "agent",
        key: "not_after",
        default: "\"1h\"",
        doc: "How long a queued task stays valid when task add gives no --not-after: \"1m\" to \
              \"168h\"; after it the task is never handed out and is listed expired.",
    },
];

/// TLS certificate chain and key files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Which backend holds the shared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// SQLite under `data_dir`; unlock windows and counters in memory.
    Sqlite,
    /// PostgreSQL: everything in the database.
    Postgres,
}

impl StoreKind {
    /// The config's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Where PostgreSQL is: the secret file with the connection string, and an optional private CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// The file holding the connection string (mode 0600 or stricter), or `credential:NAME`.
    pub url_file: PathBuf,
    /// PEM CA certificates for the database server's certificate; the system bundle when absent.
    pub ca_file: Option<PathBuf>,
    /// The connection string already read (by an administrator's command, as root, before it
    /// takes the server's user); `None`: read `url_file` when connecting.
    pub url_text: Option<UrlText>,
}

/// A connection string held in memory: zeroed on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlText(pub zeroize::Zeroizing<String>);

impl std::fmt::Debug for UrlText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlText(..)")
    }
}

/// One host whose module may call `/v1/attempt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// The name logged with each attempt this host's token authenticates.
    pub name: String,
    /// The file holding the host's bearer token (root-owned, mode 0600 or stricter).
    pub token_file: PathBuf,
    /// The service IDs this host may use on `/v1/attempt`; `None` = any (warned at start).
    pub service_ids: Option<Vec<String>>,
}

/// The resolved configuration; nothing downstream re-checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:0` picks a free port, logged at start).
    pub listen: SocketAddr,
    /// Where `/metrics` is served; `None` = off.
    pub metrics_listen: Option<SocketAddr>,
    /// Directory of the enrollment store.
    pub data_dir: PathBuf,
    /// How long an unlock stays usable.
    pub unlock_window: Duration,
    /// TLS files; plain HTTP when absent.
    pub tls: Option<TlsFiles>,
    /// The issuer authenticator apps show next to the account.
    pub issuer: String,
    /// Hosts allowed to call `/v1/attempt`.
    pub hosts: Vec<HostEntry>,
    /// The fleet lockout policy; `None` = fleet mode off (`/v1/fleet/*` answer 404).
    pub fleet: Option<FleetPolicy>,
    /// Host agents' settings; `None` = off (`/v1/agent/poll` answers 404).
    pub agent: Option<AgentSettings>,
    /// The backend `serve` uses.
    pub store: StoreKind,
    /// PostgreSQL's location when configured (required by `store = "postgres"`).
    pub postgres: Option<PostgresSettings>,
}

/// Parses a duration such as `60s`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

impl Config {
    /// Reads, checks and resolves a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut file =
            fs_trust::open(path, crate::hosts::public_rule()).map_err(|refused| match refused {
                fs_trust::Refused {
                    at: None,
                    problem: fs_trust::Problem::Io(source),
                } => ConfigError::Read {
                    path: path.to_owned(),
                    source,
                },
                refused => ConfigError::Untrusted {
                    path: path.to_owned(),
                    refused,
                },
            })?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text).map_err(|source| {
            ConfigError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        Self::parse(path, &text)
    }

    /// Resolves configuration text; `path` only names the file in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        // `credential:NAME` is a systemd credential, not a path: found at start (credentials.rs).
        let anchored = |p: PathBuf| {
            if p.is_relative() && crate::credentials::name(&p).is_none() {
                base.join(p)
            } else {
                p
            }
        };
        let file = |key: &str, p: PathBuf| {
            crate::credentials::check_setting(&p)
                .map(|()| anchored(p))
                .map_err(|e| invalid(key, e.to_string()))
        };

        let listen: SocketAddr = raw.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!(
                    "{:?} is not an address:port such as \"127.0.0.1:8443\" or \"[::]:8443\"",
                    raw.listen
                ),
            )
        })?;
        let metrics_listen = raw
            .metrics_listen
            .map(|m| {
                m.parse::<SocketAddr>().map_err(|_| {
                    invalid(
                        "metrics_listen",
                        format!("{m:?} is not an address:port such as \"127.0.0.1:9464\""),
                    )
                })
            })
            .transpose()?;
        let unlock_window = match raw.unlock_window {
            None => DEFAULT_UNLOCK_WINDOW,
            Some(text) => parse_duration(&text)
                .filter(|d| (MIN_UNLOCK_WINDOW..=MAX_UNLOCK_WINDOW).contains(d))
                .ok_or_else(|| {
                    invalid(
                        "unlock_window",
                        format!("{text:?} must be a duration from \"1s\" to \"1h\" (units s, m, h), e.g. \"60s\""),
                    )
                })?,
        };
        let tls = match (raw.tls_cert, raw.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: file("tls_cert", cert)?,
                key: file("tls_key", key)?,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "tls_key",
                    "tls_cert is set, so tls_key must be set too".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls_cert",
                    "tls_key is set, so tls_cert must be set too".into(),
                ));
            }
        };
        let issuer = raw.issuer.unwrap_or_else(|| "ticketgate".to_owned());
        if issuer.is_empty() || issuer.contains(':') || issuer.chars().any(char::is_control) {
            return Err(invalid(
                "issuer",
                "must be non-empty, without ':' or control characters".into(),
            ));
        }
        let store = match raw.store.as_deref() {
            None | Some("sqlite") => StoreKind::Sqlite,
            Some("postgres") => StoreKind::Postgres,
            Some(other) => {
                return Err(invalid(
                    "store",
                    format!("{other:?} is not \"sqlite\" or \"postgres\""),
                ));
            }
        };
        let postgres = match (raw.postgres_url_file, raw.postgres_ca_file) {
            (Some(url_file), ca_file) => Some(PostgresSettings {
                url_file: file("postgres_url_file", url_file)?,
                ca_file: ca_file.map(&anchored),
                url_text: None,
            }),
            (None, Some(_)) => {
                return Err(invalid(
                    "postgres_ca_file",
                    "is set without postgres_url_file".into(),
                ));
            }
            (None, None) => None,
        };
        if store == StoreKind::Postgres && postgres.is_none() {
            return Err(invalid(
                "postgres_url_file",
                "store = \"postgres\" needs postgres_url_file, a file holding the connection string"
                    .into(),
            ));
        }
        let mut hosts: Vec<HostEntry> = Vec::with_capacity(raw.host.len());
        for (i, h) in raw.host.into_iter().enumerate() {
            let key = format!("host[{i}].name");
            if h.name.is_empty() || h.name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(invalid(
                    &key,
                    "must be non-empty, without spaces or control characters".into(),
                ));
            }
            if hosts.iter().any(|other| other.name == h.name) {
                return Err(invalid(
                    &key,
                    format!(
                        "{:?} appears twice; each [[host]] needs its own name",
                        h.name
                    ),
                ));
            }
            if let Some(ids) = &h.service_ids {
                let key = format!("host[{i}].service_ids");
                if ids.is_empty() {
                    return Err(invalid(
                        &key,
                        "is empty, so this host could use no service ID; list them, or leave the key out to allow any".into(),
                    ));
                }
                if let Some(bad) = ids.iter().find(|id| {
                    id.is_empty()
                        || id.len() > crate::api::MAX_FIELD_LEN
                        || id.chars().any(|c| c.is_control() || c.is_whitespace())
                        || *id == crate::store::ANY_SERVICE
                }) {
                    return Err(invalid(
                        &key,
                        format!(
                            "{bad:?} must be 1-256 bytes without spaces or control characters, \
                             and not \"*\" (leave the key out to allow any service ID)"
                        ),
                    ));
                }
            }
            hosts.push(HostEntry {
                name: h.name,
                token_file: file(&format!("host[{i}].token_file"), h.token_file)?,
                service_ids: h.service_ids,
            });
        }
        let fleet = raw.fleet.map(|f| resolve_fleet(f, &invalid)).transpose()?;
        let agent = match raw.agent {
            None => None,
            Some(a) => {
                let Some(key) = a.task_key_file else {
                    return Err(invalid(
                        "agent.task_key_file",
                        "is required in [agent]: a file holding the 32-byte key that encrypts queued passwords".into(),
                    ));
                };
                let ranged = |key: &str,
                              text: Option<String>,
                              default,
                              (low, high),
                              range: &str| match text {
                    None => Ok(default),
                    Some(t) => parse_duration(&t)
                        .filter(|d| (low..=high).contains(d))
                        .ok_or_else(|| {
                            invalid(
                                key,
                                format!("{t:?} must be a duration from {range} (units s, m, h)"),
                            )
                        }),
                };
                Some(AgentSettings {
                    task_key_file: file("agent.task_key_file", key)?,
                    interval: ranged(
                        "agent.interval",
                        a.interval,
                        tasks::DEFAULT_INTERVAL,
                        tasks::INTERVAL,
                        "\"1s\" to \"1h\"",
                    )?,
                    not_after: ranged(
                        "agent.not_after",
                        a.not_after,
                        tasks::DEFAULT_NOT_AFTER,
                        tasks::NOT_AFTER,
                        "\"1m\" to \"168h\"",
                    )?,
                })
            }
        };
        Ok(Self {
            listen,
            metrics_listen,
            data_dir: anchored(raw.data_dir),
            unlock_window,
            tls,
            issuer,
            hosts,
            fleet,
            agent,
            store,
            postgres,
        })
    }
}

/// `[fleet]` with the module's ranges (its `[policy.NAME]` keys of the same names).
fn resolve_fleet(
    raw: RawFleet,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<FleetPolicy, ConfigError> {
    let defaults = FleetPolicy::default();
    let failed_logon = match raw.failed_logon {
        None => defaults.failed_logon,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n <= fleet::FAILED_LOGON_MAX)
            .ok_or_else(|| {
                invalid(
                    "fleet.failed_logon",
                    format!(
                        "{n} must be from 0 to {} (0 = never lock)",
                        fleet::FAILED_LOGON_MAX
                    ),
                )
            })?,
    };
    let (low, high) = fleet::RESET_FAILED_AFTER;
    let reset_failed_after = match raw.reset_failed_after {
        None => defaults.reset_failed_after,
        Some(text) => parse_duration(&text)
            .filter(|d| (low..=high).contains(d))
            .ok_or_else(|| {
                invalid(
                    "fleet.reset_failed_after",
                    format!("{text:?} must be a duration from \"1m\" to \"120m\" (units s, m, h)"),
                )
            })?,
    };
    let lockout_duration = match raw.lockout_duration {
        None => defaults.lockout_duration,
        Some(text) => {
            let d = parse_duration(&text)
                .filter(|d| *d <= fleet::LOCKOUT_DURATION_MAX)
                .ok_or_else(|| {
                    invalid(
                        "fleet.lockout_duration",
                        format!(
                            "{text:?} must be a duration from \"0m\" (until an administrator unlocks) to \"1440m\" (units s, m, h)"
                        ),
                    )
                })?;
            (!d.is_zero()).then_some(d)
        }
    };
    Ok(FleetPolicy {
        failed_logon,
        reset_failed_after,
        lockout_duration,
        lock_root: raw.lock_root.unwrap_or(defaults.lock_root),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/ticketgate/server.toml"), text)
    }

    const MINIMAL: &str =
        "listen = \"127.0.0.1:8443\"\ndata_dir = \"/var/lib/ticketgate-server\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.unlock_window, Duration::from_secs(60));
        assert_eq!(c.tls, None);
        assert_eq!(c.issuer, "ticketgate");
        assert!(c.hosts.is_empty());
    }

    #[test]
    fn hosts_and_relative_paths_resolve_beside_the_file() {
        let c = parse(&format!(
            "{MINIMAL}unlock_window = \"2m\"\ntls_cert = \"cert.pem\"\ntls_key = \"/k.pem\"\n[[host]]\nname = \"web01\"\ntoken_file = \"web01.token\"\n"
        ))
        .unwrap();
        assert_eq!(c.unlock_window, Duration::from_secs(120));
        assert_eq!(
            c.tls.unwrap().cert,
            PathBuf::from("/etc/ticketgate/cert.pem")
        );
        assert_eq!(
            c.hosts[0].token_file,
            PathBuf::from("/etc/ticketgate/web01.token")
        );
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = parse(&format!("{MINIMAL}unlock_windw = \"60s\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unlock_windw") && err.contains("line 3"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_window_and_half_tls_are_refused() {
        for (extra, key) in [
            ("unlock_window = \"0s\"", "unlock_window"),
            ("unlock_window = \"2h\"", "unlock_window"),
            ("unlock_window = \"60\"", "unlock_window"),
            ("tls_cert = \"c.pem\"", "tls_key"),
            ("listen = \"localhost\"", "listen"),
        ] {
            let text = if extra.starts_with("listen") {
                format!("{extra}\ndata_dir = \"/d\"\n")
            } else {
                format!("{MINIMAL}{extra}\n")
            };
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{extra}: {err}");
        }
    }

    #[test]
    fn store_is_sqlite_unless_postgres_is_asked_for_with_its_url_file() {
        assert_eq!(parse(MINIMAL).unwrap().store, StoreKind::Sqlite);
        let c = parse(&format!(
            "{MINIMAL}store = \"postgres\"\npostgres_url_file = \"pg.url\"\npostgres_ca_file = \"/ca.pem\"\n"
        ))
        .unwrap();
        assert_eq!(c.store, StoreKind::Postgres);
        assert_eq!(
            c.postgres,
            Some(PostgresSettings {
                url_file: PathBuf::from("/etc/ticketgate/pg.url"),
                ca_file: Some(PathBuf::from("/ca.pem")),
                url_text: None,
            })
        );
        for (extra, key) in [
            ("store = \"postgres\"", "postgres_url_file"),
            ("store = \"mysql\"", "store"),
            ("postgres_ca_file = \"/ca.pem\"", "postgres_ca_file"),
        ] {
            let err = parse(&format!("{MINIMAL}{extra}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`{key}`")), "{extra}: {err}");
        }
    }

    #[test]
    fn duplicate_host_names_are_refused() {
        let host = "[[host]]\nname = \"a\"\ntoken_file = \"/t\"\n";
        let err = parse(&format!("{MINIMAL}{host}{host}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("appears twice"), "{err}");
    }

    /// The field names of serde's "unknown field `x`, expected one of `a`, `b`" message.
    fn expected_fields(message: &str) -> std::collections::BTreeSet<String> {
        let (_, after) = message.split_once("expected").unwrap();
        after
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect()
    }

    #[test]
    fn keys_documents_exactly_what_the_parser_accepts() {
        let documented = |table: &str| -> std::collections::BTreeSet<String> {
            KEYS.iter()
                .filter(|k| k.table == table)
                .map(|k| k.key.to_string())
                .collect()
        };
        let top = parse(&format!("zz_undocumented = 1\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        let mut want = documented("");
        want.insert("host".into());
        want.insert("fleet".into());
        want.insert("agent".into());
        assert_eq!(expected_fields(&top), want, "{top}");
        let agent = parse(&format!("{MINIMAL}[agent]\nzz_undocumented = 1\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(expected_fields(&agent), documented("agent"), "{agent}");
        let fleet = parse(&format!("{MINIMAL}[fleet]\nzz_undocumented = 1\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(expected_fields(&fleet), documented("fleet"), "{fleet}");
        let host = parse(&format!(
            "{MINIMAL}[[host]]\nname = \"a\"\ntoken_file = \"/t\"\nzz_undocumented = 1\n"
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(expected_fields(&host), documented("host"), "{host}");
        // The documented defaults are the parser's.
        let plain = parse(MINIMAL).unwrap();
        for k in KEYS
            .iter()
            .filter(|k| k.table.is_empty() && k.default.starts_with('"'))
        {
            let with = parse(&format!("{MINIMAL}{} = {}\n", k.key, k.default)).unwrap();
            assert_eq!(plain, with, "{}: documented default {}", k.key, k.default);
        }
        let fleet_plain = parse(&format!("{MINIMAL}[fleet]\n")).unwrap();
        assert_eq!(fleet_plain.fleet, Some(FleetPolicy::default()));
        for k in KEYS.iter().filter(|k| k.table == "fleet") {
            let with = parse(&format!("{MINIMAL}[fleet]\n{} = {}\n", k.key, k.default)).unwrap();
            assert_eq!(
                fleet_plain, with,
                "fleet.{}: documented default {}",
                k.key, k.default
            );
        }
    }

    #[test]
    fn fleet_table_resolves_with_the_modules_ranges() {
        assert_eq!(parse(MINIMAL).unwrap().fleet, None);
        let c = parse(&format!(
            "{MINIMAL}[fleet]\nfailed_logon = 0\nreset_failed_after = \"2h\"\nlockout_duration = \"0m\"\nlock_root = true\n"
        ))
        .unwrap();
        assert_eq!(
            c.fleet,
            Some(FleetPolicy {
                failed_logon: 0,
                reset_failed_after: Duration::from_secs(7200),
                lockout_duration: None,
                lock_root: true,
            })
        );
        for (line, key) in [
            ("failed_logon = 101", "fleet.failed_logon"),
            ("failed_logon = -1", "fleet.failed_logon"),
            ("reset_failed_after = \"59s\"", "fleet.reset_failed_after"),
            ("reset_failed_after = \"121m\"", "fleet.reset_failed_after"),
            ("lockout_duration = \"1441m\"", "fleet.lockout_duration"),
            ("lockout_duration = \"30\"", "fleet.lockout_duration"),
        ] {
            let err = parse(&format!("{MINIMAL}[fleet]\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`{key}`")), "{line}: {err}");
        }
    }

    #[test]
    fn agent_table_needs_its_key_file_and_keeps_durations_in_range() {
        assert_eq!(parse(MINIMAL).unwrap().agent, None);
        let c = parse(&format!("{MINIMAL}[agent]\ntask_key_file = \"task.key\"\n")).unwrap();
        assert_eq!(
            c.agent,
            Some(AgentSettings {
                task_key_file: PathBuf::from("/etc/ticketgate/task.key"),
                interval: Duration::from_secs(60),
                not_after: Duration::from_secs(3600),
            })
        );
        let documented = parse(&format!(
            "{MINIMAL}[agent]\ntask_key_file = \"task.key\"\ninterval = \"60s\"\nnot_after = \"1h\"\n"
        ))
        .unwrap();
        assert_eq!(c, documented, "the documented defaults are the parser's");
        let c = parse(&format!(
            "{MINIMAL}[agent]\ntask_key_file = \"credential:task_key\"\ninterval = \"1s\"\nnot_after = \"168h\"\n"
        ))
        .unwrap();
        let a = c.agent.unwrap();
        assert_eq!(a.task_key_file, PathBuf::from("credential:task_key"));
        assert_eq!(a.interval, Duration::from_secs(1));
        assert_eq!(a.not_after, Duration::from_secs(7 * 24 * 3600));
        for (lines, key) in [
            ("interval = \"60s\"", "agent.task_key_file"),
            ("task_key_file = \"k\"\ninterval = \"0s\"", "agent.interval"),
            (
                "task_key_file = \"k\"\ninterval = \"61m\"",
                "agent.interval",
            ),
            (
                "task_key_file = \"k\"\nnot_after = \"59s\"",
                "agent.not_after",
            ),
            (
                "task_key_file = \"k\"\nnot_after = \"169h\"",
                "agent.not_after",
            ),
            ("task_key_file = \"credential:a/b\"", "agent.task_key_file"),
        ] {
            let err = parse(&format!("{MINIMAL}[agent]\n{lines}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`{key}`")), "{lines}: {err}");
        }
    }

    #[test]
    fn host_service_ids_are_kept_and_an_empty_list_is_refused() {
        let host = "[[host]]\nname = \"web01\"\ntoken_file = \"/t\"\n";
        let c = parse(&format!("{MINIMAL}{host}service_ids = [\"web\", \"db\"]\n")).unwrap();
        assert_eq!(
            c.hosts[0].service_ids,
            Some(vec!["web".to_owned(), "db".to_owned()])
        );
        assert_eq!(
            parse(&format!("{MINIMAL}{host}")).unwrap().hosts[0].service_ids,
            None
        );
        for bad in ["[]", "[\"\"]", "[\"a b\"]", "[\"web\", \"*\"]"] {
            let err = parse(&format!("{MINIMAL}{host}service_ids = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("`host[0].service_ids`"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(parse_duration("-5s"), None);
    }

    #[test]
    fn example_config_in_conf_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/server.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let c = Config::parse(&path, &text).unwrap();
        assert_eq!(c.unlock_window, Duration::from_secs(60));
        assert!(!c.hosts.is_empty());
        // Its commented [fleet] and [agent] tables, uncommented, are the defaults.
        let mut in_table = false;
        let uncommented: String = text
            .lines()
            .map(|l| {
                in_table = l == "# [fleet]"
                    || l == "# [agent]"
                    || (in_table && l.starts_with("# ") && l.contains(" = "));
                if in_table { &l[2..] } else { l }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = Config::parse(&path, &uncommented).unwrap();
        assert_eq!(c.fleet, Some(FleetPolicy::default()), "{uncommented}");
        assert_eq!(
            c.agent,
            Some(AgentSettings {
                task_key_file: PathBuf::from("credential:task_key"),
                interval: tasks::DEFAULT_INTERVAL,
                not_after: tasks::DEFAULT_NOT_AFTER,
            }),
            "{uncommented}"
        );
    }
}
