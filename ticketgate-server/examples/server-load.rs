//! Load generator for `bench/run.sh`: bulk-enrolls users, then drives `/v1/attempt` from this
//! second process over loopback and reports throughput, latency percentiles and the servers' RSS.
//! With several replicas (ADDRS and SERVER_PIDS comma-separated) connections are spread over
//! them round-robin, as a load balancer would. `fleet` drives `/v1/fleet/failure` the same way
//! and checks afterwards, through the server's own fleet store (SQLite or PostgreSQL, as the
//! config says), that every event answered 200 was remembered and counted exactly once.
//!
//! `agents` plays N host agents polling `/v1/agent/poll` every PERIOD seconds with jitter (each
//! on a fresh connection, its own host token, reporting the tasks it got on its next poll) and
//! reports requests/s, latency and the server's CPU from /proc/PID/stat.
//!
//! Bounded: it stops at `--seconds` or `--max-requests`, whichever comes first.
// A benchmark client: it reads the real clock to make TOTP codes the server accepts.
#![allow(clippy::disallowed_methods)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use ticketgate_server::secret::Secret;
use ticketgate_server::store::Store;
use ticketgate_server::totp;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const SERVICE: &str = "bench-svc";

fn usage() -> BoxError {
    "usage: server-load populate DATA_DIR USERS | server-load load ADDRS TOKEN_FILE SERVER_PIDS DATA_DIR CONNECTIONS SECONDS MAX_REQUESTS UNLOCKS (ADDRS, SERVER_PIDS: comma-separated) | server-load fleet ADDRS TOKEN_FILE HOST CONFIG CONNECTIONS SECONDS MAX_EVENTS USERS | server-load agents-setup DIR AGENTS | server-load agents ADDR TOKEN_DIR SERVER_PID CONFIG AGENTS PERIOD_S SECONDS TASKS".into()
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> Res<T> {
    args.get(i).and_then(|a| a.parse().ok()).ok_or_else(usage)
}

fn list<T: std::str::FromStr>(args: &[String], i: usize) -> Res<Vec<T>> {
    let all: Option<Vec<T>> = args
        .get(i)
        .map(|a| a.split(',').map(|p| p.parse().ok()).collect())
        .unwrap_or(None);
    all.filter(|v| !v.is_empty()).ok_or_else(usage)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("populate") => populate(&arg::<PathBuf>(&args, 2)?, arg(&args, 3)?),
        Some("load") => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(load(LoadArgs {
                addrs: list(&args, 2)?,
                token: std::fs::read_to_string(arg::<PathBuf>(&args, 3)?)?
                    .trim()
                    .to_owned(),
                pids: list(&args, 4)?,
                data_dir: arg(&args, 5)?,
                connections: arg(&args, 6)?,
                seconds: arg(&args, 7)?,
                max_requests: arg(&args, 8)?,
                unlocks: arg(&args, 9)?,
            }))
        }
        Some("fleet") => {
            // The store is read before and after the load, outside the async runtime (its
            // PostgreSQL client blocks), and must have grown by exactly the events answered 200.
            let config: PathBuf = arg(&args, 5)?;
            let before = fleet_totals(&config)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let ok = rt.block_on(fleet_load(FleetArgs {
                addrs: list(&args, 2)?,
                token: std::fs::read_to_string(arg::<PathBuf>(&args, 3)?)?
                    .trim()
                    .to_owned(),
                host: arg(&args, 4)?,
                connections: arg(&args, 6)?,
                seconds: arg(&args, 7)?,
                max_events: arg(&args, 8)?,
                users: arg(&args, 9)?,
            }))?;
            drop(rt);
            let (at, ids_before, counted_before) = before;
            let (_, ids_after, counted_after) = fleet_totals(&config)?;
            let (ids, counted) = (ids_after - ids_before, counted_after - counted_before);
            println!(
                "fleet store ({at}): {ids} event ids remembered, {counted} failures counted, {ok} answered 200"
            );
            if ids != ok || counted != ok {
                return Err(format!(
                    "the store does not hold exactly the {ok} events answered 200"
                )
                .into());
            }
            Ok(())
        }
        Some("agents-setup") => agents_setup(&arg::<PathBuf>(&args, 2)?, arg(&args, 3)?),
        Some("agents") => {
            let a = AgentsArgs {
                addr: arg(&args, 2)?,
                token_dir: arg(&args, 3)?,
                pid: arg(&args, 4)?,
                agents: arg(&args, 6)?,
                period: Duration::from_secs(arg(&args, 7)?),
                seconds: arg(&args, 8)?,
            };
            let config = ticketgate_server::config::Config::load(&arg::<PathBuf>(&args, 5)?)?;
            agents(&config, a, arg(&args, 9)?)
        }
        _ => Err(usage()),
    }
}

