//! The host agent end to end with the real ticketgate-server on loopback: tasks queued with
//! `ticketgate-server task add`, run by `ticketgate-agent` in the namespace sandbox (its own
//! /etc), their results read back with `task list --json`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use serde_json::Value;
use ticketgate_tests::agent::{
    agent_sandbox, assert_nowhere, events, login_works, once, spawn_service, stop_service,
    su_session,
};
use ticketgate_tests::sandbox::{PASSWORD, USER, text};
use ticketgate_tests::server::{Host, Server, server_bin};

const TOKEN: &str = "web01-agent-token";
/// The server's task key: base64 of 32 bytes.
const KEY: &str = "B3NlY3JldC1rZXktZm9yLXRoZS10ZXN0cy0wMDAwMDA=";

/// The real server with `[agent]` (interval 1 s) and the host web01.
fn server() -> Server {
    Server::start_with_files(
        false,
        &[Host::new("web01", TOKEN)],
        "[agent]\ntask_key_file = \"task.key\"\ninterval = \"1s\"\n",
        &[("task.key", KEY)],
    )
}

/// `task add --host web01 ARGS...`: the id it printed (its last line) and its output.
fn add(server: &Server, args: &[&str]) -> (String, String) {
    add_for(server, "web01", args)
}

/// `task add --host HOST ARGS...`: the id it printed (its last line) and its output.
fn add_for(server: &Server, host: &str, args: &[&str]) -> (String, String) {
    let mut argv = vec!["task", "add", "--host", host];
    argv.extend_from_slice(args);
    let out = server.cli(&argv);
    assert!(out.status.success(), "task add: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (stdout.lines().last().unwrap().to_string(), stdout)
}

/// `task add --host web01 ARGS...` with `stdin` (a password) on standard input: the id.
fn add_with_input(server: &Server, args: &[&str], stdin: &str) -> String {
    let mut cmd = std::process::Command::new(server_bin());
    cmd.arg("--config")
        .arg(server.config())
        .args(["task", "add", "--host", "web01"])
        .args(args);
    let out = ticketgate_tests::run_with_input(&mut cmd, stdin, "ticketgate-server");
    assert!(out.status.success(), "task add: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string()
}

/// The task's row in `task list --json`.
fn listed(server: &Server, id: &str) -> Value {
    let out = server.cli(&["task", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    listing["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed"))
}

#[test]
fn a_generated_reset_verify_and_lock_queued_on_the_server_run_on_the_host() {
    let server = server();
    let s = agent_sandbox(&server.url(), TOKEN, "1s", None);
    let (reset, out) = add(&server, &["reset-password", "--generate", USER]);
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("Password: "))
        .unwrap()
        .to_string();
    let agent = once(&s);
    assert!(agent.status.success(), "{}", text(&agent));
    let row = listed(&server, &reset);
    assert_eq!(row["state"], "done", "{row}");
    assert_eq!(row["detail"], "password set", "{row}");
    assert!(login_works(&s, &password), "the generated password logs in");
    assert!(!login_works(&s, PASSWORD), "the old one does not");
    assert_eq!(events(&s, "credential_update").len(), 1);
    assert_nowhere(&s, &agent, &password);
    let right = add_with_input(
        &server,
        &["verify-password", USER],
        &format!("{password}\n"),
    );
    let wrong = add_with_input(
        &server,
        &["verify-password", USER],
        &format!("{PASSWORD}\n"),
    );
    let agent = once(&s);
    assert!(agent.status.success(), "{}", text(&agent));
    assert_eq!(listed(&server, &right)["detail"], "match");
    assert_eq!(listed(&server, &wrong)["detail"], "mismatch");
    assert_nowhere(&s, &agent, &password);
    let (lock, _) = add(&server, &["lock", USER]);
    let agent = once(&s);
    assert!(agent.status.success(), "{}", text(&agent));
    assert_eq!(listed(&server, &lock)["state"], "done");
    assert!(!login_works(&s, &password), "locked");
}

#[test]
fn the_service_runs_a_task_queued_on_the_server_and_reports_it_at_once() {
    let server = server();
    // The agent's own interval an hour: only its first poll and the report right after it
    // fall inside this test.
    let s = agent_sandbox(&server.url(), TOKEN, "1h", None);
    let (id, _) = add(&server, &["lock", USER]);
    let agent = spawn_service(&s);
    // Bounded: 20 s (the machine may be busy with other tests). The time from task add to the
    // result is a figure of the benchmark (scripts/bench.sh), not of this test.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut row = listed(&server, &id);
    while row["state"] == "pending" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        row = listed(&server, &id);
    }
    let (status, err) = stop_service(agent);
    assert!(status.success(), "{status}: {err}");
    assert_eq!(row["state"], "done", "{row}: {err}");
    assert_eq!(events(&s, "admin_lock").len(), 1);
}

#[test]
fn a_host_runs_only_its_own_tasks_and_reports_a_kind_it_does_not_allow_as_refused() {
    const OTHER: &str = "web02-agent-token";
    let server = Server::start_with_files(
        false,
        &[Host::new("web01", TOKEN), Host::new("web02", OTHER)],
        "[agent]\ntask_key_file = \"task.key\"\ninterval = \"1s\"\n",
        &[("task.key", KEY)],
    );
    let web01 = agent_sandbox(&server.url(), TOKEN, "1s", None);
    let web02 = agent_sandbox(&server.url(), OTHER, "1s", Some("[\"verify_password\"]"));
    let (for_web01, _) = add_for(&server, "web01", &["lock", USER]);
    let (for_web02, _) = add_for(&server, "web02", &["lock", USER]);
    let out = once(&web02);
    assert!(out.status.success(), "{}", text(&out));
    let row = listed(&server, &for_web02);
    assert_eq!(
        (row["state"].as_str(), row["detail"].as_str()),
        (Some("refused"), Some("not_allowed")),
        "{row}"
    );
    assert_eq!(
        listed(&server, &for_web01)["state"],
        "pending",
        "web02's agent never sees web01's task"
    );
    assert!(login_works(&web02, PASSWORD), "nothing ran on web02");
    assert!(events(&web02, "admin_lock").is_empty());
    let refused = events(&web02, "agent_task");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["status"], "refused");
    let out = once(&web01);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(listed(&server, &for_web01)["state"], "done");
    assert!(!login_works(&web01, PASSWORD), "locked on web01");
}

#[test]
fn a_terminate_queued_on_the_server_ends_a_real_su_session_on_the_host() {
    let server = server();
    let s = agent_sandbox(&server.url(), TOKEN, "1s", None);
    let mut su = su_session(&s);
    let (id, _) = add(&server, &["terminate", USER]);
    let agent = once(&s);
    assert!(agent.status.success(), "{}", text(&agent));
    let row = listed(&server, &id);
    assert_eq!(
        (row["state"].as_str(), row["detail"].as_str()),
        (Some("done"), Some("1 session(s) ended")),
        "{row}"
    );
    let status = su.wait().unwrap();
    assert!(!status.success(), "su ended by the hangup");
    assert_eq!(events(&s, "session_terminated").len(), 1);
}
