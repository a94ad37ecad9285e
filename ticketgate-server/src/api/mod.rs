//! The v1 protocol (docs/design.md §5) as plain functions: bytes and `now` in, status and JSON out.
//! The HTTP glue (`http`) only moves bytes; every decision and log line is made here.
//! The enrollment endpoints are in `enroll`.

mod enroll;

pub use enroll::ENROLL_REFUSED;

use crate::audit::{Event, Sink};
use crate::clock::since_epoch;
use crate::hosts::HostTokens;
use crate::store::{ANY_SERVICE, ProtectStore, Redeem, StoreError, Verdict};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Longest user name, service ID, host, service or rhost accepted.
pub const MAX_FIELD_LEN: usize = 256;

/// An HTTP answer: status, JSON body, and for 429 the seconds to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// `Retry-After` seconds (429 only).
    pub retry_after: Option<u64>,
}

impl Reply {
    fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            body: value.to_string(),
            retry_after: None,
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, &json!({ "error": message }))
    }
}

#[derive(Debug, Deserialize)]
struct AttemptRequest {
    service_id: String,
    user: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    rhost: String,
    /// `ticketgate test-protect`: check everything a login's attempt is checked for, answer,
    /// but take no unlock.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
struct UnlockRequest {
    /// Absent (or empty): the enrollment's bound service ID, else any (the wildcard window).
    #[serde(default)]
    service_id: Option<String>,
    user: String,
    code: zeroize::Zeroizing<String>,
}

/// Everything the endpoints share.
pub struct Protect {
    /// Enrollments, used steps, unlock windows and wrong-code counters (SQLite or PostgreSQL).
    pub store: Arc<dyn ProtectStore>,
    /// Hosts allowed to call `/v1/attempt`.
    pub hosts: HostTokens,
    /// How long an unlock lasts.
    pub window: Duration,
    /// Where log lines go.
    pub log: Arc<dyn Sink>,
    /// The issuer authenticator apps show (the page's title, new secrets' otpauth URIs).
    pub issuer: String,
}

/// The answer when the store cannot be reached: a 5xx, so a module treats the server as
/// unreachable and applies its offline fallback.
pub const STORE_UNAVAILABLE: &str = "the server cannot reach its store; see its log";

fn field_ok(value: &str, may_be_empty: bool) -> bool {
    (may_be_empty || !value.is_empty())
        && value.len() <= MAX_FIELD_LEN
        && !value.chars().any(char::is_control)
}

fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map(|p| p.to_string()).unwrap_or_default()
}

impl Protect {
    fn bad_request(
        &self,
        endpoint: &str,
        peer: Option<SocketAddr>,
        now: SystemTime,
        why: &str,
    ) -> Reply {
        Event::new("bad_request", now)
            .field("endpoint", endpoint)
            .field("peer", &peer_text(peer))
            .field("reason", why)
            .emit(self.log.as_ref());
        Reply::error(400, why)
    }

    /// One log line for a store failure, and the 503 that goes with it.
    fn unavailable(&self, endpoint: &str, user: &str, now: SystemTime, e: &StoreError) -> Reply {
        Event::new("error", now)
            .field("endpoint", endpoint)
            .field("reason", "store_unavailable")
            .field("user", user)
            .field("detail", &e.to_string())
            .emit(self.log.as_ref());
        Reply::error(503, STORE_UNAVAILABLE)
    }

