//! `scripts/install.sh` into a staging DESTDIR: the layout and modes, an existing configuration
//! kept, and `--uninstall` removing what it installed while configuration and state stay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use ticketgate_tests::target_dir;

fn install(destdir: &Path, args: &[&str]) -> String {
    let (ok, text) = try_install_under(destdir, "/usr", args);
    assert!(ok, "install.sh {args:?} failed: {text}");
    text
}

fn try_install(destdir: &Path, args: &[&str]) -> (bool, String) {
    try_install_under(destdir, "/usr", args)
}

fn try_install_under(destdir: &Path, prefix: &str, args: &[&str]) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("scripts/install.sh"))
        .args(args)
        .env("DESTDIR", destdir)
        .env("PREFIX", prefix)
        .env("SECURITY_DIR", "/lib/x86_64-linux-gnu/security")
        .env("TARGET_DIR", target_dir())
        .env("SKIP_BUILD", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn installs_the_layout_keeps_configuration_and_uninstalls() {
    // The binaries the script installs must have been built (scripts/test.sh builds the workspace).
    for bin in [
        "ticketgate",
        "ticketgate-server",
        "ticketgate-agent",
        "nss-helper",
        "libpam_ticketgate.so",
        "ticketgate-man",
    ] {
        assert!(
            target_dir().join(bin).exists(),
            "{bin} not built: run cargo build --workspace --all-targets"
        );
    }
    let d = tempfile::tempdir().unwrap();
    let dest = d.path();
    install(dest, &[]);
    assert_eq!(
        mode(&dest.join("lib/x86_64-linux-gnu/security/pam_ticketgate.so")),
        0o644
    );
    assert_eq!(mode(&dest.join("usr/sbin/ticketgate")), 0o755);
    assert_eq!(mode(&dest.join("usr/sbin/ticketgate-server")), 0o755);
    assert_eq!(mode(&dest.join("usr/sbin/ticketgate-agent")), 0o755);
    assert_eq!(mode(&dest.join("usr/bin/nss-helper")), 0o755);
    assert_eq!(mode(&dest.join("etc/security/ticketgate.toml")), 0o644);
    for page in [
        "man8/pam_ticketgate.8",
        "man8/ticketgate.8",
        "man5/ticketgate.toml.5",
        "man8/ticketgate-server.8",
        "man8/ticketgate-agent.8",
    ] {
        let path = dest.join("usr/share/man").join(page);
        assert_eq!(mode(&path), 0o644);
        let head = std::fs::read_to_string(&path).unwrap();
        assert!(head.contains(".TH"), "{page} is a man page: {head}");
    }
    assert_eq!(mode(&dest.join("etc/security/ticketgate.d")), 0o700);
    assert_eq!(mode(&dest.join("var/lib/ticketgate")), 0o700);
    assert_eq!(mode(&dest.join("var/log/ticketgate")), 0o750);
    // The server's secrets, root only; the unit loads them as credentials (all must exist).
    assert_eq!(mode(&dest.join("etc/ticketgate-server/hosts")), 0o700);
    assert_eq!(mode(&dest.join("etc/ticketgate-server/tls")), 0o700);
    assert_eq!(mode(&dest.join("etc/ticketgate-server/db")), 0o700);
    // Debian and systemd conventions: the volatile and log directories made at boot, the audit
    // file rotated, completions where each shell looks for them.
    for (file, source) in [
        (
            "usr/lib/tmpfiles.d/ticketgate.conf",
            "conf/tmpfiles.d/ticketgate.conf",
        ),
        ("etc/logrotate.d/ticketgate", "conf/logrotate.d/ticketgate"),
    ] {
        assert_eq!(mode(&dest.join(file)), 0o644, "{file}");
        assert_eq!(
            std::fs::read(dest.join(file)).unwrap(),
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join(source)
            )
            .unwrap(),
            "{file}"
        );
    }
    for (prog, verb) in [
        ("ticketgate", "status"),
        ("ticketgate-server", "enroll"),
        ("ticketgate-agent", "once"),
    ] {
        for file in [
            format!("usr/share/bash-completion/completions/{prog}"),
            format!("usr/share/zsh/vendor-completions/_{prog}"),
            format!("usr/share/fish/vendor_completions.d/{prog}.fish"),
        ] {
            assert_eq!(mode(&dest.join(&file)), 0o644, "{file}");
            assert!(
                std::fs::read_to_string(dest.join(&file))
                    .unwrap()
                    .contains(verb),
                "{file} completes the verbs"
            );
        }
    }
    let unit =
        std::fs::read_to_string(dest.join("lib/systemd/system/ticketgate-server.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/sbin/ticketgate-server --config"),
        "the unit names the installed binary: {unit}"
    );
    let agent_unit =
        std::fs::read_to_string(dest.join("lib/systemd/system/ticketgate-agent.service")).unwrap();
    assert!(
        agent_unit.contains("ExecStart=/usr/sbin/ticketgate-agent --config"),
        "the agent's unit names the installed binary: {agent_unit}"
    );
    // The installed example is the shipped one, and the installed CLI accepts it.
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/ticketgate.toml"),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/security/ticketgate.toml")).unwrap(),
        shipped
    );

    // A second install keeps the administrator's edited configuration.
    std::fs::write(
        dest.join("etc/security/ticketgate.toml"),
        "version = 1\n# edited\n",
    )
    .unwrap();
    let text = install(dest, &[]);
    assert!(text.contains("kept existing"), "{text}");
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/security/ticketgate.toml")).unwrap(),
        "version = 1\n# edited\n"
    );

    for profile in ["ticketgate", "ticketgate-preauth", "ticketgate-authfail"] {
        assert_eq!(
            std::fs::read(dest.join("usr/share/pam-configs").join(profile)).unwrap(),
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../conf/pam-configs")
                    .join(profile)
            )
            .unwrap()
        );
    }

    // While a stack still loads the module, uninstalling would break the logins it serves.
    std::fs::create_dir_all(dest.join("etc/pam.d")).unwrap();
    std::fs::write(
        dest.join("etc/pam.d/sshd"),
        "auth requisite pam_ticketgate.so preauth\n",
    )
    .unwrap();
    let (ok, text) = try_install(dest, &["--uninstall"]);
    assert!(!ok, "{text}");
    assert!(text.contains("etc/pam.d/sshd"), "names the stack: {text}");
    assert!(
        dest.join("lib/x86_64-linux-gnu/security/pam_ticketgate.so")
            .exists(),
        "nothing was removed"
    );
    std::fs::write(dest.join("etc/pam.d/sshd"), "auth required pam_unix.so\n").unwrap();

    install(dest, &["--uninstall"]);
    assert!(
        !dest
            .join("lib/x86_64-linux-gnu/security/pam_ticketgate.so")
            .exists()
    );
    assert!(!dest.join("usr/sbin/ticketgate").exists());
    assert!(
        !dest
            .join("lib/systemd/system/ticketgate-server.service")
            .exists()
    );
    assert!(
        dest.join("etc/security/ticketgate.toml").exists(),
        "configuration stays"
    );
    assert!(dest.join("var/lib/ticketgate").is_dir(), "state stays");
    assert!(!dest.join("usr/share/pam-configs/ticketgate").exists());
    assert!(!dest.join("usr/share/man/man8/ticketgate.8").exists());
    assert!(!dest.join("usr/lib/tmpfiles.d/ticketgate.conf").exists());
    assert!(
        !dest
            .join("usr/share/bash-completion/completions/ticketgate")
            .exists()
    );
    assert!(
        dest.join("etc/logrotate.d/ticketgate").exists(),
        "configuration stays"
    );
}

