//! The command line: `serve`, `enroll`, `revoke`, `list`, `store copy`, the fleet's `lock`,
//! `unlock`, `reset`, `status`, and the host agents' `task add|list`.

use crate::audit::{self, Event, Sink};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, StoreKind};
use crate::fleet::cli as fleet_cli;
use crate::secret::Secret;
use crate::server;
use crate::store::{self, ProtectStore};
use crate::tasks::cli as tasks_cli;
use crate::totp;
use clap::{Parser, Subcommand};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/ticketgate-server/server.toml";

/// Exit status when the configuration or a file it names is refused (sysexits EX_CONFIG); the
/// systemd unit does not restart on it.
pub const EXIT_CONFIG: u8 = 78;

/// ticketgate-server: the login-protect server of pam_ticketgate (protocol v1).
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the v1 protocol and the unlock page until SIGTERM.
    Serve,
    /// Create USER's TOTP secret; prints the otpauth:// URI and a QR code to scan. With
    /// --code, prints a one-time enrollment code instead: the user redeems it on the unlock
    /// page, where the server draws the secret (this terminal never sees it).
    Enroll {
        /// Only unlock this service ID (default: any service ID).
        #[arg(long, value_name = "ID")]
        service_id: Option<String>,
        /// Issue a one-time enrollment code for the user to redeem on the unlock page (it
        /// replaces an older pending one; dead after 5 wrong tries).
        #[arg(long)]
        code: bool,
        /// How long the enrollment code is good (e.g. 15m, 2h; at most 7 days).
        #[arg(
            long,
            value_name = "DURATION",
            requires = "code",
            default_value = "15m"
        )]
        ttl: String,
        /// The login name.
        user: String,
    },
    /// Delete USER's enrollment and any pending enrollment code (their codes stop working at
    /// once).
    Revoke {
        /// The login name.
        user: String,
    },
    /// List enrolled users and pending enrollment codes (never secrets or codes).
    List,
    /// Lock USER on every host of the fleet (every credential) until `unlock`.
    Lock {
        /// The login name.
        user: String,
    },
    /// Lift USER's fleet locks (admin and failures) and forget the failures.
    Unlock {
        /// The login name.
        user: String,
    },
    /// Forget USER's fleet failures and failures locks (an admin lock stays).
    Reset {
        /// The login name.
        user: String,
    },
    /// Show USER's fleet state; without USER, every user with failures or a lock.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The login name.
        user: Option<String>,
    },
    /// Manage the store itself.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Queue tasks for a host's agent and show where they stand ([agent] in the config).
    Task {
        #[command(subcommand)]
        action: TaskAction,
    },
}

/// What `task` does.
#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// Queue a task for a host's agent; prints the task's id. reset-password and
    /// verify-password read the password from standard input (a terminal: one line, not echoed;
    /// a pipe: its first line).
    Add {
        /// The [[host]] whose agent runs it.
        #[arg(long, value_name = "NAME")]
        host: String,
        /// How long the task stays valid: "1m" to "168h" (default: [agent] not_after).
        #[arg(long, value_name = "DURATION")]
        not_after: Option<String>,
        /// reset-password only: make a random 20-character password and print it once.
        #[arg(long)]
        generate: bool,
        /// What the agent does.
        #[arg(value_enum)]
        kind: TaskKind,
        /// The account on the host.
        user: String,
    },
    /// List the queued and finished tasks, newest first (overdue ones are expired first).
    List {
        /// Only this host's tasks.
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The task `task add` queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskKind {
    /// Set the password.
    ResetPassword,
    /// Compare a password with the account's: the result is match or mismatch.
    VerifyPassword,
    /// Lock the account (as ticketgate lock).
    Lock,
    /// Unlock it (as ticketgate unlock).
    Unlock,
    /// Make its user change the password at the next login (as ticketgate must-change).
    MustChange,
    /// End its sessions (as ticketgate terminate).
    Terminate,
}

impl TaskKind {
    fn kind(self) -> crate::tasks::Kind {
        use crate::tasks::Kind;
        match self {
            Self::ResetPassword => Kind::ResetPassword,
            Self::VerifyPassword => Kind::VerifyPassword,
            Self::Lock => Kind::Lock,
            Self::Unlock => Kind::Unlock,
            Self::MustChange => Kind::MustChange,
            Self::Terminate => Kind::Terminate,
        }
    }
}

/// What `store` does.
#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Copy every enrollment, with its last used code step, the fleet's counts, locks and
    /// remembered event ids, and the agents' tasks from one store to the other (the config
    /// gives both: data_dir and postgres_url_file). Unlock windows and wrong-code counts are
    /// not copied. Stop the servers first.
    Copy {
        /// The store to read.
        #[arg(long, value_enum)]
        from: Backend,
        /// The store to write; refused when it already holds enrollments, unless --force.
        #[arg(long, value_enum)]
        to: Backend,
        /// Add to a target that already holds enrollments (users already there are left as
        /// they are).
        #[arg(long)]
        force: bool,
    },
}

