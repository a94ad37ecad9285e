//! The `auth` phases: `preauth` (refuse locked accounts before any password), `authfail`
//! (count a failed logon, hack-lock at the limit), `ticket` (the password was accepted).

use super::{Gate, Outcome, Subject};
use crate::audit::{Event, EventName};
use crate::config::{Policy, StateUnwritable};
use crate::lockout::{self, Failure};
use crate::user::UserName;

impl Gate<'_> {
    pub(super) fn preauth(&self, subject: Subject) -> Outcome {
        let (user, uid, scope, exempt) = match subject {
            Subject::NotCovered => return Outcome::NotCovered,
            Subject::Unknown => return Outcome::Allowed,
            Subject::Known {
                user,
                uid,
                scope,
                exempt,
            } => (user, uid, scope, exempt),
        };
        if let Some(refused) = self.refuse_if_locked(&user, self.policy(scope), exempt) {
            return refused;
        }
        let policy = self.policy(scope);
        if !exempt
            && (uid != 0 || policy.lock_root)
            && let Some(refused) = self.refuse_if_unwritable(&user, &scope.policy_name)
        {
            return refused;
        }
        // Before login protect: a fleet-wide lock refuses without using up an unlock.
        if scope.fleet
            && !exempt
            && let Some(refused) = self.fleet_preauth(&user)
        {
            return refused;
        }
        if scope.login_protect
            && let Some(refused) = self.login_protect(&user, uid, scope)
        {
            return refused;
        }
        Outcome::Allowed
    }

    pub(super) fn authfail(&self, subject: Subject) -> Outcome {
        let (user, uid, scope) = match subject {
            // Directory users under local_users_only: the password policy does not count them.
            Subject::Known { exempt: true, .. } => return Outcome::AuthFailed,
            Subject::NotCovered => return Outcome::AuthFailed,
            Subject::Unknown => {
                // Not `self.event`: the name typed is not logged (it is often a password).
                self.audit.event(
                    &Event::new(
                        EventName::AuthFailure,
                        "(unknown)",
                        self.login.service,
                        self.login.rhost,
                    )
                    .with("reason", "unknown_user"),
                    self.now,
                );
                return Outcome::AuthFailed;
            }
            Subject::Known {
                user, uid, scope, ..
            } => (user, uid, scope),
        };
        self.count_failure(&user, uid, scope);
        if scope.fleet {
            self.fleet_failure(&user);
        }
        Outcome::AuthFailed
    }

    /// Counts the failed logon in the user's local state (hack-locks at the limit), audited.
    pub(super) fn count_failure(&self, user: &UserName, uid: u32, scope: &crate::config::Scope) {
        let Ok(store) = self.store() else {
            return;
        };
        let policy: &Policy = self.policy(scope);
        let mut result = Failure::AlreadyLocked;
        let updated = store.update(user, &mut |r| {
            result =
                lockout::record_failure(r, self.login.credential, policy, uid == 0, self.attempt());
        });
        if let Err(e) = updated {
            self.audit.event(
                &self
                    .event(EventName::StateUnwritable, user.as_str())
                    .with("error", e.to_string())
                    .with("phase", "authfail"),
                self.now,
            );
            return;
        }
        let failure = self.event(EventName::AuthFailure, user.as_str());
        match result {
            Failure::Counted { count } => {
                self.audit.event(&failure.with("failures", count), self.now)
            }
            Failure::AlreadyLocked => self
                .audit
                .event(&failure.with("reason", "locked"), self.now),
            Failure::LockedNow { count, until } => {
                self.audit.event(&failure.with("failures", count), self.now);
                let until = until.map_or_else(|| "admin".to_string(), |u| u.to_string());
                let lock = self
                    .event(EventName::HackLock, user.as_str())
                    .with("failures", count)
                    .with("until", until)
                    .with("policy", &scope.policy_name);
                self.audit.event(&lock, self.now);
            }
        }
    }

    pub(super) fn ticket(&self, subject: Subject) -> Outcome {
        // This line is reached only after the password module succeeded and jumped over
        // `authfail`. libpam does not count a jump as a positive result, so this line must
        // answer success even for logins no scope covers (the role Debian gives `pam_permit`
        // after `pam_unix`); PAM_IGNORE here would fail every uncovered login.
        let (user, uid, scope, exempt) = match subject {
            Subject::NotCovered | Subject::Unknown => return Outcome::Allowed,
            Subject::Known {
                user,
                uid,
                scope,
                exempt,
            } => (user, uid, scope, exempt),
        };
        // A lock set by concurrent failures after preauth still stops this login.
        if let Some(refused) = self.refuse_if_locked(&user, self.policy(scope), exempt) {
            return refused;
        }
        let known = |user| Subject::Known {
            user,
            uid,
            scope,
            exempt,
        };
        if scope.ticket {
            use crate::ticket::login::Verdict;
            match self.ticket_verdict(&user) {
                Verdict::Accepted(id) => {
                    if !self
                        .world
                        .conversation()
                        .putenv(&format!("TICKETGATE_TICKET={id}"))
                    {
                        return self.system_error("pam_putenv(TICKETGATE_TICKET) failed");
                    }
                }
                // A rejected ticket counts as a failed logon, exactly as a wrong password.
                Verdict::Rejected => return self.authfail(known(user)),
                Verdict::Unavailable => return Outcome::Unavailable,
                // A client that walks away at the ticket prompt after a correct password is a
                // failed logon too: else guessing passwords and hanging up is never counted.
                Verdict::NoAnswer => {
                    self.audit.event(
                        &self.event(EventName::TicketAbandoned, user.as_str()),
                        self.now,
                    );
                    return self.authfail(known(user));
                }
                Verdict::ConfigBroken => return Outcome::ConfigBroken,
            }
        }
        if scope.fleet
            && !exempt
            && let Some(refused) = self.fleet_success(&user)
        {
            return refused;
        }
        self.audit
            .event(&self.event(EventName::AuthSuccess, user.as_str()), self.now);
        Outcome::Allowed
    }

    /// `preauth`'s check that a failure could be recorded: while it cannot, lockout cannot
    /// hold, so the login is refused (or, with `state_unwritable = "allow"`, let on); either
    /// way one `state_unwritable` event says why.
    fn refuse_if_unwritable(&self, user: &UserName, policy_name: &str) -> Option<Outcome> {
        let store = match self.store() {
            Ok(s) => s,
            Err(o) => return Some(o),
        };
        let Err(e) = store.check_writable(user) else {
            return None;
        };
        let mode = self.config.module.state_unwritable;
        self.audit.event(
            &self
                .event(EventName::StateUnwritable, user.as_str())
                .with("error", e.to_string())
                .with("policy", policy_name)
                .with(
                    "result",
                    match mode {
                        StateUnwritable::Deny => "denied",
                        StateUnwritable::Allow => "allowed",
                    },
                ),
            self.now,
        );
        match mode {
            StateUnwritable::Allow => None,
            StateUnwritable::Deny => {
                self.tell("Login is unavailable: the login state cannot be recorded.");
                Some(Outcome::SystemError)
            }
        }
    }

    /// Runs the ticket gate's prompt and check (the enforcing line and report mode's).
    pub(super) fn ticket_verdict(&self, user: &UserName) -> crate::ticket::login::Verdict {
        use crate::ticket::login::{self, Reach};
        let host = self.world.host();
        let cfg = self.config.ticket.as_ref();
        let request = login::Request {
            config: self.config,
            service: self.login.service,
            rhost: self.login.rhost,
            facts: crate::ticket::Facts {
                user: user.as_str().to_string(),
                host: host.short,
                host_fqdn: host.fqdn,
                rhost: self.login.rhost.to_string(),
                service: self.login.service.to_string(),
                user_map: cfg.and_then(|c| login::user_map(c, user.as_str())),
            },
            now: self.now,
        };
        let system = self.world.ticket_system(self.config);
        let reach = Reach {
            system: system.as_ref(),
            files: self.files(),
        };
        login::decide(&request, self.audit, &super::Ui(self), &reach)
    }
}
