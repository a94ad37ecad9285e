//! Blocking HTTP(S) client for the gates: one deadline per call, rustls, no proxies, and every failure sorted into "unreachable" (offline) or "denied".
//!
//! Why ureq (3, rustls + ring, no gzip, no webpki-roots): a PAM module runs inside sshd, su, sudo, screen
//! lockers. An async client (reqwest) brings a tokio runtime whose worker threads outlive the
//! call and are unsafe across the fork the host program may do next; ureq does the request on
//! the calling thread. The only thread it may start is for a DNS lookup of a host name (so
//! the deadline also covers `getaddrinfo`); it ends when the lookup returns. IP literals and
//! `localhost`-free configs start none.
//!
//! Trust roots: `ca_file` when set; otherwise the system bundle at a fixed path
//! (`/etc/ssl/certs/ca-certificates.crt`, Debian; `/etc/pki/tls/certs/ca-bundle.crt`, RHEL), so
//! a CA the administrator installed with `update-ca-certificates` is trusted, as it is by
//! curl. `SSL_CERT_FILE` and proxy variables are never read: the environment belongs to the
//! user logging in. The bundle is read only for `https://` URLs.

use std::cell::OnceCell;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::fsutil;

/// The URL type the client takes (re-exported so callers need no `url` dependency of their own).
pub use url::Url;

/// The largest response body accepted; larger is a `Denied` answer.
pub const MAX_BODY: u64 = 1024 * 1024;

/// System trust bundles, tried in order when no `ca_file` is configured.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
];

/// A failed call, sorted the way docs/design.md §4 needs it. Messages never contain header values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The server could not be reached (DNS, refused, deadline, 5xx, 429): offline fallback.
    Unreachable(String),
    /// A verdict or a misconfiguration (401, 403, 404, other non-2xx, TLS certificate error,
    /// oversized body, plain http to a remote host): deny, never fall back.
    Denied(String),
}

impl NetError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, NetError::Unreachable(_))
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Unreachable(m) => write!(f, "server unreachable: {m}"),
            NetError::Denied(m) => write!(f, "request refused: {m}"),
        }
    }
}

impl std::error::Error for NetError {}

