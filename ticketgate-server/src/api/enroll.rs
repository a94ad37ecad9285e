//! The enrollment endpoints: `POST /v1/enroll` redeems a one-time enrollment code (the server
//! draws the TOTP secret and answers its URI and QR code) and `POST /v1/enroll/confirm` makes
//! the enrollment active with the app's first code.

use super::{Protect, Reply, field_ok, peer_text};
use crate::audit::Event;
use crate::enroll_code::{self, Refused};
use crate::secret::Secret;
use crate::store::{ANY_SERVICE, CodeOutcome, Verdict};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::time::SystemTime;

/// `POST /v1/enroll`: a user redeems the one-time code an administrator issued.
#[derive(Deserialize)]
struct EnrollRequest {
    user: String,
    code: zeroize::Zeroizing<String>,
}

/// `POST /v1/enroll/confirm`: the same code and the first TOTP code of the new secret.
#[derive(Deserialize)]
struct ConfirmRequest {
    user: String,
    code: zeroize::Zeroizing<String>,
    totp: zeroize::Zeroizing<String>,
}

/// The one answer for every refused enrollment code: a caller learns nothing about who has one.
pub const ENROLL_REFUSED: &str = "wrong, expired or used enrollment code";

impl Protect {
    /// The user name and code of an enrollment request, checked; or the 400.
    fn enroll_fields(
        &self,
        endpoint: &str,
        user: &str,
        code: &str,
        peer: Option<SocketAddr>,
        now: SystemTime,
    ) -> Result<[u8; 32], Reply> {
        if !field_ok(user, false) || !field_ok(code, false) {
            return Err(self.bad_request(
                endpoint,
                peer,
                now,
                "user and code must be non-empty, at most 256 bytes, without control characters",
            ));
        }
        Ok(enroll_code::hash(code))
    }

    /// The answer to a refused or rate-limited enrollment code, with its log line.
    fn enroll_refused(
        &self,
        stage: &str,
        user: &str,
        peer: Option<SocketAddr>,
        now: SystemTime,
        verdict: Verdict<CodeOutcome>,
    ) -> Reply {
        let event = Event::new("enroll_code_refused", now)
            .field("user", user)
            .field("stage", stage)
            .field("peer", &peer_text(peer));
        match verdict {
            Verdict::RateLimited(wait) => {
                let secs = wait.as_secs().max(1);
                event
                    .field("reason", "rate_limited")
                    .num("retry_after", secs)
                    .emit(self.log.as_ref());
                let mut reply = Reply::error(
                    429,
                    &format!("too many wrong codes for this user; try again in {secs} s"),
                );
                reply.retry_after = Some(secs);
                reply
            }
            Verdict::Checked(outcome) => {
                let reason = match outcome {
                    CodeOutcome::Refused(r) => r,
                    // Not reached: the callers answer these themselves.
                    CodeOutcome::Redeemed { .. } | CodeOutcome::Enrolled { .. } => Refused::NoCode,
                };
                event
                    .field("reason", reason.reason())
                    .emit(self.log.as_ref());
                match reason {
                    // The caller proved the enrollment code: say what went wrong.
                    Refused::WrongTotp => Reply::error(
                        403,
                        "the authenticator code does not match; check that the app shows a \
                         6-digit code and that the phone's clock is right, then try again",
                    ),
                    Refused::NotRedeemed => Reply::error(403, "redeem the enrollment code first"),
                    Refused::NoCode
                    | Refused::Expired
                    | Refused::Dead
                    | Refused::WrongCode
                    | Refused::AlreadyEnrolled => Reply::error(403, ENROLL_REFUSED),
                }
            }
        }
    }

