//! Per-login cost, in one process, of three auth+account stacks through real libpam:
//! `pam_start_confdir` → `pam_authenticate` → `pam_acct_mgmt` → `pam_end`, repeated.
//!
//! 1. `pam_permit` only (the baseline: what libpam itself costs);
//! 2. `pam_faillock` preauth / authfail / authsucc + account, `nodelay`;
//! 3. pam_ticketgate's lockout stack (preauth / authfail / ticket + account), which on every
//!    login also records the last success (pam_faillock records nothing on success).
//!
//! The password check is `pam_permit` in all three, so only the lockout modules differ. Rounds
//! alternate between the stacks so that machine noise hits all three alike; each figure is the
//! median of the rounds. Prints µs per login and the overhead ratio
//! (ticketgate − permit) / (faillock − permit). Bounded: `--logins N` per stack (default 20000).
//!
//! The ticket gate, in the same run (a ServiceNow emulator on loopback answers the fetches):
//! 4. `ticket-cached`: the lockout stack with `ticket = true`, every login served from the verdict
//!    cache (goal: overhead ≤ 1.5 × the lockout stack's);
//! 5. `ticket-cold`: `cache = "0s"`, every login fetches the ticket; the module's own time is this
//!    minus `ticket-cached` minus a bare HTTP GET of the same answer (goal ≤ 2 ms);
//! 6. `ticket-dead`: the system refuses connections, the breaker is open, `[offline] ticket =
//!    ["allow"]` (goal ≤ 5 ms over the lockout stack); and, once, the first login against a
//!    silent system with `timeout = "1s"` (goal: decided within timeout + 0.5 s).
//!
//! Login protect, measured apart with its own alternating rounds (see `protect_figures`):
//! the lockout stack as the baseline; the same stack with login protect against the protocol
//! emulator on loopback (unlocked before each login); a bare client sending the same
//! `POST /v1/attempt` on a new connection (the server's share); and login protect against a
//! dead server (connection refused) with the breaker open and `[offline] login_protect =
//! "unlocked"`. Module's own time = protect − baseline − bare round trip (goal ≤ 2 ms); dead
//! server = protect-dead − baseline (goal ≤ 5 ms).
//!
//! The fleet lockout, measured the same way (see `fleet_figures`): the lockout stack; the same
//! stack with `fleet = true` against a loopback fleet server, every login clean (so one
//! `POST /v1/fleet/check` per login, counted); a bare client sending that request; and a dead
//! fleet server with the breaker open under `[offline] fleet = "local"`. Module's own time =
//! fleet − baseline − bare round trip (goal ≤ 2 ms); dead server = fleet-dead − baseline (goal
//! ≤ 5 ms). `--fleet-only` runs just these.
//!
//! The host agent (see `agent_figures`; `--agent-only` runs just these): the real
//! ticketgate-server with `[agent] interval = "1s"` and the agent's service at `interval = "1s"`
//! in a sandbox of its own (private /etc), `AGENT_TASKS` lock and unlock tasks queued one at a
//! time with `ticketgate-server task add`, at points spread over the interval: the time from
//! starting `task add` to the task listed `done` by `task list --json` (polled every 10 ms).
//!
//! Last, the load and first call in a new process per login (see `first_login_figures`;
//! goal ≤ 5 ms) and the module's size.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use ticketgate_tests::emulators::{Mode, servicenow};
use ticketgate_tests::fleet_responder::Fleet;

use ticketgate_tests::libpam::{PAM_SUCCESS, Session};
use ticketgate_tests::protect_emulator::{Emulator, dead_url};
use ticketgate_tests::{module_so, system_module};

const USER: &str = "daemon";
const ROUNDS: usize = 20;

