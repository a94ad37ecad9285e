//! `mode = "report"`: every gate of the scope runs and each refusal it would have made is one
//! `would_refuse` event; the PAM result is the one the line gives a login no scope covers.
//!
//! Report mode keeps its own state under `<state_dir>/report` (failures, the hack lock it
//! would have set, first sight, last success, changes that passed): enforce mode never reads
//! it, so switching a scope to `enforce` starts from clean state. Enforce-mode state is only
//! read (an administrator's lock and must-change still show as would-refuse). Login protect is
//! asked as a dry run (a real attempt would use up the user's unlock; nothing is prompted); the
//! fleet server is asked for the user's standing but told of no failure or success (they would
//! count towards real fleet locks).

use super::{Gate, Outcome, Phase, Subject};
use crate::audit::{AuditSink, Event, EventName};
use crate::config::Scope;
use crate::lifecycle::{self, Standing};
use crate::lockout::{self, Lock};
use crate::store::{Record, StoreError};
use crate::user::UserName;

/// The sub-directory of `state_dir` that holds report mode's own records.
pub const REPORT_DIR: &str = "report";

/// The audit sink of a login in a report-mode scope: every event but `would_refuse` and the
/// error events carries `mode=report`, so its `auth_failure` or `hack_lock` is never read as
/// one enforce mode recorded.
pub(super) struct ModeAudit<'a> {
    pub(super) inner: &'a dyn AuditSink,
    pub(super) report: std::cell::Cell<bool>,
    /// The `reason` of the last `ticket_rejected` event: the would-be refusal's own reason.
    pub(super) ticket_reason: std::cell::RefCell<Option<String>>,
}

impl AuditSink for ModeAudit<'_> {
    fn event(&self, event: &Event, now: i64) {
        if event.name == EventName::TicketRejected
            && let Some((_, reason)) = event.fields.iter().find(|(k, _)| *k == "reason")
        {
            self.ticket_reason.replace(Some(reason.clone()));
        }
        let tag = self.report.get()
            && !matches!(
                event.name,
                EventName::WouldRefuse | EventName::ConfigError | EventName::SystemError
            );
        if tag {
            self.inner.event(&event.clone().with("mode", "report"), now);
        } else {
            self.inner.event(event, now);
        }
    }
    fn error(&self, message: &str) {
        self.inner.error(message);
    }
}