    /// `POST /v1/enroll`: a user redeems their one-time enrollment code; the server draws the
    /// TOTP secret and answers its `otpauth://` URI and a QR code (SVG). The enrollment is active
    /// only after `/v1/enroll/confirm`. Reads and writes the store: call it where blocking is
    /// allowed.
    pub fn enroll(&self, body: &[u8], peer: Option<SocketAddr>, now: SystemTime) -> Reply {
        let req: EnrollRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_request(
                    "enroll",
                    peer,
                    now,
                    &format!("body is not a v1 enroll: {e}"),
                );
            }
        };
        let hash = match self.enroll_fields("enroll", &req.user, &req.code, peer, now) {
            Ok(h) => h,
            Err(reply) => return reply,
        };
        let secret = match Secret::random(crate::totp::SECRET_LEN) {
            Ok(s) => s,
            Err(e) => {
                Event::new("error", now)
                    .field("endpoint", "enroll")
                    .field("reason", "no_random_bytes")
                    .field("detail", &e.to_string())
                    .emit(self.log.as_ref());
                return Reply::error(500, "internal error; see the server log");
            }
        };
        let verdict = match self.store.redeem_code(&req.user, &hash, &secret, now) {
            Ok(v) => v,
            Err(e) => return self.unavailable("enroll", &req.user, now, &e),
        };
        let Verdict::Checked(CodeOutcome::Redeemed { service_id }) = verdict else {
            return self.enroll_refused("redeem", &req.user, peer, now, verdict);
        };
        let account = match &service_id {
            Some(id) => format!("{}@{id}", req.user),
            None => req.user.clone(),
        };
        let uri = crate::totp::otpauth_uri(&secret, &self.issuer, &account);
        let qr_svg = qrcode::QrCode::new(uri.as_bytes())
            .map(|code| {
                let svg = code
                    .render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(220, 220)
                    .build();
                // Inline in the page's HTML, where an XML declaration has no place.
                match svg.find("<svg") {
                    Some(at) => svg.get(at..).unwrap_or_default().to_owned(),
                    None => svg,
                }
            })
            .unwrap_or_default();
        Event::new("enroll_code_redeemed", now)
            .field("user", &req.user)
            .field("service_id", service_id.as_deref().unwrap_or(ANY_SERVICE))
            .field("peer", &peer_text(peer))
            .emit(self.log.as_ref());
        let b32 = crate::totp::secret_base32(&secret);
        Reply::json(
            200,
            &json!({
                "otpauth_uri": uri.as_str(),
                "secret": b32.as_str(),
                "qr_svg": qr_svg,
                "issuer": self.issuer,
                "account": account,
            }),
        )
    }

    /// `POST /v1/enroll/confirm`: the redeemed code and the first TOTP code from the app; on
    /// success the enrollment is active (that TOTP code is used up).
    pub fn enroll_confirm(&self, body: &[u8], peer: Option<SocketAddr>, now: SystemTime) -> Reply {
        let req: ConfirmRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_request(
                    "enroll_confirm",
                    peer,
                    now,
                    &format!("body is not a v1 enroll confirm: {e}"),
                );
            }
        };
        let hash = match self.enroll_fields("enroll_confirm", &req.user, &req.code, peer, now) {
            Ok(h) => h,
            Err(reply) => return reply,
        };
        let totp: zeroize::Zeroizing<String> =
            zeroize::Zeroizing::new(req.totp.chars().filter(|c| !c.is_whitespace()).collect());
        let verdict = match self.store.confirm_code(&req.user, &hash, &totp, now) {
            Ok(v) => v,
            Err(e) => return self.unavailable("enroll_confirm", &req.user, now, &e),
        };
        let Verdict::Checked(CodeOutcome::Enrolled { service_id }) = verdict else {
            return self.enroll_refused("confirm", &req.user, peer, now, verdict);
        };
        let bound = service_id.as_deref().unwrap_or(ANY_SERVICE);
        Event::new("enroll_code_confirmed", now)
            .field("user", &req.user)
            .field("service_id", bound)
            .field("peer", &peer_text(peer))
            .emit(self.log.as_ref());
        Reply::json(200, &json!({ "enrolled": true, "service_id": bound }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::{at, protect};
    use crate::totp;
    use std::time::Duration;

    fn enroll_body(user: &str, code: &str) -> String {
        json!({"user": user, "code": code}).to_string()
    }

    fn confirm_body(user: &str, code: &str, totp: &str) -> String {
        json!({"user": user, "code": code, "totp": totp}).to_string()
    }

    /// Issue 16 (item 7): redeem the code (the page gets the URI and a QR code), confirm with
    /// the first TOTP code, then unlock with the next one; nothing secret reaches the log.
    #[test]
    fn an_enrollment_code_is_redeemed_confirmed_and_the_secret_then_unlocks() {
        let (_d, log, p) = protect();
        let t0 = at(1_000_000_000);
        let code = "ABCD-EFGH-JKLM";
        p.store
            .issue_code(
                "bob",
                None,
                &enroll_code::hash(code),
                t0,
                t0 + Duration::from_secs(900),
            )
            .unwrap();
        let r = p.enroll(enroll_body("bob", " abcd efgh jklm ").as_bytes(), None, t0);
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let uri = v["otpauth_uri"].as_str().unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Example%20%26%20Co:bob?secret="),
            "{uri}"
        );
        assert!(v["qr_svg"].as_str().unwrap().starts_with("<svg"));
        let secret = totp::secret_from_base32(v["secret"].as_str().unwrap()).unwrap();
        // Not enrolled yet: an unlock with the new secret is refused.
        let early = totp::code_for_step(&secret, totp::step_at(t0));
        let unlock = json!({"user": "bob", "code": early}).to_string();
        assert_eq!(p.unlock(unlock.as_bytes(), None, t0).status, 403);
        let wrong_totp = if early == "000000" {
            "111111"
        } else {
            "000000"
        };
        let c = p.enroll_confirm(confirm_body("bob", code, wrong_totp).as_bytes(), None, t0);
        assert_eq!(c.status, 403);
        assert!(
            c.body.contains("authenticator code does not match"),
            "{}",
            c.body
        );
        let c = p.enroll_confirm(confirm_body("bob", code, &early).as_bytes(), None, t0);
        assert_eq!(c.body, r#"{"enrolled":true,"service_id":"*"}"#);
        // The code is gone; the confirming TOTP code is used up; the next one unlocks.
        assert!(p.store.pending_codes().unwrap().is_empty());
        assert_eq!(
            p.enroll(enroll_body("bob", code).as_bytes(), None, t0)
                .status,
            403
        );
        let later = t0 + Duration::from_secs(30);
        let next = totp::code_for_step(&secret, totp::step_at(later));
        let unlock = json!({"user": "bob", "code": next}).to_string();
        assert_eq!(p.unlock(unlock.as_bytes(), None, later).status, 200);
        let lines = log.lines();
        for event in [
            r#"event=enroll_code_redeemed user=bob service_id="*""#,
            "event=enroll_code_refused user=bob stage=confirm",
            "event=enroll_code_confirmed user=bob",
        ] {
            assert!(
                lines.iter().any(|l| l.contains(event)),
                "{event}: {lines:?}"
            );
        }
        let b32 = v["secret"].as_str().unwrap();
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("ABCD") && !l.contains(b32) && !l.contains(&early)),
            "{lines:?}"
        );
    }
}