fn main() {
    if let Some(pos) = std::env::args().position(|a| a == "--first-login") {
        // A child of `first_login_figures`: one login in this new process, timed from
        // `pam_start_confdir` (which loads the stack's modules) to `pam_end`.
        let args: Vec<String> = std::env::args().skip(pos + 1).collect();
        let start = Instant::now();
        login(Path::new(&args[0]), &args[1]);
        println!("{}", start.elapsed().as_secs_f64() * 1e6);
        return;
    }
    let logins: usize = std::env::args()
        .skip_while(|a| a != "--logins")
        .nth(1)
        .map_or(20_000, |n| n.parse().expect("--logins N"));
    let per_round = (logins / ROUNDS).max(1);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    if std::env::args().any(|a| a == "--fleet-only") {
        fleet_figures(d, per_round);
        return;
    }
    if std::env::args().any(|a| a == "--agent-only") {
        agent_figures();
        return;
    }
    let (permit, faillock, so) = (
        system_module("pam_permit.so"),
        system_module("pam_faillock.so"),
        module_so(),
    );
    let (permit, faillock, so) = (permit.display(), faillock.display(), so.display());
    let cfg = d.join("ticketgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "version = 1\n[module]\nstate_dir = \"{}\"\nfail_delay = \"0s\"\n[[scope]]\nusers = [\"{USER}\"]\n[policy.default]\nfailed_logon = 3\n",
            d.join("state").display()
        ),
    )
    .unwrap();
    std::fs::create_dir(d.join("tally")).unwrap();
    let tally = d.join("tally");
    let cfg = cfg.display();
    let tally = tally.display();
    std::fs::write(
        d.join("permit"),
        format!("auth required {permit}\naccount required {permit}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("faillock"),
        format!(
            "auth required {faillock} preauth dir={tally} deny=3 nodelay\n\
             auth [success=1 default=bad] {permit}\n\
             auth [default=die] {faillock} authfail dir={tally} deny=3 nodelay\n\
             auth sufficient {faillock} authsucc dir={tally} deny=3 nodelay\n\
             account required {faillock} dir={tally}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("ticketgate"),
        format!(
            "auth requisite {so} preauth config={cfg}\n\
             auth [success=1 default=ignore] {permit}\n\
             auth [default=die] {so} authfail config={cfg}\n\
             auth requisite {so} ticket config={cfg}\n\
             account required {so} config={cfg}\n"
        ),
    )
    .unwrap();

    let sn = servicenow::ServiceNow::start();
    sn.add(
        "change_request",
        servicenow::change(
            "CHG0000001",
            USER,
            "2000-01-01 00:00:00",
            "2100-01-01 00:00:00",
        ),
    );
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = d.join("sn.secret");
    std::fs::write(&secret, servicenow::PASSWORD).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let ticket_cfg = |name: &str, url: &str, cache: &str, timeout: &str| {
        let run = d.join(format!("run-{name}"));
        let path = d.join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "version = 1\n[module]\nstate_dir = \"{}\"\nrun_dir = \"{}\"\nfail_delay = \"0s\"\n[[scope]]\nusers = [\"{USER}\"]\nticket = true\n[policy.default]\nfailed_logon = 3\n\
                 [ticket]\nsystem = \"servicenow\"\nbase_url = \"{url}\"\nusername = \"{}\"\nsecret_file = \"{}\"\ncache = \"{cache}\"\ntimeout = \"{timeout}\"\n\
                 [[ticket.condition]]\nfield = \"/result/0/approval\"\nop = \"eq\"\nvalue = \"approved\"\n\
                 [[ticket.condition]]\nfield = \"/result/0/requested_by.user_name\"\nop = \"eq\"\nfrom = \"user\"\n\
                 [offline]\nticket = [\"allow\"]\nretry_after = \"1h\"\n",
                d.join(format!("state-{name}")).display(),
                run.display(),
                servicenow::USER,
                secret.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join(name),
            format!(
                "auth requisite {so} preauth config={0}\n\
                 auth [success=1 default=ignore] {permit}\n\
                 auth [default=die] {so} authfail config={0}\n\
                 auth requisite {so} ticket config={0}\n\
                 account required {so} config={0}\n",
                path.display()
            ),
        )
        .unwrap();
    };
    ticket_cfg("ticket-cached", &sn.url(), "1h", "3s");
    ticket_cfg("ticket-cold", &sn.url(), "0s", "3s");
    ticket_cfg(
        "ticket-dead",
        &format!("http://127.0.0.1:{dead_port}"),
        "0s",
        "3s",
    );

    let stacks = [
        "permit",
        "faillock",
        "ticketgate",
        "ticket-cached",
        "ticket-cold",
        "ticket-dead",
    ];
    for s in stacks {
        login(d, s); // warm up, and fail loudly if a stack does not let the user in
    }
    assert!(
        d.join("run-ticket-dead/breaker.ticket").exists(),
        "the dead system's breaker must be open"
    );
    let fetches_before = sn.server.count();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); stacks.len()];
    for _ in 0..ROUNDS {
        for (i, s) in stacks.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..per_round {
                login(d, s);
            }
            samples[i].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
        }
    }
    let med: Vec<f64> = samples.iter_mut().map(|v| median(v)).collect();
    println!("per-login cost, {per_round} logins x {ROUNDS} rounds per stack (median of rounds):");
    for (i, s) in stacks.iter().enumerate() {
        let over = if i == 0 {
            String::new()
        } else {
            format!("  (+{:.1} µs over pam_permit)", med[i] - med[0])
        };
        println!("  {s:<11} {:>8.1} µs/login{over}", med[i]);
    }
    let ratio = (med[2] - med[0]) / (med[1] - med[0]);
    println!("overhead ratio ticketgate/faillock: {ratio:.2} (goal <= 1.0)");

    let fetches = sn.server.count() - fetches_before;
    assert_eq!(
        fetches,
        per_round * ROUNDS,
        "only ticket-cold logins fetch (one request each)"
    );
    let get = bare_get(&sn.url(), 2000);
    let lockout = med[2] - med[0];
    println!(
        "(a) ticket from the verdict cache: +{:.1} µs over pam_permit = {:.2} x the lockout stack's overhead (goal <= 1.5)",
        med[3] - med[0],
        (med[3] - med[0]) / lockout
    );
    println!(
        "(b) cold fetch: {:.1} µs more than a cached ticket; a bare HTTP GET of the same answer takes {get:.1} µs; module's own time {:.2} ms (goal <= 2 ms)",
        med[4] - med[3],
        (med[4] - med[3] - get) / 1000.0
    );
    println!(
        "(c) dead system, breaker open: +{:.1} µs per login over the lockout stack (goal <= 5000 µs)",
        med[5] - med[2]
    );
    sn.server.set_mode(Mode::Silent);
    ticket_cfg("ticket-silent", &sn.url(), "0s", "1s");
    let start = Instant::now();
    login(d, "ticket-silent");
    println!(
        "(c) first login against a silent system (timeout = 1s): decided in {:.3} s (goal <= 1.5 s)",
        start.elapsed().as_secs_f64()
    );
    protect_figures(d, per_round);
    fleet_figures(d, per_round);
    agent_figures();
    first_login_figures(d);
}