/// Issue 16: PREFIX decides where the unit and tmpfiles.d file go too (systemd reads
/// /usr/local/lib/systemd/system and /usr/local/lib/tmpfiles.d), and the unit names the binary
/// installed under it.
#[test]
fn prefix_usr_local_puts_the_unit_and_tmpfiles_under_it_issue_16() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path();
    let (ok, text) = try_install_under(dest, "/usr/local", &[]);
    assert!(ok, "{text}");
    let unit = dest.join("usr/local/lib/systemd/system/ticketgate-server.service");
    assert!(
        std::fs::read_to_string(&unit)
            .unwrap()
            .contains("ExecStart=/usr/local/sbin/ticketgate-server --config"),
        "{}",
        unit.display()
    );
    let unit = dest.join("usr/local/lib/systemd/system/ticketgate-agent.service");
    assert!(
        std::fs::read_to_string(&unit)
            .unwrap()
            .contains("ExecStart=/usr/local/sbin/ticketgate-agent --config"),
        "{}",
        unit.display()
    );
    assert!(!dest.join("lib/systemd/system").exists(), "{text}");
    assert!(
        dest.join("usr/local/lib/tmpfiles.d/ticketgate.conf")
            .is_file()
    );
    assert!(
        dest.join("usr/local/share/bash-completion/completions/ticketgate")
            .is_file()
    );
    let (ok, text) = try_install_under(dest, "/usr/local", &["--uninstall"]);
    assert!(ok, "{text}");
    assert!(!unit.exists(), "{text}");
}

/// Issue 16 (item 1): the demo installs only what it needs (no browser, no sshd, no database).
#[test]
fn the_demo_installs_only_its_own_packages_issue_16() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let list = |args: &[&str]| -> Vec<String> {
        let out = Command::new("bash")
            .arg(root.join("scripts/install-test-deps.sh"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let demo = list(&["--demo", "--list"]);
    assert_eq!(
        demo,
        [
            "libpam-modules",
            "libpam0g-dev",
            "openssl",
            "pamtester",
            "util-linux"
        ]
    );
    let all = list(&["--list"]);
    for heavy in ["chromium", "openssh-server", "postgresql"] {
        assert!(all.contains(&heavy.to_string()), "{heavy}: {all:?}");
        assert!(!demo.contains(&heavy.to_string()));
    }
    let script = std::fs::read_to_string(root.join("scripts/demo.sh")).unwrap();
    assert!(
        script.contains("scripts/install-test-deps.sh --demo\n"),
        "{script}"
    );
}
