//! The host agent `ticketgate-agent` in the namespace sandbox (its own /etc: passwd, shadow,
//! pam.d), polling a loopback responder that speaks `POST /v1/agent/poll`
//! (`fleet_responder::AgentServer`): a reset through the real chpasswd that pamtester then
//! logs in with, verify against yescrypt, SHA-512 and bcrypt hashes, lock and terminate, every
//! refusal, replays, back-off against a server that is down, garbage answers, and that the
//! password shows up in no log, audit line, state file or process list. The helpers take the
//! server's URL and token, so the end-to-end tests can point them at the real ticketgate-server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // not_after is epoch seconds: the tests date tasks around the real clock the agent reads.
    clippy::disallowed_methods
)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use ticketgate_tests::agent::{
    agent_sandbox, assert_nowhere, events, login_works, now, once, set_shadow_hash, shadow_hash,
    spawn_service, stop_service, su_session, task,
};
use ticketgate_tests::fleet_responder::AgentServer;
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};
use ticketgate_tests::{agent_bin, module_so};

const TOKEN: &str = "agent-host-token";
/// Distinctive, so that finding it anywhere is unambiguous; passes the default rules.
const NEW: &str = "Zq7-Vermilion-Okapi-4411";

fn sandbox(server: &AgentServer) -> Sandbox {
    agent_sandbox(&server.url(), TOKEN, "1s", None)
}

fn result(server: &AgentServer, id: &str) -> (String, String) {
    let r = server
        .result(id)
        .unwrap_or_else(|| panic!("no result for {id}: {:?}", server.polls()));
    (
        r["status"].as_str().unwrap().to_string(),
        r["detail"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_reset_sets_the_password_through_chpasswd_and_is_recorded_once() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    let (id, t) = task("reset_password", USER, Some(NEW));
    server.queue(t);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(result(&server, &id), ("done".into(), "password set".into()));
    // One --once ran the task and reported it: two polls, the second carrying the result.
    let polls = server.polls();
    assert_eq!(polls.len(), 2, "{polls:?}");
    assert_eq!(polls[0]["results"], json!([]));
    assert_eq!(polls[1]["results"][0]["task_id"], id.as_str());
    assert!(login_works(&s, NEW), "the new password logs in");
    assert!(!login_works(&s, PASSWORD), "the old one does not");
    // The sandbox's chpasswd stack is the host's, without the module: the agent recorded it.
    let updates = events(&s, "credential_update");
    assert_eq!(updates.len(), 1, "recorded once: {updates:?}");
    assert_eq!(updates[0]["service"], "ticketgate-agent");
    let agent_events = events(&s, "agent_task");
    assert_eq!(agent_events.len(), 1);
    assert_eq!(agent_events[0]["task_id"], id.as_str());
    assert_eq!(agent_events[0]["kind"], "reset_password");
    assert_eq!(agent_events[0]["status"], "done");
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(status.contains("password:     changed"), "{status}");
    let state = std::fs::read_to_string(s.path("state").join(format!("{USER}.state"))).unwrap();
    assert!(
        state.contains("$argon2id$"),
        "the history holds the new hash: {state}"
    );
    assert_nowhere(&s, &out, NEW);
}

#[test]
fn a_reset_through_a_chpasswd_stack_with_the_module_is_recorded_once() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    // chpasswd's PAM service runs the module's password and commit lines around pam_unix.
    let (so, cfg) = (module_so(), s.config());
    let (so, cfg) = (so.display(), cfg.display());
    s.service(
        "chpasswd",
        &format!(
            "password requisite {so} config={cfg}\npassword requisite pam_unix.so use_authtok sha512\npassword optional {so} commit config={cfg}\n"
        ),
    );
    let (id, t) = task("reset_password", USER, Some(NEW));
    server.queue(t);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(result(&server, &id).0, "done", "{}", text(&out));
    assert!(login_works(&s, NEW));
    let updates = events(&s, "credential_update");
    assert_eq!(updates.len(), 1, "recorded once: {updates:?}");
    assert_eq!(
        updates[0]["service"], "chpasswd",
        "by the module's commit line"
    );
    let state = std::fs::read_to_string(s.path("state").join(format!("{USER}.state"))).unwrap();
    assert_eq!(state.matches("$argon2id$").count(), 1, "{state}");
    assert_nowhere(&s, &out, NEW);
}

#[test]
fn a_reset_on_the_debian_stacks_pam_auth_update_writes_is_recorded_once() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    // /etc/pam.d/chpasswd includes common-password, which now has the profiles' password line
    // (ticketgate-preauth) before pam_unix and the commit line (ticketgate) after it: the
    // module records the change, and the agent, seeing it recorded, does not again.
    s.debian_common_stacks();
    let (id, t) = task("reset_password", USER, Some(NEW));
    server.queue(t);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(result(&server, &id).0, "done", "{}", text(&out));
    assert!(login_works(&s, NEW));
    let updates = events(&s, "credential_update");
    assert_eq!(updates.len(), 1, "recorded once: {updates:?}");
    assert_eq!(
        updates[0]["service"], "chpasswd",
        "by the module's commit line"
    );
    assert_nowhere(&s, &out, NEW);
}

