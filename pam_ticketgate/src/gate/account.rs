//! The `account` phase: locks (admin, hack, inactivity), the credential's lifecycle (expiry
//! with warning, must-change), and the reset after a successful authentication in this handle.

use super::{Gate, Outcome, Subject};
use crate::audit::EventName;
use crate::lifecycle::{self, Standing};
use crate::lockout;
use crate::store::{Record, StoreError};

impl Gate<'_> {
    pub(super) fn account(&self, subject: Subject) -> Outcome {
        let (user, scope, exempt) = match subject {
            Subject::NotCovered | Subject::Unknown => return Outcome::NotCovered,
            Subject::Known {
                user,
                scope,
                exempt,
                ..
            } => (user, scope, exempt),
        };
        let policy = self.policy(scope);
        let store = match self.store() {
            Ok(s) => s,
            Err(o) => return o,
        };
        let (loaded, lock) = match self.record_and_lock(store, &user, policy, exempt) {
            Ok(found) => found,
            Err(Outcome::Locked) => return self.account_locked(),
            Err(o) => return o,
        };
        if lock.is_some() {
            return self.account_locked();
        }
        let (now, authenticated, which) =
            (self.now, self.login.authenticated, self.login.credential);
        let apply = |r: &mut Record| {
            r.first_seen.get_or_insert(now);
            if authenticated && lockout::current_lock(r, which, now).is_none() {
                lockout::record_success(r, which);
                lifecycle::note_activity(r, now);
            }
        };
        // Most logins change nothing durable: then no lock file and no write. Otherwise one
        // read-modify-write under the lock (first sight; the reset and activity stamp after a
        // successful authentication).
        let mut probe = loaded.clone();
        apply(&mut probe);
        let record = if probe == loaded {
            loaded
        } else {
            match store.update(&user, &mut |r| apply(r)) {
                Ok(r) => r,
                Err(e @ StoreError::Corrupt { .. }) => {
                    self.audit.error(&e.to_string());
                    return self.account_locked();
                }
                Err(e) => return self.system_error(&e.to_string()),
            }
        };
        if !exempt && lockout::current_lock(&record, which, now).is_some() {
            return self.account_locked();
        }
        if authenticated && let Err(e) = store.set_last_success(&user, &self.attempt()) {
            self.audit.error(&e.to_string());
        }
        if exempt {
            // The password policy does not apply: no expiry, no must-change of ours.
            return Outcome::Allowed;
        }
        let what = match self.login.credential {
            crate::args::Credential::Password => "password",
            crate::args::Credential::Pin => "PIN",
        };
        let outside = self.outside_change(&user, policy);
        match lifecycle::standing(&record, which, policy, &outside, now) {
            Standing::Fine => Outcome::Allowed,
            Standing::ExpiresSoon { days_left, .. } => {
                if !self.login.silent {
                    let when = match days_left {
                        0 => "today".to_string(),
                        1 => "in 1 day".to_string(),
                        n => format!("in {n} days"),
                    };
                    self.world
                        .conversation()
                        .info(&format!("Your {what} expires {when}; change it soon."));
                }
                Outcome::Allowed
            }
            Standing::Expired { at } => {
                self.tell(&format!("Your {what} has expired; you must change it now."));
                self.audit.event(
                    &self
                        .event(EventName::ExpiredLock, user.as_str())
                        .with("expired_at", at)
                        .with("credential", what),
                    now,
                );
                Outcome::NewAuthtokRequired
            }
            Standing::MustChange => {
                self.tell(&format!(
                    "You must change your {what} now (required by your administrator)."
                ));
                self.audit.event(
                    &self
                        .event(EventName::MustChange, user.as_str())
                        .with("credential", what),
                    now,
                );
                Outcome::NewAuthtokRequired
            }
        }
    }

    /// What the shadow entry says of the password (changes made without the module: chpasswd,
    /// `passwd -e`, usermod), when the policy expires passwords. Nothing for PINs; an
    /// unreadable entry is logged and passed over. Without `expires_after` the entry is not
    /// read: a `getspnam` costs about 15 µs on every login, and `pam_unix`'s own account check
    /// already enforces `passwd -e`.
    pub(super) fn outside_change(
        &self,
        user: &crate::user::UserName,
        policy: &crate::config::Policy,
    ) -> lifecycle::Outside {
        if self.login.credential != crate::args::Credential::Password
            || policy.expires_after.is_none()
        {
            return lifecycle::Outside::default();
        }
        match self.world.directory().shadow(user.as_str()) {
            Ok(Some(shadow)) => lifecycle::Outside {
                last_change: shadow.last_change(),
                must_change: shadow.must_change(),
            },
            Ok(None) => lifecycle::Outside::default(),
            Err(e) => {
                self.audit.error(&e.to_string());
                lifecycle::Outside::default()
            }
        }
    }

    fn account_locked(&self) -> Outcome {
        self.tell("Account locked; contact your administrator.");
        Outcome::AccountLocked
    }
}