/// Load and first call: a new process (sshd's child for each connection, `su`, `sudo`) pays for
/// loading the module, relocating it, parsing the config and the first login. Each sample is a
/// new process of this binary (`--first-login DIR SERVICE`) timing one login from
/// `pam_start_confdir` to `pam_end`, so process start-up itself is not counted; stacks
/// alternate. pam_ticketgate's share = its stack's median − pam_permit's. The module measured
/// is the stripped copy, as the Debian package ships and install(1) writes it: the file the
/// linker has just written, though byte for byte the same code, loads ~30 µs slower while its
/// pages stay in the page cache as the linker wrote them (a hard link to it is as slow, a copy
/// is not). Also prints the size of the module file as built and stripped.
fn first_login_figures(d: &Path) {
    const SAMPLES: usize = 200;
    // Discarded: the first new processes of each stack also fault the files into the page cache.
    const WARMUP: usize = 10;
    let so = module_so();
    let stripped = d.join("stripped.so");
    let strip = std::process::Command::new("strip")
        .args(["--strip-unneeded", "-o"])
        .arg(&stripped)
        .arg(&so)
        .status()
        .unwrap();
    assert!(strip.success(), "strip (binutils) failed");
    let stack = std::fs::read_to_string(d.join("ticketgate")).unwrap();
    std::fs::write(
        d.join("ticketgate-installed"),
        stack.replace(&so.display().to_string(), &stripped.display().to_string()),
    )
    .unwrap();
    let stacks = ["permit", "faillock", "ticketgate-installed"];
    let me = std::env::current_exe().unwrap();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); stacks.len()];
    for round in 0..WARMUP + SAMPLES {
        for (i, s) in stacks.iter().enumerate() {
            let out = std::process::Command::new(&me)
                .arg("--first-login")
                .arg(d)
                .arg(s)
                .output()
                .unwrap();
            assert!(out.status.success(), "{s}: {out:?}");
            if round < WARMUP {
                continue;
            }
            samples[i].push(
                String::from_utf8(out.stdout)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap(),
            );
        }
    }
    let p95 = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() * 95 / 100]
    };
    println!("load and first call, a new process per login ({SAMPLES} per stack; median / p95):");
    let mut med = Vec::new();
    for (i, s) in stacks.iter().enumerate() {
        let m = median(&mut samples[i]);
        med.push(m);
        println!("  {s:<21} {:>6.0} µs / {:>6.0} µs", m, p95(&mut samples[i]));
    }
    println!(
        "pam_ticketgate's load and first call: {:.0} µs over pam_permit (goal <= 5 ms), \
         {:.2} x pam_faillock's {:.0} µs (goal <= 2)",
        med[2] - med[0],
        (med[2] - med[0]) / (med[1] - med[0]),
        med[1] - med[0]
    );
    let mb = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / 1e6;
    println!(
        "module size: {:.1} MB as built, {:.1} MB stripped (as packaged)",
        mb(&so),
        mb(&stripped)
    );
}

