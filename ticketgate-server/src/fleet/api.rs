//! `POST /v1/fleet/check|failure|success` as plain functions: bytes and `now` in, status and
//! JSON out. Every request leaves one log line (two when a failure sets a lock).

use super::{
    Cleared, Count, Counted, Credential, Event, FleetPolicy, FleetStore, REMEMBER_IDS, Reason,
    State, canonical_id, clamp_at, secs, window_start,
};
use crate::api::{MAX_FIELD_LEN, Reply};
use crate::audit::{self, Sink};
use crate::clock::since_epoch;
use crate::hosts::HostTokens;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::SystemTime;

/// How often (at most) old event ids are pruned, on the write path.
const PRUNE_EVERY_SECS: i64 = 3600;

#[derive(Deserialize)]
struct CheckRequest {
    user: String,
    credential: String,
}

#[derive(Deserialize)]
struct FailureRequest {
    id: String,
    user: String,
    credential: String,
    host: String,
    service: String,
    rhost: String,
    at: i64,
}

#[derive(Deserialize)]
struct SuccessRequest {
    id: String,
    user: String,
    credential: String,
    host: String,
    service: String,
    at: i64,
}

struct Enabled {
    policy: FleetPolicy,
    store: Box<dyn FleetStore>,
    next_prune: AtomicI64,
}

/// The fleet endpoints: answering 404 when the config has no `[fleet]`.
pub struct Fleet {
    enabled: Option<Enabled>,
    log: Arc<dyn Sink>,
}

fn field_ok(value: &str, may_be_empty: bool) -> bool {
    (may_be_empty || !value.is_empty())
        && value.len() <= MAX_FIELD_LEN
        && !value.chars().any(char::is_control)
}

fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map(|p| p.to_string()).unwrap_or_default()
}

fn json_reply(status: u16, value: &serde_json::Value) -> Reply {
    Reply {
        status,
        body: value.to_string(),
        retry_after: None,
    }
}

fn epoch(now: SystemTime) -> i64 {
    i64::try_from(since_epoch(now).as_secs()).unwrap_or(i64::MAX)
}

const FIELDS_RULE: &str =
    "user, host and id must be non-empty; no field may exceed 256 bytes or hold control characters";

impl Fleet {
    /// Fleet mode off: every endpoint answers 404.
    pub fn disabled(log: Arc<dyn Sink>) -> Self {
        Self { enabled: None, log }
    }

    /// Fleet mode on, counting under `policy` in `store`.
    pub fn new(policy: FleetPolicy, store: Box<dyn FleetStore>, log: Arc<dyn Sink>) -> Self {
        Self {
            enabled: Some(Enabled {
                policy,
                store,
                next_prune: AtomicI64::new(0),
            }),
            log,
        }
    }