fn agent_name(i: usize) -> String {
    format!("agent{i:04}")
}

/// Writes one token file per agent (mode 0600) into DIR and prints their [[host]] tables.
fn agents_setup(dir: &std::path::Path, agents: usize) -> Res<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    for i in 0..agents {
        let token = Secret::random(24)?;
        let path = dir.join(format!("{}.token", agent_name(i)));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        writeln!(f, "{}", data_encoding::BASE64.encode(token.expose()))?;
        println!(
            "[[host]]\nname = \"{}\"\ntoken_file = \"{}\"\nservice_ids = [\"bench\"]",
            agent_name(i),
            path.display()
        );
    }
    Ok(())
}

struct AgentsArgs {
    addr: SocketAddr,
    token_dir: PathBuf,
    pid: u32,
    agents: usize,
    period: Duration,
    seconds: u64,
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> Res<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which ends with the last ')': state is field 3, utime 14.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("bad /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks =
        |i: usize| -> Res<u64> { Ok(fields.get(i).ok_or("short /proc/PID/stat")?.parse()?) };
    // SAFETY: sysconf reads a constant of the system and touches no memory of ours.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Ok((ticks(11)? + ticks(12)?) as f64 / hz)
}

/// Queues `tasks` tasks over the agents' hosts (every other one a reset_password with a
/// sealed password), then plays the agents; checks afterwards that every result an agent
/// reported ended its task.
fn agents(config: &ticketgate_server::config::Config, a: AgentsArgs, tasks: usize) -> Res<()> {
    use ticketgate_server::tasks::{self, Kind, TaskKey, TaskRow};
    let settings = config.agent.as_ref().ok_or("the config has no [agent]")?;
    let key = TaskKey::load(&settings.task_key_file)?;
    let protect = ticketgate_server::store::open(config)?;
    let (store, at) = tasks::open(&config.data_dir, protect.as_ref())?;
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_secs(),
    )?;
    for n in 0..tasks {
        let id = tasks::new_id()?;
        let host = agent_name(n % a.agents.max(1));
        let kind = if n % 2 == 0 {
            Kind::ResetPassword
        } else {
            Kind::Lock
        };
        let sealed = match kind {
            Kind::ResetPassword => Some(key.seal(&id, &host, b"bench-password-0123")?),
            _ => None,
        };
        store.add(&TaskRow {
            id,
            host,
            kind: kind.as_str().into(),
            user: format!("user{n}"),
            state: "pending".into(),
            sealed,
            queued_by: "bench".into(),
            queued_at: now,
            not_after: now + 3600,
            finished_at: None,
            detail: None,
        })?;
    }
    let mut tokens = Vec::with_capacity(a.agents);
    for i in 0..a.agents {
        let t = std::fs::read_to_string(a.token_dir.join(format!("{}.token", agent_name(i))))?;
        tokens.push(t.trim().to_owned());
    }
    println!(
        "agents: {} agents polling every {} s (+/-10% jitter, first poll at a random point of the first period) for {} s, {tasks} tasks queued; task store {at}",
        a.agents,
        a.period.as_secs(),
        a.seconds
    );
    let cpu_before = cpu_seconds(a.pid)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (lat, errors, handed, reported, elapsed) = rt.block_on(agents_load(&a, tokens))?;
    drop(rt);
    let cpu = cpu_seconds(a.pid)? - cpu_before;
    let n = lat.len();
    println!(
        "agent poll: {n} polls in {elapsed:.1} s = {:.1} requests/s; {errors} non-200; {handed} tasks handed out, {reported} results reported",
        n as f64 / elapsed
    );
    print_latency("agent poll (connect + request)", &lat);
    println!(
        "server CPU: {cpu:.2} s over {elapsed:.1} s = {:.1}% of one core ({:.2} ms per poll)",
        100.0 * cpu / elapsed,
        1000.0 * cpu / (n.max(1) as f64)
    );
    let done = store
        .list(None)?
        .iter()
        .filter(|t| t.state == "done")
        .count();
    println!("task store: {done} tasks done (of {tasks} queued)");
    if done as u64 != reported {
        return Err(format!("{reported} results reported but {done} tasks done").into());
    }
    Ok(())
}