/// µs per bare `GET` (connect, request, read to close) of the emulator's ticket answer, median
/// of `n`: the part of a cold fetch that is the server's and the kernel's, not the module's.
fn bare_get(base: &str, n: usize) -> f64 {
    let addr = base.trim_start_matches("http://").to_string();
    let auth = ticketgate_tests::emulators::basic(servicenow::USER, servicenow::PASSWORD);
    let request = format!(
        "GET /api/now/table/change_request?sysparm_query=number%3DCHG0000001&sysparm_fields=sys_id%2Cnumber%2Cstate%2Cactive%2Capproval%2Crequested_by.user_name HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nAccept: application/json\r\n\r\n"
    );
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let start = Instant::now();
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(request.as_bytes()).unwrap();
            let mut body = Vec::new();
            c.read_to_end(&mut body).unwrap();
            assert!(body.starts_with(b"HTTP/1.1 200"));
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(&mut times)
}

fn login(dir: &Path, service: &str) {
    let mut s = Session::start(dir, service, USER, &["CHG0000001"]);
    assert_eq!(s.authenticate(0), PAM_SUCCESS, "{service}: authenticate");
    assert_eq!(s.acct_mgmt(0), PAM_SUCCESS, "{service}: acct_mgmt");
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Writes `d/NAME.toml` (the lockout policy for the test user, its own state and run
/// directories, then `scope_and_tables`: more keys of the user's scope and the tables they
/// need) and the stack `d/NAME` running the module's four auth/account lines over pam_permit.
fn lockout_stack_with(d: &Path, name: &str, scope_and_tables: &str) {
    let (so, permit) = (module_so(), system_module("pam_permit.so"));
    let (so, permit) = (so.display(), permit.display());
    let cfg = d.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "version = 1\n[module]\nstate_dir = \"{}\"\nrun_dir = \"{}\"\nfail_delay = \"0s\"\n\
             [policy.default]\nfailed_logon = 3\n[[scope]]\nusers = [\"{USER}\"]\n{scope_and_tables}",
            d.join(format!("state-{name}")).display(),
            d.join(format!("run-{name}")).display(),
        ),
    )
    .unwrap();
    let cfg = cfg.display();
    std::fs::write(
        d.join(name),
        format!(
            "auth requisite {so} preauth config={cfg}\n\
             auth [success=1 default=ignore] {permit}\n\
             auth [default=die] {so} authfail config={cfg}\n\
             auth requisite {so} ticket config={cfg}\n\
             account required {so} config={cfg}\n"
        ),
    )
    .unwrap();
}

