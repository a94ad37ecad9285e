//! ServiceDesk Plus Cloud's Zoho OAuth access token: refreshed with the refresh token and kept
//! under `run_dir` (root, 0600) until shortly before it expires, so most logins make no
//! token request.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::Value;

use super::systems::common::{json, text};
use super::{Credentials, Fetch, TicketError};
use crate::config::Ticket;
use crate::fsutil::{self, Rule};
use crate::run_dir::RunDir;
use crate::secret::Secret;

/// Seconds before its expiry at which a cached token is no longer used.
const MARGIN: i64 = 60;

/// Where the access token is kept between logins.
pub trait TokenCache {
    /// The cached token, if it is still valid at `now`.
    fn load(&self, now: i64) -> Option<Secret>;
    fn store(&self, token: &Secret, expires_at: i64);
}

/// A borrowed cache is a cache (a test keeps the one it inspects).
impl<T: TokenCache + ?Sized> TokenCache for &T {
    fn load(&self, now: i64) -> Option<Secret> {
        (**self).load(now)
    }
    fn store(&self, token: &Secret, expires_at: i64) {
        (**self).store(token, expires_at);
    }
}

/// `run_dir/ticket-token`: `<expires_at> <token>`, written by temp file + rename.
pub struct FileTokenCache {
    path: PathBuf,
}

impl FileTokenCache {
    /// The token file under the (checked) `run_dir`.
    pub fn new(run_dir: &RunDir) -> Self {
        Self {
            path: run_dir.path().join("ticket-token"),
        }
    }
}

impl TokenCache for FileTokenCache {
    fn load(&self, now: i64) -> Option<Secret> {
        let file = fsutil::private().read(true).open(&self.path).ok()?;
        fsutil::check_opened(&file.metadata().ok()?, Rule::SECRET).ok()?;
        let mut text = zeroize::Zeroizing::new(String::new());
        file.take(64 * 1024).read_to_string(&mut text).ok()?;
        parse_cached(&text, now)
    }

    fn store(&self, token: &Secret, expires_at: i64) {
        let text = zeroize::Zeroizing::new(format!("{expires_at} {}", token.expose()));
        // A cache: a failed write only means the next login refreshes the token again.
        let _ = crate::fsutil::replace(&self.path, text.as_bytes(), false);
    }
}

/// The token in a `<expires_at> <token>` cache file, if it is still valid at `now` and is
/// what a refresh may return (printable ASCII: it goes into an `Authorization` header).
pub(crate) fn parse_cached(text: &str, now: i64) -> Option<Secret> {
    let (until, token) = text.trim().split_once(' ')?;
    let until: i64 = until.parse().ok()?;
    let usable = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
    (now < until && usable).then(|| Secret::new(token.to_string()))
}

/// In memory, for tests and the CLI's dry run.
#[derive(Default)]
pub struct MemTokenCache(Mutex<Option<(i64, Secret)>>);

impl TokenCache for MemTokenCache {
    fn load(&self, now: i64) -> Option<Secret> {
        let guard = self.0.lock().ok()?;
        guard
            .as_ref()
            .filter(|(until, _)| now < *until)
            .map(|(_, t)| t.clone())
    }

    fn store(&self, token: &Secret, expires_at: i64) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((expires_at, token.clone()));
        }
    }
}

/// A valid access token: the cached one, or a fresh one from `token_url`
/// (`grant_type=refresh_token`).
pub fn access_token(
    cfg: &Ticket,
    creds: &Credentials,
    http: &dyn Fetch,
    cache: &dyn TokenCache,
    now: i64,
) -> Result<Secret, TicketError> {
    if let Some(t) = cache.load(now) {
        return Ok(t);
    }
    let Credentials::OAuthRefresh {
        client_id,
        client_secret,
        refresh_token,
    } = creds
    else {
        return Err(TicketError::Config(
            "sdp-cloud needs auth = \"oauth-refresh\"".into(),
        ));
    };
    let url = cfg
        .token_url
        .as_ref()
        .ok_or_else(|| TicketError::Config("ticket.token_url is not set".into()))?;
    let reply = http.post_form(
        url,
        &[("Accept", "application/json")],
        &[
            ("refresh_token", refresh_token.expose()),
            ("client_id", client_id),
            ("client_secret", client_secret.expose()),
            ("grant_type", "refresh_token"),
        ],
    )?;
    let doc = json(&reply.body, "token refresh")?;
    let (token, expires_in) = zoho_token(&doc)?;
    let token = Secret::new(token);
    cache.store(&token, now + expires_in.clamp(0, 86_400) - MARGIN);
    Ok(token)
}

/// Zoho OAuth token answer: `{"access_token", "expires_in", …}`; errors come as
/// `{"error": "invalid_code"}`, even with HTTP 200.
pub fn zoho_token(doc: &Value) -> Result<(String, i64), TicketError> {
    if let Some(e) = doc.get("error") {
        return Err(TicketError::Vendor(format!(
            "token refresh: {}",
            text(Some(e)).unwrap_or_else(|| "error".into())
        )));
    }
    let token = doc
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| TicketError::Malformed("token refresh: no access_token".into()))?;
    let expires = doc
        .get("expires_in")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    Ok((token.to_string(), expires))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cached_token_is_used_until_it_expires() {
        let t = parse_cached("1795342739 1000.access1\n", 1_795_339_199).unwrap();
        assert_eq!(t.expose(), "1000.access1");
        assert!(parse_cached("1795342739 1000.access1\n", 1_795_342_739).is_none());
        assert!(parse_cached("soon 1000.access1", 0).is_none());
        assert!(parse_cached("1795342739", 0).is_none());
    }

    /// Issue 7 (fuzzing, run_files): the cache handed out any text after the first space —
    /// NULs, spaces, a newline — which a refresh (`zoho_token`) would have refused and which
    /// cannot go into an `Authorization` header. Such a file now reads as empty: refresh.
    #[test]
    fn a_cached_token_that_no_refresh_could_return_is_not_used_issue_7() {
        for bad in [
            "1795342739 \0\0\0cess1",
            "1795342739 1000.a b",
            "1795342739 1000.a\nX-Other: 1",
            "1795342739 tok\u{e9}n",
        ] {
            assert!(parse_cached(bad, 0).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn zoho_token_errors_come_with_http_200() {
        assert_eq!(
            zoho_token(
                &json!({"access_token": "1000.abc", "expires_in": 3600, "token_type": "Bearer"})
            ),
            Ok(("1000.abc".into(), 3600))
        );
        assert!(matches!(
            zoho_token(&json!({"error": "invalid_code"})),
            Err(TicketError::Vendor(_))
        ));
        assert!(zoho_token(&json!({"access_token": "bad token"})).is_err());
    }
}
