//! The fleet lockout in the `auth` phases: `preauth` asks the fleet server whether the user is
//! locked fleet-wide, `authfail` reports the failure, the `ticket` line reports the success when
//! the fleet had failures on record or events wait in the spool (so a login with none makes one
//! round trip). Events made while the server is unreachable are spooled, and sent oldest first
//! before the login's own call the next time it answers; `[offline] fleet` decides what an
//! unreachable server means for the login.

use super::{FleetSeen, Gate, Outcome};
use crate::audit::{Event, EventName, quote, quoted_user};
use crate::config::{Fleet, FleetFallback};
use crate::fleet::spool::{self, FleetSpool};
use crate::fleet::{self, FleetEvent, FleetServer, Kind, LockReason, Origin, Reply, Standing};
use crate::fsutil::FileError;
use crate::net::NetError;
use crate::offline::Breaker;
use crate::user::UserName;

/// Shown when the fleet server cannot be reached and `[offline] fleet = "deny"`.
pub const OFFLINE_MESSAGE: &str =
    "Login is unavailable: the fleet lockout server cannot be reached; try again later.";
/// Shown when the fleet server refused the module's request (a verdict or misconfiguration).
pub const REFUSED_MESSAGE: &str = "Fleet lockout check failed; contact your administrator.";

/// The fleet server, reached for one phase of one login.
struct Reach<'r> {
    fleet: &'r Fleet,
    server: Box<dyn FleetServer + 'r>,
    breaker: Box<dyn Breaker + 'r>,
}