/// Login protect's cost: its own stacks and configs under `d`, rounds alternating between the
/// baseline, the live server, the dead server and a bare client; medians of the rounds.
fn protect_figures(d: &Path, per_round: usize) {
    const TOKEN: &str = "bench-host-token";
    const SID: &str = "bench";
    let secret = d.join("protect.secret");
    std::fs::write(&secret, TOKEN).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let emu = Emulator::start(TOKEN);
    let stacks = [
        ("protect-base", String::new()),
        ("protect-live", emu.url()),
        ("protect-dead", dead_url()),
    ];
    for (name, url) in &stacks {
        let protect = if url.is_empty() {
            String::new()
        } else {
            format!(
                "login_protect = true\n[login_protect]\nurl = \"{url}\"\nservice_id = \"{SID}\"\nsecret_file = \"{}\"\ntimeout = \"2s\"\n\
                 [offline]\nlogin_protect = \"unlocked\"\nretry_after = \"1h\"\n",
                secret.display()
            )
        };
        lockout_stack_with(d, name, &protect);
    }
    let unlock = || emu.unlock(SID, USER);
    for (name, _) in &stacks {
        unlock();
        login(d, name); // warm up; opens the dead server's breaker; fails loudly on a refusal
    }
    assert!(
        d.join("run-protect-dead/breaker.login_protect").exists(),
        "the dead server's breaker must be open"
    );
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); stacks.len() + 1];
    for _ in 0..ROUNDS {
        for (i, (name, _)) in stacks.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..per_round {
                if *name == "protect-live" {
                    unlock();
                }
                login(d, name);
            }
            samples[i].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
        }
        let start = Instant::now();
        for _ in 0..per_round {
            unlock();
            bare_attempt(&emu, TOKEN, SID);
        }
        samples[stacks.len()].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
    }
    let med: Vec<f64> = samples.iter_mut().map(|v| median(v)).collect();
    println!("login protect, {per_round} logins x {ROUNDS} rounds (median of rounds):");
    println!("  lockout stack (baseline)        {:>8.1} µs/login", med[0]);
    println!("  + protect, live loopback server {:>8.1} µs/login", med[1]);
    println!("  + protect, dead server, breaker {:>8.1} µs/login", med[2]);
    println!("  bare POST /v1/attempt round trip {:>7.1} µs", med[3]);
    println!(
        "  module's own time beyond the server's: {:.1} µs per login (goal <= 2000)",
        med[1] - med[0] - med[3]
    );
    println!(
        "  dead server with the breaker open: +{:.1} µs per login (goal <= 5000)",
        med[2] - med[0]
    );
}

/// One `POST /v1/attempt` by a bare client on a new connection: the server's share of a check.
fn bare_attempt(emu: &Emulator, token: &str, sid: &str) {
    let body = format!(
        r#"{{"service_id":"{sid}","user":"{USER}","host":"h","service":"bench","rhost":""}}"#
    );
    let addr = emu.url().trim_start_matches("http://").to_string();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let request = format!(
        "POST /v1/attempt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    std::io::Write::write_all(&mut c, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut c, &mut answer).unwrap();
    assert!(answer.contains(r#"{"unlocked":true}"#), "{answer}");
}

/// The fleet lockout's cost: its own stacks and configs under `d`, rounds alternating between
/// the baseline, the live fleet server (clean logins: one check each), the dead server and a
/// bare client; medians of the rounds.
fn fleet_figures(d: &Path, per_round: usize) {
    const TOKEN: &str = "bench-fleet-token";
    let secret = d.join("fleet.secret");
    std::fs::write(&secret, TOKEN).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let fleet = Fleet::start(TOKEN);
    let stacks = [
        ("fleet-base", String::new()),
        ("fleet-live", fleet.url()),
        ("fleet-dead", dead_url()),
    ];
    for (name, url) in &stacks {
        let shared = if url.is_empty() {
            String::new()
        } else {
            format!(
                "fleet = true\n[fleet]\nurl = \"{url}\"\nsecret_file = \"{}\"\ntimeout = \"2s\"\n\
                 [offline]\nfleet = \"local\"\nretry_after = \"1h\"\n",
                secret.display()
            )
        };
        lockout_stack_with(d, name, &shared);
    }
    for (name, _) in &stacks {
        login(d, name); // warm up; opens the dead server's breaker; fails loudly on a refusal
    }
    assert!(
        d.join("run-fleet-dead/breaker.fleet").exists(),
        "the dead server's breaker must be open"
    );
    let asked_before = fleet.paths().len();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); stacks.len() + 1];
    for _ in 0..ROUNDS {
        for (i, (name, _)) in stacks.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..per_round {
                login(d, name);
            }
            samples[i].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
        }
        let start = Instant::now();
        for _ in 0..per_round {
            bare_check(&fleet, TOKEN);
        }
        samples[stacks.len()].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
    }
    let asked = fleet.paths();
    let by_module = asked[asked_before..]
        .iter()
        .filter(|p| *p == "/v1/fleet/check")
        .count()
        - ROUNDS * per_round; // the bare client's
    assert_eq!(
        asked.len() - asked_before,
        2 * ROUNDS * per_round,
        "a clean login makes one request (check), the bare client one"
    );
    let med: Vec<f64> = samples.iter_mut().map(|v| median(v)).collect();
    println!("fleet lockout, {per_round} logins x {ROUNDS} rounds (median of rounds):");
    println!(
        "  lockout stack (baseline)          {:>8.1} µs/login",
        med[0]
    );
    println!(
        "  + fleet, live loopback server     {:>8.1} µs/login",
        med[1]
    );
    println!(
        "  + fleet, dead server, breaker     {:>8.1} µs/login",
        med[2]
    );
    println!("  bare POST /v1/fleet/check round trip {:>5.1} µs", med[3]);
    println!(
        "  requests per clean login: {:.2} (goal: 1)",
        by_module as f64 / (ROUNDS * per_round) as f64
    );
    println!(
        "  module's own time beyond the server's: {:.1} µs per login (goal <= 2000)",
        med[1] - med[0] - med[3]
    );
    println!(
        "  dead server with the breaker open: +{:.1} µs per login (goal <= 5000)",
        med[2] - med[0]
    );
}