/// A store named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// SQLite under data_dir.
    Sqlite,
    /// PostgreSQL at postgres_url_file.
    Postgres,
}

/// Exit status of the fleet commands when the configuration is broken or has no `[fleet]`
/// (the module's CLI uses the same number).
pub const EXIT_CONFIG_BROKEN: u8 = 4;

/// Why a command failed, with the exit status it maps to.
#[derive(Debug)]
struct Failure {
    status: u8,
    message: String,
}

fn fail(status: u8, message: impl ToString) -> Failure {
    Failure {
        status,
        message: message.to_string(),
    }
}

fn from_fleet((status, message): (u8, String)) -> Failure {
    Failure { status, message }
}

fn name_ok(what: &str, value: &str) -> Result<(), Failure> {
    if value == store::ANY_SERVICE {
        return Err(fail(
            2,
            format!(
                "{what} \"*\" is the wildcard window's name; leave --service-id out to allow any"
            ),
        ));
    }
    if value.is_empty()
        || value.len() > crate::api::MAX_FIELD_LEN
        || value.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(fail(
            2,
            format!("{what} {value:?} must be 1-256 bytes without spaces or control characters"),
        ));
    }
    Ok(())
}

/// Runs the command line; the binary's `main` is only this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("ticketgate-server: {}", f.message);
            ExitCode::from(f.status)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let fleet_command = matches!(
        cli.command,
        Command::Lock { .. }
            | Command::Unlock { .. }
            | Command::Reset { .. }
            | Command::Status { .. }
            | Command::Task { .. }
    );
    let broken = if fleet_command {
        EXIT_CONFIG_BROKEN
    } else {
        EXIT_CONFIG
    };
    let mut config = Config::load(&cli.config).map_err(|e| fail(broken, e))?;
    let mut task_key = None;
    if !matches!(cli.command, Command::Serve) {
        let needs_db =
            config.store == StoreKind::Postgres || matches!(cli.command, Command::Store { .. });
        preload_postgres_url(&mut config, needs_db)?;
        // The key is root's: read it before the command takes the server's user.
        if let Command::Task {
            action: TaskAction::Add { kind, .. },
        } = &cli.command
            && kind.kind().carries_password()
        {
            task_key = Some(tasks_cli::load_key(&config).map_err(from_fleet)?);
        }
        // Files this command creates in data_dir must stay the server's (privileges.rs).
        crate::privileges::become_data_dir_owner(&config.data_dir).map_err(|e| fail(1, e))?;
    }
    match cli.command {
        Command::Serve => serve(&config),
        Command::Enroll {
            service_id,
            code: true,
            ttl,
            user,
        } => enroll_code(&config, service_id.as_deref(), &ttl, &user),
        Command::Enroll {
            service_id, user, ..
        } => enroll(&config, service_id.as_deref(), &user),
        Command::Revoke { user } => {
            let store = store::open(&config).map_err(|e| fail(1, e))?;
            if store.revoke(&user).map_err(|e| fail(1, e))? {
                println!("Revoked {user}.");
                Ok(())
            } else {
                Err(fail(
                    1,
                    format!(
                        "{user} is not enrolled and has no pending code (see `ticketgate-server list`)"
                    ),
                ))
            }
        }
        Command::List => list(&config),
        Command::Lock { user } => fleet_cli::lock(&config, &user).map_err(from_fleet),
        Command::Unlock { user } => fleet_cli::unlock(&config, &user).map_err(from_fleet),
        Command::Reset { user } => fleet_cli::reset(&config, &user).map_err(from_fleet),
        Command::Status { json, user } => {
            fleet_cli::status(&config, user.as_deref(), json).map_err(from_fleet)
        }
        Command::Store {
            action: StoreAction::Copy { from, to, force },
        } => copy(&config, from, to, force),
        Command::Task {
            action:
                TaskAction::Add {
                    host,
                    not_after,
                    generate,
                    kind,
                    user,
                },
        } => {
            let request = tasks_cli::AddRequest {
                host,
                kind: kind.kind(),
                user,
                not_after,
                generate,
            };
            tasks_cli::add(&config, task_key.as_ref(), &request).map_err(from_fleet)
        }
        Command::Task {
            action: TaskAction::List { host, json },
        } => tasks_cli::list(&config, host.as_deref(), json).map_err(from_fleet),
    }
}

