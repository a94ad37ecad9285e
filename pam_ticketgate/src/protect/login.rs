//! One login's login-protect decision: the administrator's switch, the server (behind the
//! breaker), waiting for an unlock when configured, and the `[offline] login_protect` mode when
//! the server is unreachable — each step audited. The gate maps the [`Verdict`] to an outcome
//! (a wrong offline PIN counts as a failed logon).

use super::{Attempt, Check, ProtectServer, pin};
use crate::audit::{AuditSink, Event, EventName};
use crate::config::{Config, ConfigError, Protect, ProtectFallback, Scope};
use crate::run_files::RunFiles;
use crate::ticket::login::Prompter;
use crate::user::UserName;

/// Shown (as a prompt: sshd shows info text only after authentication) when `wait_for_unlock` is set.
pub const WAIT_PROMPT: &str = "Login protect is on: unlock on your device, then press Enter";
/// Shown when protection refuses the login.
pub const LOCKED_MESSAGE: &str = "Login protect is on: unlock on your device, then log in again.";
/// The offline PIN prompt (`[offline] login_protect = "hybrid"`).
pub const PIN_PROMPT: &str = "Login protect server unreachable. Offline PIN: ";

/// What login protect decided for this login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on to the password: unlocked, switched off, or an offline mode let the login on.
    Pass,
    /// Protection refuses the login (locked, or the server refused the check).
    Locked,
    /// The server is unreachable and the offline mode refuses the login.
    Unavailable,
    /// A wrong offline PIN: a failed logon.
    WrongPin,
    /// `[login_protect]`, its secret file or `run_dir` cannot be used.
    ConfigBroken,
}

/// The login being decided.
pub struct Request<'a> {
    pub config: &'a Config,
    pub scope: &'a Scope,
    /// The canonical account name.
    pub user: &'a UserName,
    pub service: &'a str,
    pub rhost: &'a str,
    /// This host's name as the server knows it (the FQDN, else the short name).
    pub host: &'a str,
    pub now: i64,
    /// A new audit event about this login (the gate's: canonical user, the spelling typed).
    pub event: &'a dyn Fn(EventName) -> Event,
}

/// The server, reached when it is to be asked: [`super::HttpServer::connect`] in production
/// (reads the host token), a script in tests.
pub type Connect<'a> = &'a dyn Fn(&Protect) -> Result<Box<dyn ProtectServer + 'a>, ConfigError>;

/// What login protect reaches outside: the server and the run files (breaker, switch, PINs).
pub struct Reach<'a> {
    pub connect: Connect<'a>,
    pub files: &'a dyn RunFiles,
}

struct Run<'a> {
    req: &'a Request<'a>,
    protect: &'a Protect,
    audit: &'a dyn AuditSink,
    ui: &'a dyn Prompter,
}

/// Decides login protect for `req` (the scope sets `login_protect = true`).
pub fn decide(req: &Request, audit: &dyn AuditSink, ui: &dyn Prompter, reach: &Reach) -> Verdict {
    let Some(protect) = req.config.login_protect.as_ref() else {
        // The config parser requires [login_protect] for such a scope; fail closed anyway.
        audit.error(&format!(
            "config {}: scope[{}] sets login_protect = true but there is no [login_protect]",
            req.config.path.display(),
            req.scope.index
        ));
        return Verdict::ConfigBroken;
    };
    if protect.disabled || reach.files.protect_switched_off() {
        return Verdict::Pass;
    }
    Run {
        req,
        protect,
        audit,
        ui,
    }
    .decide(reach)
}

/// Report mode: whether login protect could decide, asked of the server as a dry run (no
/// unlock is used up, nothing is prompted); `Some(reason)` when it would refuse whatever the
/// user did (the server refuses this host's check, or is unreachable and the offline mode does
/// not let logins on).
pub fn would_refuse(req: &Request, audit: &dyn AuditSink, reach: &Reach) -> Option<&'static str> {
    let Some(protect) = req.config.login_protect.as_ref() else {
        return Some("config_broken");
    };
    if protect.disabled || reach.files.protect_switched_off() {
        return None;
    }
    let server = match (reach.connect)(protect) {
        Ok(s) => s,
        Err(e) => {
            audit.error(&e.to_string());
            return Some("config_broken");
        }
    };
    let breaker = match reach.files.breaker(super::BREAKER) {
        Ok(b) => b,
        Err(e) => {
            audit.error(&e.to_string());
            return Some("config_broken");
        }
    };
    let attempt = Attempt {
        service_id: req
            .scope
            .protect_service_id
            .as_deref()
            .unwrap_or(&protect.service_id),
        user: req.user.as_str(),
        host: req.host,
        service: req.service,
        rhost: req.rhost,
    };
    match super::check(
        &super::DryRun(server.as_ref()),
        breaker.as_ref(),
        req.config.offline.retry_after,
        &attempt,
        req.now,
    ) {
        // The server's dry run says only that it would answer (reachable, TLS, token, service
        // ID): it does not say whether the user unlocked, so a "not unlocked" is no finding.
        Check::Unlocked | Check::Locked => None,
        Check::Denied(_) => Some("server_refused"),
        // Unreachable: only `[offline] login_protect = "unlocked"` lets every login on.
        Check::Offline(_) => match req.config.offline.login_protect {
            ProtectFallback::Unlocked => None,
            ProtectFallback::Hybrid | ProtectFallback::Deny => Some("unavailable"),
        },
    }
}

