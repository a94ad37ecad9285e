//! The login-protect step of `preauth`: ask the protect server, wait for an unlock when
//! configured, and apply the `[offline] login_protect` mode when the server is unreachable.

use super::{Gate, Outcome, Subject};
use crate::audit::EventName;
use crate::config::{self, Protect, ProtectFallback, Scope};
use crate::offline::Breaker;
use crate::protect::{self, Attempt, Check, HttpServer, pin};
use crate::user::UserName;

/// Shown (as a prompt: sshd shows info text only after authentication) when `wait_for_unlock` is set.
pub const WAIT_PROMPT: &str = "Login protect is on: unlock on your device, then press Enter";
/// Shown when protection refuses the login.
pub const LOCKED_MESSAGE: &str = "Login protect is on: unlock on your device, then log in again.";
/// The offline PIN prompt (`[offline] login_protect = "hybrid"`).
pub const PIN_PROMPT: &str = "Login protect server unreachable. Offline PIN: ";

impl Gate<'_> {
    /// `None` = go on to the password; `Some(outcome)` = refuse with it.
    pub(super) fn login_protect(
        &self,
        user: &UserName,
        uid: u32,
        scope: &Scope,
    ) -> Option<Outcome> {
        let Some(protect) = self.config.login_protect.as_ref() else {
            // The config parser requires [login_protect] for such a scope; fail closed anyway.
            self.audit.error(&format!(
                "config {}: scope[{}] sets login_protect = true but there is no [login_protect]",
                self.config.path.display(),
                scope.index
            ));
            return Some(Outcome::ConfigBroken);
        };
        if protect.disabled || protect::switch::is_disabled(&self.config.module.state_dir) {
            return None;
        }
        let token = match config::read_secret_file(
            &self.config.path,
            "login_protect.secret_file",
            &protect.secret_file,
        ) {
            Ok(t) => t,
            Err(e) => {
                self.audit.event(
                    &self
                        .event(EventName::ConfigError, user.as_str())
                        .with("error", e.to_string()),
                    self.now,
                );
                return Some(Outcome::ConfigBroken);
            }
        };
        let server = HttpServer {
            protect,
            token: &token,
        };
        let hosts = self.world.host();
        let host = if hosts.fqdn.is_empty() {
            hosts.short
        } else {
            hosts.fqdn
        };
        let attempt = Attempt {
            service_id: scope
                .protect_service_id
                .as_deref()
                .unwrap_or(&protect.service_id),
            user: user.as_str(),
            host: &host,
            service: self.login.service,
            rhost: self.login.rhost,
        };
        let breaker = match crate::run_dir::RunDir::open(&self.config.module.run_dir) {
            Ok(run_dir) => Breaker::new(&run_dir, protect::BREAKER),
            Err(e) => {
                self.audit.error(&e.to_string());
                return Some(Outcome::ConfigBroken);
            }
        };
        let ask = || {
            protect::check(
                &server,
                &breaker,
                self.config.offline.retry_after,
                &attempt,
                self.now,
            )
        };
        let mut waited = false;
        let mut check = ask();
        if check == Check::Locked && protect.wait_for_unlock {
            waited = true;
            if self
                .world
                .conversation()
                .prompt(WAIT_PROMPT, true)
                .is_none()
            {
                return Some(self.protect_locked(user, attempt.service_id, waited, None));
            }
            check = ask();
        }
        match check {
            Check::Unlocked => {
                self.audit.event(
                    &self
                        .event(EventName::ProtectUnlockUsed, user.as_str())
                        .with("service_id", attempt.service_id)
                        .with("waited", waited),
                    self.now,
                );
                None
            }
            Check::Locked => Some(self.protect_locked(user, attempt.service_id, waited, None)),
            Check::Denied(reason) => {
                self.audit.error(&format!(
                    "login_protect {}: {} (not treated as offline)",
                    protect.url,
                    crate::audit::quote(&reason)
                ));
                Some(self.protect_locked(user, attempt.service_id, waited, Some(&reason)))
            }
            Check::Offline(reason) => self.protect_offline(user, uid, scope, protect, &reason),
        }
    }

    fn protect_locked(
        &self,
        user: &UserName,
        service_id: &str,
        waited: bool,
        server_error: Option<&str>,
    ) -> Outcome {
        let mut event = self
            .event(EventName::ProtectLocked, user.as_str())
            .with("service_id", service_id)
            .with("waited", waited);
        match server_error {
            Some(e) => {
                event = event.with("reason", "server_refused").with("error", e);
                self.tell("Login protect check failed; contact your administrator.");
            }
            None => self.tell(LOCKED_MESSAGE),
        }
        self.audit.event(&event, self.now);
        Outcome::ProtectLocked
    }

    fn protect_offline(
        &self,
        user: &UserName,
        uid: u32,
        scope: &Scope,
        protect: &Protect,
        reason: &str,
    ) -> Option<Outcome> {
        let mode = self.config.offline.login_protect;
        let fallback = |result: &str| {
            self.event(EventName::OfflineFallback, user.as_str())
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
                .with("url", protect.url.as_str())
        };
        match mode {
            ProtectFallback::Unlocked => {
                self.audit.event(&fallback("password_only"), self.now);
                None
            }
            ProtectFallback::Deny => {
                self.audit.event(&fallback("denied"), self.now);
                self.tell("Login protect server unreachable; try again later.");
                Some(Outcome::Unavailable)
            }
            ProtectFallback::Hybrid => {
                let state_dir = &self.config.module.state_dir;
                let Some(typed) = self.world.conversation().prompt(PIN_PROMPT, false) else {
                    self.audit.event(&fallback("no_answer"), self.now);
                    return Some(Outcome::Unavailable);
                };
                match pin::verify(state_dir, user, &typed) {
                    Ok(true) => {
                        self.audit.event(&fallback("pin_accepted"), self.now);
                        None
                    }
                    Ok(false) => {
                        self.audit.event(&fallback("wrong_pin"), self.now);
                        // A wrong offline PIN is a failed logon: it counts toward the lockout.
                        Some(self.authfail(Subject::Known {
                            user: user.clone(),
                            uid,
                            scope,
                            exempt: false,
                        }))
                    }
                    Err(pin::PinError::NotSet) => {
                        self.audit.event(&fallback("no_pin"), self.now);
                        self.tell("Login protect server unreachable and no offline PIN is set.");
                        Some(Outcome::Unavailable)
                    }
                    Err(e) => {
                        self.audit.error(&e.to_string());
                        self.audit.event(&fallback("pin_unusable"), self.now);
                        Some(Outcome::Unavailable)
                    }
                }
            }
        }
    }
}