/// An administrator's command runs outside the service, without `$CREDENTIALS_DIRECTORY`: a
/// `postgres_url_file = "credential:db_NAME"` is read from the file the unit loads it from
/// (`/etc/ticketgate-server/db/NAME`, root's), now, before the command takes the server's user.
/// A failure matters only to a command that uses the database (`needs_db`).
fn preload_postgres_url(config: &mut Config, needs_db: bool) -> Result<(), Failure> {
    let in_service =
        std::env::var_os(crate::credentials::DIRECTORY_VAR).is_some_and(|d| !d.is_empty());
    preload_from(
        config,
        needs_db,
        in_service,
        crate::credentials::unit_source,
    )
}

/// [`preload_postgres_url`] with the environment and the unit's layout given.
fn preload_from(
    config: &mut Config,
    needs_db: bool,
    in_service: bool,
    unit_source: impl Fn(&str) -> Option<PathBuf>,
) -> Result<(), Failure> {
    let Some(settings) = config.postgres.as_mut() else {
        return Ok(());
    };
    let Some(name) = crate::credentials::name(&settings.url_file) else {
        return Ok(());
    };
    let Some(source) = unit_source(name).filter(|_| !in_service) else {
        return Ok(());
    };
    match store::postgres::pool::read_url(&source, crate::hosts::secret_rule()) {
        Ok(text) => {
            settings.url_text = Some(crate::config::UrlText(text));
            Ok(())
        }
        Err(e) if needs_db => Err(fail(
            1,
            format!(
                "{e} (postgres_url_file names {PREFIX}{name}, which the unit loads from there; run this command as root)",
                PREFIX = crate::credentials::PREFIX
            ),
        )),
        Err(_) => Ok(()),
    }
}

fn open_backend(config: &Config, which: Backend) -> Result<Arc<dyn ProtectStore>, Failure> {
    let mut chosen = config.clone();
    chosen.store = match which {
        Backend::Sqlite => StoreKind::Sqlite,
        Backend::Postgres => StoreKind::Postgres,
    };
    store::open(&chosen).map_err(|e| fail(1, e))
}

fn copy(config: &Config, from: Backend, to: Backend, force: bool) -> Result<(), Failure> {
    if from == to {
        return Err(fail(2, "--from and --to name the same store"));
    }
    let source = open_backend(config, from)?;
    let target = open_backend(config, to)?;
    let (copied, codes) =
        store::copy(source.as_ref(), target.as_ref(), force).map_err(|e| fail(1, e))?;
    let total = source.count().map_err(|e| fail(1, e))?;
    println!(
        "Copied {copied} of {total} enrollment(s) from {} to {}.\nCopied {codes} pending enrollment code(s).",
        source.backend(),
        target.backend()
    );
    copy_fleet(config, source.as_ref(), target.as_ref())?;
    copy_tasks(config, source.as_ref(), target.as_ref())
}

