//! HTTP glue: routes requests to the protocol functions in `api` and turns replies into responses.

use crate::api::{Protect, Reply};
use crate::clock::Clock;
use crate::fleet::api::Fleet;
use crate::page;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Largest request body accepted.
pub const MAX_BODY: usize = 16 * 1024;
/// How long a client may take to send its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a request waits on the store before it is answered 503 (under the module's own
/// deadline, so a hung database reads as "unreachable" there too).
pub const STORE_DEADLINE: Duration = Duration::from_secs(4);

/// What every connection shares.
pub struct App {
    /// The protocol state.
    pub protect: Arc<Protect>,
    /// The fleet endpoints (404 without `[fleet]`).
    pub fleet: Arc<Fleet>,
    /// The host agents' endpoint (404 without `[agent]`).
    pub agent: Arc<crate::tasks::api::Agent>,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// What `/metrics` reports.
    pub metrics: Arc<crate::metrics::Metrics>,
}

fn response(
    status: u16,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn json_reply(reply: Reply) -> Response<Full<Bytes>> {
    // Some answers carry a secret (a task's password to its agent, a new TOTP secret to the
    // enrolling phone): every JSON body is zeroed when hyper drops it, not left in freed memory.
    let body = Bytes::from_owner(zeroize::Zeroizing::new(reply.body.into_bytes()));
    let mut r = response(reply.status, "application/json", body);
    if let Some(secs) = reply.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if reply.status == 401 {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut r = json_reply(Reply::error(405, &format!("use {allow}")));
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// Runs a protocol function that reads or writes the store on the blocking pool, under
/// `STORE_DEADLINE`.
async fn blocking(
    app: &Arc<App>,
    endpoint: &'static str,
    f: impl FnOnce(&App) -> Reply + Send + 'static,
) -> Reply {
    let worker = Arc::clone(app);
    let job = tokio::task::spawn_blocking(move || f(&worker));
    match tokio::time::timeout(STORE_DEADLINE, job).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => Reply::error(500, "internal error; see the server log"),
        Err(_) => {
            crate::audit::Event::new("error", app.clock.now())
                .field("endpoint", endpoint)
                .field("reason", "store_deadline")
                .num("after_ms", STORE_DEADLINE.as_millis())
                .emit(app.protect.log.as_ref());
            Reply::error(503, crate::api::STORE_UNAVAILABLE)
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, Reply> {
    let limited = Limited::new(body, MAX_BODY);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Reply::error(413, "request body larger than 16 KiB"))
        }
        Ok(Err(_)) => Err(Reply::error(400, "request body could not be read")),
        Err(_) => Err(Reply::error(408, "request body not received in time")),
    }
}

/// A `POST` endpoint whose function reads or writes the store: the body read (a failure
/// answered and logged with the endpoint's name), then `answer` on the blocking pool with the
/// body and "now".
async fn post_route(
    app: Arc<App>,
    peer: Option<SocketAddr>,
    endpoint: &'static str,
    body: Incoming,
    answer: impl FnOnce(&App, &[u8], SystemTime) -> Reply + Send + 'static,
) -> Response<Full<Bytes>> {
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(reply) => {
            crate::audit::Event::new("bad_request", app.clock.now())
                .field("endpoint", endpoint)
                .field("peer", &peer.map(|p| p.to_string()).unwrap_or_default())
                .field("reason", &reply.body)
                .emit(app.protect.log.as_ref());
            return json_reply(reply);
        }
    };
    json_reply(
        blocking(&app, endpoint, move |app| {
            answer(app, &bytes, app.clock.now())
        })
        .await,
    )
}

/// One of `Fleet::check`, `Fleet::failure`, `Fleet::success`.
type FleetEndpoint = fn(
    &Fleet,
    &crate::hosts::HostTokens,
    Option<&[u8]>,
    &[u8],
    Option<SocketAddr>,
    SystemTime,
) -> Reply;

/// `/v1/fleet/*`: the host's token and body handed to one of the fleet's functions.
async fn fleet_route(
    app: Arc<App>,
    peer: Option<SocketAddr>,
    endpoint: &'static str,
    answer: FleetEndpoint,
    auth: Option<Vec<u8>>,
    body: Incoming,
) -> Response<Full<Bytes>> {
    post_route(app, peer, endpoint, body, move |app, bytes, now| {
        answer(
            &app.fleet,
            &app.protect.hosts,
            auth.as_deref(),
            bytes,
            peer,
            now,
        )
    })
    .await
}

fn auth_header(parts: &http::request::Parts) -> Option<Vec<u8>> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec())
}

