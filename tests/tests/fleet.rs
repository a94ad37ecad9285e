//! Fleet lockout end to end: several hosts (each a sandbox with its own `/etc`, state and
//! pam.d, running the real module under pamtester) share one real `ticketgate-server`. Failures
//! spread over hosts lock the user on every host at the fleet's limit; an administrator's lock or
//! unlock on the server holds everywhere; while the server is down the hosts follow `[offline]
//! fleet`, spool their events and send each once when it is back. The same on a PostgreSQL-backed
//! server with replicas: hosts talk to different replicas, which count one fleet.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use ticketgate_tests::pg::Cluster;
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};
use ticketgate_tests::server::{Host, Server};

/// The fleet's limit; each host's own limit is far above it, so only the fleet can lock.
const FLEET_LIMIT: u32 = 3;

fn host_token(name: &str) -> String {
    format!("fleet-token-{name}-7c41d0")
}

/// A server with `[fleet]` and one `[[host]]` per name.
fn fleet_server(hosts: &[&str]) -> Server {
    let tables: Vec<Host> = hosts.iter().map(|h| Host::new(h, &host_token(h))).collect();
    Server::start(
        false,
        &tables,
        &format!(
            "[fleet]\nfailed_logon = {FLEET_LIMIT}\nreset_failed_after = \"120m\"\nlockout_duration = \"0m\"\n"
        ),
    )
}

/// One host: a sandbox whose scope has `fleet = true`, pointed at `url` with its own token.
fn host(name: &str, url: &str, offline: &str) -> Sandbox {
    let s = Sandbox::new("");
    let secret = s.path("fleet.secret");
    std::fs::write(&secret, format!("{}\n", host_token(name))).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nfleet = true\n\
         [policy.default]\nfailed_logon = 50\n\
         [fleet]\nurl = \"{url}\"\nsecret_file = \"{}\"\ntimeout = \"3s\"\n\
         [offline]\nretry_after = \"0s\"\n{offline}\n",
        secret.display()
    ));
    s.lockout_stack("tg");
    s
}

fn login(s: &Sandbox, password: &str) -> Output {
    s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt"],
        &format!("{password}\n"),
    )
}

fn passes(s: &Sandbox) -> bool {
    let out = login(s, PASSWORD);
    out.status.success() && text(&out).contains("successfully authenticated")
}

fn fail_once(s: &Sandbox) {
    let out = login(s, "not-the-password");
    assert!(!out.status.success(), "{}", text(&out));
}

