//! `/metrics` (issue 16, item 6): off by default; with `metrics_listen` a second listener
//! answers a real scrape in the Prometheus text format, which Prometheus' own Python parser
//! (`python3-prometheus-client`) reads, with the counts of what the server answered.

use crate::harness::{SERVICE, Setup, request, require_program};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// The families and samples Prometheus' parser finds in `text`, as `name{labels} value` lines.
fn parse_with_prometheus(text: &str) -> Vec<String> {
    require_program(
        "/usr/lib/python3/dist-packages/prometheus_client/parser.py",
        "python3-prometheus-client",
    );
    // Debian's python3, which the package installs the parser for.
    let mut child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys\n\
             from prometheus_client.parser import text_string_to_metric_families\n\
             for f in text_string_to_metric_families(sys.stdin.read()):\n\
             \x20   for s in f.samples:\n\
             \x20       labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n\
             \x20       print(f'{f.type} {s.name}{{{labels}}} {s.value}')\n",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus' parser refused the page: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn without_metrics_listen_nothing_else_listens_and_the_api_has_no_metrics_page() {
    let setup = Setup::new("60s", "");
    let server = setup.start();
    assert!(
        !server
            .log()
            .iter()
            .any(|l| l.contains("event=metrics_listening")),
        "{:?}",
        server.log()
    );
    let r = request(server.addr, "GET", "/metrics", &[], None);
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn a_real_scrape_parses_as_prometheus_text_and_counts_what_was_answered() {
    let setup = Setup::new("60s", "metrics_listen = \"127.0.0.1:0\"");
    let alice = setup.enroll("alice", Some(SERVICE));
    let server = setup.start();
    let line = server.wait_for_log(&["event=metrics_listening"]);
    let metrics: SocketAddr = line
        .split(' ')
        .find_map(|f| f.strip_prefix("metrics_addr="))
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(metrics, server.addr);

    // One locked attempt, a wrong code, an unlock, the attempt that uses it, a bad token.
    assert!(
        !server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    assert_eq!(server.unlock("alice", &alice.wrong_code()).status, 403);
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    assert_eq!(
        server
            .attempt_with(Some("wrong-token-000000000000"), SERVICE, "alice")
            .status,
        401
    );

    let page = request(metrics, "GET", "/metrics", &[], None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        page.header("content-type")
    );
    let samples = parse_with_prometheus(&page.body);
    for want in [
        "counter ticketgate_attempts_total{result=unlocked} 1.0",
        "counter ticketgate_attempts_total{result=locked} 1.0",
        "counter ticketgate_attempts_total{result=refused} 1.0",
        "counter ticketgate_unlocks_total{} 1.0",
        "counter ticketgate_wrong_codes_total{} 1.0",
        "counter ticketgate_rate_limited_total{} 0.0",
        "counter ticketgate_store_errors_total{} 0.0",
        "histogram ticketgate_request_duration_seconds_count{endpoint=/v1/attempt} 3.0",
        "histogram ticketgate_request_duration_seconds_count{endpoint=/v1/unlock} 2.0",
        "histogram ticketgate_request_duration_seconds_bucket{endpoint=/v1/attempt,le=+Inf} 3.0",
    ] {
        assert!(samples.iter().any(|s| s == want), "{want}\n{samples:#?}");
    }
    // The metrics listener serves nothing else, and the API listener no metrics.
    assert_eq!(request(metrics, "GET", "/v1/health", &[], None).status, 404);
    assert_eq!(
        request(server.addr, "GET", "/metrics", &[], None).status,
        404
    );
}
