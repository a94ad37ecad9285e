//! `/metrics` in the Prometheus text format (version 0.0.4) on a listen address of its own
//! (`metrics_listen`, off by default): what the server answered, counted from the replies the
//! HTTP glue sends, and how long each request took. No user names, tokens or codes: only counts.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` follows).
pub const BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The endpoints a histogram is kept for; anything else is `other`.
const ENDPOINTS: [&str; 8] = [
    "/v1/attempt",
    "/v1/unlock",
    "/v1/fleet/check",
    "/v1/fleet/failure",
    "/v1/fleet/success",
    "/v1/agent/poll",
    "/v1/health",
    "other",
];

#[derive(Default)]
struct Histogram {
    /// One counter per bucket of [`BUCKETS`] (not cumulative; summed when rendered), then `+Inf`.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = self.counts.get(slot) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// The counters; every field is updated with relaxed atomics from any connection.
#[derive(Default)]
pub struct Metrics {
    attempts_unlocked: AtomicU64,
    attempts_locked: AtomicU64,
    attempts_refused: AtomicU64,
    unlocks: AtomicU64,
    wrong_codes: AtomicU64,
    rate_limited: AtomicU64,
    store_errors: AtomicU64,
    bad_requests: AtomicU64,
    agent_polls: AtomicU64,
    /// done, failed, refused, expired (in [`TASK_STATES`] order).
    task_results: [AtomicU64; 4],
    latency: [Histogram; ENDPOINTS.len()],
}

/// The end states of a task, as `ticketgate_task_results_total`'s `status` label.
const TASK_STATES: [&str; 4] = ["done", "failed", "refused", "expired"];

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// A fresh set, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one `POST /v1/agent/poll` answered 200.
    pub fn agent_poll(&self) {
        bump(&self.agent_polls);
    }

