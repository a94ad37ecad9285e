//! The Debian package, built by `scripts/build-deb.sh` from what the workspace built, and then
//! used the way an administrator uses it, in a throwaway overlay of this machine: `dpkg -i`,
//! `pam-auth-update --enable`, logins through Debian's own `common-*` stacks (real pam_unix,
//! pamtester), a ticket fetched from the loopback emulator, a lockout and `ticketgate unlock`,
//! a password change through common-password, the server's system user and unit, then `dpkg -r`
//! (stacks restored, logins still work, configuration kept) and `dpkg --purge`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ticketgate_tests::emulators::http;
use ticketgate_tests::overlay::OverlayRoot;
use ticketgate_tests::sandbox::{PASSWORD, UID, USER, password_hash, text};
use ticketgate_tests::target_dir;

const PROFILES: [&str; 3] = ["ticketgate", "ticketgate-preauth", "ticketgate-authfail"];
const SO: &str = "/lib/x86_64-linux-gnu/security/pam_ticketgate.so";

/// Builds the package from the workspace's build (gzip: the test's time goes to using it).
fn build_deb(out: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = Command::new("bash")
        .arg(root.join("scripts/build-deb.sh"))
        .arg(out)
        .env("TARGET_DIR", target_dir())
        .env("SKIP_BUILD", "1")
        .env("DEB_COMPRESSION", "gzip")
        .output()
        .unwrap();
    assert!(built.status.success(), "build-deb.sh: {}", text(&built));
    let path = PathBuf::from(String::from_utf8(built.stdout).unwrap().trim());
    assert!(path.is_file(), "build-deb.sh printed {}", path.display());
    path
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `dpkg-deb -c` as (mode string, path) pairs.
fn listing(deb: &Path) -> Vec<(String, String)> {
    dpkg_deb(&["-c"], deb)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[5].trim_start_matches('.').to_string())
        })
        .collect()
}