/// The agents' tasks go too, their encrypted passwords as they are (the same task_key_file
/// opens them on the new store). A SQLite source without `tasks.sqlite3` is left alone.
fn copy_tasks(
    config: &Config,
    source: &dyn ProtectStore,
    target: &dyn ProtectStore,
) -> Result<(), Failure> {
    let file = config.data_dir.join(crate::tasks::sqlite::DB_FILE);
    if source.postgres_pool().is_none() && !file.exists() {
        println!(
            "No agent tasks to copy ({} does not exist).",
            file.display()
        );
        return Ok(());
    }
    let open = |s: &dyn ProtectStore| {
        crate::tasks::open(&config.data_dir, s)
            .map(|(store, _)| store)
            .map_err(|e| fail(1, e))
    };
    let rows = open(source)?.list(None).map_err(|e| fail(1, e))?;
    let added = open(target)?.import(&rows).map_err(|e| fail(1, e))?;
    println!("Copied {added} of {} agent task(s).", rows.len());
    Ok(())
}

/// The fleet's counts, locks and remembered event ids go with the enrollments (rows the target
/// already has are kept), so a user locked before the move stays locked after it and a host's
/// spooled event sent again counts nothing. A SQLite source that never held fleet state (no
/// `fleet.sqlite3`) is left alone rather than created.
fn copy_fleet(
    config: &Config,
    source: &dyn ProtectStore,
    target: &dyn ProtectStore,
) -> Result<(), Failure> {
    let fleet_file = config.data_dir.join(crate::fleet::sqlite::DB_FILE);
    if source.postgres_pool().is_none() && !fleet_file.exists() {
        println!(
            "No fleet state to copy ({} does not exist).",
            fleet_file.display()
        );
        return Ok(());
    }
    let open = |s: &dyn ProtectStore| {
        crate::fleet::open(&config.data_dir, s)
            .map(|(store, _)| store)
            .map_err(|e| fail(1, e))
    };
    let dump = open(source)?.export().map_err(|e| fail(1, e))?;
    let added = open(target)?.import(&dump).map_err(|e| fail(1, e))?;
    println!(
        "Copied the fleet's state: {} of {} count(s), {} of {} admin lock(s), {} of {} remembered event id(s).",
        added.counts,
        dump.counts.len(),
        added.admin_locks,
        dump.admin_locks.len(),
        added.events,
        dump.events.len()
    );
    Ok(())
}

fn serve(config: &Config) -> Result<(), Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let log: Arc<dyn Sink> = Arc::new(audit::Stderr);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(1, format!("cannot start the async runtime: {e}")))?;
    // Signals are caught from before the start line, so a SIGTERM right after it is a clean stop.
    let (mut term, mut int) = {
        let _in_runtime = runtime.enter();
        let term = signal(SignalKind::terminate())
            .map_err(|e| fail(1, format!("cannot catch SIGTERM: {e}")))?;
        let int = signal(SignalKind::interrupt())
            .map_err(|e| fail(1, format!("cannot catch SIGINT: {e}")))?;
        (term, int)
    };
    // Outside the runtime: opening PostgreSQL blocks.
    let prepared = server::prepare(config, Arc::clone(&clock), Arc::clone(&log))
        .map_err(|e| fail(if e.is_config() { EXIT_CONFIG } else { 1 }, e))?;
    crate::systemd::notify_or_log(crate::systemd::READY, log.as_ref(), clock.now());
    let store = prepared.store();
    let stop_log = Arc::clone(&log);
    let shutdown = async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        Event::new("shutdown", clock.now())
            .field("stage", "signal")
            .field("signal", name)
            .emit(stop_log.as_ref());
        crate::systemd::notify_or_log(crate::systemd::STOPPING, stop_log.as_ref(), clock.now());
    };
    let served = runtime
        .block_on(prepared.run(shutdown))
        .map_err(|e| fail(1, format!("server failed: {e}")));
    drop(runtime);
    // The last reference to a PostgreSQL pool: its clients close outside the runtime.
    drop(store);
    served
}