impl Run<'_> {
    fn event(&self, name: EventName) -> Event {
        (self.req.event)(name)
    }

    fn decide(&self, reach: &Reach) -> Verdict {
        let (protect, now) = (self.protect, self.req.now);
        let server = match (reach.connect)(protect) {
            Ok(s) => s,
            Err(e) => {
                let ev = self
                    .event(EventName::ConfigError)
                    .with("error", e.to_string());
                self.audit.event(&ev, now);
                return Verdict::ConfigBroken;
            }
        };
        let attempt = Attempt {
            service_id: self
                .req
                .scope
                .protect_service_id
                .as_deref()
                .unwrap_or(&protect.service_id),
            user: self.req.user.as_str(),
            host: self.req.host,
            service: self.req.service,
            rhost: self.req.rhost,
        };
        let breaker = match reach.files.breaker(super::BREAKER) {
            Ok(b) => b,
            Err(e) => {
                self.audit.error(&e.to_string());
                return Verdict::ConfigBroken;
            }
        };
        let retry_after = self.req.config.offline.retry_after;
        let ask = || {
            super::check(
                server.as_ref(),
                breaker.as_ref(),
                retry_after,
                &attempt,
                now,
            )
        };
        let mut waited = false;
        let mut check = ask();
        if check == Check::Locked && protect.wait_for_unlock {
            waited = true;
            if self.ui.ask(WAIT_PROMPT, true).is_none() {
                return self.locked(attempt.service_id, waited, None);
            }
            check = ask();
        }
        match check {
            Check::Unlocked => {
                let ev = self
                    .event(EventName::ProtectUnlockUsed)
                    .with("service_id", attempt.service_id)
                    .with("waited", waited);
                self.audit.event(&ev, now);
                Verdict::Pass
            }
            Check::Locked => self.locked(attempt.service_id, waited, None),
            Check::Denied(reason) => {
                self.audit.error(&format!(
                    "login_protect {}: {} (not treated as offline)",
                    protect.url,
                    crate::audit::quote(&reason)
                ));
                self.locked(attempt.service_id, waited, Some(&reason))
            }
            Check::Offline(reason) => self.offline(&reason, reach.files),
        }
    }

    fn locked(&self, service_id: &str, waited: bool, server_error: Option<&str>) -> Verdict {
        let mut event = self
            .event(EventName::ProtectLocked)
            .with("service_id", service_id)
            .with("waited", waited);
        match server_error {
            Some(e) => {
                event = event.with("reason", "server_refused").with("error", e);
                self.ui
                    .tell("Login protect check failed; contact your administrator.");
            }
            None => self.ui.tell(LOCKED_MESSAGE),
        }
        self.audit.event(&event, self.req.now);
        Verdict::Locked
    }

    /// The server is unreachable: `[offline] login_protect`.
    fn offline(&self, reason: &str, files: &dyn RunFiles) -> Verdict {
        let mode = self.req.config.offline.login_protect;
        let now = self.req.now;
        let fallback = |result: &str| {
            self.event(EventName::OfflineFallback)
                .with("gate", "login_protect")
                .with(
                    "mode",
                    match mode {
                        ProtectFallback::Unlocked => "unlocked",
                        ProtectFallback::Hybrid => "hybrid",
                        ProtectFallback::Deny => "deny",
                    },
                )
                .with("result", result)
                .with("reason", reason)
                .with("url", self.protect.url.as_str())
        };
        match mode {
            ProtectFallback::Unlocked => {
                self.audit.event(&fallback("password_only"), now);
                Verdict::Pass
            }
            ProtectFallback::Deny => {
                self.audit.event(&fallback("denied"), now);
                self.ui
                    .tell("Login protect server unreachable; try again later.");
                Verdict::Unavailable
            }
            ProtectFallback::Hybrid => {
                let Some(typed) = self.ui.ask(PIN_PROMPT, false) else {
                    self.audit.event(&fallback("no_answer"), now);
                    return Verdict::Unavailable;
                };
                match files.check_offline_pin(self.req.user, &typed) {
                    Ok(true) => {
                        self.audit.event(&fallback("pin_accepted"), now);
                        Verdict::Pass
                    }
                    Ok(false) => {
                        self.audit.event(&fallback("wrong_pin"), now);
                        Verdict::WrongPin
                    }
                    Err(pin::PinError::NotSet) => {
                        self.audit.event(&fallback("no_pin"), now);
                        self.ui
                            .tell("Login protect server unreachable and no offline PIN is set.");
                        Verdict::Unavailable
                    }
                    Err(e) => {
                        self.audit.error(&e.to_string());
                        self.audit.event(&fallback("pin_unusable"), now);
                        Verdict::Unavailable
                    }
                }
            }
        }
    }
}