/// One `POST /v1/fleet/check` by a bare client on a new connection: the server's share.
fn bare_check(fleet: &Fleet, token: &str) {
    let body = format!(r#"{{"user":"{USER}","credential":"password"}}"#);
    let addr = fleet.url().trim_start_matches("http://").to_string();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let request = format!(
        "POST /v1/fleet/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.contains(r#""locked":false"#), "{answer}");
}

/// Tasks queued one after another in `agent_figures`.
const AGENT_TASKS: usize = 20;

/// `task add` → result listed, with the real server and the agent's service at 1 s.
fn agent_figures() {
    use ticketgate_tests::agent::{agent_sandbox, spawn_service, stop_service};
    use ticketgate_tests::sandbox::USER as HOST_USER;
    use ticketgate_tests::server::{Host, Server};
    const TOKEN: &str = "bench-agent-token";
    const KEY: &str = "YmVuY2gtdGFzay1rZXktMzItYnl0ZXMtbG9uZy0wMDA=";
    let server = Server::start_with_files(
        false,
        &[Host::new("web01", TOKEN)],
        "[agent]\ntask_key_file = \"task.key\"\ninterval = \"1s\"\n",
        &[("task.key", KEY)],
    );
    let host = agent_sandbox(&server.url(), TOKEN, "1s", None);
    let agent = spawn_service(&host);
    let state = |id: &str| -> String {
        let out = server.cli(&["task", "list", "--host", "web01", "--json"]);
        assert!(out.status.success(), "task list failed");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["state"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let mut took = Vec::with_capacity(AGENT_TASKS);
    for i in 0..AGENT_TASKS {
        let kind = if i % 2 == 0 { "lock" } else { "unlock" };
        // Queued at points spread over the interval (0, 0.35, 0.7, 0.05, ... s after the last
        // result): queued right after a result, every task would wait a whole interval.
        std::thread::sleep(std::time::Duration::from_millis((i as u64 * 350) % 1000));
        let start = Instant::now();
        let out = server.cli(&["task", "add", "--host", "web01", kind, HOST_USER]);
        assert!(out.status.success(), "task add failed");
        let id = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .to_string();
        // Bounded: the agent backs off at most to 10 s here; 30 s means it is stuck.
        let mut s = state(&id);
        while s == "pending" && start.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            s = state(&id);
        }
        assert_eq!(s, "done", "task {i} ({kind}) did not finish");
        took.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let (status, err) = stop_service(agent);
    assert!(status.success(), "the agent: {status}: {err}");
    took.sort_by(f64::total_cmp);
    println!("host agent, real server, interval = 1s, {AGENT_TASKS} tasks queued one at a time:");
    println!(
        "  task add -> result listed: median {:.0} ms, fastest {:.0} ms, slowest {:.0} ms",
        median(&mut took.clone()),
        took[0],
        took[took.len() - 1]
    );
}
