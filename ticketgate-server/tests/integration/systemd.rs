//! Running under systemd: `Type=notify` readiness on a socket the test binds (a path and an
//! abstract name), host tokens read as credentials from `$CREDENTIALS_DIRECTORY` and the
//! refusals around them, and the administrator's commands run as root keeping the server's
//! `data_dir` files the server's.

use crate::harness::{BIN, SERVICE, Setup};
use std::ffi::OsStr;
use std::net::TcpStream;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The next datagram on `socket`, waiting at most 15 s.
fn next_state(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("no notification within 15 s");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// Starts the server with `NOTIFY_SOCKET=value`; READY=1 comes once it listens, STOPPING=1
/// when SIGTERM starts the stop, and nothing else is sent.
fn ready_then_stopping(socket: &UnixDatagram, value: &OsStr) {
    let setup = Setup::new("60s", "");
    let server = setup.start_with_env(&[("NOTIFY_SOCKET", value)]);
    assert_eq!(next_state(socket), "READY=1");
    // READY=1 means the port takes connections and the host tokens were accepted.
    TcpStream::connect(server.addr).expect("READY=1 was sent before the port was listening");
    assert_eq!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .status,
        200
    );
    let log = server.stop();
    assert_eq!(next_state(socket), "STOPPING=1");
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    assert!(
        socket.recv(&mut buf).is_err(),
        "a third notification: {:?}",
        String::from_utf8_lossy(&buf)
    );
    assert!(!log.iter().any(|l| l.contains("notify_failed")), "{log:#?}");
}

#[test]
fn ready_once_listening_and_stopping_on_sigterm_over_a_path_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    ready_then_stopping(&socket, path.as_os_str());
}

#[test]
fn ready_and_stopping_over_an_abstract_socket() {
    let name = format!("ticketgate-server-notify-{}", std::process::id());
    let socket =
        UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    ready_then_stopping(&socket, OsStr::new(&format!("@{name}")));
}

#[test]
fn a_notify_socket_nobody_listens_on_is_one_warning_and_the_server_serves() {
    let setup = Setup::new("60s", "");
    let gone = setup.dir.path().join("nobody-listens.sock");
    let server = setup.start_with_env(&[("NOTIFY_SOCKET", gone.as_os_str())]);
    server.wait_for_log(&["event=warning", "reason=notify_failed", "state=\"READY=1\""]);
    assert_eq!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .status,
        200
    );
}

/// A credentials directory as systemd makes it: 0500, the token file 0400, both owned by the
/// user the server runs as (here: the user running the test).
fn credentials_dir(setup: &Setup, files: &[(&str, &str)]) -> PathBuf {
    let dir = setup.dir.path().join("credentials");
    std::fs::create_dir(&dir).unwrap();
    for (name, text) in files {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o400)).unwrap();
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    dir
}

/// The setup's config with the host's `token_file` naming a credential instead of its path.
fn with_credential_token(setup: &Setup, credential: &str) {
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let changed = text.replace(
        "token_file = \"web01.token\"",
        &format!("token_file = \"credential:{credential}\""),
    );
    assert_ne!(text, changed);
    std::fs::write(&setup.config, changed).unwrap();
    std::fs::remove_file(setup.dir.path().join("web01.token")).unwrap();
}

fn serve(setup: &Setup, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("CREDENTIALS_DIRECTORY")
        .arg("--config")
        .arg(&setup.config)
        .arg("serve");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn refused(out: &Output, expect: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for e in expect {
        assert!(err.contains(e), "stderr lacks {e:?}: {err}");
    }
}

#[test]
fn a_host_authenticates_with_a_token_loaded_as_a_credential() {
    let setup = Setup::new("60s", "");
    let creds = credentials_dir(
        &setup,
        &[("hosts_web01.token", &format!("{}\n", setup.token))],
    );
    with_credential_token(&setup, "hosts_web01.token");
    let alice = setup.enroll("alice", None);
    let server = setup.start_with_env(&[("CREDENTIALS_DIRECTORY", creds.as_os_str())]);
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
    assert_eq!(
        server
            .attempt_with(Some("another-token-0123456789"), SERVICE, "alice")
            .status,
        401
    );
}

#[test]
fn a_credential_without_credentials_directory_or_file_is_refused_with_exit_78() {
    let setup = Setup::new("60s", "");
    let creds = credentials_dir(&setup, &[("hosts_other.token", "x\n")]);
    with_credential_token(&setup, "hosts_web01.token");
    refused(
        &serve(&setup, &[]),
        &[
            "web01",
            "credential:hosts_web01.token",
            "$CREDENTIALS_DIRECTORY is not set",
        ],
    );
    refused(
        &serve(&setup, &[("CREDENTIALS_DIRECTORY", &creds)]),
        &[
            "web01",
            "hosts_web01.token",
            "does not exist",
            "LoadCredential=",
        ],
    );
}

#[test]
fn a_credential_file_others_may_read_is_refused_as_any_secret_file() {
    let setup = Setup::new("60s", "");
    let creds = credentials_dir(
        &setup,
        &[("hosts_web01.token", &format!("{}\n", setup.token))],
    );
    with_credential_token(&setup, "hosts_web01.token");
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o700)).unwrap();
    let token = creds.join("hosts_web01.token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o440)).unwrap();
    refused(
        &serve(&setup, &[("CREDENTIALS_DIRECTORY", &creds)]),
        &["web01", "mode 0440", "chmod 600"],
    );
}

