//! The configuration: TOML → raw structs (`raw`) → resolved types (here) in one step
//! (`resolve`, with each range and default read from the key table, `keys`).
//! Nothing downstream re-checks a value; a `Config` that exists is a valid one.

mod error;
mod file;
mod hosts;
pub mod keys;
mod raw;
mod resolve;
mod ticket;
mod units;
pub mod warnings;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;
pub use file::{check_public_file, read_secret_file};
pub use hosts::HostPatterns;
pub use ticket::{Auth, Condition, ConditionDoc, Expected, FromValue, Op, Ticket, TimeFormat};
pub use units::{format_duration, parse_duration};

use raw::RawConfig;
use resolve::{Resolver, line_of};

/// Where the module looks when no `config=` argument is given.
pub const DEFAULT_PATH: &str = "/etc/security/ticketgate.toml";

/// A fully checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub module: ModuleSettings,
    pub scopes: Vec<Scope>,
    pub ticket: Option<Ticket>,
    pub login_protect: Option<Protect>,
    /// `[fleet]`: the server that keeps one failure count and lock across hosts.
    pub fleet: Option<Fleet>,
    /// `[agent]`: the host agent (`ticketgate-agent`) and the server it polls.
    pub agent: Option<Agent>,
    pub offline: Offline,
}

/// `[module]`: where state lives and how failures behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSettings {
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub fail_delay: Duration,
    pub unprivileged: Unprivileged,
    /// What `preauth` does when a covered user's state cannot be written.
    pub state_unwritable: StateUnwritable,
    pub audit_file: Option<PathBuf>,
}

/// `state_unwritable`: while failures cannot be recorded, lockout cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateUnwritable {
    /// Refuse the login (default): no unlimited guesses while nothing is counted.
    Deny,
    /// Let it on, logged: availability before lockout.
    Allow,
}

/// What a caller that is not root gets when the module would need state or secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unprivileged {
    Ignore,
    Deny,
}

/// One `[[scope]]`, with its policies resolved.
#[derive(Debug, Clone)]
pub struct Scope {
    /// 1-based position in the file, for log lines.
    pub index: usize,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub services: Vec<String>,
    pub hosts: Option<HostPatterns>,
    pub policy_name: String,
    pub policy: Policy,
    pub pin_policy_name: String,
    pub pin_policy: Policy,
    pub ticket: bool,
    pub login_protect: bool,
    pub protect_service_id: Option<String>,
    /// Failures and locks are shared with the fleet through `[fleet]`.
    pub fleet: bool,
    /// `mode`: enforce the gates, or only report what they would refuse.
    pub mode: ScopeMode,
}

/// A scope's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScopeMode {
    /// Refuse, lock and count (default).
    #[default]
    Enforce,
    /// Every gate runs; what it would refuse is audited as `would_refuse`; the PAM result is
    /// what it would be without the module; enforce-mode state is never written.
    Report,
}

/// A Cisco-style credential policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Failures that hack-lock the account; 0 = no limit.
    pub failed_logon: u32,
    pub reset_failed_after: Duration,
    /// `None` = an administrator must unlock (`"0m"`).
    pub lockout_duration: Option<Duration>,
    pub min_length: u32,
    pub min_change_interval: Duration,
    /// `None` = never expires (`"0d"`).
    pub expires_after: Option<Duration>,
    pub expiry_warning: Duration,
    /// `None` = no inactivity lock (`"0d"`).
    pub inactive_after: Option<Duration>,
    pub history: u32,
    pub check_trivial: bool,
    pub lock_root: bool,
    pub local_users_only: bool,
}

impl Policy {
    /// The built-in `default` policy, used when `[policy.default]` is absent (and as the base
    /// every `[policy.NAME]` starts from): the defaults of the key table (`keys`), the ones
    /// ticketgate.toml(5) prints. A default the table lacks or that does not parse (caught by
    /// the table's tests) reads as the strictest value, never as "off".
    pub fn password_default() -> Self {
        const P: &str = "policy.NAME";
        let int = |k: &str, strict: u32| {
            keys::default_value(P, k)
                .and_then(|v| v.parse().ok())
                .unwrap_or(strict)
        };
        let duration = |k: &str| {
            keys::default_value(P, k).and_then(|v| parse_duration(v.trim_matches('"')).ok())
        };
        let flag = |k: &str, strict: bool| {
            keys::default_value(P, k)
                .and_then(|v| v.parse().ok())
                .unwrap_or(strict)
        };
        let nonzero = |k: &str| duration(k).filter(|d| !d.is_zero());
        Self {
            failed_logon: int("failed_logon", 1),
            reset_failed_after: duration("reset_failed_after").unwrap_or(Duration::from_secs(7200)),
            lockout_duration: nonzero("lockout_duration"),
            min_length: int("min_length", 64),
            min_change_interval: duration("min_change_interval").unwrap_or_default(),
            expires_after: nonzero("expires_after"),
            expiry_warning: duration("expiry_warning").unwrap_or_default(),
            inactive_after: nonzero("inactive_after"),
            history: int("history", 0),
            check_trivial: flag("check_trivial", true),
            lock_root: flag("lock_root", false),
            local_users_only: flag("local_users_only", false),
        }
    }

    /// The built-in `pin` policy: as `default`, but 4 digits long at the least.
    pub fn pin_default() -> Self {
        Self {
            min_length: 4,
            ..Self::password_default()
        }
    }
}