#[test]
fn a_reset_that_breaks_the_host_rules_fails_and_changes_nothing() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    let before = shadow_hash(&s);
    let (id, t) = task("reset_password", USER, Some("password"));
    server.queue(t);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    let (status, detail) = result(&server, &id);
    assert_eq!(status, "failed");
    assert!(
        !detail.is_empty() && !detail.contains("password "),
        "a rule's name: {detail}"
    );
    assert_eq!(shadow_hash(&s), before, "the shadow entry is unchanged");
    assert!(login_works(&s, PASSWORD));
    assert!(events(&s, "credential_update").is_empty());
}

#[test]
fn verify_reports_match_and_mismatch_for_yescrypt_sha512_and_bcrypt() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    const SECRET: &str = "Umber-Narwhal-1907";
    for method in ["yescrypt", "sha512crypt", "bcrypt"] {
        let out = std::process::Command::new("mkpasswd")
            .args(["-m", method, "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                std::io::Write::write_all(c.stdin.as_mut().unwrap(), SECRET.as_bytes())?;
                drop(c.stdin.take());
                c.wait_with_output()
            })
            .unwrap_or_else(|e| panic!("mkpasswd (package whois): {e}"));
        assert!(out.status.success());
        let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
        set_shadow_hash(&s, &hash);
        let (right, t1) = task("verify_password", USER, Some(SECRET));
        let (wrong, t2) = task("verify_password", USER, Some("Umber-Narwhal-1908"));
        server.queue(t1);
        server.queue(t2);
        let out = once(&s);
        assert!(out.status.success(), "{method}: {}", text(&out));
        assert_eq!(
            result(&server, &right),
            ("done".into(), "match".into()),
            "{method}"
        );
        assert_eq!(
            result(&server, &wrong),
            ("done".into(), "mismatch".into()),
            "{method}"
        );
        assert_nowhere(&s, &out, SECRET);
    }
    // A locked hash never matches, and the log says why.
    let locked = format!("!{}", shadow_hash(&s));
    set_shadow_hash(&s, &locked);
    let (id, t) = task("verify_password", USER, Some(SECRET));
    server.queue(t);
    let out = once(&s);
    assert_eq!(result(&server, &id), ("done".into(), "mismatch".into()));
    assert!(text(&out).contains("locked"), "{}", text(&out));
    // No PAM login happened: nothing was counted, no gate ran.
    for name in ["auth_failure", "auth_success"] {
        assert!(events(&s, name).is_empty(), "{name}");
    }
}

#[test]
fn lock_and_unlock_take_effect() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    let (lock, t) = task("lock", USER, None);
    server.queue(t);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(result(&server, &lock).0, "done");
    assert!(!login_works(&s, PASSWORD), "locked");
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(status.contains("LOCKED by an administrator"), "{status}");
    let locks = events(&s, "admin_lock");
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["by"], "ticketgate-agent");
    let (unlock, t) = task("unlock", USER, None);
    server.queue(t);
    assert!(once(&s).status.success());
    assert_eq!(result(&server, &unlock).0, "done");
    assert!(login_works(&s, PASSWORD), "unlocked");
    let (must, t) = task("must_change", USER, None);
    server.queue(t);
    assert!(once(&s).status.success());
    assert_eq!(result(&server, &must).0, "done");
    let status = text(&s.ticketgate(&["status", USER]));
    assert!(status.contains("MUST CHANGE"), "{status}");
}

#[test]
fn terminate_ends_a_real_su_session() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    let mut su = su_session(&s);
    let (id, t) = task("terminate", USER, None);
    server.queue(t);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        result(&server, &id),
        ("done".into(), "1 session(s) ended".into())
    );
    let status = su.wait().unwrap();
    assert!(!status.success(), "su ended by the hangup");
    assert_eq!(events(&s, "session_terminated").len(), 1);
}

