//! TLS: the server speaks HTTPS with the configured certificate and refuses a key open to others.

use crate::harness::{SERVICE, Setup, read_reply, request_bytes};
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tokio_rustls::rustls;

fn make_cert(dir: &std::path::Path) {
    crate::harness::require_program("/usr/bin/openssl", "openssl");
    let status = std::process::Command::new("/usr/bin/openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "openssl could not make a test certificate"
    );
    std::fs::set_permissions(dir.join("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn https(
    setup: &Setup,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> crate::harness::Reply {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let cert = CertificateDer::from_pem_file(setup.dir.path().join("cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(&request_bytes(addr, method, path, headers, body))
        .unwrap();
    read_reply(tls)
}

#[test]
fn serves_the_protocol_over_tls() {
    let setup = Setup::new("60s", "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"");
    make_cert(setup.dir.path());
    let alice = setup.enroll("alice", None);
    let server = setup.start();
    server.wait_for_log(&["event=listening", "tls=true"]);
    let health = https(&setup, server.addr, "GET", "/v1/health", &[], None);
    assert_eq!(health.status, 200);
    let body =
        serde_json::json!({"service_id": SERVICE, "user": "alice", "code": alice.fresh_code()})
            .to_string();
    assert_eq!(
        https(&setup, server.addr, "POST", "/v1/unlock", &[], Some(&body)).status,
        200
    );
    let auth = format!("Bearer {}", setup.token);
    let attempt = crate::harness::attempt_body(SERVICE, "alice");
    let r = https(
        &setup,
        server.addr,
        "POST",
        "/v1/attempt",
        &[("Authorization", &auth)],
        Some(&attempt),
    );
    assert!(r.unlocked());
    // Plain HTTP to the TLS port gets no answer.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(&request_bytes(server.addr, "GET", "/v1/health", &[], None))
        .unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

#[test]
fn refuses_a_tls_key_open_to_others() {
    let setup = Setup::new("60s", "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"");
    make_cert(setup.dir.path());
    std::fs::set_permissions(
        setup.dir.path().join("key.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = setup.run(&["serve"]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("key.pem") && err.contains("mode 0644"),
        "{err}"
    );
}

/// Issue 12 (item 6): the certificate is checked too: one that others can write lets them
/// serve as this server. Readable by others is fine for a certificate (not for the key).
#[test]
fn refuses_a_tls_cert_others_can_write_issue_12() {
    let setup = Setup::new("60s", "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"");
    make_cert(setup.dir.path());
    std::fs::set_permissions(
        setup.dir.path().join("cert.pem"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let out = setup.run(&["serve"]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cert.pem") && err.contains("mode 0666") && err.contains("chmod go-w"),
        "{err}"
    );
}

/// The certificate and key loaded as systemd credentials (the unit's LoadCredential=tls:…):
/// served over TLS from `$CREDENTIALS_DIRECTORY`; without that directory, refused with exit 78.
#[test]
fn serves_tls_with_the_key_and_certificate_as_credentials() {
    let setup = Setup::new(
        "60s",
        "tls_cert = \"credential:tls_fullchain.pem\"\ntls_key = \"credential:tls_privkey.pem\"",
    );
    make_cert(setup.dir.path());
    let creds = setup.dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    for (from, to) in [
        ("cert.pem", "tls_fullchain.pem"),
        ("key.pem", "tls_privkey.pem"),
    ] {
        std::fs::copy(setup.dir.path().join(from), creds.join(to)).unwrap();
        std::fs::set_permissions(creds.join(to), std::fs::Permissions::from_mode(0o400)).unwrap();
    }
    std::fs::remove_file(setup.dir.path().join("key.pem")).unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o500)).unwrap();

    let out = setup.run(&["serve"]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("credential:tls_") && err.contains("$CREDENTIALS_DIRECTORY is not set"),
        "{err}"
    );

    let server = setup.start_with_env(&[("CREDENTIALS_DIRECTORY", creds.as_os_str())]);
    server.wait_for_log(&["event=listening", "tls=true"]);
    let health = https(&setup, server.addr, "GET", "/v1/health", &[], None);
    assert_eq!(health.status, 200);
}