impl Gate<'_> {
    /// `preauth`: `None` = go on; `Some(outcome)` = refused (locked fleet-wide, the server
    /// refused the check, or unreachable under `[offline] fleet = "deny"`).
    pub(super) fn fleet_preauth(&self, user: &UserName) -> Option<Outcome> {
        let reach = match self.fleet_reach() {
            Ok(r) => r,
            Err(outcome) => return Some(outcome),
        };
        let mut seen = self.fleet_seen(user);
        let reply = match self.fleet_drain(&reach) {
            Err(reason) => Reply::Offline(reason),
            Ok(()) => self.fleet_call(&reach, |s| s.check(user.as_str(), self.login.credential)),
        };
        let outcome = match reply {
            Reply::Answered(standing) => {
                seen.failures = Some(standing.failures);
                standing
                    .locked
                    .then(|| self.refuse_fleet_locked(user, &standing))
            }
            Reply::Offline(reason) => self.fleet_offline(user, &mut seen, "preauth", &reason, true),
            Reply::Denied(reason) => {
                seen.failures = None;
                Some(self.fleet_refused(user, &reach, "check", &reason))
            }
        };
        self.keep_fleet(seen);
        outcome
    }

    /// Report mode: the user's standing, asked of the server only (nothing drained, sent or
    /// spooled); `Ok(None)` when the server could not answer.
    pub(super) fn fleet_standing(&self, user: &UserName) -> Result<Option<Standing>, Outcome> {
        let reach = self.fleet_reach()?;
        Ok(
            match self.fleet_call(&reach, |s| s.check(user.as_str(), self.login.credential)) {
                Reply::Answered(standing) => Some(standing),
                Reply::Offline(_) | Reply::Denied(_) => None,
            },
        )
    }

    /// `authfail`: reports the failed logon (spooled while the server is unreachable).
    pub(super) fn fleet_failure(&self, user: &UserName) {
        let Some(event) = self.fleet_event(Kind::Failure, user) else {
            return;
        };
        let mut seen = self.fleet_seen(user);
        seen.failures = None;
        let reach = match self.fleet_reach() {
            Ok(r) => r,
            // Logged; the failure waits in the spool until the configuration is repaired.
            Err(_) => {
                self.fleet_spool(event);
                self.keep_fleet(seen);
                return;
            }
        };
        let reply = match self.fleet_drain(&reach) {
            Err(reason) => Reply::Offline(reason),
            Ok(()) => self.fleet_call(&reach, |s| s.failure(&event)),
        };
        match reply {
            Reply::Answered(standing) => {
                seen.failures = Some(standing.failures);
                if standing.locked {
                    self.audit.event(
                        &self.fleet_lock_event(user, "authfail", &standing),
                        self.now,
                    );
                }
            }
            Reply::Offline(reason) => {
                self.fleet_spool(event);
                self.fleet_offline(user, &mut seen, "authfail", &reason, false);
            }
            Reply::Denied(reason) => {
                self.audit.error(&format!(
                    "fleet {}: the failure of {} was refused: {} (not treated as offline, not spooled)",
                    reach.fleet.url,
                    quoted_user(user.as_str()),
                    quote(&reason)
                ));
            }
        }
        self.keep_fleet(seen);
    }

    /// The `ticket` line, after every other check passed: reports the success when the fleet
    /// had failures on record (or could not be asked) or events wait in the spool. `Some` =
    /// refused (the server refused the report, or unreachable under `"deny"`).
    pub(super) fn fleet_success(&self, user: &UserName) -> Option<Outcome> {
        let mut seen = self.fleet_seen(user);
        // One round trip per clean login: preauth's check said there is nothing to clear.
        if seen.failures == Some(0) && self.files().fleet_spool().is_empty() {
            return None;
        }
        let reach = match self.fleet_reach() {
            Ok(r) => r,
            Err(outcome) => return Some(outcome),
        };
        let event = self.fleet_event(Kind::Success, user)?;
        let reply = match self.fleet_drain(&reach) {
            Err(reason) => Reply::Offline(reason),
            Ok(()) => self.fleet_call(&reach, |s| s.success(&event)),
        };
        let outcome = match reply {
            Reply::Answered(()) => {
                seen.failures = Some(0);
                None
            }
            Reply::Offline(reason) => {
                let refused = self.fleet_offline(user, &mut seen, "ticket", &reason, true);
                if refused.is_none() {
                    self.fleet_spool(event);
                }
                refused
            }
            Reply::Denied(reason) => {
                seen.failures = None;
                Some(self.fleet_refused(user, &reach, "success", &reason))
            }
        };
        self.keep_fleet(seen);
        outcome
    }

    /// The server and its breaker; a missing `[fleet]`, an unreadable host token or an unusable
    /// `run_dir` is a broken configuration (logged).
    fn fleet_reach(&self) -> Result<Reach<'_>, Outcome> {
        let Some(fleet) = self.config.fleet.as_ref() else {
            // The config parser requires [fleet] for such a scope; fail closed anyway.
            self.audit.error(&format!(
                "config {}: a scope sets fleet = true but there is no [fleet]",
                self.config.path.display()
            ));
            return Err(Outcome::ConfigBroken);
        };
        let server = self.world.fleet_server(self.config, fleet).map_err(|e| {
            let event = Event::new(
                EventName::ConfigError,
                self.login.user,
                self.login.service,
                self.login.rhost,
            )
            .with("error", e.to_string());
            self.audit.event(&event, self.now);
            Outcome::ConfigBroken
        })?;
        let breaker = self.files().breaker(fleet::BREAKER).map_err(|e| {
            self.audit.error(&e.to_string());
            Outcome::ConfigBroken
        })?;
        Ok(Reach {
            fleet,
            server,
            breaker,
        })
    }

    /// One call behind the breaker.
    fn fleet_call<T>(
        &self,
        reach: &Reach,
        call: impl FnOnce(&dyn FleetServer) -> Result<T, NetError>,
    ) -> Reply<T> {
        fleet::ask(
            reach.breaker.as_ref(),
            self.config.offline.retry_after,
            self.now,
            || call(reach.server.as_ref()),
        )
    }

    /// Sends the spooled events, oldest first, each once; the first that fails stops the drain
    /// and the rest stay. `Err(reason)`: the first send found the server unreachable (the
    /// login's own call is not made: it would cost another deadline). A later send that fails
    /// so (the drain's one deadline passed, or the server went away) only stops the drain: the
    /// login's own call, with its own deadline, finds out which.
    fn fleet_drain(&self, reach: &Reach) -> Result<(), String> {
        let spool = self.files().fleet_spool();
        // The spool lives in state_dir: it is read only once that passed its checks (a planted
        // spool would send events nobody made).
        if spool.is_empty() || self.store().is_err() {
            return Ok(());
        }
        let events = match spool.events() {
            Ok(events) => events,
            Err(e) => {
                self.fleet_spool_unusable(spool.as_ref(), e);
                return Ok(());
            }
        };
        let mut sent = Vec::new();
        let mut result = Ok(());
        for event in &events {
            // The first goes through the breaker; once the server answered, the rest need not.
            let reply = if sent.is_empty() {
                self.fleet_call(reach, |s| s.spooled(event))
            } else {
                match reach.server.spooled(event) {
                    Ok(standing) => Reply::Answered(standing),
                    Err(NetError::Unreachable(m)) => Reply::Offline(m),
                    Err(NetError::Denied(m)) => Reply::Denied(m),
                }
            };
            match reply {
                Reply::Answered(_) => sent.push(event.id.clone()),
                Reply::Offline(reason) if sent.is_empty() => {
                    result = Err(reason);
                    break;
                }
                Reply::Offline(_) => break,
                Reply::Denied(reason) => {
                    self.audit.error(&format!(
                        "fleet {}: a spooled {} event of {} (id {}) was refused: {}; it stays \
                         in the spool and the drain stops",
                        reach.fleet.url,
                        event.kind.as_str(),
                        quoted_user(&event.user),
                        event.id,
                        quote(&reason)
                    ));
                    break;
                }
            }
        }
        if let Err(e) = spool::remove_sent(spool.as_ref(), &sent) {
            // The server counts each id once: sending them again later is harmless.
            self.audit.error(&format!(
                "fleet spool: {} sent event(s) could not be removed: {e}",
                sent.len()
            ));
        }
        result
    }

    /// Appends `event` to the spool (a corrupt spool is set aside first); a dropped oldest
    /// event is audited, an event that cannot be spooled is logged as lost.
    fn fleet_spool(&self, event: FleetEvent) {
        // The spool lives in state_dir: only once that passed its checks.
        if self.store().is_err() {
            self.audit.error(&format!(
                "fleet: the {} event of {} (id {}) is lost: state_dir is unusable",
                event.kind.as_str(),
                quoted_user(&event.user),
                event.id
            ));
            return;
        }
        let spool = self.files().fleet_spool();
        let mut pushed = spool::push(spool.as_ref(), event.clone(), fleet::SPOOL_LIMIT);
        if let Err(e @ FileError::Corrupt { .. }) = pushed {
            self.fleet_spool_unusable(spool.as_ref(), e);
            pushed = spool::push(spool.as_ref(), event.clone(), fleet::SPOOL_LIMIT);
        }
        match pushed {
            Ok(dropped) => {
                for d in dropped {
                    let gone =
                        Event::new(EventName::FleetSpoolDropped, &d.user, &d.service, &d.rhost)
                            .with("kind", d.kind.as_str())
                            .with("id", &d.id)
                            .with("at", d.at)
                            .with("limit", fleet::SPOOL_LIMIT);
                    self.audit.event(&gone, self.now);
                }
            }
            Err(e) => self.audit.error(&format!(
                "fleet spool: the {} event of {} (id {}) is lost: {e}",
                event.kind.as_str(),
                quoted_user(&event.user),
                event.id
            )),
        }
    }

    /// A spool that cannot be read: a corrupt one is set aside (kept for the administrator)
    /// so it never blocks logins; any other problem is logged and the spool left alone.
    fn fleet_spool_unusable(&self, spool: &dyn FleetSpool, error: FileError) {
        match error {
            FileError::Corrupt { .. } => match spool.set_aside(self.now) {
                Ok(aside) => self.audit.error(&format!(
                    "fleet spool {error}; set aside as {}: its events are not sent",
                    aside.display()
                )),
                Err(e) => self.audit.error(&format!(
                    "fleet spool {error}; it could not be set aside: {e}"
                )),
            },
            other => self.audit.error(&format!("fleet spool {other}; not used")),
        }
    }

    /// The server is unreachable in `phase`: `fleet_offline` once per login. `Some(outcome)`
    /// when `refuse` and `[offline] fleet = "deny"`.
    fn fleet_offline(
        &self,
        user: &UserName,
        seen: &mut FleetSeen,
        phase: &str,
        reason: &str,
        refuse: bool,
    ) -> Option<Outcome> {
        seen.failures = None;
        let mode = self.config.offline.fleet;
        let denied = refuse && mode == FleetFallback::Deny;
        let url = self
            .config
            .fleet
            .as_ref()
            .map(|f| f.url.as_str())
            .unwrap_or_default();
        if !seen.offline_reported || denied {
            seen.offline_reported = true;
            let event = self
                .event(EventName::FleetOffline, user.as_str())
                .with("phase", phase)
                .with(
                    "mode",
                    match mode {
                        FleetFallback::Local => "local",
                        FleetFallback::Deny => "deny",
                    },
                )
                .with(
                    "result",
                    match (mode, denied) {
                        (_, true) => "denied",
                        (FleetFallback::Local, false) => "local",
                        (FleetFallback::Deny, false) => "spooled",
                    },
                )
                .with("reason", reason)
                .with("url", url);
            self.audit.event(&event, self.now);
        }
        if !denied {
            return None;
        }
        self.audit.error(&format!(
            "fleet {url} unreachable ({}): [offline] fleet = \"deny\" refuses the login of {}",
            quote(reason),
            quoted_user(user.as_str())
        ));
        self.tell(OFFLINE_MESSAGE);
        Some(Outcome::Unavailable)
    }

    /// The server refused a request (401, 403, 404, TLS, a malformed answer): deny, logged,
    /// never an offline fallback.
    fn fleet_refused(&self, user: &UserName, reach: &Reach, what: &str, reason: &str) -> Outcome {
        self.audit.error(&format!(
            "fleet {}: {what} for {} refused: {} (not treated as offline)",
            reach.fleet.url,
            quoted_user(user.as_str()),
            quote(reason)
        ));
        self.tell(REFUSED_MESSAGE);
        Outcome::SystemError
    }

    /// Refuses a login the fleet has locked, with the message a local lock of the same kind
    /// shows.
    fn refuse_fleet_locked(&self, user: &UserName, standing: &Standing) -> Outcome {
        let message = match (standing.reason, standing.until) {
            (Some(LockReason::Failures), Some(until)) => {
                let minutes = ((until - self.now + 59) / 60).max(1);
                format!(
                    "Account locked after too many failed logins; try again in {minutes} minute(s)."
                )
            }
            (Some(LockReason::Failures), None) => {
                "Account locked after too many failed logins; contact your administrator."
                    .to_string()
            }
            _ => "Account locked; contact your administrator.".to_string(),
        };
        self.tell(&message);
        self.audit
            .event(&self.fleet_lock_event(user, "preauth", standing), self.now);
        Outcome::Locked
    }

    fn fleet_lock_event(&self, user: &UserName, phase: &str, standing: &Standing) -> Event {
        self.event(EventName::FleetLock, user.as_str())
            .with("phase", phase)
            .with(
                "reason",
                standing.reason.map_or("unknown", LockReason::as_str),
            )
            .with(
                "until",
                standing
                    .until
                    .map_or_else(|| "admin".to_string(), |u| u.to_string()),
            )
            .with("failures", standing.failures)
    }

    /// A new event of this login; `None` (logged) when the OS gives no random bytes for its id.
    fn fleet_event(&self, kind: Kind, user: &UserName) -> Option<FleetEvent> {
        let hosts = self.world.host();
        let host = if hosts.fqdn.is_empty() {
            hosts.short
        } else {
            hosts.fqdn
        };
        let origin = Origin {
            user: user.as_str(),
            credential: self.login.credential,
            host: &host,
            service: self.login.service,
            rhost: self.login.rhost,
        };
        match FleetEvent::new(kind, &origin, self.now) {
            Ok(event) => Some(event),
            Err(e) => {
                self.audit.error(&format!(
                    "fleet: no random bytes for an event id ({e}); the {} of {} is not reported",
                    kind.as_str(),
                    quoted_user(user.as_str())
                ));
                None
            }
        }
    }

    /// What earlier lines of this login learned from the fleet about `user`.
    fn fleet_seen(&self, user: &UserName) -> FleetSeen {
        self.world
            .conversation()
            .fleet_seen()
            .filter(|s| s.user == user.as_str())
            .unwrap_or_else(|| FleetSeen {
                user: user.as_str().to_string(),
                failures: None,
                offline_reported: false,
            })
    }

    /// Keeps `seen` for the login's later lines (only a saving: without it the `ticket` line
    /// reports the success, and `fleet_offline` may be logged once more).
    fn keep_fleet(&self, seen: FleetSeen) {
        let _ = self.world.conversation().keep_fleet(seen);
    }
}
