//! `[ticket]` and its `[[ticket.condition]]`s, resolved: system, auth, compiled ID pattern, typed conditions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex_lite::Regex;
use toml::Spanned;

use super::raw::{RawCondition, RawTicket};
use super::{ConfigError, Resolver};
use crate::ticket::systems::{self, TicketSystem};

/// How requests authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Basic,
    Bearer,
    AuthToken,
    OAuthRefresh,
}

/// `[ticket]`, resolved.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The ticket system the module talks to (`system`), from [`systems::SYSTEMS`].
    pub system: &'static dyn TicketSystem,
    pub base_url: Option<url::Url>,
    pub auth: Auth,
    pub username: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub token_url: Option<url::Url>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub refresh_token_file: Option<PathBuf>,
    pub table: String,
    pub id_pattern: Regex,
    pub prompt: String,
    pub timeout: Duration,
    pub cache: Duration,
    pub ca_file: Option<PathBuf>,
    pub user_map: Option<String>,
    pub api_version: u32,
    pub module: String,
    pub portal: Option<String>,
    pub url: Option<String>,
    pub conditions: Vec<Condition>,
}

impl Ticket {
    pub(super) fn secret_files(&self) -> Vec<(&'static str, &Path)> {
        let mut out = Vec::new();
        if let Some(f) = &self.secret_file {
            out.push(("ticket.secret_file", f.as_path()));
        }
        if let Some(f) = &self.client_secret_file {
            out.push(("ticket.client_secret_file", f.as_path()));
        }
        if let Some(f) = &self.refresh_token_file {
            out.push(("ticket.refresh_token_file", f.as_path()));
        }
        out
    }
}

/// Condition operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Matches,
    Contains,
    Exists,
    Absent,
    Within,
    All,
    Any,
    None,
}

/// Which fetched document a condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionDoc {
    Main,
    Approvals,
}

/// Where a condition's expected value comes from.
#[derive(Debug, Clone)]
pub enum Expected {
    Nothing,
    Value(serde_json::Value),
    Values(Vec<serde_json::Value>),
    Pattern(Regex),
    From(FromValue),
}

/// Login facts a condition may compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromValue {
    User,
    Host,
    HostFqdn,
    Rhost,
    Service,
    UserMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    ServiceNow,
    Iso8601,
    EpochMs,
}

/// One `[[ticket.condition]]`, resolved.
#[derive(Debug, Clone)]
pub struct Condition {
    pub field: String,
    pub doc: ConditionDoc,
    pub op: Op,
    pub expected: Expected,
    pub ci: bool,
    pub start: Option<String>,
    pub end: Option<String>,
    pub time_format: TimeFormat,
    pub skew: Duration,
    pub where_: Option<Box<Condition>>,
}

