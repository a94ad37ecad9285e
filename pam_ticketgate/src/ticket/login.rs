//! One login's ticket decision: prompt, ID checks, verdict cache, breaker, fetch and
//! conditions, then the offline fallbacks in order — each step audited. The gate maps the
//! [`Verdict`] to an outcome (a rejection counts as a failed logon).

use std::path::Path;

use super::breakglass::Check;
use super::cache::{Accepted, VerdictCache};
use super::{CondResult, Credentials, Facts, TicketError, TicketSource, normalise_id};
use crate::audit::{AuditSink, Event, EventName};
use crate::config::{Config, Ticket, TicketFallback};
use crate::run_dir::RunDirError;
use crate::run_files::RunFiles;
use crate::secret::Secret;

/// What the ticket gate decided for this login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The ticket (normalised ID) lets the login on; `TICKETGATE_TICKET` is to be set.
    Accepted(String),
    /// Rejected: counts as a failed logon.
    Rejected,
    /// The ticket system is unreachable and no fallback let the login on.
    Unavailable,
    /// The client answered no prompt.
    NoAnswer,
    /// The ticket configuration or a secret file cannot be used.
    ConfigBroken,
}

/// How the gate talks to the user.
pub trait Prompter {
    /// Asks; `None` when the client gives no answer.
    fn ask(&self, message: &str, echo: bool) -> Option<Secret>;
    /// One short line (an error message; nothing under `PAM_SILENT`).
    fn tell(&self, message: &str);
}

/// The login being decided.
pub struct Request<'a> {
    pub config: &'a Config,
    pub service: &'a str,
    pub rhost: &'a str,
    /// `facts.user` is the login name; `facts.host` keys the caches.
    pub facts: Facts,
    pub now: i64,
}