#[test]
fn the_package_has_the_documented_layout() {
    let out = tempfile::tempdir().unwrap();
    let deb = build_deb(out.path());
    let files = listing(&deb);
    let mode = |path: &str| {
        files
            .iter()
            .find(|(_, p)| p == path)
            .map(|(m, _)| m.clone())
            .unwrap_or_else(|| panic!("{path} is not in the package: {files:?}"))
    };
    assert_eq!(mode(SO), "-rw-r--r--");
    assert_eq!(mode("/usr/sbin/ticketgate"), "-rwxr-xr-x");
    assert_eq!(mode("/usr/sbin/ticketgate-server"), "-rwxr-xr-x");
    assert_eq!(mode("/usr/sbin/ticketgate-agent"), "-rwxr-xr-x");
    assert_eq!(mode("/usr/bin/nss-helper"), "-rwxr-xr-x");
    assert_eq!(mode("/etc/security/ticketgate.toml"), "-rw-r--r--");
    assert_eq!(mode("/etc/security/ticketgate.d/"), "drwx------");
    assert_eq!(mode("/var/lib/ticketgate/"), "drwx------");
    assert_eq!(
        mode("/var/log/ticketgate/"),
        "drwxr-x---",
        "the examples' audit_file directory (issue 11)"
    );
    assert_eq!(mode("/etc/ticketgate-server/server.toml"), "-rw-r--r--");
    // The server's host tokens, TLS key and database URL: root only, loaded by the unit as
    // credentials.
    assert_eq!(mode("/etc/ticketgate-server/hosts/"), "drwx------");
    assert_eq!(mode("/etc/ticketgate-server/tls/"), "drwx------");
    assert_eq!(mode("/etc/ticketgate-server/db/"), "drwx------");
    assert_eq!(
        mode("/lib/systemd/system/ticketgate-server.service"),
        "-rw-r--r--"
    );
    assert_eq!(
        mode("/lib/systemd/system/ticketgate-agent.service"),
        "-rw-r--r--"
    );
    for p in PROFILES {
        assert_eq!(mode(&format!("/usr/share/pam-configs/{p}")), "-rw-r--r--");
    }
    assert_eq!(mode("/usr/lib/tmpfiles.d/ticketgate.conf"), "-rw-r--r--");
    assert_eq!(mode("/etc/logrotate.d/ticketgate"), "-rw-r--r--");
    for prog in ["ticketgate", "ticketgate-server", "ticketgate-agent"] {
        for file in [
            format!("/usr/share/bash-completion/completions/{prog}"),
            format!("/usr/share/zsh/vendor-completions/_{prog}"),
            format!("/usr/share/fish/vendor_completions.d/{prog}.fish"),
        ] {
            assert_eq!(mode(&file), "-rw-r--r--");
        }
    }
    for page in [
        "man8/pam_ticketgate.8.gz",
        "man8/ticketgate.8.gz",
        "man5/ticketgate.toml.5.gz",
        "man8/ticketgate-server.8.gz",
        "man8/ticketgate-agent.8.gz",
    ] {
        assert_eq!(mode(&format!("/usr/share/man/{page}")), "-rw-r--r--");
    }
    for stack in ["sshd", "su", "sudo", "login"] {
        mode(&format!(
            "/usr/share/doc/libpam-ticketgate/examples/pam.d/{stack}"
        ));
    }
    assert_eq!(
        mode("/usr/share/doc/libpam-ticketgate/copyright"),
        "-rw-r--r--"
    );
    for (m, p) in &files {
        assert!(
            !p.starts_with("/usr/local") && !p.contains("/target/"),
            "{m} {p}: a build path in the package"
        );
    }
    // Owned by root whatever user built it.
    let owners = dpkg_deb(&["-c"], &deb);
    assert!(
        owners.lines().all(|l| l.contains(" root/root ")),
        "{owners}"
    );

    let conffiles = dpkg_deb(&["--info"], &deb);
    assert!(conffiles.contains("conffiles"), "{conffiles}");
    let control = dpkg_deb(&["-f"], &deb);
    assert!(control.contains("Package: libpam-ticketgate"), "{control}");
    assert!(
        control.contains("libpam0g"),
        "shlibs dependencies: {control}"
    );
    assert!(
        control.contains("libpam-runtime"),
        "pam-auth-update: {control}"
    );
    let dir = tempfile::tempdir().unwrap();
    let ctrl = Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(ctrl.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("conffiles")).unwrap(),
        "/etc/security/ticketgate.toml\n/etc/ticketgate-server/server.toml\n/etc/logrotate.d/ticketgate\n"
    );
}