fn enroll(config: &Config, service_id: Option<&str>, user: &str) -> Result<(), Failure> {
    name_ok("user", user)?;
    if let Some(id) = service_id {
        name_ok("service ID", id)?;
    }
    let secret = Secret::random(totp::SECRET_LEN)
        .map_err(|e| fail(1, format!("cannot draw random bytes: {e}")))?;
    let store = store::open(config).map_err(|e| fail(1, e))?;
    store
        .enroll(user, service_id, &secret, SystemClock.now())
        .map_err(|e| fail(1, e))?;
    let account = match service_id {
        Some(id) => format!("{user}@{id}"),
        None => user.to_owned(),
    };
    let uri = totp::otpauth_uri(&secret, &config.issuer, &account);
    let qr = QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<Dense1x2>()
                .dark_color(Dense1x2::Light)
                .light_color(Dense1x2::Dark)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_else(|_| {
            "(the URI is too long for a QR code; type the secret instead)".to_owned()
        });
    let grouped: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
        totp::secret_base32(&secret)
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    );
    println!(
        "Enrolled {user} for {}.\nScan this QR code with an authenticator app (TOTP, SHA-1, 30 s, 6 digits):\n\n{qr}\n\n{}\nSecret for typing in by hand: {}\n",
        service_id.map_or_else(
            || "any service ID".to_owned(),
            |id| format!("service ID {id}")
        ),
        uri.as_str(),
        grouped.as_str(),
    );
    Ok(())
}

/// `enroll --code`: a one-time code for the user to redeem on the page; only its hash is stored.
fn enroll_code(
    config: &Config,
    service_id: Option<&str>,
    ttl: &str,
    user: &str,
) -> Result<(), Failure> {
    use crate::enroll_code as ec;
    name_ok("user", user)?;
    if let Some(id) = service_id {
        name_ok("service ID", id)?;
    }
    let ttl = crate::config::parse_duration(ttl)
        .filter(|d| !d.is_zero() && *d <= ec::MAX_TTL)
        .ok_or_else(|| {
            fail(
                2,
                format!("--ttl {ttl:?}: give a duration such as 15m or 2h, at most 7 days"),
            )
        })?;
    let code = ec::generate().map_err(|e| fail(1, format!("cannot draw random bytes: {e}")))?;
    let store = store::open(config).map_err(|e| fail(1, e))?;
    let now = SystemClock.now();
    let expires = now + ttl;
    store
        .issue_code(user, service_id, &ec::hash(&code), now, expires)
        .map_err(|e| fail(1, e))?;
    let expires_text = audit::rfc3339(expires);
    Event::new("enroll_code_issued", now)
        .field("user", user)
        .field("service_id", service_id.unwrap_or(store::ANY_SERVICE))
        .field("expires", &expires_text)
        .emit(&audit::Stderr);
    println!(
        "Enrollment code for {user} ({}), good until {expires_text} and for one enrollment:\n\n    {}\n\n\
         Give it to {user} over a channel you trust. On the unlock page they choose \"Enroll\", type\n\
         their user name and this code, scan the QR code the page shows and confirm with the first\n\
         6-digit code. Until then anyone holding the code can enroll as {user}; \
         `ticketgate-server revoke {user}` kills it.",
        service_id.map_or_else(
            || "any service ID".to_owned(),
            |id| format!("service ID {id}")
        ),
        code.as_str(),
    );
    Ok(())
}