/// The agents' loop; answers the latencies (sorted), non-200 answers, tasks handed out,
/// results reported (and answered 200), and the run's length in seconds.
async fn agents_load(a: &AgentsArgs, tokens: Vec<String>) -> Res<(Vec<u32>, u64, u64, u64, f64)> {
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(a.seconds);
    let period_ms = u64::try_from(a.period.as_millis())?.max(1);
    let mut joins = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.into_iter().enumerate() {
        let addr = a.addr;
        joins.push(tokio::spawn(async move {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut next = t0 + Duration::from_millis(rng.next() % period_ms);
            let mut lat = Vec::new();
            let (mut errors, mut handed, mut reported) = (0_u64, 0_u64, 0_u64);
            let mut results: Vec<String> = Vec::new();
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                let body = serde_json::json!({
                    "host": format!("{}.example.com", agent_name(i)),
                    "results": results.iter().map(|id| serde_json::json!({"task_id": id, "status": "done", "detail": "ok"})).collect::<Vec<_>>(),
                })
                .to_string();
                let t = Instant::now();
                let answer = async {
                    let mut conn = Conn::open(addr).await?;
                    conn.call(&post(addr, "/v1/agent/poll", Some(&token), &body)).await
                }
                .await;
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                match answer {
                    Ok((200, bytes)) => {
                        reported += results.len() as u64;
                        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
                        results = v
                            .get("tasks")
                            .and_then(serde_json::Value::as_array)
                            .map(|t| t.iter().filter_map(|t| t.get("id").and_then(serde_json::Value::as_str).map(str::to_owned)).collect())
                            .unwrap_or_default();
                        handed += results.len() as u64;
                    }
                    _ => errors += 1,
                }
                // The next poll one period later, +/-10%.
                let jitter = period_ms / 5;
                let step = period_ms - period_ms / 10 + if jitter > 0 { rng.next() % jitter } else { 0 };
                next += Duration::from_millis(step);
            }
            Ok::<_, BoxError>((lat, errors, handed, reported))
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut handed, mut reported) = (0, 0, 0);
    for j in joins {
        let (l, e, h, r) = j.await??;
        all.extend(l);
        errors += e;
        handed += h;
        reported += r;
    }
    let elapsed = t0.elapsed().as_secs_f64().max(1e-9);
    all.sort_unstable();
    Ok((all, errors, handed, reported, elapsed))
}

/// The fleet store the servers of `config` use, opened as they open it (one `store` setting
/// decides): where it is, how many event ids it remembers, the sum of its counts.
fn fleet_totals(config: &std::path::Path) -> Res<(String, u64, u64)> {
    let config = ticketgate_server::config::Config::load(config)?;
    let protect = ticketgate_server::store::open(&config)?;
    let (fleet, at) = ticketgate_server::fleet::open(&config.data_dir, protect.as_ref())?;
    let dump = fleet.export()?;
    let counted = dump
        .counts
        .iter()
        .map(|c| u64::try_from(c.failures).unwrap_or(0))
        .sum();
    Ok((at, dump.events.len() as u64, counted))
}

fn user_name(i: u64) -> String {
    format!("user{i:06}")
}

fn populate(data_dir: &std::path::Path, users: u64) -> Res<()> {
    let started = Instant::now();
    let mut store = Store::open(data_dir)?;
    let mut batch: Vec<(String, Secret)> = Vec::with_capacity(10_000);
    let mut i = 0;
    while i < users {
        batch.clear();
        while i < users && batch.len() < 10_000 {
            batch.push((user_name(i), Secret::random(totp::SECRET_LEN)?));
            i += 1;
        }
        store.enroll_many(
            batch.iter().map(|(u, s)| (u.as_str(), None, s)),
            SystemTime::now(),
        )?;
    }
    println!(
        "populate: {} users enrolled in {:.2} s",
        store.count()?,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

struct LoadArgs {
    addrs: Vec<SocketAddr>,
    token: String,
    pids: Vec<u32>,
    data_dir: PathBuf,
    connections: usize,
    seconds: u64,
    max_requests: u64,
    unlocks: u64,
}

/// The servers' RSS added up.
fn rss_kib(pids: &[u32]) -> Res<u64> {
    pids.iter().map(|p| rss_one(*p)).sum()
}

fn rss_one(pid: u32) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/PID/status".into())
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    reader: BufReader<TcpStream>,
    line: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Res<Self> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(s),
            line: String::new(),
        })
    }

    /// Sends one request, returns (status, body).
    async fn call(&mut self, request: &[u8]) -> Res<(u16, Vec<u8>)> {
        self.reader.get_mut().write_all(request).await?;
        self.line.clear();
        self.reader.read_line(&mut self.line).await?;
        let status: u16 = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let mut length = 0_usize;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line).await? == 0 {
                return Err("connection closed".into());
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse()?;
            }
        }
        let mut body = vec![0_u8; length];
        self.reader.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