/// Root only: a credential owned by a third user is refused (only root or the server's own user
/// may own a secret the server reads, credential or not).
#[test]
fn a_credential_owned_by_another_user_is_refused() {
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to give a file to another user");
        return;
    }
    let setup = Setup::new("60s", "");
    let creds = credentials_dir(
        &setup,
        &[("hosts_web01.token", &format!("{}\n", setup.token))],
    );
    with_credential_token(&setup, "hosts_web01.token");
    std::os::unix::fs::chown(creds.join("hosts_web01.token"), Some(65534), Some(65534)).unwrap();
    refused(
        &serve(&setup, &[("CREDENTIALS_DIRECTORY", &creds)]),
        &["web01", "owned by uid 65534"],
    );
}

/// Root only: `enroll` run by root against a data_dir the server's user owns (as systemd's
/// StateDirectory= leaves it) writes the store as that user, so the server can open it.
#[test]
fn enroll_as_root_keeps_the_store_owned_by_the_data_dir_owner() {
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let setup = Setup::new("60s", "");
    // The server's user must reach data_dir through the test's directory (as /var/lib).
    std::fs::set_permissions(setup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = setup.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    let out = setup.run(&["enroll", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "sqlite3"))
        .expect("no store file");
    let meta = std::fs::metadata(&store).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (65534, 65534),
        "{}",
        store.display()
    );
    let list = setup.run(&["list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("alice"));
}

/// Root only: a fleet verb run by root against the server user's data_dir writes the fleet
/// store as that user, and still logs root (the real uid) as the operator.
#[test]
fn a_fleet_lock_as_root_writes_as_the_data_dir_owner_and_logs_root() {
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let setup = Setup::new("60s", "[fleet]\nfailed_logon = 3\n");
    std::fs::set_permissions(setup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = setup.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    let out = Command::new(BIN)
        .env_remove("SUDO_USER")
        .arg("--config")
        .arg(&setup.config)
        .args(["lock", "mallory"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("event=fleet_lock") && err.contains("operator=root"),
        "{err}"
    );
    let meta = std::fs::metadata(data.join("fleet.sqlite3")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
}

/// Root only: the layout systemd makes where the credentials filesystem has ACLs (newer systemd
/// mounts a tmpfs): the token file stays root's, mode 0400 plus `user:SERVICE:r` (seen as 0440).
/// The server, run as that user (65534 here), accepts it and the host authenticates; the same
/// file named by its path (not as a credential) is refused.
#[test]
fn a_root_owned_credential_an_acl_lets_the_server_user_read_is_accepted() {
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run the server as another user");
        return;
    }
    const SERVICE_UID: u32 = 65534;
    let setup = Setup::new("60s", "");
    std::fs::set_permissions(setup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&setup.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let data = setup.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&data, Some(SERVICE_UID), Some(SERVICE_UID)).unwrap();
    let creds = setup.dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let token = creds.join("hosts_web01.token");
    std::fs::write(&token, format!("{}\n", setup.token)).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o400)).unwrap();
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 4u16, u32::MAX),
        (0x02, 4, SERVICE_UID),
        (0x04, 0, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        acl.extend(tag.to_le_bytes());
        acl.extend(perm.to_le_bytes());
        acl.extend(id.to_le_bytes());
    }
    rustix::fs::fsetxattr(
        std::fs::File::open(&token).unwrap(),
        "system.posix_acl_access",
        &acl,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(&token).unwrap().mode() & 0o777,
        0o440,
        "the ACL's mask shows as group read"
    );

    // Named by its path, the file is an ordinary secret: group read refused.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        text.replace(
            "token_file = \"web01.token\"",
            &format!("token_file = \"{}\"", token.display()),
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .uid(SERVICE_UID)
        .gid(SERVICE_UID)
        .arg("--config")
        .arg(&setup.config)
        .arg("serve")
        .output()
        .unwrap();
    refused(&out, &["web01", "mode 0440"]);

    std::fs::write(&setup.config, text).unwrap();
    with_credential_token(&setup, "hosts_web01.token");
    let alice = setup.enroll("alice", None);
    let server = setup.start_as(SERVICE_UID, &[("CREDENTIALS_DIRECTORY", creds.as_os_str())]);
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 200);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "alice")
            .unlocked()
    );
}

