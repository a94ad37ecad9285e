//! `POST /v1/agent/poll` as a plain function: bytes and `now` in, status and JSON out.
//!
//! One poll: the agent's results are taken first (so a task reported now is not handed out
//! again), then overdue tasks expire, then the host's pending tasks are handed out, each
//! password decrypted on the way. Log lines: `task_result` per task ended by a result,
//! `task_result_ignored` per result that ended nothing, `task_expired` per expiry,
//! `task_key_mismatch` per password the key no longer opens, and `agent_poll` for a poll that
//! carried results or got tasks. An idle poll (the usual one: 1,000 agents at 60 s are 1,000 a
//! minute) leaves no line; `ticketgate_agent_polls_total` on `/metrics` counts every poll.

use super::{
    Ended, KEY_MISMATCH, TaskKey, TaskResult, TaskRow, TaskState, TaskStore, clean_detail,
};
use crate::api::{MAX_FIELD_LEN, Reply};
use crate::audit::{self, Sink};
use crate::clock::since_epoch;
use crate::hosts::HostTokens;
use crate::metrics::Metrics;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Deserialize)]
struct PollRequest {
    host: String,
    #[serde(default)]
    results: Vec<RawResult>,
}

#[derive(Deserialize)]
struct RawResult {
    task_id: String,
    status: String,
    #[serde(default)]
    detail: String,
}

struct Enabled {
    key: TaskKey,
    interval: Duration,
    store: Box<dyn TaskStore>,
}

/// The agent endpoint: answering 404 when the config has no `[agent]`.
pub struct Agent {
    enabled: Option<Enabled>,
    log: Arc<dyn Sink>,
    metrics: Arc<Metrics>,
}

fn epoch(now: SystemTime) -> i64 {
    i64::try_from(since_epoch(now).as_secs()).unwrap_or(i64::MAX)
}

fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map(|p| p.to_string()).unwrap_or_default()
}

const EP: &str = "agent_poll";

impl Agent {
    /// Agents off: the endpoint answers 404.
    pub fn disabled(log: Arc<dyn Sink>, metrics: Arc<Metrics>) -> Self {
        Self {
            enabled: None,
            log,
            metrics,
        }
    }