/// Answers one request.
pub async fn handle(
    app: Arc<App>,
    peer: Option<SocketAddr>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = std::time::Instant::now();
    let metrics = Arc::clone(&app.metrics);
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    // /v1/attempt's answer, for the metrics' unlocked/locked count.
    let mut verdict = String::new();
    let r = match (path, &parts.method) {
        ("/" | "/index.html", &Method::GET) => {
            let mut r = response(
                200,
                "text/html; charset=utf-8",
                page::html(&app.protect.issuer, app.protect.window.as_secs()),
            );
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(page::CSP),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        ("/" | "/index.html", _) => method_not_allowed("GET"),
        ("/v1/health", &Method::GET) => response(200, "application/json", r#"{"status":"ok"}"#),
        ("/v1/health", _) => method_not_allowed("GET"),
        ("/v1/attempt", &Method::POST) => match read_body(body).await {
            Ok(bytes) => {
                let auth = parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes().to_vec());
                let reply = if app.protect.store.attempt_blocks() {
                    blocking(&app, "attempt", move |app| {
                        app.protect
                            .attempt(auth.as_deref(), &bytes, peer, app.clock.now())
                    })
                    .await
                } else {
                    app.protect
                        .attempt(auth.as_deref(), &bytes, peer, app.clock.now())
                };
                verdict.clone_from(&reply.body);
                json_reply(reply)
            }
            Err(reply) => json_reply(reply),
        },
        ("/v1/unlock", &Method::POST) => {
            post_route(app, peer, "unlock", body, move |app, bytes, now| {
                app.protect.unlock(bytes, peer, now)
            })
            .await
        }
        ("/v1/enroll", &Method::POST) => {
            post_route(app, peer, "enroll", body, move |app, bytes, now| {
                app.protect.enroll(bytes, peer, now)
            })
            .await
        }
        ("/v1/enroll/confirm", &Method::POST) => {
            post_route(app, peer, "enroll_confirm", body, move |app, bytes, now| {
                app.protect.enroll_confirm(bytes, peer, now)
            })
            .await
        }
        ("/v1/fleet/check", &Method::POST) => {
            fleet_route(
                app,
                peer,
                "fleet_check",
                Fleet::check,
                auth_header(&parts),
                body,
            )
            .await
        }
        ("/v1/fleet/failure", &Method::POST) => {
            fleet_route(
                app,
                peer,
                "fleet_failure",
                Fleet::failure,
                auth_header(&parts),
                body,
            )
            .await
        }
        ("/v1/fleet/success", &Method::POST) => {
            fleet_route(
                app,
                peer,
                "fleet_success",
                Fleet::success,
                auth_header(&parts),
                body,
            )
            .await
        }
        ("/v1/agent/poll", &Method::POST) => {
            let auth = auth_header(&parts);
            post_route(app, peer, "agent_poll", body, move |app, bytes, now| {
                app.agent
                    .poll(&app.protect.hosts, auth.as_deref(), bytes, peer, now)
            })
            .await
        }
        (
            "/v1/attempt" | "/v1/unlock" | "/v1/enroll" | "/v1/enroll/confirm" | "/v1/fleet/check"
            | "/v1/fleet/failure" | "/v1/fleet/success" | "/v1/agent/poll",
            _,
        ) => method_not_allowed("POST"),
        _ => json_reply(Reply::error(
            404,
            "not found; the v1 API is /v1/attempt, /v1/unlock, /v1/enroll, /v1/enroll/confirm, /v1/health, /v1/fleet/check, /v1/fleet/failure, /v1/fleet/success, /v1/agent/poll",
        )),
    };
    metrics.record(
        path,
        r.status().as_u16(),
        verdict.as_bytes(),
        started.elapsed(),
    );
    Ok(r)
}

/// The `/metrics` listener's one page: `GET /metrics`, everything else 404.
pub async fn handle_metrics(
    metrics: Arc<crate::metrics::Metrics>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match (req.uri().path(), req.method()) {
        ("/metrics", &Method::GET) => response(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("/metrics", _) => method_not_allowed("GET"),
        _ => json_reply(Reply::error(
            404,
            "not found; this listener serves /metrics only",
        )),
    })
}