/// `label=ok("seen"); label=FAIL("seen")`, for the audit trail.
pub fn conditions_line(results: &[CondResult]) -> String {
    results
        .iter()
        .map(|r| {
            format!(
                "{}={}({})",
                r.label,
                if r.ok { "ok" } else { "FAIL" },
                r.seen
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the ticket gate reaches outside: the ticket system and the run files.
pub struct Reach<'a> {
    pub system: &'a dyn TicketSource,
    pub files: &'a dyn RunFiles,
}

struct Run<'a> {
    req: &'a Request<'a>,
    cfg: &'a Ticket,
    audit: &'a dyn AuditSink,
    ui: &'a dyn Prompter,
    reach: &'a Reach<'a>,
}

/// Decides the ticket for `req` (the scope requires one).
pub fn decide(req: &Request, audit: &dyn AuditSink, ui: &dyn Prompter, reach: &Reach) -> Verdict {
    let Some(cfg) = req.config.ticket.as_ref() else {
        audit.error(&format!(
            "config {}: a scope sets ticket = true but there is no [ticket] section",
            req.config.path.display()
        ));
        return Verdict::ConfigBroken;
    };
    Run {
        req,
        cfg,
        audit,
        ui,
        reach,
    }
    .decide()
}

impl Run<'_> {
    fn event(&self, name: EventName) -> Event {
        Event::new(name, &self.req.facts.user, self.req.service, self.req.rhost)
            .with("system", self.cfg.system.name())
    }

    fn reject(&self, ticket: &str, e: &TicketError, conditions: Option<&[CondResult]>) -> Verdict {
        let mut ev = self
            .event(EventName::TicketRejected)
            .with("ticket", ticket)
            .with(
                "reason",
                if conditions.is_some() {
                    "conditions"
                } else {
                    e.reason()
                },
            );
        if conditions.is_none() {
            ev = ev.with("detail", e);
        }
        if let Some(c) = conditions {
            ev = ev.with("conditions", conditions_line(c));
        }
        self.audit.event(&ev, self.req.now);
        self.ui.tell(if conditions.is_some() {
            "Ticket rejected: it does not allow this login."
        } else {
            e.user_message()
        });
        Verdict::Rejected
    }

    fn accept(&self, id: &str, source: &str, conditions: Option<&[CondResult]>) -> Verdict {
        let mut ev = self
            .event(EventName::TicketAccepted)
            .with("ticket", id)
            .with("source", source);
        if let Some(c) = conditions {
            ev = ev.with("conditions", conditions_line(c));
        }
        self.audit.event(&ev, self.req.now);
        Verdict::Accepted(id.to_string())
    }

    fn decide(&self) -> Verdict {
        let Some(typed) = self.ui.ask(&self.cfg.prompt, true) else {
            return Verdict::NoAnswer;
        };
        let id = match normalise_id(self.cfg, typed.expose()) {
            Ok(id) => id,
            Err(e) => {
                // What was typed is not logged: it may be a password typed at the wrong prompt.
                let shown = format!("(invalid, {} characters)", typed.expose().chars().count());
                return self.reject(&shown, &e, None);
            }
        };
        let (now, user, host) = (self.req.now, &self.req.facts.user, &self.req.facts.host);
        // The cache, breaker and token files live under run_dir: nothing is read or written
        // there unless it passes the checks state_dir gets (fail closed otherwise).
        let files = self.reach.files;
        let cache = match files.verdicts() {
            Ok(c) => c,
            Err(e) => return self.unusable(&e),
        };
        let cache_secs = i64::try_from(self.cfg.cache.as_secs()).unwrap_or(i64::MAX);
        if cache_secs > 0 && cache.find(user, &id, host, cache_secs, now).is_some() {
            return self.accept(&id, "cache", None);
        }
        let breaker = match files.breaker("ticket") {
            Ok(b) => b,
            Err(e) => return self.unusable(&e),
        };
        if breaker.is_open(now) {
            return self.offline(&id, "breaker open (retry_after)", cache.as_ref());
        }
        let tokens = match files.tokens() {
            Ok(t) => t,
            Err(e) => return self.unusable(&e),
        };
        let fetched = self
            .reach
            .system
            .fetch(self.cfg, &id, tokens.as_ref(), now)
            .map(|docs| super::evaluate(self.cfg, docs, &self.req.facts, now));
        match fetched {
            Ok(c) => {
                breaker.close();
                if !c.accepted() {
                    return self.reject(&id, &TicketError::NotFound, Some(&c.results));
                }
                let record = Accepted {
                    ticket: id.clone(),
                    host: host.clone(),
                    at: now,
                    window_end: c.window_end,
                };
                if let Err(e) = cache.record(user, record) {
                    self.audit.error(&format!("ticket cache: {e}"));
                }
                self.accept(&id, "online", Some(&c.results))
            }
            Err(TicketError::Unreachable(why)) => {
                breaker.trip(now, self.req.config.offline.retry_after);
                self.offline(&id, &why, cache.as_ref())
            }
            Err(e @ TicketError::Config(_)) => self.broken(&e),
            Err(e) => {
                breaker.close();
                self.reject(&id, &e, None)
            }
        }
    }

    /// `run_dir` failed its checks: one line for the administrator, a generic one for the user.
    fn unusable(&self, e: &RunDirError) -> Verdict {
        self.audit.error(&e.to_string());
        self.ui
            .tell("Ticket check unavailable: the module's files are not safe to use.");
        Verdict::ConfigBroken
    }

    fn broken(&self, e: &TicketError) -> Verdict {
        self.audit
            .error(&format!("config {}: {e}", self.req.config.path.display()));
        self.ui
            .tell("Ticket rejected: the ticket system refused the check.");
        Verdict::ConfigBroken
    }

    fn fallback_event(&self, id: &str, mode: &str, why: &str) {
        let ev = self
            .event(EventName::OfflineFallback)
            .with("gate", "ticket")
            .with("mode", mode)
            .with("ticket", id)
            .with("detail", why);
        self.audit.event(&ev, self.req.now);
    }

    /// The system is unreachable: `[offline] ticket`, in order.
    fn offline(&self, id: &str, why: &str, cache: &dyn VerdictCache) -> Verdict {
        let offline = &self.req.config.offline;
        let now = self.req.now;
        for mode in &offline.ticket {
            match mode {
                TicketFallback::Cached => {
                    let max = i64::try_from(offline.cached_for.as_secs()).unwrap_or(i64::MAX);
                    let (user, host) = (&self.req.facts.user, &self.req.facts.host);
                    if cache.find(user, id, host, max, now).is_some() {
                        self.fallback_event(id, "cached", why);
                        return self.accept(id, "offline_cached", None);
                    }
                }
                TicketFallback::Breakglass => {
                    if let Some(v) = self.breakglass(id, why) {
                        return v;
                    }
                }
                TicketFallback::Allow => {
                    self.fallback_event(id, "allow", why);
                    return self.accept(id, "offline_allow", None);
                }
                TicketFallback::Deny => break,
            }
        }
        self.fallback_event(id, "deny", why);
        let ev = self
            .event(EventName::TicketRejected)
            .with("ticket", id)
            .with("reason", "unreachable")
            .with("detail", why);
        self.audit.event(&ev, now);
        self.ui
            .tell("Ticket system unreachable; logins that need a ticket are refused for now.");
        Verdict::Unavailable
    }

    /// `None` = no codes exist (try the next fallback).
    fn breakglass(&self, id: &str, why: &str) -> Option<Verdict> {
        let store = self.reach.files.breakglass();
        match store.remaining() {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => {
                self.audit.error(&format!("breakglass: {e}"));
                return None;
            }
        }
        let code = self
            .ui
            .ask("Ticket system unreachable. Break-glass code: ", false)?;
        match store.use_code(&code, self.req.now) {
            Ok(Check::Used { remaining }) => {
                self.fallback_event(id, "breakglass", why);
                let ev = self
                    .event(EventName::BreakglassUsed)
                    .with("ticket", id)
                    .with("remaining", remaining);
                self.audit.event(&ev, self.req.now);
                Some(self.accept(id, "breakglass", None))
            }
            Ok(Check::Wrong) => {
                let ev = self
                    .event(EventName::TicketRejected)
                    .with("ticket", id)
                    .with("reason", "breakglass_wrong");
                self.audit.event(&ev, self.req.now);
                self.ui.tell("Ticket rejected: wrong break-glass code.");
                Some(Verdict::Rejected)
            }
            Ok(Check::NoCodes) => None,
            Err(e) => {
                self.audit.error(&format!("breakglass: {e}"));
                None
            }
        }
    }
}

/// `user_map` with `{user}` replaced.
pub fn user_map(cfg: &Ticket, user: &str) -> Option<String> {
    cfg.user_map.as_ref().map(|m| m.replace("{user}", user))
}

/// The secret and config checks `ticketgate check-config` adds for `[ticket]`.
pub fn check_files(config_path: &Path, cfg: &Ticket) -> Result<(), TicketError> {
    Credentials::load(config_path, cfg).map(|_| ())
}

#[cfg(test)]
mod tests;