    /// `POST /v1/attempt`: a host's module asks whether `user` may log in now; a `true` uses the
    /// unlock up. Waits on the store when `store.attempt_blocks()` (PostgreSQL): call it where
    /// blocking is allowed then.
    pub fn attempt(
        &self,
        authorization: Option<&[u8]>,
        body: &[u8],
        peer: Option<SocketAddr>,
        now: SystemTime,
    ) -> Reply {
        let Some(host_name) =
            HostTokens::bearer(authorization).and_then(|t| self.hosts.authenticate(t))
        else {
            Event::new("attempt_refused", now)
                .field("peer", &peer_text(peer))
                .field(
                    "reason",
                    if authorization.is_some() {
                        "wrong_token"
                    } else {
                        "no_token"
                    },
                )
                .emit(self.log.as_ref());
            return Reply::error(401, "missing or wrong bearer token");
        };
        let req: AttemptRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_request(
                    "attempt",
                    peer,
                    now,
                    &format!("body is not a v1 attempt: {e}"),
                );
            }
        };
        let all_ok = field_ok(&req.service_id, false)
            && req.service_id != ANY_SERVICE
            && field_ok(&req.user, false)
            && [&req.host, &req.service, &req.rhost]
                .iter()
                .all(|f| field_ok(f, true));
        if !all_ok {
            return self.bad_request(
                "attempt",
                peer,
                now,
                "service_id and user must be non-empty, service_id not \"*\"; no field may exceed 256 bytes or hold control characters",
            );
        }
        if !self.hosts.allows(host_name, &req.service_id) {
            // Checked before the unlock is taken: a host cannot use up another service's unlock.
            Event::new("attempt_refused", now)
                .field("host_token", host_name)
                .field("service_id", &req.service_id)
                .field("user", &req.user)
                .field("peer", &peer_text(peer))
                .field("reason", "foreign_service_id")
                .emit(self.log.as_ref());
            return Reply::error(
                403,
                "this host token may not use this service ID ([[host]] service_ids)",
            );
        }
        if req.dry_run {
            Event::new("attempt_dry_run", now)
                .field("host_token", host_name)
                .field("service_id", &req.service_id)
                .field("user", &req.user)
                .field("host", &req.host)
                .emit(self.log.as_ref());
            return Reply::json(200, &json!({ "unlocked": false, "dry_run": true }));
        }
        let unlocked = match self.store.take_window(&req.service_id, &req.user, now) {
            Ok(taken) => taken,
            Err(e) => return self.unavailable("attempt", &req.user, now, &e),
        };
        Event::new("attempt", now)
            .field("host_token", host_name)
            .field("service_id", &req.service_id)
            .field("user", &req.user)
            .field("host", &req.host)
            .field("service", &req.service)
            .field("rhost", &req.rhost)
            .field("unlocked", if unlocked { "true" } else { "false" })
            .emit(self.log.as_ref());
        Reply::json(200, &json!({ "unlocked": unlocked }))
    }

    /// `POST /v1/unlock`: the user's own device proves itself with a TOTP code and opens the window.
    /// Reads and writes the store: call it where blocking is allowed.
    pub fn unlock(&self, body: &[u8], peer: Option<SocketAddr>, now: SystemTime) -> Reply {
        let req: UnlockRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                // serde_json's message names the field, never echoes a value.
                return self.bad_request(
                    "unlock",
                    peer,
                    now,
                    &format!("body is not a v1 unlock: {e}"),
                );
            }
        };
        let asked = req.service_id.as_deref().filter(|s| !s.is_empty());
        if !asked.is_none_or(|s| field_ok(s, false) && s != ANY_SERVICE)
            || !field_ok(&req.user, false)
        {
            return self.bad_request(
                "unlock",
                peer,
                now,
                "user must be non-empty; user and service_id at most 256 bytes, without control characters; service_id not \"*\"",
            );
        }
        let code: zeroize::Zeroizing<String> =
            zeroize::Zeroizing::new(req.code.chars().filter(|c| !c.is_whitespace()).collect());
        let refused = |reason: &str| {
            Event::new("unlock_refused", now)
                .field("service_id", asked.unwrap_or_default())
                .field("user", &req.user)
                .field("peer", &peer_text(peer))
                .field("reason", reason)
        };
        // The limiter, the code check and the miss are one step in the store (see `check_code`).
        let verdict = match self.store.check_code(&req.user, asked, &code, now) {
            Ok(v) => v,
            Err(e) => return self.unavailable("unlock", &req.user, now, &e),
        };
        let reason = match verdict {
            Verdict::RateLimited(wait) => {
                let secs = wait.as_secs().max(1);
                refused("rate_limited")
                    .num("retry_after", secs)
                    .emit(self.log.as_ref());
                let mut reply = Reply::error(
                    429,
                    &format!("too many wrong codes for this user; try again in {secs} s"),
                );
                reply.retry_after = Some(secs);
                return reply;
            }
            Verdict::Checked(Redeem::Accepted { bound }) => {
                let until = now + self.window;
                let window = crate::store::window_for(asked, bound.as_deref());
                if let Err(e) = self.store.open_window(window, &req.user, now, until) {
                    return self.unavailable("unlock", &req.user, now, &e);
                }
                let until_secs = since_epoch(until).as_secs();
                Event::new("unlock", now)
                    .field("service_id", window)
                    .field("user", &req.user)
                    .field("peer", &peer_text(peer))
                    .num("unlocked_until", until_secs)
                    .emit(self.log.as_ref());
                return Reply::json(
                    200,
                    &json!({ "unlocked_until": until_secs, "service_id": window }),
                );
            }
            Verdict::Checked(Redeem::UnknownUser) => "not_enrolled",
            Verdict::Checked(Redeem::WrongService) => "wrong_service_id",
            Verdict::Checked(Redeem::WrongCode) => "wrong_code",
            Verdict::Checked(Redeem::Replayed) => "code_already_used",
        };
        refused(reason).emit(self.log.as_ref());
        // One answer for every refusal: a caller learns nothing about who is enrolled.
        Reply::error(403, "wrong or already used code")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::Memory;
    use crate::secret::Secret;
    use crate::totp;
    use std::time::UNIX_EPOCH;

    pub(crate) const TOKEN: &[u8] = b"Bearer 0123456789abcdef-web01";

    pub(crate) fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    pub(crate) fn secret() -> Secret {
        Secret::new(b"12345678901234567890".to_vec())
    }

    pub(crate) fn protect() -> (tempfile::TempDir, Arc<Memory>, Protect) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(dir.path()).unwrap();
        store.enroll("alice", None, &secret(), at(0)).unwrap();
        let log = Arc::new(Memory::default());
        let p = Protect {
            hosts: HostTokens::from_tokens(vec![(
                "web01".into(),
                Secret::new(b"0123456789abcdef-web01".to_vec()),
            )])
            .unwrap(),
            store: Arc::new(store),
            window: Duration::from_secs(60),
            log: log.clone(),
            issuer: "Example & Co".into(),
        };
        (dir, log, p)
    }

    fn unlock_body(code: &str) -> String {
        json!({"service_id": "web", "user": "alice", "code": code}).to_string()
    }

    fn attempt_body() -> &'static [u8] {
        br#"{"service_id":"web","user":"alice","host":"web01","service":"sshd","rhost":"10.0.0.9"}"#
    }

    #[test]
    fn unlock_then_one_attempt_is_true_and_the_next_false() {
        let (_d, log, p) = protect();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        let r = p.unlock(unlock_body(&code).as_bytes(), None, now);
        assert_eq!(
            r,
            Reply::json(
                200,
                &json!({"unlocked_until": 1_000_000_080, "service_id": "web"})
            )
        );
        let a = p.attempt(Some(TOKEN), attempt_body(), None, at(1_000_000_030));
        assert_eq!(a.body, r#"{"unlocked":true}"#);
        let b = p.attempt(Some(TOKEN), attempt_body(), None, at(1_000_000_031));
        assert_eq!(b.body, r#"{"unlocked":false}"#);
        let lines = log.lines();
        assert!(
            lines[0].contains("event=unlock ") && lines[0].contains("user=alice"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("event=attempt host_token=web01")
                && lines[1].ends_with("unlocked=true")
        );
        assert!(
            lines.iter().all(|l| !l.contains(&code)),
            "a code reached the log: {lines:?}"
        );
    }

    /// Issue 16 (item 7): `ticketgate test-protect`'s dry run is checked as an attempt (a wrong
    /// token is still 401) but never takes the unlock.
    #[test]
    fn a_dry_run_answers_without_using_the_unlock_up() {
        let (_d, log, p) = protect();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        assert_eq!(
            p.unlock(unlock_body(&code).as_bytes(), None, now).status,
            200
        );
        let dry = br#"{"service_id":"web","user":"alice","host":"web01","dry_run":true}"#;
        let r = p.attempt(Some(TOKEN), dry, None, at(1_000_000_025));
        assert_eq!(r.body, r#"{"dry_run":true,"unlocked":false}"#);
        assert_eq!(p.attempt(Some(b"Bearer nope"), dry, None, now).status, 401);
        assert!(
            log.lines()
                .iter()
                .any(|l| l.contains("event=attempt_dry_run"))
        );
        let a = p.attempt(Some(TOKEN), attempt_body(), None, at(1_000_000_030));
        assert_eq!(a.body, r#"{"unlocked":true}"#, "the unlock was still there");
    }

    #[test]
    fn attempt_after_the_window_is_false() {
        let (_d, _log, p) = protect();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        assert_eq!(
            p.unlock(unlock_body(&code).as_bytes(), None, now).status,
            200
        );
        let a = p.attempt(Some(TOKEN), attempt_body(), None, at(1_000_000_080));
        assert_eq!(a.body, r#"{"unlocked":false}"#);
    }

    #[test]
    fn wrong_or_missing_token_is_401_and_leaves_the_unlock() {
        let (_d, log, p) = protect();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        p.unlock(unlock_body(&code).as_bytes(), None, now);
        assert_eq!(
            p.attempt(Some(b"Bearer nope"), attempt_body(), None, now)
                .status,
            401
        );
        assert_eq!(p.attempt(None, attempt_body(), None, now).status, 401);
        assert_eq!(
            p.attempt(Some(TOKEN), attempt_body(), None, now).body,
            r#"{"unlocked":true}"#
        );
        assert!(
            log.lines()
                .iter()
                .any(|l| l.contains("event=attempt_refused") && l.contains("reason=wrong_token"))
        );
    }

    #[test]
    fn sixth_try_after_five_wrong_codes_is_429_even_with_the_right_code() {
        let (_d, log, p) = protect();
        let now = at(1_000_000_020);
        let step = totp::step_at(now);
        let valid: Vec<String> = (step - 1..=step + 1)
            .map(|s| totp::code_for_step(&secret(), s))
            .collect();
        let wrong = (0..)
            .map(|n| format!("{n:06}"))
            .find(|c| !valid.contains(c))
            .unwrap();
        for i in 0..5 {
            let r = p.unlock(unlock_body(&wrong).as_bytes(), None, at(1_000_000_020 + i));
            assert_eq!(r.status, 403, "miss {i}");
        }
        let r = p.unlock(unlock_body(&valid[1]).as_bytes(), None, at(1_000_000_025));
        assert_eq!(r.status, 429);
        assert_eq!(r.retry_after, Some(295));
        assert!(log.lines().last().unwrap().contains("reason=rate_limited"));
        // Five minutes after the first miss one more try is allowed.
        let later = at(1_000_000_320);
        let code = totp::code_for_step(&secret(), totp::step_at(later));
        assert_eq!(
            p.unlock(unlock_body(&code).as_bytes(), None, later).status,
            200
        );
    }

    #[test]
    fn concurrent_wrong_codes_get_exactly_five_403s_then_429s() {
        let (_d, _log, p) = protect();
        let p = Arc::new(p);
        let now = at(1_000_000_020);
        let step = totp::step_at(now);
        let valid: Vec<String> = (step - 1..=step + 1)
            .map(|s| totp::code_for_step(&secret(), s))
            .collect();
        let wrong = (0..)
            .map(|n| format!("{n:06}"))
            .find(|c| !valid.contains(c))
            .unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(12));
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (p, b, body) = (Arc::clone(&p), Arc::clone(&barrier), unlock_body(&wrong));
                std::thread::spawn(move || {
                    b.wait();
                    p.unlock(body.as_bytes(), None, now).status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [vec![403; 5], vec![429; 7]].concat());
    }

    #[test]
    fn replayed_code_and_unknown_user_get_the_same_403() {
        let (_d, log, p) = protect();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        assert_eq!(
            p.unlock(unlock_body(&code).as_bytes(), None, now).status,
            200
        );
        let replay = p.unlock(unlock_body(&code).as_bytes(), None, now);
        let stranger = p.unlock(
            json!({"service_id": "web", "user": "mallory", "code": code})
                .to_string()
                .as_bytes(),
            None,
            now,
        );
        assert_eq!(replay, stranger);
        assert_eq!(replay.status, 403);
        let lines = log.lines();
        assert!(lines.iter().any(|l| l.contains("reason=code_already_used")));
        assert!(lines.iter().any(|l| l.contains("reason=not_enrolled")));
    }

    #[test]
    fn attempt_for_a_service_id_outside_the_hosts_list_is_403_and_leaves_the_unlock() {
        let (_d, log, mut p) = protect();
        p.hosts.restrict("web01", vec!["db".into()]);
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        assert_eq!(
            p.unlock(unlock_body(&code).as_bytes(), None, now).status,
            200
        );
        let refused = p.attempt(Some(TOKEN), attempt_body(), None, now);
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(
            log.lines()
                .last()
                .unwrap()
                .contains("event=attempt_refused host_token=web01 service_id=web user=alice")
                && log
                    .lines()
                    .last()
                    .unwrap()
                    .ends_with("reason=foreign_service_id")
        );
        p.hosts.restrict("web01", vec!["db".into(), "web".into()]);
        assert_eq!(
            p.attempt(Some(TOKEN), attempt_body(), None, now).body,
            r#"{"unlocked":true}"#
        );
    }

    fn body_without_service_id(code: &str) -> String {
        json!({"user": "alice", "code": code}).to_string()
    }

    fn attempt_at(service_id: &str) -> String {
        json!({"service_id": service_id, "user": "alice", "host": "web01"}).to_string()
    }

    /// Issue 16 (item 7): alice's enrollment is bound to no service ID, so an unlock without one
    /// opens the wildcard window, which the next attempt at any service ID takes, once.
    #[test]
    fn an_unlock_without_service_id_opens_the_next_login_anywhere_once() {
        let (_d, log, p) = protect();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        let r = p.unlock(body_without_service_id(&code).as_bytes(), None, now);
        assert_eq!(
            r,
            Reply::json(
                200,
                &json!({"unlocked_until": 1_000_000_080, "service_id": "*"})
            )
        );
        assert!(log.lines()[0].contains(r#"event=unlock service_id="*" user=alice"#));
        let first = p.attempt(
            Some(TOKEN),
            attempt_at("db").as_bytes(),
            None,
            at(1_000_000_030),
        );
        assert_eq!(first.body, r#"{"unlocked":true}"#);
        let second = p.attempt(
            Some(TOKEN),
            attempt_at("web").as_bytes(),
            None,
            at(1_000_000_031),
        );
        assert_eq!(second.body, r#"{"unlocked":false}"#);
    }

    /// Without a service ID, an enrollment bound to one opens that one only.
    #[test]
    fn an_unlock_without_service_id_opens_the_bound_service_id() {
        let (_d, _log, p) = protect();
        p.store.revoke("alice").unwrap();
        p.store
            .enroll("alice", Some("web"), &secret(), at(0))
            .unwrap();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        let r = p.unlock(body_without_service_id(&code).as_bytes(), None, now);
        assert_eq!(r.status, 200);
        assert!(r.body.contains(r#""service_id":"web""#), "{}", r.body);
        let other = p.attempt(Some(TOKEN), attempt_at("db").as_bytes(), None, now);
        assert_eq!(other.body, r#"{"unlocked":false}"#);
        let bound = p.attempt(Some(TOKEN), attempt_at("web").as_bytes(), None, now);
        assert_eq!(bound.body, r#"{"unlocked":true}"#);
    }

    /// The `[[host]] service_ids` check comes before the take: a host may not use up a
    /// wildcard window with a service ID it may not ask about.
    #[test]
    fn a_wildcard_window_is_not_consumed_by_a_host_refused_that_service_id() {
        let (_d, _log, mut p) = protect();
        p.hosts.restrict("web01", vec!["web".into()]);
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        assert_eq!(
            p.unlock(body_without_service_id(&code).as_bytes(), None, now)
                .status,
            200
        );
        let refused = p.attempt(Some(TOKEN), attempt_at("db").as_bytes(), None, now);
        assert_eq!(refused.status, 403);
        let allowed = p.attempt(Some(TOKEN), attempt_at("web").as_bytes(), None, now);
        assert_eq!(allowed.body, r#"{"unlocked":true}"#);
    }

    #[test]
    fn the_wildcard_is_never_a_service_id_in_a_request() {
        let (_d, _log, p) = protect();
        let now = at(1_000_000_020);
        let code = totp::code_for_step(&secret(), totp::step_at(now));
        let unlock = json!({"service_id": "*", "user": "alice", "code": code}).to_string();
        assert_eq!(p.unlock(unlock.as_bytes(), None, now).status, 400);
        assert_eq!(
            p.attempt(Some(TOKEN), attempt_at("*").as_bytes(), None, now)
                .status,
            400
        );
    }

    #[test]
    fn malformed_bodies_are_400() {
        let (_d, _log, p) = protect();
        let now = at(1);
        assert_eq!(p.attempt(Some(TOKEN), b"{", None, now).status, 400);
        assert_eq!(
            p.attempt(Some(TOKEN), br#"{"service_id":"","user":"a"}"#, None, now)
                .status,
            400
        );
        assert_eq!(p.unlock(br#"{"user":"a"}"#, None, now).status, 400);
        assert_eq!(p.enroll(br#"{"user":"a"}"#, None, now).status, 400);
        assert_eq!(
            p.enroll_confirm(br#"{"user":"a","code":"x"}"#, None, now)
                .status,
            400
        );
        let long = "a".repeat(300);
        let body = json!({"service_id": "web", "user": long, "code": "123456"}).to_string();
        assert_eq!(p.unlock(body.as_bytes(), None, now).status, 400);
    }
}
