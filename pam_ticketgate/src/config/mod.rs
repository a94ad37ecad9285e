//! The configuration contract (DESIGN §4): TOML → raw structs → resolved types in one step.
//! Nothing downstream re-checks a value; a `Config` that exists is a valid one.

mod error;
mod file;
mod hosts;
pub mod keys;
mod raw;
mod ticket;
mod units;
pub mod warnings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;
pub use file::{check_public_file, read_secret_file};
pub use hosts::HostPatterns;
pub use ticket::{Auth, Condition, ConditionDoc, Expected, FromValue, Op, Ticket, TimeFormat};
pub use units::{format_duration, parse_duration};

use raw::{RawConfig, RawOffline, RawPolicy, RawProtect, RawScope};
use toml::Spanned;

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
    /// every `[policy.NAME]` starts from).
    pub fn password_default() -> Self {
        Self {
            failed_logon: 3,
            reset_failed_after: Duration::from_secs(30 * 60),
            lockout_duration: Some(Duration::from_secs(30 * 60)),
            min_length: 8,
            min_change_interval: Duration::ZERO,
            expires_after: None,
            expiry_warning: Duration::from_secs(14 * 86_400),
            inactive_after: None,
            history: 0,
            check_trivial: true,
            lock_root: false,
            local_users_only: false,
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

/// `[offline]`: what to do when a server cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offline {
    pub ticket: Vec<TicketFallback>,
    pub login_protect: ProtectFallback,
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
        type Cached = Option<(PathBuf, file::Version, std::sync::Arc<Config>)>;
        static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
        let trusted = file::Trusted::open(path)?;
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
        self.ticket
            .iter()
            .filter_map(|t| t.ca_file.as_deref().map(|p| ("ticket.ca_file", p)))
            .collect()
    }

    /// Checks every public file the config names (anyone can: they are readable).
    pub fn check_public_files(&self) -> Result<(), ConfigError> {
        self.public_files()
            .into_iter()
            .try_for_each(|(key, file)| check_public_file(&self.path, key, file))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// Turns raw values into resolved ones, turning each problem into an error that names key and line.
pub(crate) struct Resolver<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Resolver<'_> {
    pub(crate) fn err<T>(
        &self,
        key: &str,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: span.map(|s| line_of(self.text, s.start)),
            key: key.to_string(),
            message: message.into(),
        })
    }

    pub(crate) fn duration(&self, key: &str, v: &Spanned<String>) -> Result<Duration, ConfigError> {
        parse_duration(v.get_ref()).or_else(|m| self.err(key, Some(v.span()), m))
    }

    /// A duration that must lie in `[min, max]`; `what` describes the range in the message.
    pub(crate) fn duration_in(
        &self,
        key: &str,
        v: &Spanned<String>,
        min: Duration,
        max: Duration,
        what: &str,
    ) -> Result<Duration, ConfigError> {
        let d = self.duration(key, v)?;
        if d < min || d > max {
            return self.err(
                key,
                Some(v.span()),
                format!("\"{}\" is out of range ({what})", v.get_ref()),
            );
        }
        Ok(d)
    }

    pub(crate) fn int_in(
        &self,
        key: &str,
        v: &Spanned<i64>,
        min: i64,
        max: i64,
    ) -> Result<u32, ConfigError> {
        let n = *v.get_ref();
        if n < min || n > max {
            return self.err(
                key,
                Some(v.span()),
                format!("{n} is out of range {min}-{max}"),
            );
        }
        u32::try_from(n).or_else(|_| self.err(key, Some(v.span()), format!("{n} is out of range")))
    }

    pub(crate) fn abs_path(&self, key: &str, v: &Spanned<String>) -> Result<PathBuf, ConfigError> {
        let p = PathBuf::from(v.get_ref());
        if !p.is_absolute() {
            return self.err(
                key,
                Some(v.span()),
                format!("\"{}\" must be an absolute path", v.get_ref()),
            );
        }
        Ok(p)
    }

    pub(crate) fn url(&self, key: &str, v: &Spanned<String>) -> Result<url::Url, ConfigError> {
        let u = url::Url::parse(v.get_ref()).or_else(|e| {
            self.err(
                key,
                Some(v.span()),
                format!("\"{}\" is not a URL: {e}", v.get_ref()),
            )
        })?;
        let loopback = matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || u.host_str() == Some("localhost");
        match u.scheme() {
            "https" => Ok(u),
            "http" if loopback => Ok(u),
            "http" => self.err(
                key,
                Some(v.span()),
                "plain http:// is allowed only for loopback hosts; use https://",
            ),
            other => self.err(
                key,
                Some(v.span()),
                format!("scheme \"{other}\" is not supported; use https://"),
            ),
        }
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        if *raw.version.get_ref() != 1 {
            return self.err(
                "version",
                Some(raw.version.span()),
                format!(
                    "{} is not supported; this module reads version = 1",
                    raw.version.get_ref()
                ),
            );
        }
        let module = self.module(&raw.module)?;
        let mut policies = BTreeMap::new();
        policies.insert("default".to_string(), Policy::password_default());
        policies.insert("pin".to_string(), Policy::pin_default());
        for (name, p) in &raw.policy {
            let base = if name == "pin" {
                Policy::pin_default()
            } else {
                Policy::password_default()
            };
            policies.insert(name.clone(), self.policy(name, p.get_ref(), base)?);
        }
        let ticket = raw.ticket.as_ref().map(|t| self.ticket(t)).transpose()?;
        let login_protect = raw
            .login_protect
            .as_ref()
            .map(|p| self.protect(p.get_ref()))
            .transpose()?;
        let mut scopes = Vec::new();
        for (i, s) in raw.scope.iter().enumerate() {
            let scope = self.scope(i + 1, s, &policies)?;
            if scope.ticket && ticket.is_none() {
                return self.err(
                    &format!("scope[{}].ticket", i + 1),
                    Some(s.span()),
                    "is true but there is no [ticket] table",
                );
            }
            if scope.login_protect && login_protect.is_none() {
                return self.err(
                    &format!("scope[{}].login_protect", i + 1),
                    Some(s.span()),
                    "is true but there is no [login_protect] table",
                );
            }
            scopes.push(scope);
        }
        Ok(Config {
            path: self.path.to_path_buf(),
            module,
            scopes,
            ticket,
            login_protect,
            offline: self.offline(&raw.offline)?,
        })
    }

    fn module(&self, m: &raw::RawModule) -> Result<ModuleSettings, ConfigError> {
        let path_or = |key: &str, v: &Option<Spanned<String>>, default: &str| match v {
            Some(v) => self.abs_path(key, v),
            None => Ok(PathBuf::from(default)),
        };
        Ok(ModuleSettings {
            state_dir: path_or("module.state_dir", &m.state_dir, "/var/lib/ticketgate")?,
            run_dir: path_or("module.run_dir", &m.run_dir, "/run/ticketgate")?,
            fail_delay: match &m.fail_delay {
                Some(v) => self.duration_in(
                    "module.fail_delay",
                    v,
                    Duration::ZERO,
                    Duration::from_secs(60),
                    "0s-60s",
                )?,
                None => Duration::from_secs(2),
            },
            unprivileged: match m
                .unprivileged
                .as_ref()
                .map(|v| (v.get_ref().as_str(), v.span()))
            {
                None | Some(("ignore", _)) => Unprivileged::Ignore,
                Some(("deny", _)) => Unprivileged::Deny,
                Some((other, span)) => {
                    return self.err(
                        "module.unprivileged",
                        Some(span),
                        format!("\"{other}\" is not one of \"ignore\", \"deny\""),
                    );
                }
            },
            state_unwritable: match m
                .state_unwritable
                .as_ref()
                .map(|v| (v.get_ref().as_str(), v.span()))
            {
                None | Some(("deny", _)) => StateUnwritable::Deny,
                Some(("allow", _)) => StateUnwritable::Allow,
                Some((other, span)) => {
                    return self.err(
                        "module.state_unwritable",
                        Some(span),
                        format!("\"{other}\" is not one of \"deny\", \"allow\""),
                    );
                }
            },
            audit_file: m
                .audit_file
                .as_ref()
                .map(|v| self.abs_path("module.audit_file", v))
                .transpose()?,
        })
    }

    fn policy(&self, name: &str, p: &RawPolicy, base: Policy) -> Result<Policy, ConfigError> {
        let key = |k: &str| format!("policy.{name}.{k}");
        let min = |m: u64| Duration::from_secs(m * 60);
        let day = |d: u64| Duration::from_secs(d * 86_400);
        let opt_nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        let mut out = base;
        if let Some(v) = &p.failed_logon {
            out.failed_logon = self.int_in(&key("failed_logon"), v, 0, 100)?;
        }
        if let Some(v) = &p.reset_failed_after {
            out.reset_failed_after = self.duration_in(
                &key("reset_failed_after"),
                v,
                min(1),
                min(120),
                "1-120 minutes",
            )?;
        }
        if let Some(v) = &p.lockout_duration {
            out.lockout_duration = opt_nonzero(self.duration_in(
                &key("lockout_duration"),
                v,
                Duration::ZERO,
                min(1440),
                "0-1440 minutes; \"0m\" = until an administrator unlocks",
            )?);
        }
        if let Some(v) = &p.min_length {
            out.min_length = self.int_in(&key("min_length"), v, 0, 64)?;
        }
        if let Some(v) = &p.min_change_interval {
            out.min_change_interval = self.duration_in(
                &key("min_change_interval"),
                v,
                Duration::ZERO,
                min(129_600),
                "0-129600 minutes",
            )?;
        }
        if let Some(v) = &p.expires_after {
            out.expires_after = opt_nonzero(self.duration_in(
                &key("expires_after"),
                v,
                Duration::ZERO,
                day(365),
                "0-365 days; \"0d\" = never",
            )?);
        }
        if let Some(v) = &p.expiry_warning {
            out.expiry_warning = self.duration_in(
                &key("expiry_warning"),
                v,
                Duration::ZERO,
                day(90),
                "0-90 days",
            )?;
        }
        if let Some(v) = &p.inactive_after {
            out.inactive_after = opt_nonzero(self.duration_in(
                &key("inactive_after"),
                v,
                Duration::ZERO,
                day(5000),
                "0-5000 days; \"0d\" = off",
            )?);
        }
        if let Some(v) = &p.history {
            out.history = self.int_in(&key("history"), v, 0, 25)?;
        }
        out.check_trivial = p.check_trivial.unwrap_or(out.check_trivial);
        out.lock_root = p.lock_root.unwrap_or(out.lock_root);
        out.local_users_only = p.local_users_only.unwrap_or(out.local_users_only);
        Ok(out)
    }

    fn scope(
        &self,
        index: usize,
        s: &Spanned<RawScope>,
        policies: &BTreeMap<String, Policy>,
    ) -> Result<Scope, ConfigError> {
        let r = s.get_ref();
        let key = |k: &str| format!("scope[{index}].{k}");
        let pick = |k: &str,
                    v: &Option<Spanned<String>>,
                    default: &str|
         -> Result<(String, Policy), ConfigError> {
            let (name, span) = match v {
                Some(v) => (v.get_ref().clone(), Some(v.span())),
                None => (default.to_string(), Some(s.span())),
            };
            match policies.get(&name) {
                Some(p) => Ok((name, p.clone())),
                None => self.err(
                    &key(k),
                    span,
                    format!("policy \"{name}\" is not defined (add a [policy.{name}] table)"),
                ),
            }
        };
        let (policy_name, policy) = pick("policy", &r.policy, "default")?;
        let (pin_policy_name, pin_policy) = pick("pin_policy", &r.pin_policy, "pin")?;
        let hosts = match &r.hosts {
            Some(h) => Some(
                HostPatterns::parse(h.get_ref())
                    .or_else(|m| self.err(&key("hosts"), Some(h.span()), m))?,
            ),
            None => None,
        };
        for (k, list) in [
            ("users", &r.users),
            ("groups", &r.groups),
            ("services", &r.services),
        ] {
            if let Some(bad) = list
                .iter()
                .find(|x| x.is_empty() || x.chars().any(char::is_control))
            {
                return self.err(
                    &key(k),
                    Some(s.span()),
                    format!("{bad:?} is not a valid name"),
                );
            }
        }
        let protect_service_id = match &r.protect_service_id {
            Some(v) if v.get_ref().is_empty() => {
                return self.err(
                    &key("protect_service_id"),
                    Some(v.span()),
                    "must not be empty",
                );
            }
            Some(v) => Some(v.get_ref().clone()),
            None => None,
        };
        Ok(Scope {
            index,
            users: r.users.clone(),
            groups: r.groups.clone(),
            services: r.services.clone(),
            hosts,
            policy_name,
            policy,
            pin_policy_name,
            pin_policy,
            ticket: r.ticket,
            login_protect: r.login_protect,
            protect_service_id,
        })
    }

    fn protect(&self, p: &RawProtect) -> Result<Protect, ConfigError> {
        if p.service_id.get_ref().is_empty() {
            return self.err(
                "login_protect.service_id",
                Some(p.service_id.span()),
                "must not be empty",
            );
        }
        Ok(Protect {
            url: self.url("login_protect.url", &p.url)?,
            service_id: p.service_id.get_ref().clone(),
            secret_file: self.abs_path("login_protect.secret_file", &p.secret_file)?,
            timeout: match &p.timeout {
                Some(v) => self.duration_in(
                    "login_protect.timeout",
                    v,
                    Duration::from_secs(1),
                    Duration::from_secs(30),
                    "1s-30s",
                )?,
                None => Duration::from_secs(2),
            },
            wait_for_unlock: p.wait_for_unlock,
            disabled: p.disabled,
        })
    }

    fn offline(&self, o: &RawOffline) -> Result<Offline, ConfigError> {
        let ticket = match &o.ticket {
            None => vec![TicketFallback::Deny],
            Some(list) => {
                let mut out = Vec::new();
                for m in list.get_ref() {
                    out.push(match m.as_str() {
                        "cached" => TicketFallback::Cached,
                        "breakglass" => TicketFallback::Breakglass,
                        "allow" => TicketFallback::Allow,
                        "deny" => TicketFallback::Deny,
                        other => {
                            return self.err(
                                "offline.ticket",
                                Some(list.span()),
                                format!(
                                    "\"{other}\" is not one of cached, breakglass, allow, deny"
                                ),
                            );
                        }
                    });
                }
                if out.is_empty() {
                    return self.err(
                        "offline.ticket",
                        Some(list.span()),
                        "must name at least one mode (e.g. [\"deny\"])",
                    );
                }
                out
            }
        };
        let login_protect = match o
            .login_protect
            .as_ref()
            .map(|v| (v.get_ref().as_str(), v.span()))
        {
            None | Some(("deny", _)) => ProtectFallback::Deny,
            Some(("unlocked", _)) => ProtectFallback::Unlocked,
            Some(("hybrid", _)) => ProtectFallback::Hybrid,
            Some((other, span)) => {
                return self.err(
                    "offline.login_protect",
                    Some(span),
                    format!("\"{other}\" is not one of unlocked, hybrid, deny"),
                );
            }
        };
        Ok(Offline {
            ticket,
            login_protect,
            cached_for: match &o.cached_for {
                Some(v) => self.duration_in(
                    "offline.cached_for",
                    v,
                    Duration::ZERO,
                    Duration::from_secs(30 * 86_400),
                    "0s-30d",
                )?,
                None => Duration::from_secs(8 * 3600),
            },
            retry_after: match &o.retry_after {
                Some(v) => self.duration_in(
                    "offline.retry_after",
                    v,
                    Duration::ZERO,
                    Duration::from_secs(3600),
                    "0s-1h",
                )?,
                None => Duration::from_secs(30),
            },
        })
    }
}

#[cfg(test)]
mod tests;
