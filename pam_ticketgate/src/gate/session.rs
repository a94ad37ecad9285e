//! The `session` phase: record each session under `run_dir` on open, remove it on close, so
//! that `ticketgate sessions` can list and `ticketgate terminate` can end them.

use super::{Gate, Outcome, Subject};
use crate::audit::EventName;
use crate::run_dir::RunDir;
use crate::session::{self, SessionRecord, Sessions};

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
        let sessions =
            match RunDir::open(&self.config.module.run_dir).and_then(|r| Sessions::new(&r)) {
                Ok(s) => s,
                Err(e) => return self.system_error(&e.to_string()),
            };
        if let Err(e) = sessions.open(&record) {
            return self.system_error(&e.to_string());
        }
        let event = self
            .event(EventName::SessionOpen, user.as_str())
            .with("tty", self.login.tty)
            .with("pid", pid);
        self.audit
            .event(&event.with("ticket", ticket.unwrap_or_default()), self.now);
        Outcome::Allowed
    }

    pub(super) fn session_close(&self, subject: Subject) -> Outcome {
        let Subject::Known { user, .. } = subject else {
            return Outcome::NotCovered;
        };
        let sessions =
            match RunDir::open(&self.config.module.run_dir).and_then(|r| Sessions::new(&r)) {
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
