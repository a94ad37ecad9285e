//! The `session` phase: record each session under `run_dir` on open, remove it on close, so
//! that `ticketgate sessions` can list and `ticketgate terminate` can end them.

use super::{Gate, Outcome, Subject};
use crate::audit::EventName;
use crate::session::{self, SessionRecord};

impl Gate<'_> {
    pub(super) fn session_open(&self, subject: Subject) -> Outcome {
        let Subject::Known { user, .. } = subject else {
            return Outcome::NotCovered;
        };
        let pid = self.login.pid;
        let (Some(start_ticks), Some(uid)) = (session::start_ticks(pid), session::real_uid(pid))
        else {
            return self.system_error(&format!(
                "session of {}: process {pid} not found in /proc",
                crate::audit::quoted_user(user.as_str())
            ));
        };
        let ticket = self.world.conversation().getenv("TICKETGATE_TICKET");
        let record = SessionRecord {
            user: user.as_str().into(),
            service: self.login.service.into(),
            tty: self.login.tty.into(),
            rhost: self.login.rhost.into(),
            pid,
            start_ticks,
            uid,
            ticket: ticket.clone(),
            start: self.now,
        };
        let sessions = match self.files().sessions() {
            Ok(s) => s,
            Err(e) => return self.system_error(&e.to_string()),
        };
        if let Err(e) = sessions.open(&record) {
            return self.system_error(&e.to_string());
        }
        self.note_session_activity(&user);
        let event = self
            .event(EventName::SessionOpen, user.as_str())
            .with("tty", self.login.tty)
            .with("pid", pid);
        self.audit
            .event(&event.with("ticket", ticket.unwrap_or_default()), self.now);
        Outcome::Allowed
    }

    /// A session opened is a successful login (ssh keys, `su` from root, `login`), so it counts
    /// as activity for the inactivity lock, as a login through the `ticket` line does. The
    /// durable stamp is written at most twice a day; a failure to write it is logged, the
    /// session goes on.
    fn note_session_activity(&self, user: &crate::user::UserName) {
        let Ok(store) = self.store() else {
            return;
        };
        let now = self.now;
        let stale = match store.load(user) {
            Ok(record) => {
                let record = record.unwrap_or_default();
                let mut probe = record.clone();
                crate::lifecycle::note_activity(&mut probe, now);
                probe != record
            }
            Err(e) => {
                self.audit.error(&e.to_string());
                return;
            }
        };
        if stale
            && let Err(e) = store.update(user, &mut |r| {
                r.first_seen.get_or_insert(now);
                crate::lifecycle::note_activity(r, now);
            })
        {
            self.audit.error(&e.to_string());
        }
        if let Err(e) = store.set_last_success(user, &self.attempt()) {
            self.audit.error(&e.to_string());
        }
    }

    pub(super) fn session_close(&self, subject: Subject) -> Outcome {
        let Subject::Known { user, .. } = subject else {
            return Outcome::NotCovered;
        };
        let sessions = match self.files().sessions() {
            Ok(s) => s,
            Err(e) => return self.system_error(&e.to_string()),
        };
        match sessions.close(self.login.pid) {
            Some(r) => {
                let event = self
                    .event(EventName::SessionClose, user.as_str())
                    .with("tty", &r.tty)
                    .with("pid", r.pid);
                self.audit.event(
                    &event.with("seconds", self.now.saturating_sub(r.start)),
                    self.now,
                );
                Outcome::Allowed
            }
            None => Outcome::NotCovered,
        }
    }
}
