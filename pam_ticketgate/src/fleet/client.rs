//! `POST /v1/fleet/check|failure|success` over the shared HTTP client, and the strict reading
//! of their answers.

use serde::Deserialize;

use super::{FleetEvent, Kind, LockReason, Standing, credential_word};
use crate::args::Credential;
use crate::config::Fleet;
use crate::net::{Client, NetError, Url};
use crate::secret::Secret;

/// The URL of `/v1/fleet/<name>` under `[fleet] url` (a path prefix is kept: a server behind
/// a reverse proxy at /ticketgate/).
pub fn endpoint(fleet: &Fleet, name: &str) -> Url {
    let mut url = fleet.url.clone();
    let path = format!("{}/v1/fleet/{name}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url
}

fn post(
    fleet: &Fleet,
    token: &Secret,
    name: &str,
    body: &serde_json::Value,
) -> Result<Vec<u8>, NetError> {
    // One client per call: the config's `timeout` is each request's deadline.
    let client = Client::new(fleet.timeout, fleet.ca_file.as_deref())?;
    post_with(&client, fleet, token, name, body)
}

/// `POST /v1/fleet/<name>` on `client` (whose deadline may cover other requests too).
fn post_with(
    client: &Client,
    fleet: &Fleet,
    token: &Secret,
    name: &str,
    body: &serde_json::Value,
) -> Result<Vec<u8>, NetError> {
    let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.expose()));
    let response = client.post_json(
        &endpoint(fleet, name),
        &[("Authorization", bearer.as_str())],
        body,
    )?;
    Ok(response.body)
}

/// Sends a spooled event on `client`, the one client of a drain: its deadline covers every
/// spooled event one line sends.
pub fn spooled(
    client: &Client,
    fleet: &Fleet,
    token: &Secret,
    event: &FleetEvent,
) -> Result<Option<Standing>, NetError> {
    let body = post_with(client, fleet, token, event.kind.as_str(), &body_of(event))?;
    match event.kind {
        Kind::Failure => standing_of(&body, "failure").map(Some),
        Kind::Success => empty_of(&body).map(|()| None),
    }
}

/// `check`: is the user locked fleet-wide, and how many failures are on record.
pub fn check(
    fleet: &Fleet,
    token: &Secret,
    user: &str,
    credential: Credential,
) -> Result<Standing, NetError> {
    let body = serde_json::json!({"user": user, "credential": credential_word(credential)});
    standing_of(&post(fleet, token, "check", &body)?, "check")
}

/// `failure`: counts one failed logon; the answer is the standing after it.
pub fn failure(fleet: &Fleet, token: &Secret, event: &FleetEvent) -> Result<Standing, NetError> {
    standing_of(&post(fleet, token, "failure", &body_of(event))?, "failure")
}

/// `success`: clears the fleet's count (not an administrator's lock).
pub fn success(fleet: &Fleet, token: &Secret, event: &FleetEvent) -> Result<(), NetError> {
    empty_of(&post(fleet, token, "success", &body_of(event))?)
}

/// The JSON of an event as the protocol has it: `rhost` only with failures, no `kind`.
pub fn body_of(event: &FleetEvent) -> serde_json::Value {
    let mut body = serde_json::json!({
        "id": event.id,
        "user": event.user,
        "credential": event.credential,
        "host": event.host,
        "service": event.service,
        "at": event.at,
    });
    if event.kind == Kind::Failure
        && let Some(map) = body.as_object_mut()
    {
        map.insert("rhost".into(), event.rhost.clone().into());
    }
    body
}

/// The answer of `check` and `failure`, read strictly: `locked` and `failures` must be there,
/// `reason` is `failures`, `admin` or null, a key named twice is malformed (never "unlocked").
#[derive(Deserialize)]
struct Answer {
    locked: bool,
    #[serde(default)]
    reason: Option<LockReason>,
    #[serde(default)]
    until: Option<i64>,
    failures: u32,
}

/// A [`Standing`] from a 2xx body of `/v1/fleet/<what>`; anything else is `Denied`.
pub fn standing_of(body: &[u8], what: &str) -> Result<Standing, NetError> {
    let a: Answer = serde_json::from_slice(body)
        .map_err(|e| NetError::Denied(format!("malformed /v1/fleet/{what} answer: {e}")))?;
    if a.locked && a.reason.is_none() {
        return Err(NetError::Denied(format!(
            "malformed /v1/fleet/{what} answer: locked without a reason"
        )));
    }
    Ok(Standing {
        locked: a.locked,
        reason: a.reason.filter(|_| a.locked),
        until: a.until.filter(|_| a.locked),
        failures: a.failures,
    })
}

/// The answer of `success`: a JSON object (its keys are not read).
pub fn empty_of(body: &[u8]) -> Result<(), NetError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(NetError::Denied(
            "malformed /v1/fleet/success answer: not a JSON object".into(),
        )),
        Err(e) => Err(NetError::Denied(format!(
            "malformed /v1/fleet/success answer: {e}"
        ))),
    }
}