/// `[login_protect]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protect {
    pub url: url::Url,
    pub service_id: String,
    pub secret_file: PathBuf,
    pub timeout: Duration,
    pub wait_for_unlock: bool,
    pub disabled: bool,
}

/// `[fleet]`: the fleet lockout server (`ticketgate-server`), asked by scopes with `fleet = true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub url: url::Url,
    pub secret_file: PathBuf,
    pub timeout: Duration,
    /// Replaces the system trust roots for this server.
    pub ca_file: Option<PathBuf>,
}

/// `[agent]`: the host agent `ticketgate-agent`, which polls the server for tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub url: url::Url,
    /// This host's token (the same `[[host]]` token `[fleet]` uses).
    pub secret_file: PathBuf,
    /// Between two polls (jittered by the agent).
    pub interval: Duration,
    /// Replaces the system trust roots for this server.
    pub ca_file: Option<PathBuf>,
    /// The kinds of task the agent runs; any other is refused (`not_allowed`).
    pub tasks: Vec<TaskKind>,
}

/// A kind of task the server can queue for a host's agent (one definition, shared with the
/// server through `ticketgate-wire`).
pub use ticketgate_wire::TaskKind;

/// `[offline]`: what to do when a server cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offline {
    pub ticket: Vec<TicketFallback>,
    pub login_protect: ProtectFallback,
    pub fleet: FleetFallback,
    pub cached_for: Duration,
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketFallback {
    Cached,
    Breakglass,
    Allow,
    Deny,
}

/// `[offline] fleet`: while the fleet server is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetFallback {
    /// The host's own counting goes on; events are spooled for the server.
    Local,
    /// Refuse logins of fleet scopes.
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectFallback {
    Unlocked,
    Hybrid,
    Deny,
}

impl Config {
    /// Reads, checks ownership and mode, parses and resolves the file at `path`.
    ///
    /// The ownership and mode checks run on every call; the parse is done once per version of
    /// the file in this process (every hook of a login loads it: preauth, ticket, account, …).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_shared(path).map(|config| (*config).clone())
    }

    /// [`load`](Self::load) without a copy: every line of every login in this process shares
    /// the parsed file (and its compiled patterns, with their match caches) until the file
    /// changes. The path and the file are checked on every call all the same.
    pub fn load_shared(path: &Path) -> Result<std::sync::Arc<Self>, ConfigError> {
        Self::load_shared_with(path, false)
    }

    /// [`load_shared`](Self::load_shared); with `dirs_checked`, the directories leading to the
    /// file passed their checks earlier in this login (the PAM glue keeps that per handle) and
    /// only the file itself is checked again.
    pub fn load_shared_with(
        path: &Path,
        dirs_checked: bool,
    ) -> Result<std::sync::Arc<Self>, ConfigError> {
        type Cached = Option<(PathBuf, file::Version, std::sync::Arc<Config>)>;
        static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
        let trusted = file::Trusted::open_with(path, dirs_checked)?;
        let version = trusted.version;
        if let Ok(cache) = CACHE.lock()
            && let Some((p, v, config)) = cache.as_ref()
            && p == path
            && *v == version
        {
            return Ok(std::sync::Arc::clone(config));
        }
        let config = std::sync::Arc::new(Self::parse(path, &trusted.text(path)?)?);
        if let Ok(mut cache) = CACHE.lock() {
            *cache = Some((path.to_path_buf(), version, std::sync::Arc::clone(&config)));
        }
        Ok(config)
    }

    /// Parses and resolves config text (`path` is used only in messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        Resolver { path, text }.config(raw)
    }

    /// Every `*_file` secret the config names, with the key that names it.
    pub fn secret_files(&self) -> Vec<(&'static str, &Path)> {
        let mut out = Vec::new();
        if let Some(t) = &self.ticket {
            out.extend(t.secret_files());
        }
        if let Some(p) = &self.login_protect {
            out.push(("login_protect.secret_file", p.secret_file.as_path()));
        }
        if let Some(f) = &self.fleet {
            out.push(("fleet.secret_file", f.secret_file.as_path()));
        }
        if let Some(a) = &self.agent {
            out.push(("agent.secret_file", a.secret_file.as_path()));
        }
        out
    }

    /// Checks every secret file (root only: others cannot even see them).
    pub fn check_secrets(&self) -> Result<(), ConfigError> {
        self.secret_files()
            .into_iter()
            .try_for_each(|(key, file)| read_secret_file(&self.path, key, file).map(drop))
    }

    /// Every public file the config names and the module trusts (`ca_file`), with its key.
    pub fn public_files(&self) -> Vec<(&'static str, &Path)> {
        let ticket = self
            .ticket
            .iter()
            .filter_map(|t| t.ca_file.as_deref().map(|p| ("ticket.ca_file", p)));
        let fleet = self
            .fleet
            .iter()
            .filter_map(|f| f.ca_file.as_deref().map(|p| ("fleet.ca_file", p)));
        let agent = self
            .agent
            .iter()
            .filter_map(|a| a.ca_file.as_deref().map(|p| ("agent.ca_file", p)));
        ticket.chain(fleet).chain(agent).collect()
    }

    /// Checks every public file the config names (anyone can: they are readable).
    pub fn check_public_files(&self) -> Result<(), ConfigError> {
        self.public_files()
            .into_iter()
            .try_for_each(|(key, file)| check_public_file(&self.path, key, file))
    }
}

#[cfg(test)]
mod tests;
