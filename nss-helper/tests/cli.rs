//! The `nss-helper` binary end to end: on this host, and in private mount namespaces with
//! throwaway passwd/group files and a real non-files NSS source (libnss-extrausers).

// Test helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nss-helper");

/// Exit status the namespace script uses when a bind mount fails (never one of the binary's).
const MOUNT_FAILED: i32 = 97;

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

// ---------------------------------------------------------------- this host

#[test]
fn root_human_output() {
    let output = run(&["root"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 12, "{text}");
    assert_eq!(lines[0], "name:       root");
    assert_eq!(lines[1], "uid:        0");
    assert_eq!(lines[2], "gid:        0");
    assert_eq!(lines[3], "home:       /root");
    assert!(lines[4].starts_with("shell:      /"), "{text}");
    assert!(lines[10].starts_with("groups:     root"), "{text}");
    assert_eq!(lines[11], "source:     local");
}

#[test]
fn root_json_output() {
    let output = run(&["--json", "root"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    let facts: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(facts["name"], "root");
    assert_eq!(facts["uid"], 0);
    assert_eq!(facts["gid"], 0);
    assert_eq!(facts["home"], "/root");
    assert_eq!(facts["groups"][0], "root");
    assert_eq!(facts["source"], "local");
    assert!(facts["gecos"]["full_name"].is_string(), "{facts}");
}

#[test]
fn unknown_user_exits_1_with_one_line() {
    let output = run(&["no-such-user-ticketgate-7f3a"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        "nss-helper: no such user: no-such-user-ticketgate-7f3a\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [&[][..], &["a", "b"], &["--bogus", "root"], &["--json"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(
            stderr(&output).contains("usage: nss-helper USER [--json]"),
            "{args:?}"
        );
    }
}

#[test]
fn help_exits_0_on_stdout() {
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("usage: nss-helper USER [--json]\n"));
    assert!(output.stderr.is_empty());
}

// ---------------------------------------------------------------- private mount namespaces

/// A temp directory whose files are bound over /etc/passwd, /etc/group, /etc/nsswitch.conf
/// (and, when given, /var/lib/extrausers) for one run of the binary.
struct Namespace {
    dir: PathBuf,
}

impl Namespace {
    fn new(tag: &str, passwd: &[u8], group: &str, nsswitch: &str) -> Namespace {
        require_root_and_unshare();
        let dir = std::env::temp_dir().join(format!("nss-helper-it-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("empty")).unwrap();
        fs::write(dir.join("passwd"), passwd).unwrap();
        fs::write(dir.join("group"), group).unwrap();
        fs::write(dir.join("nsswitch.conf"), nsswitch).unwrap();
        Namespace { dir }
    }

    /// Adds a /var/lib/extrausers directory with these passwd and group files.
    fn with_extrausers(self, passwd: &str, group: &str) -> Namespace {
        require_extrausers();
        let extra = self.dir.join("extrausers");
        fs::create_dir_all(&extra).unwrap();
        fs::write(extra.join("passwd"), passwd).unwrap();
        fs::write(extra.join("group"), group).unwrap();
        self
    }

    /// Adds an empty /var/lib/extrausers: the source is configured but knows nobody.
    fn with_empty_extrausers(self) -> Namespace {
        require_extrausers();
        fs::create_dir_all(self.dir.join("extrausers")).unwrap();
        self
    }

    fn run(&self, args: &[&str]) -> Output {
        // nscd would answer from the host's cache; an empty dir over its socket keeps it out.
        let script = r#"
            fail() { echo "nss-helper test: cannot bind $1 (need root)" >&2; exit 97; }
            mount --bind "$D/passwd" /etc/passwd || fail /etc/passwd
            mount --bind "$D/group" /etc/group || fail /etc/group
            mount --bind "$D/nsswitch.conf" /etc/nsswitch.conf || fail /etc/nsswitch.conf
            if [ -d "$D/extrausers" ]; then
                mount --bind "$D/extrausers" /var/lib/extrausers || fail /var/lib/extrausers
            fi
            if [ -d /run/nscd ]; then mount --bind "$D/empty" /run/nscd || fail /run/nscd; fi
            exec "$BIN" "$@"
        "#;
        let output = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .args(args)
            .env("D", &self.dir)
            .env("BIN", BIN)
            .output()
            .unwrap();
        assert_ne!(
            output.status.code(),
            Some(MOUNT_FAILED),
            "namespace setup failed: {}",
            stderr(&output)
        );
        output
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// These tests bind files over /etc; without root and unshare(1) they fail, never pass.
fn require_root_and_unshare() {
    let probe = Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "these tests need root and a private mount namespace: `unshare -m true` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => panic!("these tests need unshare(1) from util-linux: {err}"),
    }
}

fn require_extrausers() {
    let installed = [
        "/usr/lib/libnss_extrausers.so.2",
        "/usr/lib/x86_64-linux-gnu/libnss_extrausers.so.2",
    ]
    .iter()
    .any(|lib| Path::new(lib).exists());
    assert!(
        installed && Path::new("/var/lib/extrausers").is_dir(),
        "these tests need the Debian package libnss-extrausers (apt-get install libnss-extrausers)"
    );
}

const FILES_ONLY: &str = "passwd: files\ngroup: files\n";
const FILES_EXTRAUSERS: &str = "passwd: files extrausers\ngroup: files extrausers\n";

const GROUP: &str = "\
root:x:0:
alice:x:4101:alice
wheel:x:4201:alice,carol
ops:x:4202:alice
ops:x:4203:alice
";

fn local_passwd() -> Vec<u8> {
    let mut passwd = b"\
root:x:0:0:root:/root:/bin/bash
alice:x:4101:4101:Alice Liddell,R101,+1 555 0100,+1 555 0199,on call,pager 7:/home/alice:/bin/bash
ali:x:4102:4999::/home/ali:/bin/sh
eve:x:4103:4101:Eve \x1b[2J:/home/eve:/bin/sh
+dave::::::
"
    .to_vec();
    passwd.extend_from_slice(b"bytes:x:4104:4101::/home/by\xfftes:/bin/sh\n");
    passwd
}

#[test]
fn throwaway_user_human_output_has_every_field() {
    let ns = Namespace::new("alice-human", &local_passwd(), GROUP, FILES_ONLY);
    let output = ns.run(&["alice"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "\
name:       alice
uid:        4101
gid:        4101
home:       /home/alice
shell:      /bin/bash
full name:  Alice Liddell
room:       R101
work phone: +1 555 0100
home phone: +1 555 0199
other:      on call,pager 7
groups:     alice, wheel, ops
source:     local
"
    );
}

#[test]
fn throwaway_user_json_output() {
    let ns = Namespace::new("alice-json", &local_passwd(), GROUP, FILES_ONLY);
    let output = ns.run(&["alice", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let facts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        facts,
        json!({
            "name": "alice", "uid": 4101, "gid": 4101,
            "home": "/home/alice", "shell": "/bin/bash",
            "gecos": {
                "full_name": "Alice Liddell", "room": "R101",
                "work_phone": "+1 555 0100", "home_phone": "+1 555 0199",
                "other": "on call,pager 7"
            },
            "groups": ["alice", "wheel", "ops"],
            "source": "local"
        })
    );
}

#[test]
fn primary_gid_without_a_name_is_shown_as_its_number() {
    let ns = Namespace::new("ali", &local_passwd(), GROUP, FILES_ONLY);
    let output = ns.run(&["--json", "ali"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let facts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(facts["groups"], json!(["4999"]));
    assert_eq!(facts["gecos"]["full_name"], "");
}

#[test]
fn control_characters_from_gecos_are_escaped_for_the_terminal() {
    let ns = Namespace::new("eve", &local_passwd(), GROUP, FILES_ONLY);
    let output = ns.run(&["eve"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!output.stdout.contains(&0x1b), "raw ESC reached stdout");
    assert!(stdout(&output).contains("full name:  Eve \\u{1b}[2J\n"));
}

#[test]
fn non_utf8_home_still_gives_json_and_lines() {
    let ns = Namespace::new("bytes", &local_passwd(), GROUP, FILES_ONLY);
    let output = ns.run(&["bytes", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let facts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(facts["home"], "/home/by\u{fffd}tes");
    let human = ns.run(&["bytes"]);
    assert_eq!(human.status.code(), Some(0), "{}", stderr(&human));
    assert!(stdout(&human).contains("\nhome:       /home/by\u{fffd}tes\n"));
}

#[test]
fn user_missing_from_throwaway_files_is_unknown() {
    // root exists on the host, but this namespace's passwd does not list "daemon".
    let ns = Namespace::new("unknown", &local_passwd(), GROUP, FILES_ONLY);
    let output = ns.run(&["daemon"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output), "nss-helper: no such user: daemon\n");
}

const DIRECTORY_PASSWD: &str = "\
carol:x:5101:5101:Carol Directory,B2,555-1,555-2,:/home/carol:/bin/zsh
dave:x:5102:5101::/home/dave:/bin/sh
alice:x:5103:5101:Shadowed Alice:/home/alice2:/bin/sh
";
const DIRECTORY_GROUP: &str = "\
carol:x:5101:
dirops:x:5201:carol,alice
";

#[test]
fn extrausers_user_is_a_directory_user() {
    let ns = Namespace::new("carol", &local_passwd(), GROUP, FILES_EXTRAUSERS)
        .with_extrausers(DIRECTORY_PASSWD, DIRECTORY_GROUP);
    let output = ns.run(&["carol", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let facts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        facts,
        json!({
            "name": "carol", "uid": 5101, "gid": 5101,
            "home": "/home/carol", "shell": "/bin/zsh",
            "gecos": {
                "full_name": "Carol Directory", "room": "B2",
                "work_phone": "555-1", "home_phone": "555-2", "other": ""
            },
            "groups": ["carol", "wheel", "dirops"],
            "source": "directory"
        })
    );
}

#[test]
fn extrausers_user_human_output_says_directory() {
    let ns = Namespace::new("carol-human", &local_passwd(), GROUP, FILES_EXTRAUSERS)
        .with_extrausers(DIRECTORY_PASSWD, DIRECTORY_GROUP);
    let output = ns.run(&["carol"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("\ngroups:     carol, wheel, dirops\n"),
        "{text}"
    );
    assert!(text.ends_with("\nsource:     directory\n"), "{text}");
}

#[test]
fn nis_compat_line_does_not_make_a_directory_user_local() {
    // /etc/passwd has "+dave::::::"; dave himself comes from extrausers.
    let ns = Namespace::new("dave", &local_passwd(), GROUP, FILES_EXTRAUSERS)
        .with_extrausers(DIRECTORY_PASSWD, DIRECTORY_GROUP);
    let output = ns.run(&["dave", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let facts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(facts["uid"], 5102);
    assert_eq!(facts["source"], "directory");
}

#[test]
fn user_in_both_passwd_and_directory_is_local() {
    let ns = Namespace::new("alice-both", &local_passwd(), GROUP, FILES_EXTRAUSERS)
        .with_extrausers(DIRECTORY_PASSWD, DIRECTORY_GROUP);
    let output = ns.run(&["alice", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let facts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(facts["uid"], 4101, "files comes first in nsswitch.conf");
    assert_eq!(facts["source"], "local");
    assert_eq!(facts["groups"], json!(["alice", "wheel", "ops", "dirops"]));
}

#[test]
fn configured_but_empty_directory_source_means_unknown_not_error() {
    let ns = Namespace::new("empty-dir", &local_passwd(), GROUP, FILES_EXTRAUSERS)
        .with_empty_extrausers();
    let output = ns.run(&["nobody-anywhere"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "nss-helper: no such user: nobody-anywhere\n"
    );
}
