//! `POST /v1/attempt` over the shared HTTP client, and the strict reading of its answer.

use super::Attempt;
use crate::config::Protect;
use crate::net::NetError;
use crate::secret::Secret;

/// Sends one attempt; `Ok(true)` = unlocked (and used up).
pub fn attempt(protect: &Protect, token: &Secret, attempt: &Attempt) -> Result<bool, NetError> {
    post_attempt(protect, token, attempt, false)
}

/// The same request with `"dry_run": true`: the server checks the token, the service ID and
/// the request as for a login and answers, but takes no unlock (`ticketgate test-protect`).
/// `Ok(_)` = reachable, TLS verified, token and service ID accepted, answer well-formed.
pub fn probe(protect: &Protect, token: &Secret, attempt: &Attempt) -> Result<bool, NetError> {
    post_attempt(protect, token, attempt, true)
}

fn post_attempt(
    protect: &Protect,
    token: &Secret,
    attempt: &Attempt,
    dry_run: bool,
) -> Result<bool, NetError> {
    // Keep a path prefix in `url` (a server behind a reverse proxy at /protect/).
    let mut url = protect.url.clone();
    let path = format!("{}/v1/attempt", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    let mut body = serde_json::json!({
        "service_id": attempt.service_id,
        "user": attempt.user,
        "host": attempt.host,
        "service": attempt.service,
        "rhost": attempt.rhost,
    });
    if dry_run && let Some(map) = body.as_object_mut() {
        map.insert("dry_run".into(), true.into());
    }
    let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.expose()));
    let client = super::client(protect)?;
    let response = client.post_json(&url, &[("Authorization", bearer.as_str())], &body)?;
    answer_of(&response.body)
}

/// The `unlocked` field of a 2xx body (a JSON object); anything else denies, including an
/// object that names a key twice (`{"unlocked":false,"unlocked":true}`): JSON leaves the
/// meaning of a repeated key open, so such an answer is malformed, never "unlocked".
pub fn answer_of(body: &[u8]) -> Result<bool, NetError> {
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| NetError::Denied(format!("malformed /v1/attempt answer: {e}")))?;
    answer.unlocked.ok_or_else(|| {
        NetError::Denied(
            "malformed /v1/attempt answer: no boolean \"unlocked\" in a JSON object".into(),
        )
    })
}

/// The top-level object of an answer: `unlocked` if it is a boolean; other keys ignored;
/// any key seen twice an error.
struct Answer {
    unlocked: Option<bool>,
}

impl<'de> serde::Deserialize<'de> for Answer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Answer;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Answer, M::Error> {
                let mut seen = std::collections::BTreeSet::new();
                let mut unlocked = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "unlocked" {
                        let value: serde_json::Value = map.next_value()?;
                        unlocked = value.as_bool();
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
                    }
                }
                Ok(Answer { unlocked })
            }
        }
        d.deserialize_map(Visit)
    }
}
