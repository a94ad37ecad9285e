//! The host agents' server side end to end: the real server on loopback, `task add|list` on the
//! same store, agents played by plain HTTP requests, and the database read directly to see that
//! a password leaves it when its task ends; each store-related test runs on SQLite and on
//! PostgreSQL.

use crate::fleet::{DB_TOKEN, now, post};
use crate::harness::{Backend, Server, Setup, secret_file};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The task key, base64 of 32 bytes.
const KEY: &str = "B3NlY3JldC1rZXktZm9yLXRoZS10ZXN0cy0wMDAwMDA=";

/// A setup on `backend` with `[agent]` (the key in task.key) and a second host `db01`.
fn agent_setup(backend: Backend) -> Setup {
    let setup = Setup::with(
        backend,
        "60s",
        "[agent]\ntask_key_file = \"task.key\"\ninterval = \"7s\"\n",
    );
    secret_file(setup.dir.path(), "task.key", KEY);
    secret_file(setup.dir.path(), "db01.token", DB_TOKEN);
    let mut text = std::fs::read_to_string(&setup.config).unwrap();
    text.push_str("[[host]]\nname = \"db01\"\ntoken_file = \"db01.token\"\n");
    std::fs::write(&setup.config, text).unwrap();
    setup
}

/// Runs the binary with `args` and `stdin` piped in.
fn run_with_input(setup: &Setup, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(crate::harness::BIN)
        .arg("--config")
        .arg(&setup.config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `task add` succeeded: the id it printed (its last line).
fn added(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "task add failed: {stderr}");
    let id = stdout.lines().last().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{stdout}");
    id
}

fn poll(server: &Server, token: &str, results: Value) -> Value {
    let r = post(
        server,
        "/v1/agent/poll",
        Some(token),
        &json!({"host": "agent.example.com", "results": results}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["interval"], 7);
    v
}

fn list_json(setup: &Setup, host: Option<&str>) -> Vec<Value> {
    let mut args = vec!["task", "list", "--json"];
    if let Some(h) = host {
        args.extend(["--host", h]);
    }
    let out = setup.run(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    v["tasks"].as_array().unwrap().clone()
}

/// Whether the task's password column is NULL, read from the database itself.
fn password_deleted(setup: &Setup, id: &str) -> bool {
    match &setup.db {
        None => {
            let db =
                rusqlite::Connection::open(setup.dir.path().join("data/tasks.sqlite3")).unwrap();
            db.query_row(
                "SELECT sealed IS NULL FROM agent_task WHERE id = ?1",
                [id],
                |r| r.get::<_, bool>(0),
            )
            .unwrap()
        }
        Some(db) => {
            let rows = crate::pg::shared_sql(
                db,
                &format!("SELECT sealed IS NULL FROM ticketgate_agent_task WHERE id = '{id}'"),
            );
            rows[0].get::<_, bool>(0)
        }
    }
}

/// Sets a task's `not_after` in the database (an overdue task without waiting an hour).
fn make_overdue(setup: &Setup, id: &str) {
    let past = now() - 1;
    match &setup.db {
        None => {
            let db =
                rusqlite::Connection::open(setup.dir.path().join("data/tasks.sqlite3")).unwrap();
            let n = db
                .execute(
                    "UPDATE agent_task SET not_after = ?1 WHERE id = ?2",
                    rusqlite::params![past, id],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        Some(db) => {
            crate::pg::shared_sql(
                db,
                &format!("UPDATE ticketgate_agent_task SET not_after = {past} WHERE id = '{id}'"),
            );
        }
    }
}

fn a_queued_reset_reaches_only_its_host_and_its_result_deletes_the_password(backend: Backend) {
    let setup = agent_setup(backend);
    let password = "Tr0ub4dor&3-queued";
    let out = run_with_input(
        &setup,
        &["task", "add", "--host", "web01", "reset-password", "alice"],
        &format!("{password}\nsecond line is ignored\n"),
    );
    let id = added(&out);
    let (stdout, stderr) = text(&out);
    assert!(!stdout.contains(password) && !stderr.contains(password));
    assert!(stderr.contains("event=task_added") && stderr.contains("kind=reset_password"));
    let lock = added(&setup.run(&["task", "add", "--host", "web01", "lock", "bob"]));
    let server = setup.start();
    server.wait_for_log(&["event=agent ", "interval_s=7"]);

    // Handed out, oldest first, with the password decrypted; again on the next poll.
    for _ in 0..2 {
        let tasks = poll(&server, &setup.token, json!([]))["tasks"].clone();
        assert_eq!(tasks.as_array().unwrap().len(), 2, "{tasks}");
        assert_eq!(tasks[0]["id"], id.as_str());
        assert_eq!(tasks[0]["kind"], "reset_password");
        assert_eq!(tasks[0]["user"], "alice");
        assert_eq!(tasks[0]["password"], password);
        assert!(tasks[0]["not_after"].as_i64().unwrap() > now());
        assert_eq!(tasks[1]["id"], lock.as_str());
        assert!(tasks[1].get("password").is_none());
    }
    // Another host's token sees none of them; its result for web01's task changes nothing.
    let other = poll(
        &server,
        DB_TOKEN,
        json!([{"task_id": id, "status": "done", "detail": ""}]),
    );
    assert_eq!(other["tasks"], json!([]));
    server.wait_for_log(&["event=task_result_ignored", &id, "host_token=db01"]);
    assert!(!password_deleted(&setup, &id));

    // The result: done, the password gone from the database; not handed out in the same answer.
    let report = json!([{"task_id": id, "status": "done", "detail": "changed"}]);
    let after = poll(&server, &setup.token, report.clone());
    assert_eq!(after["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(after["tasks"][0]["id"], lock.as_str());
    assert!(password_deleted(&setup, &id));
    let line = server.wait_for_log(&["event=task_result ", &id]);
    assert!(
        line.contains("host=web01") && line.contains("user=alice") && line.contains("status=done"),
        "{line}"
    );
    // Replayed: ignored, logged, the first result kept.
    poll(
        &server,
        &setup.token,
        json!([{"task_id": id, "status": "failed", "detail": "replay"}]),
    );
    server.wait_for_log(&["event=task_result_ignored", &id, "host_token=web01"]);
    let listed = list_json(&setup, Some("web01"));
    let row = listed.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(row["state"], "done");
    assert_eq!(row["detail"], "changed");
    assert_eq!(row["kind"], "reset_password");
    assert_eq!(row["user"], "alice");
    assert!(row["queued_by"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(row["queued_at"].is_i64() && row["not_after"].is_i64() && row["finished_at"].is_i64());
    assert!(list_json(&setup, Some("db01")).is_empty());
    let table = text(&setup.run(&["task", "list"])).0;
    assert!(
        table.contains(&id) && table.contains(" done ") && table.contains("Z "),
        "{table}"
    );
    let log = server.stop();
    assert!(
        log.iter().all(|l| !l.contains(password)),
        "the password reached the server's log"
    );
}

fn an_overdue_task_is_never_handed_out_and_is_listed_expired(backend: Backend) {
    let setup = agent_setup(backend);
    let id = added(&run_with_input(
        &setup,
        &[
            "task",
            "add",
            "--host",
            "web01",
            "--not-after",
            "2m",
            "verify-password",
            "carol",
        ],
        "guess-1234\n",
    ));
    let row = &list_json(&setup, None)[0];
    assert_eq!(row["state"], "pending");
    let ahead = row["not_after"].as_i64().unwrap() - row["queued_at"].as_i64().unwrap();
    assert_eq!(ahead, 120);
    make_overdue(&setup, &id);
    let server = setup.start();
    assert_eq!(poll(&server, &setup.token, json!([]))["tasks"], json!([]));
    server.wait_for_log(&["event=task_expired", &id, "kind=verify_password"]);
    assert!(password_deleted(&setup, &id));
    let row = &list_json(&setup, None)[0];
    assert_eq!(row["state"], "expired");
    assert_eq!(row["detail"], Value::Null);
    // Another host's result for it changes nothing.
    poll(
        &server,
        DB_TOKEN,
        json!([{"task_id": id, "status": "done", "detail": "match"}]),
    );
    server.wait_for_log(&["event=task_result_ignored", &id]);
    assert_eq!(list_json(&setup, None)[0]["state"], "expired");
    // Its own host's result, late (the task was handed out just before not_after and ran),
    // ends it as it ended: `expired` means that no result has come.
    poll(
        &server,
        &setup.token,
        json!([{"task_id": id, "status": "done", "detail": "match"}]),
    );
    server.wait_for_log(&["event=task_result", &id, "status=done"]);
    let row = &list_json(&setup, None)[0];
    assert_eq!(
        (&row["state"], &row["detail"]),
        (&json!("done"), &json!("match"))
    );
}

fn task_list_expires_overdue_tasks_itself(backend: Backend) {
    let setup = agent_setup(backend);
    let id = added(&setup.run(&["task", "add", "--host", "db01", "terminate", "dave"]));
    make_overdue(&setup, &id);
    let out = setup.run(&["task", "list"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(" expired "), "{stdout}");
    assert!(stderr.contains("event=task_expired"), "{stderr}");
}

fn generate_prints_the_password_once_and_nothing_else_shows_it(backend: Backend) {
    let setup = agent_setup(backend);
    let out = setup.run(&[
        "task",
        "add",
        "--host",
        "web01",
        "reset-password",
        "--generate",
        "erin",
    ]);
    let id = added(&out);
    let (stdout, stderr) = text(&out);
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Password: "))
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 20);
    assert!(generated.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(stdout.matches(&generated).count(), 1);
    assert!(!stderr.contains(&generated));
    for args in [&["task", "list"][..], &["task", "list", "--json"][..]] {
        let (o, e) = text(&setup.run(args));
        assert!(o.contains(&id), "{o}");
        assert!(!o.contains(&generated) && !e.contains(&generated));
    }
    let server = setup.start();
    let tasks = poll(&server, &setup.token, json!([]))["tasks"].clone();
    assert_eq!(tasks[0]["password"], generated.as_str());
    poll(
        &server,
        &setup.token,
        json!([{"task_id": id, "status": "failed", "detail": "chpasswd exited 1"}]),
    );
    server.wait_for_log(&["event=task_result ", "status=failed"]);
    assert!(password_deleted(&setup, &id));
    let log = server.stop();
    assert!(log.iter().all(|l| !l.contains(&generated)));
}

fn refusals_answer_401_400_413_and_404_with_one_log_line_each(backend: Backend) {
    let setup = agent_setup(backend);
    let server = setup.start();
    let ok = json!({"host": "web01", "results": []}).to_string();
    let big = json!({"host": "web01", "results": [], "pad": "x".repeat(20 * 1024)}).to_string();
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (None, ok.clone(), 401, "reason=no_token"),
        (Some("not-a-token-of-any-host"), ok.clone(), 401, "reason=wrong_token"),
        (Some(&setup.token), "{not json".into(), 400, "not an agent poll"),
        (
            Some(&setup.token),
            json!({"host": "web01", "results": [{"task_id": "x", "status": "done"}]}).to_string(),
            400,
            "task_id must be a UUID",
        ),
        (
            Some(&setup.token),
            json!({"host": "web01", "results": [{"task_id": crate::fleet::uuid(1), "status": "ok"}]})
                .to_string(),
            400,
            "status must be",
        ),
        (Some(&setup.token), big, 413, "larger than 16 KiB"),
    ];
    // The lines a poll can leave (the start-up lines may still be arriving).
    let poll_lines = |server: &Server| {
        server
            .log()
            .iter()
            .filter(|l| l.contains("endpoint=agent_poll") || l.contains("event=agent_refused"))
            .count()
    };
    for (i, (token, body, status, logged)) in cases.iter().enumerate() {
        let before = poll_lines(&server);
        let r = post(&server, "/v1/agent/poll", *token, body);
        assert_eq!(r.status, *status, "case {i}: {}", r.body);
        assert!(r.json()["error"].as_str().is_some(), "case {i}: {}", r.body);
        if *status == 401 {
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "case {i}");
        }
        let lines = server.wait_for_lines(&[logged], 1);
        assert_eq!(lines.len(), 1, "case {i}: {lines:#?}");
        assert_eq!(poll_lines(&server), before + 1, "case {i}: one line");
    }
    drop(server);
    // Without [agent]: 404 saying so, one line; `task` refuses with the configuration status.
    let plain = Setup::with(backend, "60s", "");
    let server = plain.start();
    let r = post(&server, "/v1/agent/poll", Some(&plain.token), &ok);
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("[agent]"));
    server.wait_for_log(&["event=agent_refused", "reason=no_agent_config"]);
    let out = plain.run(&["task", "list"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out).1);
}

on_both_stores!(
    a_queued_reset_reaches_only_its_host_and_its_result_deletes_the_password,
    an_overdue_task_is_never_handed_out_and_is_listed_expired,
    task_list_expires_overdue_tasks_itself,
    generate_prints_the_password_once_and_nothing_else_shows_it,
    refusals_answer_401_400_413_and_404_with_one_log_line_each,
);

#[test]
fn task_add_refuses_unknown_hosts_bad_names_and_durations_with_exit_2() {
    let setup = agent_setup(Backend::Sqlite);
    for (args, says) in [
        (
            &["task", "add", "--host", "nope", "lock", "alice"][..],
            "no [[host]] named",
        ),
        (&["task", "add", "lock", "alice"][..], "--host"),
        (
            &[
                "task",
                "add",
                "--host",
                "web01",
                "--generate",
                "lock",
                "alice",
            ][..],
            "--generate goes with reset-password",
        ),
        (
            &["task", "add", "--host", "web01", "reboot", "alice"][..],
            "reboot",
        ),
        (
            &["task", "add", "--host", "web01", "lock", "a:b"][..],
            "must be 1-256 bytes",
        ),
        (
            &[
                "task",
                "add",
                "--host",
                "web01",
                "--not-after",
                "8d",
                "lock",
                "alice",
            ][..],
            "--not-after",
        ),
        (
            &[
                "task",
                "add",
                "--host",
                "web01",
                "lock",
                "alice",
                "--not-after",
                "30s",
            ][..],
            "--not-after",
        ),
    ] {
        let out = setup.run(args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Empty standard input: no password, nothing queued.
    let out = run_with_input(
        &setup,
        &["task", "add", "--host", "web01", "verify-password", "alice"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(list_json(&setup, None).is_empty());
}

#[test]
fn a_missing_short_or_open_task_key_stops_the_server_with_one_line() {
    use std::os::unix::fs::PermissionsExt;
    let setup = agent_setup(Backend::Sqlite);
    let key = setup.dir.path().join("task.key");
    for (prepare, says) in [
        (
            Box::new(|| std::fs::remove_file(&key).unwrap()) as Box<dyn Fn()>,
            "task_key_file",
        ),
        (
            Box::new(|| {
                secret_file(setup.dir.path(), "task.key", "c2hvcnQ=");
            }),
            "32-byte key",
        ),
        (
            Box::new(|| {
                secret_file(setup.dir.path(), "task.key", KEY);
                std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            }),
            "task_key_file",
        ),
    ] {
        prepare();
        let out = setup.run(&["serve"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(78), "{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(says), "{stderr}");
        assert!(!stderr.contains(KEY));
    }
}

#[test]
fn store_copy_moves_tasks_with_their_encrypted_passwords_as_they_are() {
    use std::os::unix::fs::PermissionsExt;
    let (db, url) = crate::pg::shared_database();
    let mut setup = agent_setup(Backend::Sqlite);
    secret_file(setup.dir.path(), "pg.url", &url);
    let config = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        format!("postgres_url_file = \"pg.url\"\n{config}"),
    )
    .unwrap();
    let password = "moved-with-its-task-42";
    let id = added(&run_with_input(
        &setup,
        &["task", "add", "--host", "web01", "reset-password", "hana"],
        &format!("{password}\n"),
    ));
    let done = added(&setup.run(&["task", "add", "--host", "db01", "unlock", "ivan"]));
    {
        let server = setup.start();
        poll(
            &server,
            DB_TOKEN,
            json!([{"task_id": done, "status": "refused", "detail": "not_allowed"}]),
        );
        server.wait_for_log(&["event=task_result ", "status=refused"]);
    }
    let before = list_json(&setup, None);
    let out = setup.run(&["store", "copy", "--from", "sqlite", "--to", "postgres"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Copied 2 of 2 agent task(s)."), "{stdout}");
    assert!(!stdout.contains(password) && !stderr.contains(password));
    // The ciphertext is the same bytes in both stores.
    let sqlite = rusqlite::Connection::open(setup.dir.path().join("data/tasks.sqlite3")).unwrap();
    let blob: Vec<u8> = sqlite
        .query_row("SELECT sealed FROM agent_task WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    let rows = crate::pg::shared_sql(
        &db,
        &format!("SELECT sealed FROM ticketgate_agent_task WHERE id = '{id}'"),
    );
    assert_eq!(rows[0].get::<_, Vec<u8>>(0), blob);

    // The same config on PostgreSQL: the same list, and the pending task opens with the key.
    let switched = setup.dir.path().join("server-pg.toml");
    let config = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(&switched, format!("store = \"postgres\"\n{config}")).unwrap();
    std::fs::set_permissions(&switched, std::fs::Permissions::from_mode(0o600)).unwrap();
    setup.config = switched;
    assert_eq!(list_json(&setup, None), before);
    let server = setup.start();
    server.wait_for_log(&["event=agent ", "store=postgres"]);
    let tasks = poll(&server, &setup.token, json!([]))["tasks"].clone();
    assert_eq!(tasks[0]["id"], id.as_str());
    assert_eq!(tasks[0]["password"], password);
    let again = setup.run(&[
        "store", "copy", "--from", "sqlite", "--to", "postgres", "--force",
    ]);
    assert!(
        text(&again).0.contains("Copied 0 of 2 agent task(s)."),
        "{again:?}"
    );
}