impl Gate<'_> {
    /// Runs `phase` for a known user of a report-mode scope. Whatever a gate decides, the
    /// result is the uncovered one.
    pub(super) fn report(&self, phase: Phase, subject: Subject) -> Outcome {
        let Subject::Known {
            user,
            uid,
            scope,
            exempt,
        } = subject
        else {
            return match phase {
                Phase::Password => self.pass_through(),
                _ => self.uncovered(phase),
            };
        };
        let decided = match phase {
            Phase::Preauth => self.report_preauth(&user, scope, exempt),
            Phase::Authfail => {
                if !exempt {
                    self.count_failure(&user, uid, scope);
                }
                Outcome::AuthFailed
            }
            Phase::Ticket => self.report_ticket(&user, uid, scope, exempt),
            Phase::Account => self.report_account(&user, scope, exempt),
            Phase::PasswordPrelim => Outcome::NotCovered,
            Phase::Password if exempt => self.pass_through(),
            Phase::Password => self.report_password(&user, scope),
            Phase::PasswordCommit if exempt => Outcome::NotCovered,
            Phase::PasswordCommit => {
                // A change the password module stored is recorded in report state only; a
                // refused one starts no clock and no history.
                let _ = self.password_commit(Subject::Known {
                    user: user.clone(),
                    uid,
                    scope,
                    exempt,
                });
                Outcome::NotCovered
            }
            Phase::SessionOpen => self.session_open(Subject::Known {
                user: user.clone(),
                uid,
                scope,
                exempt,
            }),
            Phase::SessionClose => self.session_close(Subject::Known {
                user: user.clone(),
                uid,
                scope,
                exempt,
            }),
        };
        // The password line's result is already the uncovered caller's (the new credential
        // handed on, or no answer / mismatches / a PAM_AUTHTOK that could not be set).
        if phase == Phase::Password {
            return decided;
        }
        let uncovered = self.uncovered(phase);
        if decided != uncovered && !matches!(decided, Outcome::Allowed | Outcome::NotCovered) {
            // Backstop: an error the phase met (state, directory, config) is reported, never
            // returned.
            self.would_refuse(&user, phase, "module", outcome_word(decided));
        }
        uncovered
    }

    /// What the line gives a login no scope covers.
    fn uncovered(&self, phase: Phase) -> Outcome {
        match phase {
            Phase::Authfail => Outcome::AuthFailed,
            // The ticket line stands in for pam_permit after the password module.
            Phase::Ticket => Outcome::Allowed,
            Phase::Preauth
            | Phase::Account
            | Phase::PasswordPrelim
            | Phase::PasswordCommit
            | Phase::SessionOpen
            | Phase::SessionClose => Outcome::NotCovered,
            // `report_password` and `pass_through` decide it themselves, as for an uncovered
            // caller; this is only the answer before any prompt.
            Phase::Password => Outcome::NotCovered,
        }
    }

    /// One `would_refuse` event.
    pub(super) fn would_refuse(&self, user: &UserName, phase: Phase, gate: &str, reason: &str) {
        self.audit.event(
            &self
                .event(EventName::WouldRefuse, user.as_str())
                .with("gate", gate)
                .with("reason", reason)
                .with("phase", phase_word(phase)),
            self.now,
        );
    }

    /// The lock enforce mode would find: an administrator's lock (or a corrupt record) in the
    /// enforce state (read only), else the report state's own hack or inactivity lock.
    fn report_lock(
        &self,
        user: &UserName,
        scope: &Scope,
        exempt: bool,
    ) -> Result<(Record, Option<&'static str>), Outcome> {
        let enforce = match self.enforce_record(user) {
            Err(Outcome::Locked) => Some("corrupt_state"),
            Ok(Some(r)) if r.admin_lock.is_some() => Some("admin_lock"),
            _ => None,
        };
        if let Some(reason) = enforce {
            let record = self.report_record(user)?;
            return Ok((record, Some(reason)));
        }
        let store = self.store()?;
        match self.record_and_lock(store, user, self.policy(scope), exempt) {
            Ok((record, lock)) => Ok((record, lock.map(lock_word))),
            Err(Outcome::Locked) => Ok((Record::default(), Some("corrupt_state"))),
            Err(o) => Err(o),
        }
    }

    fn report_record(&self, user: &UserName) -> Result<Record, Outcome> {
        let store = self.store()?;
        store
            .load(user)
            .map(Option::unwrap_or_default)
            .map_err(|e| self.system_error(&e.to_string()))
    }

    /// The user's enforce-mode record, read only; `Ok(None)` when there is none or it cannot be
    /// read (logged), `Err(Locked)` when it is corrupt (enforce mode treats that as locked).
    fn enforce_record(&self, user: &UserName) -> Result<Option<Record>, Outcome> {
        let store = match self.world.store(&self.config.module.state_dir) {
            Ok(s) => s,
            Err(e) => {
                self.audit.error(&e.to_string());
                return Ok(None);
            }
        };
        match store.load(user) {
            Ok(r) => Ok(r),
            Err(e @ StoreError::Corrupt { .. }) => {
                self.audit.error(&e.to_string());
                Err(Outcome::Locked)
            }
            Err(e) => {
                self.audit.error(&e.to_string());
                Ok(None)
            }
        }
    }

    fn report_preauth(&self, user: &UserName, scope: &Scope, exempt: bool) -> Outcome {
        let phase = Phase::Preauth;
        match self.report_lock(user, scope, exempt) {
            Ok((_, Some(reason))) => self.would_refuse(user, phase, "lockout", reason),
            Ok((_, None)) => {}
            Err(o) => self.would_refuse(user, phase, "lockout", outcome_word(o)),
        }
        if scope.fleet && !exempt {
            self.report_fleet(user);
        }
        // Asked as a dry run: a real attempt would use up the user's unlock.
        if scope.login_protect
            && let Some(reason) = self.protect_would_refuse(user, scope)
        {
            self.would_refuse(user, phase, "protect", reason);
        }
        Outcome::NotCovered
    }

    /// Asks the fleet server for the user's standing only (nothing sent, nothing spooled).
    fn report_fleet(&self, user: &UserName) {
        let standing = match self.fleet_standing(user) {
            Ok(s) => s,
            Err(o) => {
                self.would_refuse(user, Phase::Preauth, "fleet", outcome_word(o));
                return;
            }
        };
        if let Some(standing) = standing
            && standing.locked
        {
            let reason = match standing.reason {
                Some(crate::fleet::LockReason::Admin) => "fleet_admin_lock",
                _ => "fleet_lock",
            };
            self.would_refuse(user, Phase::Preauth, "fleet", reason);
        }
    }

    fn report_ticket(&self, user: &UserName, uid: u32, scope: &Scope, exempt: bool) -> Outcome {
        let phase = Phase::Ticket;
        if scope.ticket {
            use crate::ticket::login::Verdict;
            let verdict = self.ticket_verdict(user);
            let rejected = self.mode.ticket_reason.borrow().clone();
            let refused = match verdict {
                Verdict::Accepted(id) => {
                    if !self
                        .world
                        .conversation()
                        .putenv(&format!("TICKETGATE_TICKET={id}"))
                    {
                        self.audit
                            .error("pam_putenv(TICKETGATE_TICKET) failed (report mode: ignored)");
                    }
                    None
                }
                Verdict::Rejected => Some((rejected.unwrap_or_else(|| "rejected".into()), true)),
                Verdict::NoAnswer => Some(("no_answer".into(), true)),
                Verdict::Unavailable => Some(("unavailable".into(), false)),
                Verdict::ConfigBroken => Some(("config_broken".into(), false)),
            };
            if let Some((reason, failed_logon)) = refused {
                self.would_refuse(user, phase, "ticket", &reason);
                // A rejected or unanswered ticket is a failed logon in enforce mode: counted in
                // the report state, so a would-be hack lock shows up.
                if failed_logon && !exempt {
                    self.count_failure(user, uid, scope);
                    // Enforce mode ends this login here: its account line must not count it
                    // as a success (which would forget the failure just counted).
                    if !self.world.conversation().keep_report_refused(user.as_str()) {
                        self.audit.error(
                            "could not note the refused ticket in the PAM handle (report mode)",
                        );
                    }
                    return Outcome::Allowed;
                }
            }
        }
        self.audit
            .event(&self.event(EventName::AuthSuccess, user.as_str()), self.now);
        Outcome::Allowed
    }

    fn report_account(&self, user: &UserName, scope: &Scope, exempt: bool) -> Outcome {
        let phase = Phase::Account;
        // Enforce mode ended this login at its ticket: nothing of this line would run.
        if self
            .world
            .conversation()
            .report_refused()
            .is_some_and(|u| u == user.as_str())
        {
            return Outcome::NotCovered;
        }
        let (loaded, reason) = match self.report_lock(user, scope, exempt) {
            Ok(found) => found,
            Err(o) => {
                self.would_refuse(user, phase, "account", outcome_word(o));
                return Outcome::NotCovered;
            }
        };
        if let Some(reason) = reason {
            self.would_refuse(user, phase, "account", reason);
        }
        let Ok(store) = self.store() else {
            return Outcome::NotCovered;
        };
        let (now, authenticated, which) =
            (self.now, self.login.authenticated, self.login.credential);
        let apply = |r: &mut Record| {
            r.first_seen.get_or_insert(now);
            if authenticated && lockout::current_lock(r, which, now).is_none() {
                lockout::record_success(r, which);
                lifecycle::note_activity(r, now);
            }
        };
        let mut probe = loaded.clone();
        apply(&mut probe);
        let record = if probe == loaded {
            loaded
        } else {
            match store.update(user, &mut |r| apply(r)) {
                Ok(r) => r,
                Err(e) => {
                    self.audit.error(&e.to_string());
                    return Outcome::NotCovered;
                }
            }
        };
        if authenticated && let Err(e) = store.set_last_success(user, &self.attempt()) {
            self.audit.error(&e.to_string());
        }
        if exempt {
            return Outcome::NotCovered;
        }
        let policy = self.policy(scope);
        let outside = self.outside_change(user, policy);
        // `ticketgate must-change` writes the enforce state: it holds in report mode too.
        let must_change = self
            .enforce_record(user)
            .is_ok_and(|r| r.is_some_and(|r| lifecycle::credential(&r, which).must_change));
        match lifecycle::standing(&record, which, policy, &outside, now) {
            Standing::Expired { .. } => self.would_refuse(user, phase, "password", "expired"),
            Standing::MustChange => self.would_refuse(user, phase, "password", "must_change"),
            Standing::Fine | Standing::ExpiresSoon { .. } if must_change => {
                self.would_refuse(user, phase, "password", "must_change")
            }
            Standing::Fine | Standing::ExpiresSoon { .. } => {}
        }
        Outcome::NotCovered
    }

    /// The change as a caller no scope covers gets it (the new credential handed on), with
    /// each rule it breaks reported; only a change that passes is kept for the commit line.
    fn report_password(&self, user: &UserName, scope: &Scope) -> Outcome {
        let phase = Phase::Password;
        let policy = self.policy(scope);
        let store = match self.store() {
            Ok(s) => s,
            Err(_) => return self.pass_through(),
        };
        match self.too_soon(store, user, policy) {
            Ok(Some(v)) => self.would_refuse(user, phase, "password", v.rule),
            Ok(None) => {}
            Err(o) => self.would_refuse(user, phase, "password", outcome_word(o)),
        }
        let account = match self.world.directory().lookup(user.as_str()) {
            Ok(Some(a)) => a,
            _ => return self.pass_through(),
        };
        let history = self
            .report_record(user)
            .map(|r| {
                lifecycle::credential(&r, self.login.credential)
                    .history
                    .clone()
            })
            .unwrap_or_default();
        let conv = self.world.conversation();
        let given = conv.authtok();
        let what = self.credential_word();
        for _ in 0..if given.is_some() {
            1
        } else {
            super::password::TRIES
        } {
            let new = match &given {
                Some(t) => t.clone(),
                None => match self.ask_twice(what) {
                    None => return Outcome::CredentialRefused,
                    Some(Err(v)) => {
                        // A mismatch is the caller's own retry, as without the module.
                        self.tell(&v.message);
                        continue;
                    }
                    Some(Ok(n)) => n,
                },
            };
            return match self.check(&new, policy, &account, &history) {
                Ok(()) => {
                    // A failure to keep the change for the commit line is logged there; the
                    // credential is handed on either way.
                    let _ = self.hand_over(user, &new, policy, given.is_none());
                    Outcome::Allowed
                }
                Err(v) => {
                    self.would_refuse(user, phase, "password", v.rule);
                    if given.is_none() && !conv.set_authtok(&new) {
                        return self.system_error(
                            "could not set PAM_AUTHTOK for the next password module",
                        );
                    }
                    Outcome::Allowed
                }
            };
        }
        Outcome::CredentialRefused
    }
}