fn post(addr: SocketAddr, path: &str, auth: Option<&str>, body: &str) -> Vec<u8> {
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A small xorshift generator: which user each attempt names (no need for a crate here).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or(0)
}

async fn load(a: LoadArgs) -> Res<()> {
    let rss_start = rss_kib(&a.pids)?;
    let users = Store::open(&a.data_dir)?.count()?;
    println!(
        "load: server pid(s) {:?} at {:?}, RSS at start {} KiB (all replicas); {users} users enrolled",
        a.pids, a.addrs, rss_start
    );
    let first = *a.addrs.first().ok_or_else(usage)?;

    // Unlock the first `unlocks` users (their secrets read back from the store file).
    let secrets: Vec<(String, Secret)> = {
        let conn = rusqlite::Connection::open(a.data_dir.join(ticketgate_server::store::DB_FILE))?;
        let mut stmt =
            conn.prepare("SELECT user, secret FROM enrollment ORDER BY user LIMIT ?1")?;
        let rows = stmt.query_map([i64::try_from(a.unlocks)?], |r| {
            Ok((r.get(0)?, Secret::new(r.get(1)?)))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut conns = Vec::with_capacity(a.addrs.len());
    for addr in &a.addrs {
        conns.push((*addr, Conn::open(*addr).await?));
    }
    let started = Instant::now();
    let mut unlock_lat = Vec::with_capacity(secrets.len());
    for (n, (user, secret)) in secrets.iter().enumerate() {
        // Unlocks go round-robin over the replicas too: the attempts then find them anywhere.
        let Some((addr, c)) = conns.get_mut(n % a.addrs.len()) else {
            return Err(usage());
        };
        let code = totp::code_for_step(secret, totp::step_at(SystemTime::now()));
        let body =
            serde_json::json!({"service_id": SERVICE, "user": user, "code": code}).to_string();
        let t = Instant::now();
        let (status, _) = c.call(&post(*addr, "/v1/unlock", None, &body)).await?;
        unlock_lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        if status != 200 {
            return Err(format!("unlock of {user} answered {status}").into());
        }
    }
    unlock_lat.sort_unstable();
    println!(
        "unlock: {} unlocks in {:.2} s, p50 {} us, p99 {} us (each commits to the store)",
        secrets.len(),
        started.elapsed().as_secs_f64(),
        percentile(&unlock_lat, 0.50),
        percentile(&unlock_lat, 0.99)
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let rss_samples = {
        let (stop, pids) = (Arc::clone(&stop), a.pids.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = rss_kib(&pids) {
                    samples.push(r);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            samples
        })
    };
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(a.connections);
    for n in 0..a.connections {
        let (stop, sent, token, addr) = (
            Arc::clone(&stop),
            Arc::clone(&sent),
            a.token.clone(),
            a.addrs.get(n % a.addrs.len()).copied().unwrap_or(first),
        );
        let (max, unlocks) = (a.max_requests, a.unlocks);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
            let mut lat: Vec<u32> = Vec::with_capacity(200_000);
            let mut trues = 0_u64;
            let mut errors = 0_u64;
            // The slowest request and when it started (seconds into the run).
            let mut worst = (0_u32, 0.0_f64);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if sent.fetch_add(1, Ordering::Relaxed) >= max {
                    break;
                }
                // One attempt in 50 names an unlocked user (most of those find the unlock used up).
                let r = rng.next();
                let i = if r.is_multiple_of(50) && unlocks > 0 { (r >> 8) % unlocks } else { (r >> 8) % users.max(1) };
                let body = format!(
                    r#"{{"service_id":"{SERVICE}","user":"{}","host":"bench","service":"sshd","rhost":"127.0.0.1"}}"#,
                    user_name(i)
                );
                let req = post(addr, "/v1/attempt", Some(&token), &body);
                let t = Instant::now();
                let (status, body) = conn.call(&req).await?;
                let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                if us > worst.0 {
                    worst = (us, t.duration_since(t0).as_secs_f64());
                }
                lat.push(us);
                if status != 200 {
                    errors += 1;
                } else if body.as_slice() == br#"{"unlocked":true}"# {
                    trues += 1;
                }
            }
            Ok::<_, BoxError>((lat, trues, errors, worst))
        }));
    }
    let mut all = Vec::new();
    let (mut trues, mut errors, mut worst) = (0, 0, (0_u32, 0.0_f64));
    for t in tasks {
        let (lat, tr, er, w) = t.await??;
        all.extend(lat);
        trues += tr;
        errors += er;
        if w.0 > worst.0 {
            worst = w;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let samples = rss_samples.await?;
    all.sort_unstable();
    let n = all.len();
    println!(
        "attempt: {n} requests over {} keep-alive connections to {} server(s) in {elapsed:.2} s = {:.0} attempts/s; {trues} answered true (of {} unlocks); {errors} non-200",
        a.connections,
        a.addrs.len(),
        n as f64 / elapsed,
        a.unlocks
    );
    println!(
        "attempt latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (sent {:.2} s into the run)",
        f64::from(percentile(&all, 0.50)) / 1000.0,
        f64::from(percentile(&all, 0.90)) / 1000.0,
        f64::from(percentile(&all, 0.99)) / 1000.0,
        f64::from(percentile(&all, 0.999)) / 1000.0,
        f64::from(all.last().copied().unwrap_or(0)) / 1000.0,
        worst.1
    );
    let rss_end = rss_kib(&a.pids)?;
    println!(
        "server RSS (all replicas): start {rss_start} KiB, end {rss_end} KiB, min/max during run {}/{} KiB ({} samples, 1/s)",
        samples.iter().min().copied().unwrap_or(0),
        samples.iter().max().copied().unwrap_or(0),
        samples.len()
    );
    if trues > a.unlocks {
        return Err(format!(
            "{trues} trues for {} unlocks: an unlock was used twice",
            a.unlocks
        )
        .into());
    }
    Ok(())
}

struct FleetArgs {
    addrs: Vec<SocketAddr>,
    token: String,
    host: String,
    connections: usize,
    seconds: u64,
    max_events: u64,
    users: u64,
}

fn print_latency(what: &str, all: &[u32]) {
    println!(
        "{what} latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        f64::from(percentile(all, 0.50)) / 1000.0,
        f64::from(percentile(all, 0.90)) / 1000.0,
        f64::from(percentile(all, 0.99)) / 1000.0,
        f64::from(percentile(all, 0.999)) / 1000.0,
        f64::from(all.last().copied().unwrap_or(0)) / 1000.0
    );
}

/// `/v1/fleet/failure` from `connections` keep-alive connections, each event with its own id,
/// for users drawn from `users` names; answers how many were answered 200.
async fn fleet_load(a: FleetArgs) -> Res<u64> {
    // Ids unique across runs on one store: this process's id in the second group.
    let run = std::process::id() & 0xffff;
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let sent = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(a.connections);
    for n in 0..a.connections {
        // Connections round-robin over the replicas, as a load balancer would spread them.
        let addr = a.addrs.get(n % a.addrs.len()).copied().ok_or_else(usage)?;
        let (sent, token, host) = (Arc::clone(&sent), a.token.clone(), a.host.clone());
        let (max, users) = (a.max_events, a.users.max(1));
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut lat: Vec<u32> = Vec::with_capacity(100_000);
            let (mut ok, mut errors) = (0_u64, 0_u64);
            let mut i = 0_u64;
            while Instant::now() < deadline {
                if sent.fetch_add(1, Ordering::Relaxed) >= max {
                    break;
                }
                i += 1;
                let at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
                let body = format!(
                    r#"{{"id":"{n:08x}-{run:04x}-4000-8000-{i:012x}","user":"{}","credential":"password","host":"{host}","service":"sshd","rhost":"127.0.0.1","at":{at}}}"#,
                    user_name(rng.next() % users)
                );
                let req = post(addr, "/v1/fleet/failure", Some(&token), &body);
                let t = Instant::now();
                let (status, _) = conn.call(&req).await?;
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                if status == 200 {
                    ok += 1;
                } else {
                    errors += 1;
                }
            }
            Ok::<_, BoxError>((lat, ok, errors))
        }));
    }
    let mut all = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        let (lat, o, e) = t.await??;
        all.extend(lat);
        ok += o;
        errors += e;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    all.sort_unstable();
    println!(
        "fleet failure: {} events over {} keep-alive connections to {} server(s) in {elapsed:.2} s = {:.0} events/s; {errors} non-200",
        all.len(),
        a.connections,
        a.addrs.len(),
        all.len() as f64 / elapsed
    );
    print_latency("fleet failure", &all);
    Ok(ok)
}