    /// Agents on: tasks from `store`, passwords opened with `key`, `interval` told to agents.
    pub fn new(
        key: TaskKey,
        interval: Duration,
        store: Box<dyn TaskStore>,
        log: Arc<dyn Sink>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            enabled: Some(Enabled {
                key,
                interval,
                store,
            }),
            log,
            metrics,
        }
    }

    /// Whether `[agent]` is configured.
    pub fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }

    fn emit(&self, e: audit::Event) {
        e.emit(self.log.as_ref());
    }

    fn bad_request(
        &self,
        host: &str,
        peer: Option<SocketAddr>,
        now: SystemTime,
        why: &str,
    ) -> Reply {
        self.emit(
            audit::Event::new("bad_request", now)
                .field("endpoint", EP)
                .field("host_token", host)
                .field("peer", &peer_text(peer))
                .field("reason", why),
        );
        Reply::error(400, why)
    }

    fn store_error(&self, host: &str, now: SystemTime, e: &dyn std::fmt::Display) -> Reply {
        self.emit(
            audit::Event::new("error", now)
                .field("endpoint", EP)
                .field("reason", "store_unavailable")
                .field("host_token", host)
                .field("detail", &e.to_string()),
        );
        Reply::error(503, crate::api::STORE_UNAVAILABLE)
    }

    fn log_ended(&self, event: &str, e: &Ended, state: &str, detail: &str, now: SystemTime) {
        self.emit(
            audit::Event::new(event, now)
                .field("task_id", &e.id)
                .field("host", &e.host)
                .field("user", &e.user)
                .field("kind", &e.kind)
                .field("status", state)
                .field("detail", detail),
        );
    }

    /// The results of a request, checked; duplicates of an id after its first are dropped
    /// here (the first result wins) and answered as ignored.
    fn results(raw: Vec<RawResult>) -> Result<(Vec<TaskResult>, Vec<String>), &'static str> {
        let mut out: Vec<TaskResult> = Vec::with_capacity(raw.len());
        let mut repeated = Vec::new();
        for r in raw {
            let Some(id) = crate::fleet::canonical_id(&r.task_id) else {
                return Err("task_id must be a UUID in its 36-character text form");
            };
            let Some(state) = TaskState::from_result(&r.status) else {
                return Err("status must be \"done\", \"failed\" or \"refused\"");
            };
            if out.iter().any(|t| t.id == id) {
                repeated.push(id);
                continue;
            }
            out.push(TaskResult {
                id,
                state,
                detail: clean_detail(&r.detail),
            });
        }
        Ok((out, repeated))
    }

    /// `POST /v1/agent/poll`: takes the agent's results, then answers its host's pending tasks.
    pub fn poll(
        &self,
        hosts: &HostTokens,
        authorization: Option<&[u8]>,
        body: &[u8],
        peer: Option<SocketAddr>,
        now: SystemTime,
    ) -> Reply {
        let Some(enabled) = &self.enabled else {
            self.emit(
                audit::Event::new("agent_refused", now)
                    .field("peer", &peer_text(peer))
                    .field("reason", "no_agent_config"),
            );
            return Reply::error(
                404,
                "host agents are not configured on this server (no [agent] in its config)",
            );
        };
        let Some(host) = HostTokens::bearer(authorization).and_then(|t| hosts.authenticate(t))
        else {
            self.emit(
                audit::Event::new("agent_refused", now)
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
            return Reply::error(401, "missing or wrong bearer token");
        };
        let req: PollRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_request(
                    host,
                    peer,
                    now,
                    &format!("body is not an agent poll: {e}"),
                );
            }
        };
        if req.host.is_empty()
            || req.host.len() > MAX_FIELD_LEN
            || req.host.chars().any(char::is_control)
        {
            return self.bad_request(
                host,
                peer,
                now,
                "host must be 1-256 bytes without control characters",
            );
        }
        let (results, repeated) = match Self::results(req.results) {
            Ok(v) => v,
            Err(why) => return self.bad_request(host, peer, now, why),
        };
        let n = epoch(now);

        // 1. Results: only this host's pending tasks end; the first result wins.
        let taken = match enabled.store.take_results(host, &results, n) {
            Ok(t) => t,
            Err(e) => return self.store_error(host, now, &e),
        };
        for r in &results {
            match taken.iter().find(|t| t.id == r.id) {
                Some(t) => {
                    self.log_ended("task_result", t, r.state.as_str(), &r.detail, now);
                    self.metrics.task_results(r.state.as_str(), 1);
                }
                None => self.ignored(host, &req.host, &r.id, "not_pending_for_host", now),
            }
        }
        for id in &repeated {
            self.ignored(host, &req.host, id, "repeated_in_request", now);
        }

        // 2. Expiry, for every host: the listing and the next hand-out stay true.
        match enabled.store.expire(n) {
            Ok(expired) => {
                for e in &expired {
                    self.emit(
                        audit::Event::new("task_expired", now)
                            .field("task_id", &e.id)
                            .field("host", &e.host)
                            .field("user", &e.user)
                            .field("kind", &e.kind),
                    );
                }
                self.metrics
                    .task_results("expired", u64::try_from(expired.len()).unwrap_or(u64::MAX));
            }
            Err(e) => return self.store_error(host, now, &e),
        }

        // 3. Hand out.
        let pending = match enabled.store.pending(host, n) {
            Ok(p) => p,
            Err(e) => return self.store_error(host, now, &e),
        };
        let mut tasks = Vec::with_capacity(pending.len());
        for t in &pending {
            match self.wire_task(&enabled.key, t) {
                Some(v) => tasks.push(v),
                None => self.key_mismatch(enabled, host, t, n, now),
            }
        }
        self.metrics.agent_poll();
        if !results.is_empty() || !repeated.is_empty() || !tasks.is_empty() {
            self.emit(
                audit::Event::new("agent_poll", now)
                    .field("host_token", host)
                    .field("host", &req.host)
                    .field("peer", &peer_text(peer))
                    .num("results", results.len() + repeated.len())
                    .num("tasks", tasks.len()),
            );
        }
        Reply {
            status: 200,
            body: answer(tasks, enabled.interval),
            retry_after: None,
        }
    }

    fn ignored(&self, host: &str, claimed: &str, id: &str, reason: &str, now: SystemTime) {
        self.emit(
            audit::Event::new("task_result_ignored", now)
                .field("task_id", id)
                .field("host_token", host)
                .field("host", claimed)
                .field("reason", reason),
        );
    }

    /// A task as the agent gets it; `None` when its password does not open.
    fn wire_task(&self, key: &TaskKey, t: &TaskRow) -> Option<serde_json::Value> {
        let mut v = serde_json::json!({
            "id": t.id,
            "kind": t.kind,
            "user": t.user,
            "not_after": t.not_after,
        });
        if let Some(sealed) = &t.sealed {
            let password = key.open(&t.id, &t.host, sealed)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("password".into(), password.as_str().into());
            }
        } else if super::Kind::from_word(&t.kind).is_some_and(super::Kind::carries_password) {
            // A password task without its password cannot run; end it like a wrong key.
            return None;
        }
        Some(v)
    }

    /// A password the key does not open (the key was changed, or the row was tampered with):
    /// the task ends `failed` with `key_mismatch`, never handed out.
    fn key_mismatch(&self, enabled: &Enabled, host: &str, t: &TaskRow, n: i64, now: SystemTime) {
        let result = TaskResult {
            id: t.id.clone(),
            state: TaskState::Failed,
            detail: KEY_MISMATCH.to_owned(),
        };
        match enabled.store.take_results(host, &[result], n) {
            Ok(ended) => {
                for e in &ended {
                    self.log_ended("task_result", e, "failed", KEY_MISMATCH, now);
                    self.metrics.task_results("failed", 1);
                }
                self.emit(
                    audit::Event::new("task_key_mismatch", now)
                        .field("task_id", &t.id)
                        .field("host", host)
                        .field("user", &t.user)
                        .field(
                            "detail",
                            "the task's password does not decrypt with [agent] task_key_file \
                             (a changed key, or a changed row): marked failed, not handed out",
                        ),
                );
            }
            Err(e) => {
                let _ = self.store_error(host, now, &e);
            }
        }
    }
}

