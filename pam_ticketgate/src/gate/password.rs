//! The `password` phase (chauthtok): the minimum interval between changes, the new credential
//! asked twice (or taken from an earlier module), the credential rules and the history. The
//! change is recorded (last change, must-change cleared, history) only by the `commit` line
//! after the password module, once that module stored it. A caller no scope covers gets the
//! new credential asked twice and `PAM_AUTHTOK` set, with no rules, as without the module.

use super::{Gate, Outcome, PendingChange, Subject};
use crate::args::Credential;
use crate::audit::EventName;
use crate::config::Policy;
use crate::directory::Account;
use crate::lifecycle;
use crate::rules::{self, Violation};
use crate::secret::Secret;
use crate::store::StateStore;
use crate::user::UserName;

/// Tries the user gets within one change (as `pam_pwquality retry=3`).
pub(super) const TRIES: usize = 3;

impl Gate<'_> {
    /// First pass: refuse early (before any prompt) when the user changed it too recently.
    pub(super) fn password_prelim(&self, subject: Subject) -> Outcome {
        let Some((user, scope)) = subject.under_policy() else {
            return Outcome::NotCovered;
        };
        let store = match self.store() {
            Ok(s) => s,
            Err(o) => return o,
        };
        match self.too_soon(store, &user, self.policy(scope)) {
            Ok(None) => Outcome::Allowed,
            Ok(Some(v)) => self.refuse_change(&user, &v),
            Err(o) => o,
        }
    }

    pub(super) fn password(&self, subject: Subject) -> Outcome {
        let Some((user, scope)) = subject.under_policy() else {
            return self.pass_through();
        };
        let policy = self.policy(scope);
        let store = match self.store() {
            Ok(s) => s,
            Err(o) => return o,
        };
        match self.too_soon(store, &user, policy) {
            Ok(None) => {}
            Ok(Some(v)) => return self.refuse_change(&user, &v),
            Err(o) => return o,
        }
        let account = match self.world.directory().lookup(user.as_str()) {
            Ok(Some(a)) => a,
            Ok(None) => return self.pass_through(),
            Err(e) => return self.system_error(&e.to_string()),
        };
        let history = match store.load(&user) {
            Ok(r) => lifecycle::credential(&r.unwrap_or_default(), self.login.credential)
                .history
                .clone(),
            Err(e) => return self.system_error(&e.to_string()),
        };
        let conv = self.world.conversation();
        let given = conv.authtok();
        let what = self.credential_word();
        for _ in 0..if given.is_some() { 1 } else { TRIES } {
            let new = match &given {
                Some(t) => Ok(t.clone()),
                None => match self.ask_twice(what) {
                    Some(answer) => answer,
                    None => return Outcome::CredentialRefused,
                },
            };
            match new.and_then(|n| self.check(&n, policy, &account, &history).map(|()| n)) {
                Ok(n) => return self.hand_over(&user, &n, policy, given.is_none()),
                Err(v) => {
                    self.tell(&v.message);
                    self.audit.event(
                        &self
                            .event(EventName::CredentialUpdateFailed, user.as_str())
                            .with("rule", v.rule)
                            .with("credential", what),
                        self.now,
                    );
                }
            }
        }
        Outcome::CredentialRefused
    }

    /// For a caller no rule applies to: what the stack gets without the module. An earlier
    /// module's `PAM_AUTHTOK` is passed on; else the new credential is asked twice and set as
    /// `PAM_AUTHTOK` for the password module's `use_authtok` (as `pam_pwquality` does).
    pub(super) fn pass_through(&self) -> Outcome {
        let conv = self.world.conversation();
        if conv.authtok().is_some() {
            return Outcome::Allowed;
        }
        let what = self.credential_word();
        for _ in 0..TRIES {
            match self.ask_twice(what) {
                None => return Outcome::CredentialRefused,
                Some(Err(v)) => self.tell(&v.message),
                Some(Ok(new)) => {
                    return if conv.set_authtok(&new) {
                        Outcome::Allowed
                    } else {
                        self.system_error("could not set PAM_AUTHTOK for the next password module")
                    };
                }
            }
        }
        Outcome::CredentialRefused
    }

    /// After the password module (`commit`): records the change the `password` line checked in
    /// this handle, once the password module really stored it.
    pub(super) fn password_commit(&self, subject: Subject) -> Outcome {
        let Some((user, scope)) = subject.under_policy() else {
            return Outcome::NotCovered;
        };
        let conv = self.world.conversation();
        let Some(pending) = conv.take_pending() else {
            return Outcome::NotCovered;
        };
        if pending.user != user.as_str() || pending.credential != self.login.credential {
            return Outcome::NotCovered;
        }
        if let Some(before) = &pending.shadow_before {
            match self.world.directory().shadow(user.as_str()) {
                Ok(Some(after)) if after.hash != *before => {}
                Ok(_) => {
                    self.audit.event(
                        &self
                            .event(EventName::CredentialUpdateFailed, user.as_str())
                            .with("rule", "not_stored")
                            .with("credential", self.credential_word()),
                        self.now,
                    );
                    return Outcome::CredentialRefused;
                }
                Err(e) => return self.system_error(&e.to_string()),
            }
        }
        let store = match self.store() {
            Ok(s) => s,
            Err(o) => return o,
        };
        self.record_change(store, &user, pending, self.policy(scope))
    }

    pub(super) fn credential_word(&self) -> &'static str {
        match self.login.credential {
            Credential::Password => "password",
            Credential::Pin => "PIN",
        }
    }

    /// `Some(Err)` when the two entries differ; `None` when the client gave no answer.
    pub(super) fn ask_twice(&self, what: &str) -> Option<Result<Secret, Violation>> {
        let conv = self.world.conversation();
        let first = conv.prompt(&format!("New {what}: "), false)?;
        let second = conv.prompt(&format!("Retype new {what}: "), false)?;
        Some(if first == second {
            Ok(first)
        } else {
            Err(Violation::new(
                "mismatch",
                format!("Sorry, the {what}s do not match."),
            ))
        })
    }

    pub(super) fn check(
        &self,
        new: &Secret,
        policy: &Policy,
        account: &Account,
        history: &[String],
    ) -> Result<(), Violation> {
        match self.login.credential {
            Credential::Password => rules::check_password(new.expose(), policy, account)?,
            Credential::Pin => rules::check_pin(new.expose(), policy, account)?,
        }
        let keep = usize::try_from(policy.history).unwrap_or(0);
        let recent = history.iter().rev().take(keep);
        let old = self.world.conversation().old_authtok().filter(|_| keep > 0);
        if old.is_some_and(|o| o == *new) || recent.into_iter().any(|h| crate::hash::verify(new, h))
        {
            return Err(Violation::new(
                "history",
                format!(
                    "You used this {} recently; choose another.",
                    self.credential_word()
                ),
            ));
        }
        Ok(())
    }

    /// `Some` when the user (not root) changed it less than `min_change_interval` ago.
    pub(super) fn too_soon(
        &self,
        store: &dyn StateStore,
        user: &UserName,
        policy: &Policy,
    ) -> Result<Option<Violation>, Outcome> {
        if self.login.real_uid == 0 || policy.min_change_interval.is_zero() {
            return Ok(None);
        }
        let record = store
            .load(user)
            .map_err(|e| self.system_error(&e.to_string()))?
            .unwrap_or_default();
        let Some(last) = lifecycle::credential(&record, self.login.credential).last_change else {
            return Ok(None);
        };
        let next = last.saturating_add(
            i64::try_from(policy.min_change_interval.as_secs()).unwrap_or(i64::MAX),
        );
        if self.now >= next {
            return Ok(None);
        }
        Ok(Some(Violation::new(
            "min_change_interval",
            format!(
                "You changed your {} too recently; try again after {}.",
                self.credential_word(),
                crate::timefmt::utc(next)
            ),
        )))
    }

    fn refuse_change(&self, user: &UserName, v: &Violation) -> Outcome {
        self.tell(&v.message);
        self.audit.event(
            &self
                .event(EventName::CredentialUpdateFailed, user.as_str())
                .with("rule", v.rule)
                .with("credential", self.credential_word()),
            self.now,
        );
        Outcome::CredentialRefused
    }

    /// Hands the credential to the password module and keeps the change for the `commit`
    /// line: the salted Argon2 hash for the history, and the shadow hash before the change.
    pub(super) fn hand_over(
        &self,
        user: &UserName,
        new: &Secret,
        policy: &Policy,
        prompted: bool,
    ) -> Outcome {
        if prompted && !self.world.conversation().set_authtok(new) {
            return self.system_error("could not set PAM_AUTHTOK for the next password module");
        }
        let history_hash = if policy.history > 0 {
            match crate::hash::hash(new) {
                Ok(h) => Some(h),
                Err(e) => return self.system_error(&e.to_string()),
            }
        } else {
            None
        };
        let shadow_before = match self.login.credential {
            Credential::Password => match self.world.directory().shadow(user.as_str()) {
                Ok(entry) => entry.map(|e| e.hash),
                Err(e) => return self.system_error(&e.to_string()),
            },
            Credential::Pin => None,
        };
        let pending = PendingChange {
            user: user.as_str().to_string(),
            credential: self.login.credential,
            history_hash,
            shadow_before,
        };
        if !self.world.conversation().keep_pending(pending) {
            return self.system_error("could not keep the checked change for the commit line");
        }
        Outcome::Allowed
    }

    /// Records the change: time, must-change cleared, the hash appended to the history.
    fn record_change(
        &self,
        store: &dyn StateStore,
        user: &UserName,
        pending: PendingChange,
        policy: &Policy,
    ) -> Outcome {
        let (now, which) = (self.now, pending.credential);
        let hash = pending.history_hash.filter(|_| policy.history > 0);
        let updated = store.update(user, &mut |r| {
            crate::admin::note_change(r, which, hash.as_ref(), now);
        });
        if let Err(e) = updated {
            return self.system_error(&e.to_string());
        }
        self.audit.event(
            &self
                .event(EventName::CredentialUpdate, user.as_str())
                .with("credential", self.credential_word()),
            now,
        );
        Outcome::Allowed
    }
}