    /// Whether `[fleet]` is configured.
    pub fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }

    fn event(&self, name: &str, now: SystemTime) -> audit::Event {
        audit::Event::new(name, now)
    }

    fn emit(&self, e: audit::Event) {
        e.emit(self.log.as_ref());
    }

    /// The common start of every endpoint: fleet mode on, a known host token.
    fn admit<'h>(
        &self,
        endpoint: &str,
        hosts: &'h HostTokens,
        authorization: Option<&[u8]>,
        peer: Option<SocketAddr>,
        now: SystemTime,
    ) -> Result<(&Enabled, &'h str), Reply> {
        let Some(enabled) = &self.enabled else {
            return Err(Reply::error(
                404,
                "fleet mode is not configured on this server (no [fleet] in its config)",
            ));
        };
        match HostTokens::bearer(authorization).and_then(|t| hosts.authenticate(t)) {
            Some(host) => Ok((enabled, host)),
            None => {
                self.emit(
                    self.event("fleet_refused", now)
                        .field("endpoint", endpoint)
                        .field("peer", &peer_text(peer))
                        .field(
                            "reason",
                            if authorization.is_some() {
                                "wrong_token"
                            } else {
                                "no_token"
                            },
                        ),
                );
                Err(Reply::error(401, "missing or wrong bearer token"))
            }
        }
    }

    fn bad_request(
        &self,
        endpoint: &str,
        host: &str,
        peer: Option<SocketAddr>,
        now: SystemTime,
        why: &str,
    ) -> Reply {
        self.emit(
            self.event("bad_request", now)
                .field("endpoint", endpoint)
                .field("host_token", host)
                .field("peer", &peer_text(peer))
                .field("reason", why),
        );
        Reply::error(400, why)
    }

    fn store_error(
        &self,
        endpoint: &str,
        user: &str,
        now: SystemTime,
        e: &dyn std::fmt::Display,
    ) -> Reply {
        self.emit(
            self.event("error", now)
                .field("endpoint", endpoint)
                .field("reason", "store_unavailable")
                .field("user", user)
                .field("detail", &e.to_string()),
        );
        // 503 as for the protect store: the module treats the server as unreachable and
        // follows its `[offline] fleet` (spooling the event).
        Reply::error(503, crate::api::STORE_UNAVAILABLE)
    }

    /// A field-checked event (recorded under the token's host name), or the 400 answer.
    #[allow(clippy::too_many_arguments)]
    fn event_from(
        &self,
        endpoint: &str,
        host: &str,
        peer: Option<SocketAddr>,
        now: SystemTime,
        id: &str,
        user: &str,
        credential: &str,
        claimed_host: &str,
        at: i64,
        optional: &[&str],
    ) -> Result<(Event, Option<i64>), Reply> {
        if !field_ok(user, false)
            || !field_ok(claimed_host, false)
            || !optional.iter().all(|f| field_ok(f, true))
        {
            return Err(self.bad_request(endpoint, host, peer, now, FIELDS_RULE));
        }
        let Some(credential) = Credential::parse(credential) else {
            return Err(self.bad_request(
                endpoint,
                host,
                peer,
                now,
                "credential must be \"password\" or \"pin\"",
            ));
        };
        let Some(id) = canonical_id(id) else {
            return Err(self.bad_request(
                endpoint,
                host,
                peer,
                now,
                "id must be a UUID in its 36-character text form",
            ));
        };
        // The token says which host this is; the name the host calls itself (its FQDN, say)
        // may differ from its `[[host]]` name and is only logged (`host=` on the event's line).
        let (at_clamped, moved) = clamp_at(at, epoch(now));
        Ok((
            Event {
                id,
                user: user.to_owned(),
                credential,
                host: host.to_owned(),
                at: at_clamped,
            },
            moved.then_some(at),
        ))
    }

    /// Forgets old event ids once an hour, on the write path.
    fn maybe_prune(&self, enabled: &Enabled, now: SystemTime) {
        let n = epoch(now);
        let due = enabled.next_prune.load(Ordering::Relaxed);
        if n < due
            || enabled
                .next_prune
                .compare_exchange(
                    due,
                    n.saturating_add(PRUNE_EVERY_SECS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        match enabled.store.prune(n.saturating_sub(secs(REMEMBER_IDS))) {
            Ok(0) => {}
            Ok(removed) => self.emit(self.event("fleet_prune", now).num("removed_ids", removed)),
            Err(e) => self.emit(
                self.event("error", now)
                    .field("endpoint", "fleet_prune")
                    .field("detail", &e.to_string()),
            ),
        }
    }

    /// `POST /v1/fleet/check`: is this user locked fleet-wide for this credential?
    pub fn check(
        &self,
        hosts: &HostTokens,
        authorization: Option<&[u8]>,
        body: &[u8],
        peer: Option<SocketAddr>,
        now: SystemTime,
    ) -> Reply {
        const EP: &str = "fleet_check";
        let (enabled, host) = match self.admit(EP, hosts, authorization, peer, now) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let req: CheckRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_request(
                    EP,
                    host,
                    peer,
                    now,
                    &format!("body is not a fleet check: {e}"),
                );
            }
        };
        if !field_ok(&req.user, false) {
            return self.bad_request(EP, host, peer, now, FIELDS_RULE);
        }
        let Some(credential) = Credential::parse(&req.credential) else {
            return self.bad_request(
                EP,
                host,
                peer,
                now,
                "credential must be \"password\" or \"pin\"",
            );
        };
        let record = match enabled.store.record(&req.user, credential) {
            Ok(r) => r,
            Err(e) => return self.store_error(EP, &req.user, now, &e),
        };
        let state = State::of(&record, epoch(now), &enabled.policy);
        self.emit(
            self.event("fleet_check", now)
                .field("host_token", host)
                .field("user", &req.user)
                .field("credential", credential.as_str())
                .field("locked", if state.locked() { "true" } else { "false" })
                .num("failures", state.failures),
        );
        json_reply(200, &state.to_json())
    }

    /// `POST /v1/fleet/failure`: counts one failed login (once per id) and answers the state.
    pub fn failure(
        &self,
        hosts: &HostTokens,
        authorization: Option<&[u8]>,
        body: &[u8],
        peer: Option<SocketAddr>,
        now: SystemTime,
    ) -> Reply {
        const EP: &str = "fleet_failure";
        let (enabled, host) = match self.admit(EP, hosts, authorization, peer, now) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let req: FailureRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_request(
                    EP,
                    host,
                    peer,
                    now,
                    &format!("body is not a fleet failure: {e}"),
                );
            }
        };
        let (event, clamped_from) = match self.event_from(
            EP,
            host,
            peer,
            now,
            &req.id,
            &req.user,
            &req.credential,
            &req.host,
            req.at,
            &[&req.service, &req.rhost],
        ) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let n = epoch(now);
        let count = (event.at > window_start(n, &enabled.policy))
            .then(|| Count::new(&enabled.policy, &event.user, n));
        let (counted, record) = match enabled.store.failure(&event, n, count.as_ref()) {
            Ok(v) => v,
            Err(e) => return self.store_error(EP, &event.user, now, &e),
        };
        let state = State::of(&record, n, &enabled.policy);
        let outcome = match counted {
            Counted::Replayed => "replayed",
            Counted::TooOld => "too_old",
            Counted::WhileLocked => "while_locked",
            Counted::Counted { .. } => "counted",
        };
        let mut line = self
            .event("fleet_failure", now)
            .field("host_token", host)
            .field("host", &req.host)
            .field("user", &event.user)
            .field("credential", event.credential.as_str())
            .field("service", &req.service)
            .field("rhost", &req.rhost)
            .field("id", &event.id)
            .num("at", event.at);
        if let Some(original) = clamped_from {
            line = line.num("at_clamped_from", original);
        }
        self.emit(
            line.field("outcome", outcome)
                .num("failures", state.failures),
        );
        if counted == (Counted::Counted { locked_now: true }) {
            let until = state
                .until
                .map_or_else(|| "admin_unlock".to_owned(), |u| u.to_string());
            self.emit(
                self.event("fleet_lock", now)
                    .field("reason", Reason::Failures.as_str())
                    .field("host_token", host)
                    .field("user", &event.user)
                    .field("credential", event.credential.as_str())
                    .field("rhost", &req.rhost)
                    .num("failures", record.failures)
                    .field("until", &until),
            );
        }
        self.maybe_prune(enabled, now);
        json_reply(200, &state.to_json())
    }

    /// `POST /v1/fleet/success`: a login succeeded; clears that credential's count (once per id).
    pub fn success(
        &self,
        hosts: &HostTokens,
        authorization: Option<&[u8]>,
        body: &[u8],
        peer: Option<SocketAddr>,
        now: SystemTime,
    ) -> Reply {
        const EP: &str = "fleet_success";
        let (enabled, host) = match self.admit(EP, hosts, authorization, peer, now) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let req: SuccessRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_request(
                    EP,
                    host,
                    peer,
                    now,
                    &format!("body is not a fleet success: {e}"),
                );
            }
        };
        let (event, clamped_from) = match self.event_from(
            EP,
            host,
            peer,
            now,
            &req.id,
            &req.user,
            &req.credential,
            &req.host,
            req.at,
            &[&req.service],
        ) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let cleared = match enabled.store.success(&event, epoch(now)) {
            Ok(c) => c,
            Err(e) => return self.store_error(EP, &event.user, now, &e),
        };
        let mut line = self
            .event("fleet_success", now)
            .field("host_token", host)
            .field("host", &req.host)
            .field("user", &event.user)
            .field("credential", event.credential.as_str())
            .field("service", &req.service)
            .field("id", &event.id)
            .num("at", event.at);
        if let Some(original) = clamped_from {
            line = line.num("at_clamped_from", original);
        }
        self.emit(line.field(
            "outcome",
            match cleared {
                Cleared::Replayed => "replayed",
                Cleared::Cleared => "cleared",
                Cleared::Kept => "kept",
            },
        ));
        self.maybe_prune(enabled, now);
        json_reply(200, &serde_json::json!({}))
    }
}
