//! `POST /v1/attempt` over the shared HTTP client, and the strict reading of its answer.

use super::Attempt;
use crate::config::Protect;
use crate::net::NetError;
use crate::secret::Secret;

/// Sends one attempt; `Ok(true)` = unlocked (and used up).
pub fn attempt(protect: &Protect, token: &Secret, attempt: &Attempt) -> Result<bool, NetError> {
    // Keep a path prefix in `url` (a server behind a reverse proxy at /protect/).
    let mut url = protect.url.clone();
    let path = format!("{}/v1/attempt", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    let body = serde_json::json!({
        "service_id": attempt.service_id,
        "user": attempt.user,
        "host": attempt.host,
        "service": attempt.service,
        "rhost": attempt.rhost,
    });
    let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.expose()));
    let client = super::client(protect)?;
    let response = client.post_json(&url, &[("Authorization", bearer.as_str())], &body)?;
    answer_of(&response.body)
}

/// The `unlocked` field of a 2xx body (a JSON object); anything else denies.
pub fn answer_of(body: &[u8]) -> Result<bool, NetError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| NetError::Denied(format!("malformed /v1/attempt answer: {e}")))?;
    value
        .as_object()
        .and_then(|o| o.get("unlocked"))
        .and_then(serde_json::Value::as_bool)
        .ok_or_else(|| {
            NetError::Denied(
                "malformed /v1/attempt answer: no boolean \"unlocked\" in a JSON object".into(),
            )
        })
}