    /// Counts `n` tasks that ended in `state` (`done`, `failed`, `refused`, `expired`).
    pub fn task_results(&self, state: &str, n: u64) {
        if let Some(c) = TASK_STATES
            .iter()
            .position(|s| *s == state)
            .and_then(|i| self.task_results.get(i))
        {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts one answered request: its path, status, body (only `/v1/attempt`'s verdict is
    /// read from it) and how long it took.
    pub fn record(&self, path: &str, status: u16, body: &[u8], took: Duration) {
        match (path, status) {
            ("/v1/attempt", 200) => {
                if contains(body, br#""unlocked":true"#) {
                    bump(&self.attempts_unlocked);
                } else {
                    bump(&self.attempts_locked);
                }
            }
            ("/v1/attempt", 401 | 403) => bump(&self.attempts_refused),
            ("/v1/unlock", 200) => bump(&self.unlocks),
            ("/v1/unlock", 403) => bump(&self.wrong_codes),
            ("/v1/unlock" | "/v1/enroll" | "/v1/enroll/confirm", 429) => bump(&self.rate_limited),
            (_, 500 | 503) => bump(&self.store_errors),
            (_, 400 | 413) => bump(&self.bad_requests),
            _ => {}
        }
        let slot = ENDPOINTS
            .iter()
            .position(|e| *e == path)
            .unwrap_or(ENDPOINTS.len() - 1);
        if let Some(h) = self.latency.get(slot) {
            h.observe(took);
        }
    }

    /// The text format: `# HELP`, `# TYPE` and the samples of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        counter(
            "ticketgate_attempts_total",
            "Answers to POST /v1/attempt: unlocked (an unlock used up), locked, refused (bad token or service ID).",
            &[
                (r#"{result="unlocked"}"#, get(&self.attempts_unlocked)),
                (r#"{result="locked"}"#, get(&self.attempts_locked)),
                (r#"{result="refused"}"#, get(&self.attempts_refused)),
            ],
        );
        counter(
            "ticketgate_unlocks_total",
            "Unlocks opened by POST /v1/unlock with a right code.",
            &[("", get(&self.unlocks))],
        );
        counter(
            "ticketgate_wrong_codes_total",
            "POST /v1/unlock refused: a wrong, used or unknown user's code.",
            &[("", get(&self.wrong_codes))],
        );
        counter(
            "ticketgate_rate_limited_total",
            "POST /v1/unlock answered 429: too many wrong codes for the user.",
            &[("", get(&self.rate_limited))],
        );
        counter(
            "ticketgate_store_errors_total",
            "Requests answered 500 or 503 because the store could not be used.",
            &[("", get(&self.store_errors))],
        );
        counter(
            "ticketgate_bad_requests_total",
            "Requests refused as malformed (400) or too large (413).",
            &[("", get(&self.bad_requests))],
        );
        counter(
            "ticketgate_agent_polls_total",
            "POST /v1/agent/poll answered 200 (host agents asking for tasks).",
            &[("", get(&self.agent_polls))],
        );
        let labels: Vec<String> = TASK_STATES
            .iter()
            .map(|s| format!("{{status=\"{s}\"}}"))
            .collect();
        let samples: Vec<(&str, u64)> = labels
            .iter()
            .zip(&self.task_results)
            .map(|(l, c)| (l.as_str(), get(c)))
            .collect();
        counter(
            "ticketgate_task_results_total",
            "Agent tasks that ended: by the agent's result (done, failed, refused; failed also when the server could not decrypt a password) or expired.",
            &samples,
        );
        let name = "ticketgate_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a request's headers to its answer, per endpoint.\n# TYPE {name} histogram"
        );
        for (endpoint, h) in ENDPOINTS.iter().zip(&self.latency) {
            let mut cumulative = 0;
            for (i, c) in h.counts.iter().enumerate() {
                cumulative += get(c);
                let le = BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "{name}_bucket{{endpoint=\"{endpoint}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = get(&h.sum_micros) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{endpoint=\"{endpoint}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{endpoint=\"{endpoint}\"}} {cumulative}");
        }
        out
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replies_are_counted_by_endpoint_and_status() {
        let m = Metrics::new();
        let ms = Duration::from_millis(3);
        m.record("/v1/attempt", 200, br#"{"unlocked":true}"#, ms);
        m.record("/v1/attempt", 200, br#"{"unlocked":false}"#, ms);
        m.record("/v1/attempt", 200, br#"{"unlocked":false}"#, ms);
        m.record("/v1/attempt", 401, b"{}", ms);
        m.record("/v1/unlock", 200, b"{}", ms);
        m.record("/v1/unlock", 403, b"{}", ms);
        m.record("/v1/unlock", 429, b"{}", ms);
        m.record("/v1/fleet/failure", 503, b"{}", Duration::from_secs(9));
        m.record("/nope", 400, b"{}", ms);
        m.agent_poll();
        m.agent_poll();
        m.task_results("done", 3);
        m.task_results("expired", 1);
        m.task_results("pending", 9);
        let text = m.render();
        for line in [
            r#"ticketgate_attempts_total{result="unlocked"} 1"#,
            r#"ticketgate_attempts_total{result="locked"} 2"#,
            r#"ticketgate_attempts_total{result="refused"} 1"#,
            "ticketgate_unlocks_total 1",
            "ticketgate_wrong_codes_total 1",
            "ticketgate_rate_limited_total 1",
            "ticketgate_store_errors_total 1",
            "ticketgate_bad_requests_total 1",
            "ticketgate_agent_polls_total 2",
            r#"ticketgate_task_results_total{status="done"} 3"#,
            r#"ticketgate_task_results_total{status="failed"} 0"#,
            r#"ticketgate_task_results_total{status="expired"} 1"#,
            r#"ticketgate_request_duration_seconds_bucket{endpoint="/v1/attempt",le="0.0025"} 0"#,
            r#"ticketgate_request_duration_seconds_bucket{endpoint="/v1/attempt",le="0.005"} 4"#,
            r#"ticketgate_request_duration_seconds_count{endpoint="/v1/attempt"} 4"#,
            r#"ticketgate_request_duration_seconds_bucket{endpoint="/v1/fleet/failure",le="2.5"} 0"#,
            r#"ticketgate_request_duration_seconds_bucket{endpoint="/v1/fleet/failure",le="+Inf"} 1"#,
            r#"ticketgate_request_duration_seconds_count{endpoint="other"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }
}
