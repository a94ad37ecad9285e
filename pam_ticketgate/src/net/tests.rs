use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// A one-shot loopback server: reads one request, hands it back, answers `reply`.
fn serve_once(reply: Vec<u8>) -> (url::Url, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let request = read_request(&mut s);
        let _ = s.write_all(&reply);
        request
    });
    (
        url::Url::parse(&format!("http://127.0.0.1:{port}/v1/attempt")).unwrap(),
        handle,
    )
}

fn read_request(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

fn reply(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn client() -> Client {
    Client::new(Duration::from_secs(2), None).unwrap()
}

#[test]
fn post_json_sends_body_and_headers_and_returns_2xx() {
    let (url, server) = serve_once(reply("200 OK", br#"{"unlocked":true}"#));
    let r = client()
        .post_json(
            &url,
            &[("Authorization", "Bearer tok")],
            &serde_json::json!({"user": "alice"}),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, br#"{"unlocked":true}"#);
    let request = server.join().unwrap();
    assert!(
        request.starts_with("POST /v1/attempt HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains("Bearer tok"));
    assert!(
        request
            .to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    assert!(request.ends_with(r#"{"user":"alice"}"#), "{request}");
}

#[test]
fn get_and_post_form() {
    let (url, server) = serve_once(reply("204 No Content", b""));
    let r = client().get(&url, &[]).unwrap();
    assert_eq!(r.status, 204);
    assert!(server.join().unwrap().starts_with("GET /v1/attempt"));
    let (url, server) = serve_once(reply("200 OK", b"{}"));
    client()
        .post_form(
            &url,
            &[],
            &[("grant_type", "refresh_token"), ("a b", "c&d")],
        )
        .unwrap();
    let request = server.join().unwrap();
    assert!(request.contains("application/x-www-form-urlencoded"));
    assert!(
        request.ends_with("grant_type=refresh_token&a+b=c%26d"),
        "{request}"
    );
}

#[test]
fn server_errors_and_429_are_unreachable() {
    for status in [
        "500 Internal Server Error",
        "503 Service Unavailable",
        "429 Too Many Requests",
    ] {
        let (url, _server) = serve_once(reply(status, b"{}"));
        let e = client().get(&url, &[]).unwrap_err();
        assert!(e.is_unreachable(), "{status}: {e}");
    }
}

#[test]
fn verdicts_and_other_statuses_are_denied() {
    for status in [
        "401 Unauthorized",
        "403 Forbidden",
        "404 Not Found",
        "302 Found",
        "400 Bad Request",
    ] {
        let (url, _server) = serve_once(reply(status, b"{}"));
        let e = client()
            .get(&url, &[("Authorization", "Bearer s3cr3t-token")])
            .unwrap_err();
        assert!(matches!(e, NetError::Denied(_)), "{status}: {e}");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }
}

#[test]
fn refused_connection_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    assert!(client().get(&url, &[]).unwrap_err().is_unreachable());
}

#[test]
fn silent_server_is_unreachable_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let c = Client::new(Duration::from_millis(300), None).unwrap();
    let started = Instant::now();
    let e = c.get(&url, &[]).unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    // Bounded, not a timing assertion on speed: the call must not hang past a generous bound.
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}

#[test]
fn trickling_body_is_cut_at_the_one_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        // One byte every 50 ms: each read is quick, the whole body never finishes in time.
        for _ in 0..200 {
            if s.write_all(b" ").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let c = Client::new(Duration::from_millis(500), None).unwrap();
    let started = Instant::now();
    let e = c.get(&url, &[]).unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = server.join();
}

#[test]
fn body_over_one_mib_is_denied_and_exactly_one_mib_is_accepted() {
    let (url, _s) = serve_once(reply("200 OK", &vec![b'a'; MAX_BODY as usize + 1]));
    let e = client().get(&url, &[]).unwrap_err();
    assert!(matches!(e, NetError::Denied(_)), "{e}");
    let (url, _s) = serve_once(reply("200 OK", &vec![b'a'; MAX_BODY as usize]));
    assert_eq!(
        client().get(&url, &[]).unwrap().body.len(),
        MAX_BODY as usize
    );
}

#[test]
fn malformed_http_is_denied() {
    let (url, _s) = serve_once(b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec());
    let e = client().get(&url, &[]).unwrap_err();
    assert!(matches!(e, NetError::Denied(_)), "{e}");
}

#[test]
fn plain_http_to_a_remote_host_is_denied_without_a_request() {
    for u in [
        "http://192.0.2.1/",
        "http://localhost:1/",
        "ftp://127.0.0.1/",
    ] {
        let url = url::Url::parse(u).unwrap();
        let e = client().get(&url, &[]).unwrap_err();
        assert!(matches!(e, NetError::Denied(_)), "{u}: {e}");
    }
}

#[test]
fn tls_to_a_server_that_does_not_speak_it_is_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // Answer plain HTTP at once, without waiting for the client's TLS hello.
        let _ = s.write_all(&reply("200 OK", b"{}"));
        thread::sleep(Duration::from_millis(500));
    });
    let url = url::Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
    let e = client().get(&url, &[]).unwrap_err();
    assert!(matches!(e, NetError::Denied(_)), "{e}");
}

#[test]
fn unreadable_or_empty_ca_file_fails_at_construction() {
    crate::test_support::needs_root!("unreadable_or_empty_ca_file_fails_at_construction");
    let e = Client::new(Duration::from_secs(1), Some(Path::new("/no/such/ca.pem"))).unwrap_err();
    assert!(e.to_string().contains("/no/such/ca.pem"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("ca.pem");
    std::fs::write(&empty, "nothing here").unwrap();
    let e = Client::new(Duration::from_secs(1), Some(&empty)).unwrap_err();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
}

/// Issue 12 (item 6): a CA file others could write became the trust root (they add their own
/// CA and vouch for any server). It is refused before it is read, naming the fix.
#[test]
fn world_writable_ca_file_is_refused_issue_12() {
    crate::test_support::needs_root!("world_writable_ca_file_is_refused_issue_12");
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "any PEM").unwrap();
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = Client::new(Duration::from_secs(1), Some(&ca)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "request refused: ca_file {}: refused: mode 0666 lets group or others write it; run chmod go-w",
            ca.display()
        )
    );
}

#[test]
fn messages_drop_credentials_in_the_url() {
    let url = url::Url::parse("http://user:pw@192.0.2.1/x?token=abc").unwrap();
    let e = client().get(&url, &[]).unwrap_err().to_string();
    assert!(!e.contains("pw") && !e.contains("abc"), "{e}");
}

#[test]
fn one_deadline_covers_all_of_a_clients_requests() {
    // Each answer takes 600 ms; the client's deadline is 1 s. The first request fits; the
    // second would fit on its own but not in what is left, so it is unreachable.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        for _ in 0..2 {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            read_request(&mut s);
            thread::sleep(Duration::from_millis(600));
            let _ = s.write_all(&reply("200 OK", b"{}"));
        }
    });
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let c = Client::new(Duration::from_secs(1), None).unwrap();
    assert_eq!(c.get(&url, &[]).unwrap().status, 200);
    let e = c.get(&url, &[]).unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    let _ = server.join();
}