/// A 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One client per login: the deadline and the trust roots. The deadline is `timeout` from the
/// client's creation and covers all its requests together (JSM and SDP Cloud make two or
/// three per login), not each one anew.
pub struct Client {
    timeout: Duration,
    deadline: Instant,
    ca_file: Option<PathBuf>,
    plain: OnceCell<ureq::Agent>,
    tls: OnceCell<Result<ureq::Agent, NetError>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl Client {
    /// A client whose every call ends within `timeout`; `ca_file` replaces the system roots.
    /// A `ca_file` that cannot be read fails here, not at the first request.
    pub fn new(timeout: Duration, ca_file: Option<&Path>) -> Result<Client, NetError> {
        if timeout.is_zero() {
            return Err(NetError::Denied("timeout must be more than zero".into()));
        }
        let client = Client {
            timeout,
            deadline: Instant::now() + timeout,
            ca_file: ca_file.map(Path::to_path_buf),
            plain: OnceCell::new(),
            tls: OnceCell::new(),
        };
        if ca_file.is_some() {
            client.tls_agent()?;
        }
        Ok(client)
    }

    /// The time left before the client's deadline; none left is unreachable (offline).
    fn remaining(&self, url: &url::Url) -> Result<Duration, NetError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NetError::Unreachable(format!(
                "{}: deadline passed",
                redact(url)
            )));
        }
        Ok(left)
    }

    /// `GET url`.
    pub fn get(&self, url: &url::Url, headers: &[(&str, &str)]) -> Result<Response, NetError> {
        let agent = self.agent(url)?;
        let left = self.remaining(url)?;
        let mut req = agent
            .get(url.as_str())
            .config()
            .timeout_global(Some(left))
            .build();
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        finish(url, req.call())
    }

    /// `POST url` with a JSON body.
    pub fn post_json(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<Response, NetError> {
        let agent = self.agent(url)?;
        let left = self.remaining(url)?;
        let mut req = agent
            .post(url.as_str())
            .config()
            .timeout_global(Some(left))
            .build()
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let bytes = serde_json::to_vec(body)
            .map_err(|e| NetError::Denied(format!("cannot encode the request: {e}")))?;
        finish(url, req.send(&bytes[..]))
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body (OAuth token refresh).
    pub fn post_form(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Result<Response, NetError> {
        let agent = self.agent(url)?;
        let left = self.remaining(url)?;
        let mut req = agent
            .post(url.as_str())
            .config()
            .timeout_global(Some(left))
            .build()
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish();
        finish(url, req.send(body.as_bytes()))
    }

    fn agent(&self, url: &url::Url) -> Result<&ureq::Agent, NetError> {
        match url.scheme() {
            "https" => self.tls_agent(),
            // No roots: a TLS handshake on this agent (none is made: no redirects) fails.
            "http" if is_loopback(url) => Ok(self
                .plain
                .get_or_init(|| self.build(tls_config(Vec::new())))),
            "http" => Err(NetError::Denied(format!(
                "{}: plain http:// is allowed only to loopback hosts",
                redact(url)
            ))),
            other => Err(NetError::Denied(format!(
                "{}: unsupported scheme {other}",
                redact(url)
            ))),
        }
    }

    fn tls_agent(&self) -> Result<&ureq::Agent, NetError> {
        self.tls
            .get_or_init(|| {
                let roots = load_roots(self.ca_file.as_deref())?;
                Ok(self.build(tls_config(roots)))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build(&self, tls: TlsConfig) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .max_idle_connections(0)
            .user_agent("pam_ticketgate")
            .tls_config(tls)
            .build()
            .new_agent()
    }
}

/// rustls with ring, trusting exactly `roots`. The provider is given here, per agent, rather than
/// through ureq's default features (which would also link the webpki-roots bundle, never used:
/// the roots are always the system bundle or `ca_file`) or a process-wide default (the process
/// is sshd's, not ours).
fn tls_config(roots: Vec<Certificate<'static>>) -> TlsConfig {
    TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .build()
}

/// Loopback by address: `127.0.0.0/8` or `::1` (a name such as `localhost` could resolve anywhere).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// The URL without user info, query or fragment (they may carry credentials).
fn redact(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

/// The trust roots: `ca_file`, or the first system bundle that exists. Either is checked as
/// every trusted file is (fsutil: root-owned, not writable by group or others, in directories
/// only root can change; a link there, as `update-ca-certificates` makes, is followed): a CA
/// file someone else could write would let them vouch for any server.
fn load_roots(ca_file: Option<&Path>) -> Result<Vec<Certificate<'static>>, NetError> {
    let read = |p: &Path| -> Result<Vec<u8>, fsutil::Refused> {
        let mut bytes = Vec::new();
        fsutil::open_trusted(p, fsutil::Rule::PUBLIC)?
            .read_to_end(&mut bytes)
            .map_err(|e| fsutil::Refused {
                at: None,
                problem: fsutil::Problem::Io(e),
            })?;
        Ok(bytes)
    };
    let refused = |what: &str, p: &Path, r: fsutil::Refused| {
        NetError::Denied(format!("{what} {}: refused: {r}", p.display()))
    };
    let (path, pem) = match ca_file {
        Some(p) => (
            p.to_path_buf(),
            read(p).map_err(|r| refused("ca_file", p, r))?,
        ),
        None => {
            let mut found = None;
            for p in SYSTEM_BUNDLES.iter().map(Path::new) {
                match read(p) {
                    Ok(bytes) => {
                        found = Some((p.to_path_buf(), bytes));
                        break;
                    }
                    Err(fsutil::Refused {
                        problem: fsutil::Problem::Io(e),
                        ..
                    }) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(r) => return Err(refused("system CA bundle", p, r)),
                }
            }
            found.ok_or_else(|| {
                NetError::Denied(format!(
                    "no system CA bundle ({}); install ca-certificates or set ca_file",
                    SYSTEM_BUNDLES.join(", ")
                ))
            })?
        }
    };
    let roots: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
            _ => None,
        })
        .collect();
    if roots.is_empty() {
        return Err(NetError::Denied(format!(
            "{}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(roots)
}

/// Sorts the outcome of one call: 2xx with a body under [`MAX_BODY`] is `Ok`.
fn finish(
    url: &url::Url,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Response, NetError> {
    let shown = redact(url);
    let mut response = result.map_err(|e| classify(&shown, e))?;
    let status = response.status().as_u16();
    match status {
        200..=299 => {}
        429 | 500..=599 => {
            return Err(NetError::Unreachable(format!("{shown}: HTTP {status}")));
        }
        _ => return Err(NetError::Denied(format!("{shown}: HTTP {status}"))),
    }
    let mut body = Vec::new();
    let reader = response.body_mut().as_reader();
    // One byte more than allowed tells "exactly at the limit" from "over it".
    reader
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| classify_io(&shown, &e))?;
    if body.len() as u64 > MAX_BODY {
        return Err(NetError::Denied(format!(
            "{shown}: response body over {MAX_BODY} bytes"
        )));
    }
    Ok(Response { status, body })
}

fn classify(shown: &str, e: ureq::Error) -> NetError {
    use ureq::Error as E;
    match e {
        E::Timeout(t) => NetError::Unreachable(format!("{shown}: deadline passed ({t})")),
        E::HostNotFound => NetError::Unreachable(format!("{shown}: host name not found")),
        E::ConnectionFailed => NetError::Unreachable(format!("{shown}: connection failed")),
        E::Io(io) => classify_io(shown, &io),
        E::Rustls(t) => NetError::Denied(format!("{shown}: TLS: {t}")),
        E::Tls(t) => NetError::Denied(format!("{shown}: TLS: {t}")),
        E::BodyExceedsLimit(n) => {
            NetError::Denied(format!("{shown}: response body over {n} bytes"))
        }
        E::Protocol(p) => NetError::Denied(format!("{shown}: malformed HTTP: {p}")),
        // Anything else (bad URL, header, redirect) is a misconfiguration or a broken answer.
        other => NetError::Denied(format!("{shown}: {other}")),
    }
}

fn classify_io(shown: &str, io: &std::io::Error) -> NetError {
    use std::io::ErrorKind as K;
    // rustls surfaces certificate failures during the handshake as io::Error(InvalidData)
    // wrapping a rustls::Error; those are a verdict, not an outage.
    if let Some(inner) = io.get_ref() {
        if let Some(ureq::Error::Rustls(t)) = inner.downcast_ref::<ureq::Error>() {
            return NetError::Denied(format!("{shown}: TLS: {t}"));
        }
        if io.kind() == K::InvalidData {
            return NetError::Denied(format!("{shown}: TLS or protocol error: {inner}"));
        }
    }
    match io.kind() {
        K::TimedOut | K::WouldBlock => NetError::Unreachable(format!("{shown}: deadline passed")),
        K::InvalidData | K::InvalidInput => NetError::Denied(format!("{shown}: {io}")),
        _ => NetError::Unreachable(format!("{shown}: {io}")),
    }
}

#[cfg(test)]
mod tests;