fn lock_word(lock: Lock) -> &'static str {
    match lock {
        Lock::Admin { .. } => "admin_lock",
        Lock::Hack { .. } => "hack_lock",
        Lock::Inactive { .. } => "inactive_lock",
    }
}

fn phase_word(phase: Phase) -> &'static str {
    match phase {
        Phase::Preauth => "preauth",
        Phase::Authfail => "authfail",
        Phase::Ticket => "ticket",
        Phase::Account => "account",
        Phase::PasswordPrelim => "password_prelim",
        Phase::Password => "password",
        Phase::PasswordCommit => "commit",
        Phase::SessionOpen => "session_open",
        Phase::SessionClose => "session_close",
    }
}

/// The reason a backstop `would_refuse` gives for an outcome.
fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::NotCovered => "not_covered",
        Outcome::Allowed => "allowed",
        Outcome::Locked | Outcome::AccountLocked => "locked",
        Outcome::AuthFailed => "auth_failed",
        Outcome::UnprivilegedDenied => "unprivileged",
        Outcome::ConfigBroken => "config_broken",
        Outcome::SystemError => "system_error",
        Outcome::Unavailable => "unavailable",
        Outcome::NewAuthtokRequired => "new_authtok_required",
        Outcome::CredentialRefused => "credential_refused",
        Outcome::ProtectLocked => "protect_locked",
    }
}