fn pointer_ok(p: &str) -> bool {
    p.is_empty() || p.starts_with('/')
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

impl Resolver<'_> {
    fn opt_string(v: &Option<Spanned<String>>) -> Option<String> {
        v.as_ref().map(|s| s.get_ref().clone())
    }

    pub(super) fn ticket(&self, t: &Spanned<RawTicket>) -> Result<Ticket, ConfigError> {
        let r = t.get_ref();
        let sys_span = Some(r.system.span());
        let Some(system) = systems::find(r.system.get_ref()) else {
            let words: Vec<&str> = systems::SYSTEMS.iter().map(|s| s.name()).collect();
            return self.err(
                "ticket.system",
                sys_span,
                format!(
                    "\"{}\" is not one of {}",
                    r.system.get_ref(),
                    words.join(", ")
                ),
            );
        };
        let auth = match r.auth.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
            None => system.default_auth(),
            Some(("basic", _)) => Auth::Basic,
            Some(("bearer", _)) => Auth::Bearer,
            Some(("authtoken", _)) => Auth::AuthToken,
            Some(("oauth-refresh", _)) => Auth::OAuthRefresh,
            Some((other, span)) => {
                return self.err(
                    "ticket.auth",
                    Some(span),
                    format!("\"{other}\" is not one of basic, bearer, authtoken, oauth-refresh"),
                );
            }
        };
        let path = |k: &str, v: &Option<Spanned<String>>| {
            v.as_ref().map(|v| self.abs_path(k, v)).transpose()
        };
        let secret_file = path("ticket.secret_file", &r.secret_file)?;
        let client_secret_file = path("ticket.client_secret_file", &r.client_secret_file)?;
        let refresh_token_file = path("ticket.refresh_token_file", &r.refresh_token_file)?;
        let need = |k: &str, present: bool, why: &str| {
            if present {
                Ok(())
            } else {
                self.err(k, Some(t.span()), format!("is required {why}"))
            }
        };
        match auth {
            Auth::Basic => {
                need(
                    "ticket.username",
                    r.username.is_some(),
                    "with auth = \"basic\"",
                )?;
                need(
                    "ticket.secret_file",
                    secret_file.is_some(),
                    "with auth = \"basic\"",
                )?;
            }
            Auth::Bearer | Auth::AuthToken => need(
                "ticket.secret_file",
                secret_file.is_some(),
                "with this auth",
            )?,
            Auth::OAuthRefresh => {
                need(
                    "ticket.token_url",
                    r.token_url.is_some(),
                    "with auth = \"oauth-refresh\"",
                )?;
                need(
                    "ticket.client_id",
                    r.client_id.is_some(),
                    "with auth = \"oauth-refresh\"",
                )?;
                need(
                    "ticket.client_secret_file",
                    client_secret_file.is_some(),
                    "with auth = \"oauth-refresh\"",
                )?;
                need(
                    "ticket.refresh_token_file",
                    refresh_token_file.is_some(),
                    "with auth = \"oauth-refresh\"",
                )?;
            }
        }
        let base_url = r
            .base_url
            .as_ref()
            .map(|v| self.url("ticket.base_url", v))
            .transpose()?;
        let url = Self::opt_string(&r.url);
        if system.url_template() {
            match &r.url {
                None => {
                    return self.err(
                        "ticket.url",
                        Some(t.span()),
                        "is required with system = \"http\"",
                    );
                }
                Some(u) => {
                    if !u.get_ref().contains("{id}") {
                        return self.err("ticket.url", Some(u.span()), "must contain {id}");
                    }
                    let probe = Spanned::new(u.span(), u.get_ref().replace("{id}", "X"));
                    self.url("ticket.url", &probe)?;
                }
            }
        } else if base_url.is_none() {
            return self.err(
                "ticket.base_url",
                Some(t.span()),
                format!("is required with system = \"{}\"", r.system.get_ref()),
            );
        }
        let table = match &r.table {
            None => "change_request".to_string(),
            Some(v) => match v.get_ref().as_str() {
                "change_request" | "incident" | "sc_req_item" => v.get_ref().clone(),
                other => {
                    return self.err(
                        "ticket.table",
                        Some(v.span()),
                        format!("\"{other}\" is not one of change_request, incident, sc_req_item"),
                    );
                }
            },
        };
        let module = match &r.module {
            None => "request".to_string(),
            Some(v) => match v.get_ref().as_str() {
                "request" | "change" => v.get_ref().clone(),
                other => {
                    return self.err(
                        "ticket.module",
                        Some(v.span()),
                        format!("\"{other}\" is not one of request, change"),
                    );
                }
            },
        };
        let api_version = match &r.api_version {
            None => 3,
            Some(v) if matches!(*v.get_ref(), 2 | 3) => {
                self.int_key("ticket", "api_version", "ticket.api_version", v)?
            }
            Some(v) => {
                return self.err(
                    "ticket.api_version",
                    Some(v.span()),
                    format!("{} is not 2 (Data Center) or 3 (Cloud)", v.get_ref()),
                );
            }
        };
        let default_pattern = system.default_id_pattern(&table);
        let id_pattern = match &r.id_pattern {
            None => Regex::new(default_pattern)
                .or_else(|e| self.err("ticket.id_pattern", sys_span, e.to_string()))?,
            Some(v) => {
                let p = v.get_ref();
                if !p.starts_with('^') || !p.ends_with('$') {
                    return self.err(
                        "ticket.id_pattern",
                        Some(v.span()),
                        "must be anchored: start with ^ and end with $",
                    );
                }
                Regex::new(p).or_else(|e| {
                    self.err(
                        "ticket.id_pattern",
                        Some(v.span()),
                        format!("not a valid regex: {e}"),
                    )
                })?
            }
        };
        let mut conditions = Vec::new();
        for (i, c) in r.condition.iter().enumerate() {
            conditions.push(self.condition(&format!("ticket.condition[{}]", i + 1), c, system)?);
        }
        Ok(Ticket {
            system,
            base_url,
            auth,
            username: Self::opt_string(&r.username),
            secret_file,
            token_url: r
                .token_url
                .as_ref()
                .map(|v| self.url("ticket.token_url", v))
                .transpose()?,
            client_id: Self::opt_string(&r.client_id),
            client_secret_file,
            refresh_token_file,
            table,
            id_pattern,
            prompt: Self::opt_string(&r.prompt).unwrap_or_else(|| "Ticket ID: ".to_string()),
            timeout: match &r.timeout {
                Some(v) => self.duration_key("ticket", "timeout", "ticket.timeout", v)?,
                None => self.default_duration("ticket", "timeout")?,
            },
            cache: match &r.cache {
                Some(v) => self.duration_key("ticket", "cache", "ticket.cache", v)?,
                None => self.default_duration("ticket", "cache")?,
            },
            ca_file: path("ticket.ca_file", &r.ca_file)?,
            user_map: Self::opt_string(&r.user_map),
            api_version,
            module,
            portal: Self::opt_string(&r.portal),
            url,
            conditions,
        })
    }

    fn condition(
        &self,
        key: &str,
        c: &Spanned<RawCondition>,
        system: &dyn TicketSystem,
    ) -> Result<Condition, ConfigError> {
        let r = c.get_ref();
        let span = Some(c.span());
        let k = |s: &str| format!("{key}.{s}");
        let op = match r.op.get_ref().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "matches" => Op::Matches,
            "contains" => Op::Contains,
            "exists" => Op::Exists,
            "absent" => Op::Absent,
            "within" => Op::Within,
            "all" => Op::All,
            "any" => Op::Any,
            "none" => Op::None,
            other => return self.err(&k("op"), Some(r.op.span()), format!("\"{other}\" is not one of eq ne in not_in matches contains exists absent within all any none")),
        };
        let doc = match r.doc.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
            None | Some(("ticket", _)) => ConditionDoc::Main,
            Some(("approvals", s)) if !system.has_approvals() => {
                let with: Vec<String> = systems::SYSTEMS
                    .iter()
                    .filter(|s| s.has_approvals())
                    .map(|s| format!("\"{}\"", s.name()))
                    .collect();
                return self.err(
                    &k("doc"),
                    Some(s),
                    format!(
                        "\"approvals\" exists only with system = {}",
                        with.join(" or ")
                    ),
                );
            }
            Some(("approvals", _)) => ConditionDoc::Approvals,
            Some((other, s)) => {
                return self.err(
                    &k("doc"),
                    Some(s),
                    format!("\"{other}\" is not one of ticket, approvals"),
                );
            }
        };
        let field = match (&r.field, op) {
            (Some(f), _) if !pointer_ok(f.get_ref()) => {
                return self.err(
                    &k("field"),
                    Some(f.span()),
                    format!(
                        "\"{}\" is not a JSON Pointer (it must start with /)",
                        f.get_ref()
                    ),
                );
            }
            (Some(f), _) => f.get_ref().clone(),
            (None, Op::Within) => String::new(),
            (None, _) => return self.err(&k("field"), span, "is required for this op"),
        };
        let given = [r.value.is_some(), r.values.is_some(), r.from.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given > 1 {
            return self.err(key, span, "give only one of value, values, from");
        }
        let from =
            match r.from.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
                None => None,
                Some(("user", _)) => Some(FromValue::User),
                Some(("host", _)) => Some(FromValue::Host),
                Some(("host_fqdn", _)) => Some(FromValue::HostFqdn),
                Some(("rhost", _)) => Some(FromValue::Rhost),
                Some(("service", _)) => Some(FromValue::Service),
                Some(("user_map", _)) => Some(FromValue::UserMap),
                Some((other, s)) => return self.err(
                    &k("from"),
                    Some(s),
                    format!(
                        "\"{other}\" is not one of user, host, host_fqdn, rhost, service, user_map"
                    ),
                ),
            };
        let expected = match op {
            Op::Exists | Op::Absent | Op::Within | Op::All | Op::Any | Op::None => {
                if given > 0 {
                    return self.err(key, span, "this op takes no value, values or from");
                }
                Expected::Nothing
            }
            Op::In | Op::NotIn => match &r.values {
                Some(v) if !v.get_ref().is_empty() => {
                    Expected::Values(v.get_ref().iter().map(toml_to_json).collect())
                }
                _ => {
                    return self.err(
                        &k("values"),
                        span,
                        "is required (a non-empty list) for in / not_in",
                    );
                }
            },
            Op::Matches => match &r.value {
                Some(v) => match v.get_ref() {
                    toml::Value::String(p) => {
                        let p = if r.ci { format!("(?i){p}") } else { p.clone() };
                        Expected::Pattern(Regex::new(&p).or_else(|e| {
                            self.err(
                                &k("value"),
                                Some(v.span()),
                                format!("not a valid regex: {e}"),
                            )
                        })?)
                    }
                    _ => {
                        return self.err(
                            &k("value"),
                            Some(v.span()),
                            "must be a string (a regex) for matches",
                        );
                    }
                },
                None => return self.err(&k("value"), span, "is required for matches"),
            },
            Op::Eq | Op::Ne | Op::Contains => match (&r.value, from) {
                (Some(v), _) => Expected::Value(toml_to_json(v.get_ref())),
                (None, Some(f)) => Expected::From(f),
                (None, None) => return self.err(key, span, "needs value or from"),
            },
        };
        let (start, end) = (Self::opt_string(&r.start), Self::opt_string(&r.end));
        if op == Op::Within {
            match (&r.start, &r.end) {
                (Some(s), Some(e)) => {
                    for (name, v) in [("start", s), ("end", e)] {
                        if !pointer_ok(v.get_ref()) {
                            return self.err(
                                &k(name),
                                Some(v.span()),
                                "is not a JSON Pointer (it must start with /)",
                            );
                        }
                    }
                }
                _ => return self.err(key, span, "within needs both start and end"),
            }
        }
        let time_format = match r
            .time_format
            .as_ref()
            .map(|v| (v.get_ref().as_str(), v.span()))
        {
            None | Some(("iso8601", _)) => TimeFormat::Iso8601,
            Some(("servicenow", _)) => TimeFormat::ServiceNow,
            Some(("epoch_ms", _)) => TimeFormat::EpochMs,
            Some((other, s)) => {
                return self.err(
                    &k("time_format"),
                    Some(s),
                    format!("\"{other}\" is not one of servicenow, iso8601, epoch_ms"),
                );
            }
        };
        let skew = match &r.skew {
            Some(v) => self.duration_key("ticket.condition", "skew", &k("skew"), v)?,
            None => self.default_duration("ticket.condition", "skew")?,
        };
        let where_ = match (&r.where_, op) {
            (Some(w), Op::All | Op::Any | Op::None) => {
                Some(Box::new(self.condition(&k("where"), w, system)?))
            }
            (Some(w), _) => {
                return self.err(&k("where"), Some(w.span()), "is only for all / any / none");
            }
            (None, Op::All | Op::Any | Op::None) => {
                return self.err(&k("where"), span, "is required for all / any / none");
            }
            (None, _) => None,
        };
        Ok(Condition {
            field,
            doc,
            op,
            expected,
            ci: r.ci,
            start,
            end,
            time_format,
            skew,
            where_,
        })
    }
}
