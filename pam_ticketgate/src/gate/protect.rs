//! The login-protect step of `preauth`: `protect::login` decides; this maps its verdict to an
//! outcome (a wrong offline PIN is counted as a failed logon).

use super::{Gate, Outcome, Subject, Ui};
use crate::config::Scope;
use crate::protect::login::{self, Reach, Request, Verdict};

use crate::user::UserName;

impl Gate<'_> {
    /// `None` = go on to the password; `Some(outcome)` = refuse with it.
    pub(super) fn login_protect(
        &self,
        user: &UserName,
        uid: u32,
        scope: &Scope,
    ) -> Option<Outcome> {
        let verdict = self.protect_call(user, scope, |request, reach| {
            login::decide(request, self.audit, &Ui(self), reach)
        });
        match verdict {
            Verdict::Pass => None,
            Verdict::Locked => Some(Outcome::ProtectLocked),
            Verdict::Unavailable => Some(Outcome::Unavailable),
            // A wrong offline PIN is a failed logon: it counts toward the lockout.
            Verdict::WrongPin => Some(self.authfail(Subject::Known {
                user: user.clone(),
                uid,
                scope,
                exempt: false,
            })),
            Verdict::ConfigBroken => Some(Outcome::ConfigBroken),
        }
    }
}

impl Gate<'_> {
    /// Builds the request and the reach of the protect server for `user` under `scope` (this
    /// host's name, the login's fields, the gate's events) and hands them to `call`.
    fn protect_call<R>(
        &self,
        user: &UserName,
        scope: &Scope,
        call: impl FnOnce(&Request<'_>, &Reach<'_>) -> R,
    ) -> R {
        let hosts = self.world.host();
        let host = if hosts.fqdn.is_empty() {
            hosts.short
        } else {
            hosts.fqdn
        };
        let event = |name| self.event(name, user.as_str());
        let request = Request {
            config: self.config,
            scope,
            user,
            service: self.login.service,
            rhost: self.login.rhost,
            host: &host,
            now: self.now,
            event: &event,
        };
        let connect = |protect: &_| self.world.protect_server(self.config, protect);
        let reach = Reach {
            connect: &connect,
            files: self.files(),
        };
        call(&request, &reach)
    }

    /// Report mode: why login protect would refuse this login, asked as a dry run (no unlock
    /// is used up, no prompt); `None` when it would let it on.
    pub(super) fn protect_would_refuse(
        &self,
        user: &UserName,
        scope: &Scope,
    ) -> Option<&'static str> {
        self.protect_call(user, scope, |request, reach| {
            login::would_refuse(request, self.audit, reach)
        })
    }
}
