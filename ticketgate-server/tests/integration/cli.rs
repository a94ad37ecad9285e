//! The command line: enroll, list, revoke, and `serve` refusing bad configs with clear messages.

use crate::harness::{SERVICE, Setup};
use std::os::unix::fs::PermissionsExt;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn enroll_prints_an_otpauth_uri_and_a_terminal_qr_code() {
    let setup = Setup::new("60s", "issuer = \"ACME Login\"\n");
    let out = setup.run(&["enroll", "--service-id", SERVICE, "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let uri = text.lines().find(|l| l.starts_with("otpauth://")).unwrap();
    assert!(
        uri.starts_with("otpauth://totp/ACME%20Login:alice%40web-prod-01?secret="),
        "{uri}"
    );
    assert!(
        uri.ends_with("&issuer=ACME%20Login&algorithm=SHA1&digits=6&period=30"),
        "{uri}"
    );
    assert!(
        text.lines()
            .filter(|l| l.contains('█') || l.contains('▀'))
            .count()
            > 20,
        "no QR code:\n{text}"
    );
    let again = setup.run(&["enroll", "alice"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already enrolled") && stderr(&again).contains("revoke alice"));
}

#[test]
fn list_shows_users_without_secrets_and_revoke_removes_them() {
    let setup = Setup::new("60s", "");
    let alice = setup.enroll("alice", None);
    setup.enroll("bob", Some(SERVICE));
    let list = setup.run(&["list"]);
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(list.status.success());
    assert!(
        text.contains("alice")
            && text.contains("bob")
            && text.contains(SERVICE)
            && text.contains("2 enrolled"),
        "{text}"
    );
    let b32 = ticketgate_server::totp::secret_base32(&alice.secret);
    assert!(!text.contains(b32.as_str()), "list printed a secret");

    let server = setup.start();
    assert!(setup.run(&["revoke", "alice"]).status.success());
    // The running server sees the revocation at once: the store is read on each unlock.
    assert_eq!(server.unlock("alice", &alice.fresh_code()).status, 403);
    server.wait_for_log(&["event=unlock_refused", "user=alice", "reason=not_enrolled"]);
    let text = String::from_utf8_lossy(&setup.run(&["list"]).stdout).into_owned();
    assert!(
        !text.contains("alice") && text.contains("1 enrolled"),
        "{text}"
    );
    let missing = setup.run(&["revoke", "alice"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("alice is not enrolled"));
}

#[test]
fn enrolling_while_the_server_runs_takes_effect_without_a_restart() {
    let setup = Setup::new("60s", "");
    let server = setup.start();
    let dave = setup.enroll("dave", None);
    assert_eq!(server.unlock("dave", &dave.fresh_code()).status, 200);
    assert!(
        server
            .attempt_with(Some(&setup.token), SERVICE, "dave")
            .unlocked()
    );
}

fn serve_refuses(setup: &Setup, expect: &[&str]) {
    let out = setup.run(&["serve"]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "serve should refuse to start; stderr: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    for e in expect {
        assert!(err.contains(e), "stderr lacks {e:?}: {err}");
    }
}

#[test]
fn serve_refuses_a_token_file_open_to_others() {
    let setup = Setup::new("60s", "");
    let token = setup.dir.path().join("web01.token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    serve_refuses(&setup, &["web01", "mode 0644", "chmod 600"]);
}

#[test]
fn serve_refuses_a_missing_token_file() {
    let setup = Setup::new("60s", "");
    std::fs::remove_file(setup.dir.path().join("web01.token")).unwrap();
    serve_refuses(&setup, &["cannot read token_file", "web01.token"]);
}

#[test]
fn serve_refuses_an_unknown_key_naming_it_and_its_line() {
    let setup = Setup::new("60s", "unlock_windw = \"60s\"");
    serve_refuses(&setup, &["unlock_windw", "line 4"]);
}

#[test]
fn serve_refuses_a_bad_window_and_a_config_writable_by_others() {
    let setup = Setup::new("0s", "");
    serve_refuses(&setup, &["`unlock_window`", "\"1s\" to \"1h\""]);
    let setup = Setup::new("60s", "");
    std::fs::set_permissions(&setup.config, std::fs::Permissions::from_mode(0o666)).unwrap();
    serve_refuses(&setup, &["lets group or others write it", "chmod go-w"]);
}

#[test]
fn serve_refuses_a_config_without_hosts() {
    let setup = Setup::new("60s", "");
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let without: String = text.split("[[host]]").next().unwrap().to_owned();
    std::fs::write(&setup.config, without).unwrap();
    serve_refuses(&setup, &["no [[host]] table"]);
}