/// The `auth`, `account`, `password` and `session` lines of a common-* file, whitespace folded.
fn stack(root: &OverlayRoot, file: &str) -> Vec<String> {
    std::fs::read_to_string(root.path(&format!("/etc/pam.d/{file}")))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn ok(out: &Output) -> bool {
    out.status.success() && text(out).contains("successfully authenticated")
}

fn run_ok(root: &OverlayRoot, argv: &[&str]) -> String {
    let out = root.run(argv, "");
    assert!(out.status.success(), "{argv:?}: {}", text(&out));
    text(&out)
}

fn append(root: &OverlayRoot, file: &str, line: &str) {
    let path = root.path(file);
    let mut body = std::fs::read_to_string(&path).unwrap();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    body.push_str(line);
    std::fs::write(&path, body).unwrap();
}

#[test]
fn installed_with_dpkg_enabled_with_pam_auth_update_then_removed_and_purged() {
    let out = tempfile::tempdir().unwrap();
    let deb = build_deb(out.path());
    let root = OverlayRoot::new();
    let deb_in_root = deb.to_str().unwrap();

    // The throwaway user, in the overlay's own passwd/shadow.
    append(
        &root,
        "/etc/passwd",
        &format!("{USER}:x:{UID}:{UID}::/nonexistent:/bin/sh\n"),
    );
    append(&root, "/etc/group", &format!("{USER}:x:{UID}:\n"));
    append(
        &root,
        "/etc/shadow",
        &format!("{USER}:{}:19000:0:99999:7:::\n", password_hash(PASSWORD)),
    );

    let before = stack(&root, "common-auth");
    run_ok(&root, &["dpkg", "-i", deb_in_root]);
    let status = run_ok(
        &root,
        &["dpkg-query", "-W", "-f", "${Status}", "libpam-ticketgate"],
    );
    assert_eq!(status, "install ok installed");
    assert!(root.path(SO).is_file());
    assert_eq!(
        stack(&root, "common-auth"),
        before,
        "the profiles are off until the administrator enables them"
    );

    // The installed man pages are found and formatted by man.
    let page = run_ok(&root, &["man", "-P", "cat", "8", "pam_ticketgate"]);
    assert!(
        page.contains("preauth") && page.contains("authfail"),
        "{page}"
    );
    let page = run_ok(&root, &["man", "-P", "cat", "5", "ticketgate.toml"]);
    assert!(page.contains("failed_logon"), "{page}");

    // The shipped configuration is accepted by the shipped CLI.
    run_ok(&root, &["ticketgate", "check-config"]);

    // Debian and systemd conventions (issue 16): the unit verifies, tmpfiles.d makes the
    // volatile directory as boot would, both programs' bash completions load and complete.
    let verify = run_ok(
        &root,
        &[
            "systemd-analyze",
            "verify",
            "--man=no",
            "/lib/systemd/system/ticketgate-server.service",
        ],
    );
    assert!(verify.trim().is_empty(), "systemd-analyze warns: {verify}");
    // The host agent's unit verifies too, is hardened, and is not enabled by the package.
    let verify = run_ok(
        &root,
        &[
            "systemd-analyze",
            "verify",
            "--man=no",
            "/lib/systemd/system/ticketgate-agent.service",
        ],
    );
    assert!(verify.trim().is_empty(), "systemd-analyze warns: {verify}");
    let agent_unit =
        std::fs::read_to_string(root.path("/lib/systemd/system/ticketgate-agent.service")).unwrap();
    for want in [
        "ExecStart=/usr/sbin/ticketgate-agent --config /etc/security/ticketgate.toml",
        "ProtectSystem=strict",
        "ReadWritePaths=/etc /var/lib/ticketgate /run/ticketgate /var/log/ticketgate",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=read-only",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet=CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_KILL CAP_AUDIT_WRITE",
        "LimitCORE=0",
    ] {
        assert!(agent_unit.contains(want), "{want} missing: {agent_unit}");
    }
    assert!(
        !root
            .path("/etc/systemd/system/multi-user.target.wants/ticketgate-agent.service")
            .exists(),
        "not enabled by default"
    );
    let page = run_ok(&root, &["man", "-P", "cat", "8", "ticketgate-agent"]);
    assert!(page.contains("verify_password"), "{page}");
    // The server runs as its own system user, made by postinst, with its secrets as credentials.
    let unit = std::fs::read_to_string(root.path("/lib/systemd/system/ticketgate-server.service"))
        .unwrap();
    for want in [
        "Type=notify",
        "User=_ticketgate-server",
        "LoadCredential=hosts:/etc/ticketgate-server/hosts",
        "LoadCredential=tls:/etc/ticketgate-server/tls",
        "LoadCredential=db:/etc/ticketgate-server/db",
    ] {
        assert!(unit.lines().any(|l| l == want), "the unit lacks {want}");
    }
    let server_user = run_ok(&root, &["getent", "passwd", "_ticketgate-server"]);
    let fields: Vec<&str> = server_user.trim().split(':').collect();
    assert!(
        fields[2].parse::<u32>().unwrap() < 1000
            && fields[5] == "/var/lib/ticketgate-server"
            && fields[6].ends_with("nologin"),
        "a system user without a shell: {server_user}"
    );
    assert!(
        !root.path("/var/lib/ticketgate-server").exists(),
        "no home is made: systemd's StateDirectory= makes it, owned by the user"
    );
    run_ok(&root, &["getent", "group", "_ticketgate-server"]);
    // Configuring again (an upgrade, a reinstall) keeps the same user.
    run_ok(&root, &["dpkg", "-i", deb_in_root]);
    assert_eq!(
        run_ok(&root, &["getent", "passwd", "_ticketgate-server"]),
        server_user
    );
    let _ = std::fs::remove_dir_all(root.path("/run/ticketgate"));
    run_ok(
        &root,
        &[
            "systemd-tmpfiles",
            "--create",
            "/usr/lib/tmpfiles.d/ticketgate.conf",
        ],
    );
    let run_dir = std::fs::metadata(root.path("/run/ticketgate")).unwrap();
    assert!(run_dir.is_dir() && run_dir.permissions().mode() & 0o7777 == 0o700);
    for (prog, partial, verb) in [
        ("ticketgate", "st", "status"),
        ("ticketgate-server", "en", "enroll"),
    ] {
        let offered = run_ok(
            &root,
            &[
                "bash",
                "-c",
                &format!(
                    "source /usr/share/bash-completion/completions/{prog} && \
                     COMP_WORDS=({prog} {partial}) COMP_CWORD=1 && \
                     $(complete -p {prog} | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p') {prog} {partial} {prog} && \
                     printf '%s\\n' \"${{COMPREPLY[@]}}\""
                ),
            ],
        );
        assert!(
            offered.lines().any(|l| l.trim() == verb),
            "{prog}: {offered}"
        );
    }

    // A configuration for this test: the throwaway user needs a ticket; two failures lock.
    let tickets = http::HttpTickets::start();
    tickets.add(http::ticket("T-7", "approved", USER, "db01"));
    let secret = root.path("/etc/security/ticketgate.d/http.secret");
    std::fs::write(&secret, format!("{}\n", http::TOKEN)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = format!(
        "version = 1\n[module]\nfail_delay = \"0s\"\naudit_file = \"/var/log/ticketgate/audit.jsonl\"\n\
         [[scope]]\nusers = [\"{USER}\"]\nticket = true\n\
         [policy.default]\nfailed_logon = 2\nlockout_duration = \"0m\"\n\
         [ticket]\nsystem = \"http\"\nurl = \"{}/api/tickets/{{id}}\"\nsecret_file = \"/etc/security/ticketgate.d/http.secret\"\ntimeout = \"2s\"\n\
         [[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n",
        tickets.url()
    );
    std::fs::write(root.path("/etc/security/ticketgate.toml"), &config).unwrap();
    run_ok(&root, &["ticketgate", "check-config"]);

    let mut enable = vec!["pam-auth-update", "--enable"];
    enable.extend(PROFILES);
    run_ok(&root, &enable);
    let auth = stack(&root, "common-auth");
    let pos = |needle: &str| {
        auth.iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in {auth:?}"))
    };
    assert_eq!(
        auth[0], "auth requisite pam_ticketgate.so preauth",
        "{auth:?}"
    );
    assert!(
        pos("pam_unix.so") < pos("pam_ticketgate.so authfail"),
        "{auth:?}"
    );
    assert_eq!(
        auth[pos("pam_ticketgate.so authfail")],
        "auth [default=die] pam_ticketgate.so authfail"
    );
    assert!(
        pos("pam_ticketgate.so authfail") < pos("pam_deny.so"),
        "{auth:?}"
    );
    assert!(
        pos("pam_permit.so") < pos("pam_ticketgate.so ticket"),
        "{auth:?}"
    );
    assert!(
        auth[pos("pam_unix.so")].contains(&format!(
            "success={}",
            pos("pam_permit.so") - pos("pam_unix.so") - 1
        )),
        "pam_unix's success jumps over authfail and pam_deny to pam_permit: {auth:?}"
    );
    assert!(
        stack(&root, "common-account").contains(&"account required pam_ticketgate.so".to_string())
    );
    let password = stack(&root, "common-password");
    assert_eq!(
        password[0], "password requisite pam_ticketgate.so",
        "{password:?}"
    );
    assert!(
        password[1].contains("pam_unix.so") && password[1].contains("use_authtok"),
        "{password:?}"
    );
    // The commit line comes after the block pam_unix's success jumps to: reached only when
    // pam_unix stored the new password (a failure reaches pam_deny first).
    let at = |needle: &str| password.iter().position(|l| l.contains(needle)).unwrap();
    assert_eq!(
        password[at("pam_ticketgate.so commit")],
        "password optional pam_ticketgate.so commit"
    );
    assert!(
        at("pam_deny.so") < at("pam_permit.so")
            && at("pam_permit.so") < at("pam_ticketgate.so commit"),
        "{password:?}"
    );
    assert!(
        stack(&root, "common-session").contains(&"session optional pam_ticketgate.so".to_string())
    );
    // check-config reads the stacks pam-auth-update wrote and finds nothing wrong.
    let checked = run_ok(&root, &["ticketgate", "check-config"]);
    assert!(
        checked.contains("/etc/pam.d: OK (") && !checked.contains("warning"),
        "{checked}"
    );

    // A service stacked the Debian way, from the common-* files alone.
    std::fs::write(
        root.path("/etc/pam.d/tgpkg"),
        "@include common-auth\n@include common-account\n@include common-password\n",
    )
    .unwrap();
    let login = |typed: &str| {
        root.run(
            &[
                "pamtester",
                "-v",
                "tgpkg",
                USER,
                "authenticate",
                "acct_mgmt",
            ],
            typed,
        )
    };
    let good = login(&format!("{PASSWORD}\nT-7\n"));
    assert!(ok(&good), "{}", text(&good));
    assert!(text(&good).contains("Ticket ID"), "{}", text(&good));
    let unknown = login(&format!("{PASSWORD}\nT-8\n"));
    assert!(
        !ok(&unknown),
        "a ticket the system does not know: {}",
        text(&unknown)
    );

    // The refused ticket counted once; one wrong password reaches the limit of two.
    let wrong = login("not-the-password\n");
    assert!(!ok(&wrong));
    assert!(
        !text(&wrong).contains("Ticket ID"),
        "a wrong password never reaches the ticket prompt: {}",
        text(&wrong)
    );
    let locked = login(&format!("{PASSWORD}\nT-7\n"));
    assert!(!ok(&locked), "hack-locked: {}", text(&locked));
    assert!(
        !text(&locked).contains("Password"),
        "preauth refuses before the password is asked: {}",
        text(&locked)
    );
    let status = run_ok(&root, &["ticketgate", "status", USER]);
    assert!(status.contains("LOCKED after failed logons"), "{status}");
    run_ok(&root, &["ticketgate", "unlock", USER]);
    assert!(ok(&login(&format!("{PASSWORD}\nT-7\n"))));
    let audit = std::fs::read_to_string(root.path("/var/log/ticketgate/audit.jsonl")).unwrap();
    for event in [
        "ticket_accepted",
        "ticket_rejected",
        "hack_lock",
        "admin_unlock",
    ] {
        assert!(
            audit.contains(&format!("\"event\":\"{event}\"")),
            "{event} missing: {audit}"
        );
    }

    // common-password: the module checks the rules, then hands the new password to pam_unix.
    const NEW: &str = "Quartz-Lantern-58";
    let change = root.run(
        &["pamtester", "-v", "tgpkg", USER, "chauthtok"],
        &format!("{NEW}\n{NEW}\n"),
    );
    assert!(change.status.success(), "{}", text(&change));
    assert!(
        ok(&login(&format!("{NEW}\nT-7\n"))),
        "pam_unix stored the new password"
    );
    let trivial = root.run(
        &["pamtester", "-v", "tgpkg", USER, "chauthtok"],
        "password\npassword\n",
    );
    assert!(!trivial.status.success(), "{}", text(&trivial));
    let audit = std::fs::read_to_string(root.path("/var/log/ticketgate/audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"event\":\"credential_update_failed\""),
        "the module's rules refused it: {audit}"
    );

    // The shipped logrotate file rotates the audit file; the module's next event makes a new
    // one (it opens the file per event), and no line is lost.
    let before = audit.lines().count();
    run_ok(
        &root,
        &[
            "logrotate",
            "--force",
            "--state",
            "/var/lib/ticketgate/logrotate.state",
            "/etc/logrotate.d/ticketgate",
        ],
    );
    let rotated = std::fs::read_to_string(root.path("/var/log/ticketgate/audit.jsonl.1")).unwrap();
    assert_eq!(rotated.lines().count(), before, "{rotated}");
    assert!(ok(&login(&format!("{NEW}\nT-7\n"))));
    let fresh = root.path("/var/log/ticketgate/audit.jsonl");
    let fresh_text = std::fs::read_to_string(&fresh).unwrap();
    assert!(
        fresh_text.contains("\"event\":\"ticket_accepted\""),
        "{fresh_text}"
    );
    assert_eq!(
        std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Removal takes the module out of every common-* stack before its file goes; logins still work.
    run_ok(&root, &["dpkg", "-r", "libpam-ticketgate"]);
    for file in [
        "common-auth",
        "common-account",
        "common-password",
        "common-session",
    ] {
        let lines = stack(&root, file);
        assert!(
            lines.iter().all(|l| !l.contains("pam_ticketgate")),
            "{file} after removal: {lines:?}"
        );
    }
    assert!(!root.path(SO).exists());
    let after = login(&format!("{NEW}\n"));
    assert!(
        ok(&after),
        "password-only login after removal: {}",
        text(&after)
    );
    assert!(
        root.path("/etc/security/ticketgate.toml").is_file(),
        "configuration stays until purge"
    );

    run_ok(&root, &["dpkg", "--purge", "libpam-ticketgate"]);
    assert!(!root.path("/etc/security/ticketgate.toml").exists());
    assert!(!root.path("/var/lib/ticketgate").exists());
    assert!(!root.path("/var/log/ticketgate").exists());
    assert!(
        root.path("/etc/security/ticketgate.d/http.secret").exists(),
        "the administrator's secret files are not removed"
    );
    assert!(!root.path("/etc/ticketgate-server").exists());
    // Debian policy: a package's system user stays after purge, so its uid is never reused by
    // a new account that would then own files the server left (in backups, say).
    assert_eq!(
        run_ok(&root, &["getent", "passwd", "_ticketgate-server"]),
        server_user
    );
}

/// `scripts/install.sh` on a live system (no DESTDIR), in the overlay: it creates the server's
/// system user once, and the unit it installs under PREFIX verifies without a warning.
#[test]
fn install_sh_on_a_live_system_creates_the_server_user_once() {
    let root = OverlayRoot::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install.sh");
    let target = format!("TARGET_DIR={}", target_dir().display());
    let argv = [
        "env",
        "SKIP_BUILD=1",
        &target,
        "bash",
        script.to_str().unwrap(),
    ];
    assert!(
        root.run(&["getent", "passwd", "_ticketgate-server"], "")
            .stdout
            .is_empty(),
        "the overlay starts without the user"
    );
    let first = run_ok(&root, &argv);
    assert!(
        first.contains("created the system user _ticketgate-server"),
        "{first}"
    );
    let user = run_ok(&root, &["getent", "passwd", "_ticketgate-server"]);
    assert!(user.contains(":/var/lib/ticketgate-server:"), "{user}");
    let again = run_ok(&root, &argv);
    assert!(!again.contains("created the system user"), "{again}");
    assert_eq!(
        run_ok(&root, &["getent", "passwd", "_ticketgate-server"]),
        user
    );
    let verify = run_ok(
        &root,
        &[
            "systemd-analyze",
            "verify",
            "--man=no",
            "/usr/local/lib/systemd/system/ticketgate-server.service",
        ],
    );
    assert!(verify.trim().is_empty(), "systemd-analyze warns: {verify}");
}
