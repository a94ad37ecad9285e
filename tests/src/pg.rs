//! A throwaway PostgreSQL cluster for the tests: `initdb` + `pg_ctl` from
//! `/usr/lib/postgresql/*/bin`, run as the `postgres` system user, its data in a temporary
//! directory, listening on 127.0.0.1 on a free port; never the system's service. One shared
//! cluster per test binary run (stopped at exit), each test with its own database; tests that
//! stop PostgreSQL or need TLS start their own cluster, stopped when dropped.
//!
//! One copy for both test suites: `ticketgate-tests` has it as `ticketgate_tests::pg`, and
//! ticketgate-server's integration tests include this file with `#[path]`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The superuser's password in every test cluster (the clusters listen on loopback only).
const PASSWORD: &str = "tg-test-pw-0123456789";

/// The directory of PostgreSQL's server programs, or a clear failure.
pub fn bin_dir() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|dir| {
            let mut versions: Vec<PathBuf> = dir
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
                .collect();
            versions.sort();
            versions.pop()
        });
    found.unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server programs (/usr/lib/postgresql/*/bin/initdb, pg_ctl) are missing: \
             run scripts/install-test-deps.sh (it installs the Debian package `postgresql`)"
        )
    })
}

fn as_postgres(program: &Path, args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("runuser {}: {e}", program.display()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// TLS files for a cluster: the server's certificate and key (owned by postgres).
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    running: bool,
}

impl Cluster {
    /// Creates and starts a cluster; with `tls`, it accepts only TLS connections over TCP.
    pub fn start(tls: Option<&dyn Fn(&Path) -> ServerTls>) -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let chown = |p: &Path| {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(p)
                .status()
                .unwrap();
            assert!(status.success(), "chown {}", p.display());
        };
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).unwrap();
        chown(&pwfile);
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        chown(&data);
        let out = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut conf =
            String::from("listen_addresses = '127.0.0.1'\nfsync = off\nmax_connections = 200\n");
        if let Some(make) = tls {
            let files = make(dir.path());
            chown(&files.key);
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                files.cert.display(),
                files.key.display()
            ));
            // TCP only with TLS: a connection in clear is refused by the server itself.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
        }
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&sockets).unwrap();
        chown(&sockets);
        conf.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            sockets.display()
        ));
        let mut auto = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.auto.conf"))
            .unwrap();
        std::io::Write::write_all(&mut auto, conf.as_bytes()).unwrap();
        let mut cluster = Self {
            dir,
            port: 0,
            bin,
            running: false,
        };
        // A free port may be taken between the probe and the start: a few tries.
        for _ in 0..5 {
            cluster.port = free_port();
            if cluster.pg_ctl_start() {
                return cluster;
            }
        }
        panic!("PostgreSQL did not start; log:\n{}", cluster.log());
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl_start(&mut self) -> bool {
        let log = self.dir.path().join("postgres.log");
        if !log.exists() {
            std::fs::write(&log, "").unwrap();
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&log)
                .status()
                .unwrap();
        }
        let out = as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &format!("-p {}", self.port),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        self.running = out.status.success();
        self.running
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The postmaster's process id (first line of postmaster.pid).
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
    }

    /// Stops the cluster (fast shutdown: open connections are cut).
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let pid = self.pid();
        // A test that failed while the cluster was frozen must not leave it stopped for ever.
        let _ = Command::new("kill")
            .arg("-CONT")
            .args(self.processes())
            .status();
        let out = as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
                "stop",
            ],
        );
        if !out.status.success()
            && let Some(pid) = pid
        {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        self.running = false;
    }

    /// The postmaster and its children (backends, writer, ...): this cluster's processes only.
    fn processes(&self) -> Vec<String> {
        let Some(pid) = self.pid() else {
            return Vec::new();
        };
        let children = Command::new("pgrep")
            .args(["-P", &pid.to_string()])
            .output()
            .unwrap();
        let mut all = vec![pid.to_string()];
        all.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(String::from),
        );
        all
    }

    /// Freezes every process of the cluster (SIGSTOP): a database that accepts nothing and
    /// answers nothing, without closing a connection.
    pub fn freeze(&self) {
        let postmaster = self.pid().expect("no postmaster.pid").to_string();
        // The postmaster first, so it forks no backend after the children are listed.
        let stop = |pids: &[String]| {
            let status = Command::new("kill")
                .arg("-STOP")
                .args(pids)
                .status()
                .unwrap();
            assert!(status.success());
        };
        stop(std::slice::from_ref(&postmaster));
        stop(&self.processes());
    }

    /// Lets a frozen cluster run again (SIGCONT).
    pub fn thaw(&self) {
        let status = Command::new("kill")
            .arg("-CONT")
            .args(self.processes())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.pg_ctl_start(), "restart failed; log:\n{}", self.log());
    }

    /// A connection string for `db` (sslmode as given, or the server's default).
    pub fn url(&self, db: &str, sslmode: Option<&str>) -> String {
        let mut url = format!(
            "postgresql://postgres:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        );
        if let Some(mode) = sslmode {
            url.push_str(&format!("?sslmode={mode}"));
        }
        url
    }

    /// A fresh database for one test.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tg_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let sockets = self.dir.path().join("sockets");
        let mut client = postgres::Config::new()
            .host_path(&sockets)
            .port(self.port)
            .user("postgres")
            .password(PASSWORD)
            .dbname("postgres")
            .connect(postgres::NoTls)
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        name
    }

    /// A SQL statement run in `db` (for tests that look behind the server).
    pub fn sql(&self, db: &str, statement: &str) -> Vec<postgres::Row> {
        let sockets = self.dir.path().join("sockets");
        let mut client = postgres::Config::new()
            .host_path(&sockets)
            .port(self.port)
            .user("postgres")
            .password(PASSWORD)
            .dbname(db)
            .connect(postgres::NoTls)
            .unwrap();
        client.query(statement, &[]).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

static SHARED: OnceLock<std::sync::Mutex<Option<Cluster>>> = OnceLock::new();

extern "C" fn stop_shared_cluster() {
    if let Some(m) = SHARED.get()
        && let Ok(mut guard) = m.lock()
    {
        // Dropping stops it (pg_ctl stop) and removes its directory.
        guard.take();
    }
}

/// The cluster this test binary shares (started on first use, stopped when the binary exits).
pub fn shared() -> std::sync::MutexGuard<'static, Option<Cluster>> {
    let m = SHARED.get_or_init(|| {
        let cluster = Cluster::start(None);
        // SAFETY: registers a plain `extern "C" fn` with no arguments, as atexit requires.
        unsafe { libc::atexit(stop_shared_cluster) };
        std::sync::Mutex::new(Some(cluster))
    });
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A new database on the shared cluster and its connection string (loopback, no TLS).
pub fn shared_database() -> (String, String) {
    let guard = shared();
    let cluster = guard.as_ref().unwrap();
    let db = cluster.create_database();
    let url = cluster.url(&db, Some("disable"));
    (db, url)
}

/// Runs `sql` in `db` on the shared cluster.
pub fn shared_sql(db: &str, statement: &str) -> Vec<postgres::Row> {
    shared().as_ref().unwrap().sql(db, statement)
}