/// The poll's answer as JSON text, written into one buffer sized up front (a growing buffer
/// would leave copies of the passwords in freed memory); the passwords in `tasks` are zeroed
/// once written. The text itself is zeroed when the HTTP layer drops it (http.rs).
pub(super) fn answer(mut tasks: Vec<serde_json::Value>, interval: Duration) -> String {
    let secrets: usize = tasks
        .iter()
        .filter_map(|t| t.get("password").and_then(serde_json::Value::as_str))
        .map(str::len)
        .sum();
    // JSON escapes a byte as at most six (\u00XX); the rest of a task is its id, kind, user
    // (at most MAX_FIELD_LEN) and not_after.
    let mut out = Vec::with_capacity(64 + secrets * 6 + tasks.len() * (128 + 6 * MAX_FIELD_LEN));
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        tasks: &'a [serde_json::Value],
        interval: u64,
    }
    let answer = Answer {
        tasks: &tasks,
        interval: interval.as_secs(),
    };
    // Writing into a Vec cannot fail; an empty answer would be refused by the agent.
    let _ = serde_json::to_writer(&mut out, &answer);
    for t in &mut tasks {
        if let Some(serde_json::Value::String(p)) = t.get_mut("password") {
            zeroize::Zeroize::zeroize(p);
        }
    }
    String::from_utf8(out).unwrap_or_default()
}
