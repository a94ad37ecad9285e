//! Raw values → resolved types: every range and default comes from the key table (`keys`),
//! and each problem becomes an error that names the key and its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::keys::{self, DefaultValue, Range};
use super::raw::{
    self, RawAgent, RawConfig, RawFleet, RawOffline, RawPolicy, RawProtect, RawScope,
};
use super::*;

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// Turns raw values into resolved ones, turning each problem into an error that names key and line.
pub(crate) struct Resolver<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
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

    /// A duration within the range the key table gives `table`.`key` (the range the man page
    /// prints, written once); `shown` is the key as the message names it
    /// (`policy.admins.lockout_duration`).
    pub(crate) fn duration_key(
        &self,
        table: &str,
        key: &str,
        shown: &str,
        v: &Spanned<String>,
    ) -> Result<Duration, ConfigError> {
        let spec = keys::find(table, key);
        let Some(Range::Duration(lo, hi)) = spec.map(|k| k.range) else {
            return self.err(shown, Some(v.span()), "has no duration range (a bug)");
        };
        let (Ok(min), Ok(max)) = (parse_duration(lo), parse_duration(hi)) else {
            return self.err(shown, Some(v.span()), "has a broken duration range (a bug)");
        };
        let d = self.duration(shown, v)?;
        if d < min || d > max {
            let zero = spec
                .and_then(|k| k.zero)
                .map(|z| format!("; \"{lo}\" = {z}"))
                .unwrap_or_default();
            return self.err(
                shown,
                Some(v.span()),
                format!("\"{}\" is out of range ({lo}-{hi}{zero})", v.get_ref()),
            );
        }
        Ok(d)
    }

    /// The default the key table gives a duration key (the default the man page prints).
    pub(crate) fn default_duration(&self, table: &str, key: &str) -> Result<Duration, ConfigError> {
        match keys::find(table, key).map(|k| k.default) {
            Some(DefaultValue::Value(v)) => parse_duration(v.trim_matches('"')).or_else(|m| {
                self.err(
                    &format!("{table}.{key}"),
                    None,
                    format!("default: {m} (a bug)"),
                )
            }),
            _ => self.err(
                &format!("{table}.{key}"),
                None,
                "has no default duration (a bug)",
            ),
        }
    }

    /// An integer within the range the key table gives `table`.`key`.
    pub(crate) fn int_key(
        &self,
        table: &str,
        key: &str,
        shown: &str,
        v: &Spanned<i64>,
    ) -> Result<u32, ConfigError> {
        let Some(Range::Int(min, max)) = keys::find(table, key).map(|k| k.range) else {
            return self.err(shown, Some(v.span()), "has no integer range (a bug)");
        };
        let key = shown;
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

    pub(crate) fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
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
        let fleet = raw
            .fleet
            .as_ref()
            .map(|f| self.fleet(f.get_ref()))
            .transpose()?;
        let agent = raw
            .agent
            .as_ref()
            .map(|a| self.agent(a.get_ref()))
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
            if scope.fleet && fleet.is_none() {
                return self.err(
                    &format!("scope[{}].fleet", i + 1),
                    Some(s.span()),
                    "is true but there is no [fleet] table",
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
            fleet,
            agent,
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
                Some(v) => self.duration_key("module", "fail_delay", "module.fail_delay", v)?,
                None => self.default_duration("module", "fail_delay")?,
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
        const P: &str = "policy.NAME";
        let key = |k: &str| format!("policy.{name}.{k}");
        let opt_nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        let mut out = base;
        if let Some(v) = &p.failed_logon {
            out.failed_logon = self.int_key(P, "failed_logon", &key("failed_logon"), v)?;
        }
        if let Some(v) = &p.reset_failed_after {
            out.reset_failed_after =
                self.duration_key(P, "reset_failed_after", &key("reset_failed_after"), v)?;
        }
        if let Some(v) = &p.lockout_duration {
            out.lockout_duration = opt_nonzero(self.duration_key(
                P,
                "lockout_duration",
                &key("lockout_duration"),
                v,
            )?);
        }
        if let Some(v) = &p.min_length {
            out.min_length = self.int_key(P, "min_length", &key("min_length"), v)?;
        }
        if let Some(v) = &p.min_change_interval {
            out.min_change_interval =
                self.duration_key(P, "min_change_interval", &key("min_change_interval"), v)?;
        }
        if let Some(v) = &p.expires_after {
            out.expires_after =
                opt_nonzero(self.duration_key(P, "expires_after", &key("expires_after"), v)?);
        }
        if let Some(v) = &p.expiry_warning {
            out.expiry_warning =
                self.duration_key(P, "expiry_warning", &key("expiry_warning"), v)?;
        }
        if let Some(v) = &p.inactive_after {
            out.inactive_after =
                opt_nonzero(self.duration_key(P, "inactive_after", &key("inactive_after"), v)?);
        }
        if let Some(v) = &p.history {
            out.history = self.int_key(P, "history", &key("history"), v)?;
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
            Some(v) => match service_id_problem(v.get_ref()) {
                Some(problem) => {
                    return self.err(&key("protect_service_id"), Some(v.span()), problem);
                }
                None => Some(v.get_ref().clone()),
            },
            None => None,
        };
        let mode = match r.mode.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
            None | Some(("enforce", _)) => ScopeMode::Enforce,
            Some(("report", _)) => ScopeMode::Report,
            Some((other, span)) => {
                return self.err(
                    &key("mode"),
                    Some(span),
                    format!("\"{other}\" is not one of \"enforce\", \"report\""),
                );
            }
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
            fleet: r.fleet,
            mode,
        })
    }

    fn fleet(&self, f: &RawFleet) -> Result<Fleet, ConfigError> {
        Ok(Fleet {
            url: self.url("fleet.url", &f.url)?,
            secret_file: self.abs_path("fleet.secret_file", &f.secret_file)?,
            timeout: match &f.timeout {
                Some(v) => self.duration_key("fleet", "timeout", "fleet.timeout", v)?,
                None => self.default_duration("fleet", "timeout")?,
            },
            ca_file: f
                .ca_file
                .as_ref()
                .map(|v| self.abs_path("fleet.ca_file", v))
                .transpose()?,
        })
    }

    fn agent(&self, a: &RawAgent) -> Result<Agent, ConfigError> {
        let tasks = match &a.tasks {
            None => TaskKind::ALL.to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for word in list.get_ref() {
                    let Some(kind) = TaskKind::from_word(word) else {
                        return self.err(
                            "agent.tasks",
                            Some(list.span()),
                            format!(
                                "\"{word}\" is not one of {}",
                                TaskKind::ALL.map(TaskKind::as_str).join(", ")
                            ),
                        );
                    };
                    if !out.contains(&kind) {
                        out.push(kind);
                    }
                }
                out
            }
        };
        Ok(Agent {
            url: self.url("agent.url", &a.url)?,
            secret_file: self.abs_path("agent.secret_file", &a.secret_file)?,
            interval: match &a.interval {
                Some(v) => self.duration_key("agent", "interval", "agent.interval", v)?,
                None => self.default_duration("agent", "interval")?,
            },
            ca_file: a
                .ca_file
                .as_ref()
                .map(|v| self.abs_path("agent.ca_file", v))
                .transpose()?,
            tasks,
        })
    }

    fn protect(&self, p: &RawProtect) -> Result<Protect, ConfigError> {
        if let Some(problem) = service_id_problem(p.service_id.get_ref()) {
            return self.err(
                "login_protect.service_id",
                Some(p.service_id.span()),
                problem,
            );
        }
        Ok(Protect {
            url: self.url("login_protect.url", &p.url)?,
            service_id: p.service_id.get_ref().clone(),
            secret_file: self.abs_path("login_protect.secret_file", &p.secret_file)?,
            timeout: match &p.timeout {
                Some(v) => {
                    self.duration_key("login_protect", "timeout", "login_protect.timeout", v)?
                }
                None => self.default_duration("login_protect", "timeout")?,
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
        let fleet = match o.fleet.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
            None | Some(("local", _)) => FleetFallback::Local,
            Some(("deny", _)) => FleetFallback::Deny,
            Some((other, span)) => {
                return self.err(
                    "offline.fleet",
                    Some(span),
                    format!("\"{other}\" is not one of local, deny"),
                );
            }
        };
        Ok(Offline {
            ticket,
            login_protect,
            fleet,
            cached_for: match &o.cached_for {
                Some(v) => self.duration_key("offline", "cached_for", "offline.cached_for", v)?,
                None => self.default_duration("offline", "cached_for")?,
            },
            retry_after: match &o.retry_after {
                Some(v) => self.duration_key("offline", "retry_after", "offline.retry_after", v)?,
                None => self.default_duration("offline", "retry_after")?,
            },
        })
    }
}

/// Why a login-protect service ID cannot be sent, if it cannot: the server refuses an empty one,
/// `"*"` (its wildcard window, opened by an unlock without a service ID, is not a service ID a
/// host may name), control characters and more than 256 bytes — every attempt would fail.
fn service_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("must not be empty")
    } else if id == "*" {
        Some("\"*\" is reserved: the server uses it for unlocks made without a service ID")
    } else if id.len() > 256 || id.chars().any(char::is_control) {
        Some("must be at most 256 bytes without control characters")
    } else {
        None
    }
}