fn event_names(s: &Sandbox) -> Vec<String> {
    s.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

/// The server's fleet state of the test user's password, as `status --json USER` prints it.
fn fleet_password(server: &Server) -> serde_json::Value {
    let out = server.cli(&["status", "--json", USER]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["users"][0]["credentials"]["password"].clone()
}

/// The host's own `ticketgate status --json USER`.
fn local_status(h: &Sandbox) -> serde_json::Value {
    let out = h.ticketgate(&["status", "--json", USER]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn failures_spread_over_hosts_lock_the_user_on_every_host_at_the_fleet_limit() {
    let server = fleet_server(&["h1", "h2", "h3"]);
    let hosts: Vec<Sandbox> = ["h1", "h2", "h3"]
        .iter()
        .map(|h| host(h, &server.url(), ""))
        .collect();
    // One wrong password per host: no host reaches its own limit, the fleet reaches its own.
    for h in &hosts[..2] {
        fail_once(h);
    }
    assert!(passes(&hosts[2]), "two failures are under the limit");
    // The success on h3 cleared the fleet's count.
    for h in &hosts {
        fail_once(h);
    }
    for h in &hosts {
        assert!(
            !passes(h),
            "locked on every host after {FLEET_LIMIT} failures"
        );
        assert!(
            event_names(h).contains(&"fleet_lock".to_string()),
            "{:?}",
            event_names(h)
        );
    }
    let fleet = fleet_password(&server);
    assert_eq!(fleet["locked"], true, "{fleet}");
    assert_eq!(fleet["failures"], FLEET_LIMIT, "{fleet}");
    // Each host's own record never reached its limit: only the fleet refused. The host's status
    // shows both.
    let local = local_status(&hosts[0]);
    assert_eq!(local["fleet"]["password"]["locked"], true, "{local}");
    assert!(!local.to_string().contains("LOCKED"), "{local}");

    // An administrator's unlock on the server frees the user everywhere.
    let out = server.cli(&["unlock", USER]);
    assert!(out.status.success(), "{}", text(&out));
    for h in &hosts {
        assert!(passes(h), "unlocked everywhere");
    }
}

#[test]
fn an_administrator_lock_on_the_server_refuses_on_every_host() {
    let server = fleet_server(&["h1", "h2"]);
    let hosts: Vec<Sandbox> = ["h1", "h2"]
        .iter()
        .map(|h| host(h, &server.url(), ""))
        .collect();
    assert!(passes(&hosts[0]));
    let out = server.cli(&["lock", USER]);
    assert!(out.status.success(), "{}", text(&out));
    for h in &hosts {
        assert!(!passes(h), "an admin lock holds on every host");
    }
    // A success never clears an admin lock; reset clears counts, unlock the lock.
    let out = server.cli(&["unlock", USER]);
    assert!(out.status.success(), "{}", text(&out));
    for h in &hosts {
        assert!(passes(h));
    }
}

#[test]
fn with_the_server_down_hosts_count_locally_spool_and_send_each_event_once_when_it_is_back() {
    let mut server = fleet_server(&["h1", "h2"]);
    let h1 = host("h1", &server.url(), "fleet = \"local\"");
    let h2 = host("h2", &server.url(), "fleet = \"deny\"");
    fail_once(&h1);
    server.stop();
    // Offline: h1 goes on with its own count and spools; h2 refuses.
    fail_once(&h1);
    assert!(
        passes(&h1),
        "[offline] fleet = \"local\": the host's own policy decides"
    );
    assert!(!passes(&h2), "[offline] fleet = \"deny\" refuses");
    let names = event_names(&h1);
    assert!(names.contains(&"fleet_offline".to_string()), "{names:?}");

    server.restart();
    // h1's next login sends its spool first (one failure, then its success), then its own call.
    fail_once(&h1);
    let fleet = fleet_password(&server);
    assert_eq!(
        fleet["failures"], 1,
        "the spooled failure and success were each counted once, then this failure: {fleet}"
    );
    // Sending the spool again (another login) counts nothing twice.
    fail_once(&h1);
    fail_once(&h2);
    assert!(
        !passes(&h1),
        "three failures since the last success lock the fleet"
    );
}

/// A login with no failures on record asks the server once (`check`) and reports nothing; a
/// login after a failure also reports its success, which clears the fleet's count.
#[test]
fn a_clean_login_makes_one_round_trip_and_a_success_after_a_failure_clears_the_count() {
    let server = fleet_server(&["h1"]);
    let h1 = host("h1", &server.url(), "");
    assert!(passes(&h1));
    fail_once(&h1);
    // The server logs in order: once the failure's line is read, every line of the clean
    // login before it is too.
    assert_eq!(
        server.log_lines(&["event=fleet_failure ", USER], 1).len(),
        1
    );
    assert_eq!(
        server.log_lines(&["event=fleet_check ", USER], 2).len(),
        2,
        "one check per login"
    );
    assert_eq!(
        server.log_lines(&["event=fleet_success ", USER], 0).len(),
        0,
        "the clean login reported nothing: {:?}",
        server.log()
    );
    assert_eq!(fleet_password(&server)["failures"], 1);
    assert!(passes(&h1));
    assert_eq!(
        server.log_lines(&["event=fleet_success ", USER], 1).len(),
        1,
        "{:?}",
        server.log()
    );
    assert_eq!(fleet_password(&server)["failures"], 0);
}

/// Thirty wrong passwords at once, ten on each of three hosts, are thirty on the server: no
/// lost update, nothing counted twice.
#[test]
fn concurrent_failures_on_several_hosts_are_counted_exactly() {
    let hosts_names = ["h1", "h2", "h3"];
    let tables: Vec<Host> = hosts_names
        .iter()
        .map(|h| Host::new(h, &host_token(h)))
        .collect();
    let server = Server::start(
        false,
        &tables,
        "[fleet]\nfailed_logon = 0\nreset_failed_after = \"120m\"\n",
    );
    let hosts: Vec<Sandbox> = hosts_names
        .iter()
        .map(|h| host(h, &server.url(), ""))
        .collect();
    let mut children = Vec::new();
    for h in &hosts {
        for _ in 0..10 {
            let mut c = h
                .command(&["pamtester", "-v", "tg", USER, "authenticate"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::io::Write::write_all(c.stdin.as_mut().unwrap(), b"wrong\n").unwrap();
            children.push(c);
        }
    }
    for mut c in children {
        assert!(!c.wait().unwrap().success());
    }
    assert_eq!(fleet_password(&server)["failures"], 30);
    assert_eq!(
        server
            .log_lines(&["event=fleet_failure ", "outcome=counted"], 30)
            .len(),
        30
    );
}

/// A PostgreSQL-backed server with `[fleet]` on the database at `url`, and `replicas - 1` more
/// replicas on the same database (each on its own port).
fn fleet_replicas(hosts: &[&str], url: &str, replicas: usize) -> Vec<Server> {
    let tables: Vec<Host> = hosts.iter().map(|h| Host::new(h, &host_token(h))).collect();
    let first = Server::start_with_files(
        false,
        &tables,
        &format!(
            "store = \"postgres\"\npostgres_url_file = \"pg.url\"\n\
             [fleet]\nfailed_logon = {FLEET_LIMIT}\nreset_failed_after = \"120m\"\nlockout_duration = \"0m\"\n"
        ),
        &[("pg.url", url)],
    );
    let mut all: Vec<Server> = (1..replicas).map(|_| first.replica()).collect();
    all.insert(0, first);
    all
}

#[test]
fn on_postgres_failures_spread_over_hosts_and_replicas_lock_every_host_at_the_limit() {
    let (_db, url) = ticketgate_tests::pg::shared_database();
    let replicas = fleet_replicas(&["h1", "h2", "h3"], &url, 2);
    // h1 and h3 talk to the first replica, h2 to the second.
    let hosts: Vec<Sandbox> = ["h1", "h2", "h3"]
        .iter()
        .enumerate()
        .map(|(i, h)| host(h, &replicas[i % 2].url(), ""))
        .collect();
    fail_once(&hosts[0]);
    fail_once(&hosts[1]);
    assert!(passes(&hosts[2]), "two failures are under the limit");
    for h in &hosts {
        fail_once(h);
    }
    for h in &hosts {
        assert!(
            !passes(h),
            "locked on every host, whichever replica it asks"
        );
    }
    for r in &replicas {
        let fleet = fleet_password(r);
        assert_eq!(
            (fleet["locked"].clone(), fleet["failures"].clone()),
            (serde_json::json!(true), serde_json::json!(FLEET_LIMIT)),
            "{fleet}"
        );
        assert!(
            !r.log_lines(&["event=fleet_failure ", "outcome=counted"], 1)
                .is_empty(),
            "each replica counted some of the failures"
        );
    }
    let locks: usize = replicas
        .iter()
        .map(|r| r.log_lines(&["event=fleet_lock ", USER], 0).len())
        .sum();
    assert_eq!(locks, 1, "one lock, set on one replica");
    // An administrator's unlock through the second replica's config frees every host.
    let out = replicas[1].cli(&["unlock", USER]);
    assert!(out.status.success(), "{}", text(&out));
    for h in &hosts {
        assert!(passes(h), "unlocked everywhere");
    }
}

#[test]
fn on_postgres_stopped_logins_follow_offline_fleet_the_spool_fills_and_drains_exactly() {
    let mut cluster = Cluster::start(None);
    let db = cluster.create_database();
    let url = cluster.url(&db, Some("disable"));
    let replicas = fleet_replicas(&["h1", "h2"], &url, 2);
    let h1 = host("h1", &replicas[0].url(), "fleet = \"local\"");
    let h2 = host("h2", &replicas[1].url(), "fleet = \"deny\"");
    fail_once(&h1);
    assert_eq!(fleet_password(&replicas[1])["failures"], 1);

    cluster.stop();
    // The replicas run but answer 503: the hosts treat them as unreachable.
    fail_once(&h1);
    assert!(
        passes(&h1),
        "[offline] fleet = \"local\": the host's own policy decides"
    );
    assert!(!passes(&h2), "[offline] fleet = \"deny\" refuses");
    assert!(
        event_names(&h1).contains(&"fleet_offline".to_string()),
        "{:?}",
        event_names(&h1)
    );
    let spool = h1.path("state/fleet-spool.jsonl");
    let spooled = std::fs::read_to_string(&spool).unwrap();
    assert_eq!(
        spooled.lines().count(),
        2,
        "a failure and a success: {spooled}"
    );
    let unavailable: usize = replicas
        .iter()
        .map(|r| r.log_lines(&["reason=store_unavailable"], 0).len())
        .sum();
    assert!(unavailable >= 2, "one line per refused request");

    cluster.restart();
    // h1's next login sends the spool (the failure, then the success that clears it) and then
    // its own failure: one, exactly.
    fail_once(&h1);
    assert_eq!(
        std::fs::read_to_string(&spool)
            .unwrap_or_default()
            .lines()
            .count(),
        0,
        "the spool drained"
    );
    let fleet = fleet_password(&replicas[1]);
    assert_eq!(fleet["failures"], 1, "{fleet}");
    let counted: usize = replicas
        .iter()
        .map(|r| {
            r.log_lines(&["event=fleet_failure ", "outcome=counted"], 0)
                .len()
        })
        .sum();
    assert_eq!(counted, 3, "before, spooled, after: each once");
    fail_once(&h1);
    fail_once(&h2);
    assert!(
        !passes(&h1),
        "three failures since the last success lock the fleet"
    );
    assert!(!passes(&h2));
}