fn list(config: &Config) -> Result<(), Failure> {
    let store = store::open(config).map_err(|e| fail(1, e))?;
    let all = store.list().map_err(|e| fail(1, e))?;
    println!(
        "{:<24} {:<20} {:<24} LAST CODE ACCEPTED",
        "USER", "SERVICE ID", "ENROLLED (UTC)"
    );
    for e in &all {
        let enrolled = audit::rfc3339(UNIX_EPOCH + Duration::from_secs(e.created));
        let last = e.last_step.map_or_else(
            || "never".to_owned(),
            |s| audit::rfc3339(UNIX_EPOCH + Duration::from_secs(s.saturating_mul(totp::STEP_SECS))),
        );
        println!(
            "{:<24} {:<20} {:<24} {last}",
            e.user,
            e.service_id.as_deref().unwrap_or("*"),
            enrolled
        );
    }
    println!("{} enrolled", all.len());
    let pending = store.pending_codes().map_err(|e| fail(1, e))?;
    if !pending.is_empty() {
        println!(
            "\n{:<24} {:<20} {:<24} STATE",
            "PENDING CODE FOR", "SERVICE ID", "EXPIRES (UTC)"
        );
        let now = crate::clock::since_epoch(SystemClock.now()).as_secs();
        for c in &pending {
            let state = if now >= c.expires {
                "expired".to_owned()
            } else if c.tries >= crate::enroll_code::MAX_TRIES {
                format!("dead ({} wrong tries)", c.tries)
            } else if c.redeemed {
                "redeemed, waiting for the first code".to_owned()
            } else {
                "issued".to_owned()
            };
            println!(
                "{:<24} {:<20} {:<24} {state}",
                c.user,
                c.service_id.as_deref().unwrap_or("*"),
                audit::rfc3339(UNIX_EPOCH + Duration::from_secs(c.expires))
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn an_admin_command_reads_the_db_credential_from_the_units_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let url = "postgresql://u:s3cret@db.example.com/tg";
        let file = dir.path().join("postgres.url");
        std::fs::write(&file, format!("{url}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = Config::parse(
            &dir.path().join("server.toml"),
            "listen = \"127.0.0.1:0\"\ndata_dir = \"/var/lib/tg\"\nstore = \"postgres\"\n\
             postgres_url_file = \"credential:db_postgres.url\"\n\
             [[host]]\nname = \"web01\"\ntoken_file = \"credential:hosts_web01.token\"\n",
        )
        .unwrap();
        let there = |name: &str| (name == "db_postgres.url").then(|| file.clone());
        let text = |c: &Config| {
            c.postgres
                .as_ref()
                .and_then(|p| p.url_text.as_ref())
                .map(|t| t.0.to_string())
        };
        // Outside the service: read from the unit's source file, never shown by Debug.
        let mut outside = config.clone();
        preload_from(&mut outside, true, false, there).unwrap();
        assert_eq!(text(&outside).as_deref(), Some(url));
        assert!(!format!("{outside:?}").contains("s3cret"));
        // Inside the service the credential is read from $CREDENTIALS_DIRECTORY as usual.
        let mut inside = config.clone();
        preload_from(&mut inside, true, true, there).unwrap();
        assert_eq!(text(&inside), None);
        // Unreadable (others may read it): refused when the command needs the database only.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut refused = config.clone();
        let err = preload_from(&mut refused, true, false, there).unwrap_err();
        assert_eq!(err.status, 1);
        assert!(
            err.message.contains("credential:db_postgres.url") && !err.message.contains("s3cret"),
            "{}",
            err.message
        );
        let mut ignored = config;
        preload_from(&mut ignored, false, false, there).unwrap();
        assert_eq!(text(&ignored), None);
    }

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn systemd_unit_starts_serve_with_the_default_config() {
        let unit = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../conf/ticketgate-server.service"
        ))
        .unwrap();
        assert!(
            unit.contains(&format!("--config {DEFAULT_CONFIG} serve")),
            "ExecStart drifted from the CLI"
        );
        assert!(unit.contains("RestartPreventExitStatus=78"));
        assert_eq!(EXIT_CONFIG, 78);
    }
}