/// Root only: after an upgrade, a config that still names root's 0600 token file by its path is
/// refused by the server running as its own user, and the line says to use a credential.
#[test]
fn a_root_only_token_file_named_by_path_is_refused_pointing_at_credentials() {
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run the server as another user");
        return;
    }
    let setup = Setup::new("60s", "");
    std::fs::set_permissions(setup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&setup.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .uid(65534)
        .gid(65534)
        .arg("--config")
        .arg(&setup.config)
        .arg("serve")
        .output()
        .unwrap();
    refused(
        &out,
        &[
            "web01",
            "Permission denied",
            "LoadCredential=",
            "credential:hosts_FILE",
        ],
    );
}

/// The database's connection string loaded as a credential (`LoadCredential=db:…`): the server
/// reads it from `$CREDENTIALS_DIRECTORY`, serves on PostgreSQL (the fleet's counts in the
/// database), and without the directory refuses to start with exit 78, the password unsaid.
#[test]
fn the_postgres_url_loaded_as_a_credential_is_used_and_its_absence_refused() {
    let setup = Setup::with(
        crate::harness::Backend::Postgres,
        "60s",
        "[fleet]\nfailed_logon = 3\n",
    );
    let url_file = setup.dir.path().join("pg.url");
    let url = std::fs::read_to_string(&url_file).unwrap();
    let creds = credentials_dir(&setup, &[("db_postgres.url", &url)]);
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let changed = text.replace(
        "postgres_url_file = \"pg.url\"",
        "postgres_url_file = \"credential:db_postgres.url\"",
    );
    assert_ne!(text, changed);
    std::fs::write(&setup.config, changed).unwrap();
    std::fs::remove_file(&url_file).unwrap();

    let server = setup.start_with_env(&[("CREDENTIALS_DIRECTORY", creds.as_os_str())]);
    server.wait_for_log(&["event=listening", "store=postgres"]);
    server.wait_for_log(&["event=fleet ", "store=postgres"]);
    let body = serde_json::json!({"id": "6f1c2b3a-0000-4000-8000-000000000001", "user": "alice",
        "credential": "password", "host": "web01", "service": "sshd", "rhost": "", "at": 1})
    .to_string();
    let auth = format!("Bearer {}", setup.token);
    let r = crate::harness::request(
        server.addr,
        "POST",
        "/v1/fleet/failure",
        &[("Authorization", &auth)],
        Some(&body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = crate::pg::shared_sql(
        setup.db.as_deref().unwrap(),
        "SELECT count(*) FROM ticketgate_fleet_event",
    );
    assert_eq!(rows[0].get::<_, i64>(0), 1);
    drop(server);

    let out = serve(&setup, &[]);
    refused(
        &out,
        &[
            "credential:db_postgres.url",
            "$CREDENTIALS_DIRECTORY is not set",
        ],
    );
    let password = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('@').next())
        .and_then(|user_pw| user_pw.split(':').nth(1));
    if let Some(pw) = password {
        assert!(!String::from_utf8_lossy(&out.stderr).contains(pw));
    }
}

/// The agents' task key loaded as a credential (`LoadCredential=task_key:…`): the server reads it
/// from `$CREDENTIALS_DIRECTORY` and hands out a queued password it opens; without the directory
/// it refuses to start with exit 78 and one line.
#[test]
fn the_task_key_loaded_as_a_credential_opens_queued_passwords() {
    let key = "B3NlY3JldC1rZXktZm9yLXRoZS10ZXN0cy0wMDAwMDA=";
    let setup = Setup::new("60s", "[agent]\ntask_key_file = \"task.key\"\n");
    crate::harness::secret_file(setup.dir.path(), "task.key", key);
    let mut add = Command::new(BIN)
        .arg("--config")
        .arg(&setup.config)
        .args(["task", "add", "--host", "web01", "reset-password", "alice"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut add.stdin.take().unwrap(), b"via-credential-77\n").unwrap();
    assert!(add.wait_with_output().unwrap().status.success());
    let creds = credentials_dir(&setup, &[("task_key", &format!("{key}\n"))]);
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let changed = text.replace(
        "task_key_file = \"task.key\"",
        "task_key_file = \"credential:task_key\"",
    );
    assert_ne!(text, changed);
    std::fs::write(&setup.config, changed).unwrap();
    std::fs::remove_file(setup.dir.path().join("task.key")).unwrap();

    let server = setup.start_with_env(&[("CREDENTIALS_DIRECTORY", creds.as_os_str())]);
    let auth = format!("Bearer {}", setup.token);
    let r = crate::harness::request(
        server.addr,
        "POST",
        "/v1/agent/poll",
        &[("Authorization", &auth)],
        Some(r#"{"host": "web01", "results": []}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tasks"][0]["password"], "via-credential-77");
    drop(server);

    let out = serve(&setup, &[]);
    refused(
        &out,
        &["credential:task_key", "$CREDENTIALS_DIRECTORY is not set"],
    );
}
