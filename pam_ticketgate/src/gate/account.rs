//! The `account` phase: locks, and the reset after a successful authentication in this handle.

use super::{Gate, Outcome, Subject};
use crate::lockout;
use crate::store::StoreError;

impl Gate<'_> {
    pub(super) fn account(&self, subject: Subject) -> Outcome {
        let user = match subject {
            Subject::NotCovered | Subject::Unknown => return Outcome::NotCovered,
            Subject::Known { user, .. } => user,
        };
        let store = match self.store() {
            Ok(s) => s,
            Err(o) => return o,
        };
        let lock = if self.login.authenticated {
            let mut lock = None;
            // Rewrites the durable record only when there were failures to forget.
            let updated = store.update(&user, &mut |r| {
                lock = lockout::current_lock(r, self.now);
                if lock.is_none() {
                    lockout::record_success(r);
                }
            });
            match updated {
                Ok(_) => {
                    if lock.is_none()
                        && let Err(e) = store.set_last_success(&user, &self.attempt())
                    {
                        self.audit.error(&e.to_string());
                    }
                    Ok(lock)
                }
                Err(e @ StoreError::Corrupt { .. }) => {
                    self.audit.error(&e.to_string());
                    Err(Outcome::Locked)
                }
                Err(e) => Err(self.system_error(&e.to_string())),
            }
        } else {
            self.lock_of(store.as_ref(), &user)
        };
        match lock {
            Ok(None) => Outcome::Allowed,
            Ok(Some(_)) | Err(Outcome::Locked) => {
                self.tell("Account locked; contact your administrator.");
                Outcome::AccountLocked
            }
            Err(o) => o,
        }
    }
}