#[test]
fn expired_unknown_disallowed_malformed_and_far_ahead_tasks_are_refused_with_their_reason() {
    let server = AgentServer::start(TOKEN);
    let s = agent_sandbox(
        &server.url(),
        TOKEN,
        "1s",
        Some("[\"verify_password\", \"lock\"]"),
    );
    let (expired, mut t) = task("lock", USER, None);
    t["not_after"] = json!(now() - 10);
    server.queue(t);
    let (unknown, t) = task("lock", "no-such-user-xq", None);
    server.queue(t);
    let (outside, t) = task("reset_password", USER, Some(NEW));
    server.queue(t);
    let (malformed, mut t) = task("lock", USER, None);
    t.as_object_mut().unwrap().remove("user");
    server.queue(t);
    let (odd_kind, t) = task("reboot", USER, None);
    server.queue(t);
    // Due further ahead than the agent remembers the tasks it ran (8 days): it could run twice.
    let (far_ahead, mut t) = task("lock", USER, None);
    t["not_after"] = json!(now() + 30 * 86_400);
    server.queue(t);
    let before = shadow_hash(&s);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    for (id, detail) in [
        (&expired, "expired"),
        (&unknown, "unknown_user"),
        (&outside, "not_allowed"),
        (&malformed, "bad_task"),
        (&odd_kind, "bad_task"),
        (&far_ahead, "bad_task"),
    ] {
        assert_eq!(
            result(&server, id),
            ("refused".into(), detail.into()),
            "{detail}"
        );
    }
    assert_eq!(shadow_hash(&s), before);
    assert!(events(&s, "admin_lock").is_empty(), "nothing was locked");
    assert!(login_works(&s, PASSWORD));
    assert_eq!(events(&s, "agent_task").len(), 6);
    assert_nowhere(&s, &out, NEW);
}

#[test]
fn a_replayed_task_is_not_run_again_and_its_result_is_sent_again() {
    let first = AgentServer::start(TOKEN);
    let s = sandbox(&first);
    let (id, t) = task("lock", USER, None);
    first.queue(t.clone());
    assert!(once(&s).status.success());
    assert_eq!(result(&first, &id).0, "done");
    assert!(once(&s).status.success());
    assert_eq!(
        first.polls().last().unwrap()["results"],
        json!([]),
        "a delivered result is not sent again"
    );
    // An administrator unlocks; then a server (a restored copy, say) hands the same id out again.
    assert!(s.ticketgate(&["unlock", USER]).status.success());
    let replay = AgentServer::start(TOKEN);
    let config = std::fs::read_to_string(s.config())
        .unwrap()
        .replace(&first.url(), &replay.url());
    std::fs::write(s.config(), config).unwrap();
    replay.queue(t);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        result(&replay, &id),
        ("done".into(), "locked by administrator".into())
    );
    assert_eq!(events(&s, "admin_lock").len(), 1, "run once");
    assert!(login_works(&s, PASSWORD), "the replay locked nothing");
    assert!(
        text(&out).contains("refused to run a replay"),
        "{}",
        text(&out)
    );
}

#[test]
fn garbage_answers_are_logged_and_skipped_and_the_next_poll_works() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    let (id, t) = task("lock", USER, None);
    server.queue(t);
    for garbage in [
        "this is not json",
        r#"{"tasks": 5}"#,
        r#"[1, 2, 3]"#,
        r#"{"tasks": [], "interval": "soon"}"#,
    ] {
        server.script("200 OK", garbage);
        let out = once(&s);
        assert_eq!(out.status.code(), Some(1), "{garbage}: {}", text(&out));
        assert!(
            text(&out).contains("poll answer skipped: malformed answer"),
            "{garbage}: {}",
            text(&out)
        );
        assert!(events(&s, "admin_lock").is_empty(), "nothing ran");
    }
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(result(&server, &id).0, "done");
}

#[test]
fn a_result_that_could_not_be_delivered_is_sent_on_the_next_poll() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    let (id, t) = task("lock", USER, None);
    server.queue(t);
    // The first poll hands the task out; the one reporting its result finds the server down.
    server.script("", "");
    server.script(
        "503 Service Unavailable",
        r#"{"error":"store unavailable"}"#,
    );
    let out = once(&s);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(server.result(&id).is_none());
    assert_eq!(events(&s, "admin_lock").len(), 1);
    let out = once(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(result(&server, &id).0, "done");
    assert_eq!(events(&s, "admin_lock").len(), 1, "kept, not run again");
}

#[test]
fn exit_codes_say_unreachable_refused_and_broken_configuration() {
    // Nothing listens on this port (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = agent_sandbox(&format!("http://127.0.0.1:{port}"), TOKEN, "1s", None);
    let out = once(&s);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("server unreachable"), "{}", text(&out));
    let server = AgentServer::start("another-token");
    let s = agent_sandbox(&server.url(), TOKEN, "1s", None);
    let out = once(&s);
    assert_eq!(out.status.code(), Some(1), "401: {}", text(&out));
    let s = agent_sandbox(&server.url(), TOKEN, "1s", Some("[\"reboot\"]"));
    let out = once(&s);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("agent.tasks"), "{}", text(&out));
    // check-config says the same before anything is started.
    let check = s.ticketgate(&["check-config"]);
    assert_eq!(check.status.code(), Some(4), "{}", text(&check));
    assert!(text(&check).contains("agent.tasks"), "{}", text(&check));
    // Not root: said in one line, nothing tried.
    let bin = agent_bin();
    let cfg = s.config();
    let out = s.run(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--once",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("needs root"), "{}", text(&out));
    // A configuration without [agent] is broken for the agent (not for the module).
    s.write_config("");
    let out = once(&s);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("no [agent] table"), "{}", text(&out));
}

#[test]
fn a_server_that_is_down_sees_the_back_off_and_sigterm_stops_the_agent() {
    let server = AgentServer::start(TOKEN);
    server.always(
        "503 Service Unavailable",
        r#"{"error":"store unavailable"}"#,
    );
    let s = sandbox(&server);
    let agent = spawn_service(&s);
    // Bounded: the first poll within 10 s of the start.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.polls().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!server.polls().is_empty(), "the agent never polled");
    // A bounded run of 7 s from the first poll at interval = 1s: without back-off 7 or 8
    // polls; with it the waits are about 2, 4, 8 s (each within 10 %): polls at about 0, 2
    // and 6 s.
    std::thread::sleep(Duration::from_secs(7));
    let polls = server.polls().len();
    let (status, err) = stop_service(agent);
    assert!(status.success(), "{status}: {err}");
    eprintln!("requests in 7 s from the first, server down, interval = 1s: {polls}");
    assert!(
        (2..=4).contains(&polls),
        "requests over 7 s: {polls}: {err}"
    );
    let failed = err.lines().filter(|l| l.contains("poll failed")).count();
    assert_eq!(failed, polls, "one line per failed poll: {err}");
    assert!(
        err.contains("poll failed: server unreachable"),
        "5xx is unreachable: {err}"
    );
    assert!(err.contains("stopping on a signal"), "{err}");
}

#[test]
fn no_password_in_any_process_list_while_chpasswd_runs() {
    let server = AgentServer::start(TOKEN);
    let s = sandbox(&server);
    let (id, t) = task("reset_password", USER, Some(NEW));
    server.queue(t);
    let bin = agent_bin();
    let cfg = s.config();
    let mut agent = s.command(&[
        bin.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--once",
    ]);
    agent
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut agent = agent.spawn().unwrap();
    let mut samples = 0;
    let mut seen_chpasswd = false;
    // Bounded: at most 20 000 sweeps of /proc, or until the agent exits.
    for _ in 0..20_000 {
        if agent.try_wait().unwrap().is_some() {
            break;
        }
        samples += 1;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let p = entry.path();
            for file in ["cmdline", "environ"] {
                if let Ok(bytes) = std::fs::read(p.join(file)) {
                    let t = String::from_utf8_lossy(&bytes);
                    assert!(!t.contains(NEW), "{}/{file}: {t}", p.display());
                    seen_chpasswd |= file == "cmdline" && t.starts_with("chpasswd");
                }
            }
        }
    }
    let out = agent.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(samples > 0, "the agent was sampled while it ran");
    eprintln!("{samples} sweeps of /proc; chpasswd seen: {seen_chpasswd}");
    assert_eq!(result(&server, &id).0, "done");
    assert_nowhere(&s, &out, NEW);
}

#[test]
fn the_service_reports_a_task_it_ran_at_once_then_waits_its_interval() {
    let server = AgentServer::start(TOKEN);
    // An hour's interval: a result that waited for the next poll would not arrive in this test.
    let s = agent_sandbox(&server.url(), TOKEN, "1h", None);
    let (id, t) = task("lock", USER, None);
    server.queue(t);
    let agent = spawn_service(&s);
    // Bounded: 20 s (the machine may be busy with other tests).
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.result(&id).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let reported = server.polls();
    let (status, err) = stop_service(agent);
    assert!(status.success(), "{status}: {err}");
    assert_eq!(result(&server, &id).0, "done", "{err}");
    assert_eq!(events(&s, "admin_lock").len(), 1);
    // The poll that ran it and the one right after that reported it; then the hour's wait,
    // which SIGTERM ended: no third request.
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert_eq!(server.polls().len(), 2, "{:?}", server.polls());
}
