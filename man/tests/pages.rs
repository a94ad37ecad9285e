//! The generator run as it is shipped (`ticketgate-man DIR`), its pages checked with groff, and
//! each page held to the code it documents: every command, key, word, module argument, audit
//! event and PAM code appears in the text a reader sees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pam_ticketgate::args::{self, ARGS};
use pam_ticketgate::audit::EventName;
use pam_ticketgate::config::keys::{KEYS, TABLES};
use pam_ticketgate::gate::Outcome;
use pam_ticketgate::hooks::pam_code;

const PAGES: [&str; 5] = [
    "man8/pam_ticketgate.8",
    "man8/ticketgate.8",
    "man5/ticketgate.toml.5",
    "man8/ticketgate-server.8",
    "man8/ticketgate-agent.8",
];

/// Runs the real generator into a fresh directory.
fn generate() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ticketgate-man"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed: Vec<PathBuf> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect();
    let want: Vec<PathBuf> = PAGES.iter().map(|p| dir.path().join(p)).collect();
    assert_eq!(listed[..PAGES.len()], want[..]);
    let completions = &listed[PAGES.len()..];
    assert_eq!(completions.len(), 9, "{completions:?}");
    assert!(
        completions
            .iter()
            .all(|p| p.starts_with(dir.path().join("completions")) && p.is_file()),
        "{completions:?}"
    );
    dir
}

/// Each program's bash completion loads in a plain bash and completes its verbs: `ticketgate st`
/// offers `status`, `ticketgate-server en` offers `enroll`.
#[test]
fn bash_loads_the_completions_and_completes_verbs() {
    let dir = generate();
    for (program, partial, verb) in [
        ("ticketgate", "st", "status"),
        ("ticketgate-server", "en", "enroll"),
    ] {
        let script = dir
            .path()
            .join("completions/bash-completion/completions")
            .join(program);
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}' && complete -p {program} && \
                 COMP_WORDS=({program} {partial}) COMP_CWORD=1 COMP_LINE='{program} {partial}' \
                 COMP_POINT=${{#COMP_LINE}} && \
                 $(complete -p {program} | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p') {program} {partial} {program} && \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display()
            ))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{program}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.lines().any(|l| l.trim() == verb),
            "{program} {partial}<TAB> does not offer {verb}: {stdout}"
        );
    }
}

fn groff(args: &[&str], page: &Path) -> std::process::Output {
    Command::new("groff")
        .args(["-man"])
        .args(args)
        .arg(page)
        .output()
        .expect("groff (Debian: groff-base, see scripts/apt-packages.txt)")
}

/// What a reader sees: the page formatted for a terminal, no hyphenation, one space between words.
fn plain(page: &Path) -> String {
    let out = groff(&["-Tutf8", "-rHY=0", "-rLL=300n", "-P-cbu"], page);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(['\u{2010}', '\u{2212}'], "-")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_has(text: &str, what: &str, page: &str) {
    assert!(text.contains(what), "{page} does not show {what:?}");
}

#[test]
fn usage_error_without_a_directory() {
    let out = Command::new(env!("CARGO_BIN_EXE_ticketgate-man"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: ticketgate-man OUT_DIR"));
}

#[test]
fn groff_formats_every_page_without_a_warning() {
    let dir = generate();
    for page in PAGES {
        let path = dir.path().join(page);
        for device in ["-Tutf8", "-Tps"] {
            let out = groff(&[device, "-ww", "-z"], &path);
            assert!(out.status.success(), "{page} {device}: {out:?}");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                "",
                "{page} {device}: groff warns"
            );
        }
        let source = std::fs::read_to_string(&path).unwrap();
        assert!(source.lines().any(|l| l.starts_with(".TH ")), "{page}");
        assert_eq!(source.matches(".ds Aq").count(), 2, "{page}: one preamble");
        assert!(plain(&path).contains("SEE ALSO"), "{page}");
    }
}

#[test]
fn man_reads_every_page_without_a_warning() {
    let dir = generate();
    for page in PAGES {
        let out = Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(dir.path().join(page))
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .expect("man (Debian: man-db)");
        assert!(out.status.success(), "{page}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{page}");
    }
}

/// Every leaf command as "prog a b", with its options.
fn leaf_commands(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<String>)>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("{prefix} {}", sub.get_name());
        if sub.has_subcommands() {
            leaf_commands(sub, &name, out);
        } else {
            let longs = sub
                .get_arguments()
                .filter(|a| !a.is_global_set())
                .filter_map(|a| a.get_long())
                .filter(|l| *l != "help")
                .map(|l| format!("--{l}"))
                .collect();
            out.push((name, longs));
        }
    }
}

/// Issue 16 (item 8): no page shows a literal backtick (help texts write `code`; the pages
/// make it bold); SYNOPSIS gives each option that takes a value its argument; every option of
/// both programs is described (more than its default).
#[test]
fn pages_have_no_backticks_full_synopses_and_described_options_issue_16() {
    let dir = generate();
    for page in PAGES {
        let source = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(!source.contains('`'), "{page} has a literal backtick");
    }
    for (cmd, page) in [
        (ticketgate_man::ticketgate_command(), "man8/ticketgate.8"),
        (ticketgate_man::server_command(), "man8/ticketgate-server.8"),
        (ticketgate_man::agent_command(), "man8/ticketgate-agent.8"),
    ] {
        let text = plain(&dir.path().join(page));
        let synopsis = text
            .split("SYNOPSIS")
            .nth(1)
            .and_then(|t| t.split("DESCRIPTION").next())
            .unwrap();
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(long) = arg.get_long() else { continue };
            let value_name = arg
                .get_value_names()
                .and_then(|v| v.first().cloned())
                .filter(|_| arg.get_action().takes_values());
            match value_name {
                Some(v) => assert_has(synopsis, &format!("[--{long} {v}]"), page),
                None => assert_has(synopsis, &format!("--{long}"), page),
            }
        }
        let mut stack = vec![cmd.clone()];
        while let Some(c) = stack.pop() {
            stack.extend(c.get_subcommands().cloned());
            for arg in c
                .get_arguments()
                .filter(|a| !a.is_global_set() && !a.is_hide_set())
            {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                let positional = arg.get_long().is_none() && arg.get_short().is_none();
                assert!(
                    positional || !help.trim().is_empty(),
                    "{page}: {} --{} has no description",
                    c.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}

#[test]
fn ticketgate_page_shows_every_command_and_option() {
    let dir = generate();
    let text = plain(&dir.path().join("man8/ticketgate.8"));
    let cmd = ticketgate_man::ticketgate_command();
    let mut leaves = Vec::new();
    leaf_commands(&cmd, "ticketgate", &mut leaves);
    assert!(leaves.len() >= 12, "{leaves:?}");
    for (name, longs) in leaves {
        assert_has(&text, &name, "ticketgate(8)");
        for l in longs {
            assert_has(&text, &l, "ticketgate(8)");
        }
    }
    for s in [
        "--config",
        "/etc/security/ticketgate.toml",
        "EXIT STATUS",
        "FILES",
        "EXAMPLES",
    ] {
        assert_has(&text, s, "ticketgate(8)");
    }
    assert_has(&text, "ticketgate protect enable|disable", "ticketgate(8)");
}

#[test]
fn config_page_shows_every_table_key_and_word() {
    let dir = generate();
    let text = plain(&dir.path().join("man5/ticketgate.toml.5"));
    for t in TABLES {
        let title = if t.header.starts_with('[') {
            format!("TABLE {}", t.header)
        } else {
            t.header.to_uppercase()
        };
        assert_has(&text, &format!("{title} {}", t.doc), "ticketgate.toml(5)");
    }
    for k in KEYS {
        assert_has(&text, &format!("{} ({}", k.key, k.ty), "ticketgate.toml(5)");
        assert_has(
            &text,
            &format!("Example: {} = {}", k.key, k.example),
            "ticketgate.toml(5)",
        );
        for w in k.words {
            assert_has(
                &text,
                &format!("{} {}", w.word, w.doc),
                "ticketgate.toml(5)",
            );
        }
    }
    // The condition language in full.
    for op in [
        "eq", "ne", "in", "not_in", "matches", "contains", "exists", "absent", "within", "all",
        "any", "none",
    ] {
        assert_has(&text, &format!(" {op} "), "ticketgate.toml(5)");
    }
}

#[test]
fn module_page_shows_every_argument_event_and_code() {
    let dir = generate();
    let text = plain(&dir.path().join("man8/pam_ticketgate.8"));
    for a in ARGS {
        let written = match a.value {
            Some(v) => format!("{}={v}", a.name),
            None => a.name.to_string(),
        };
        assert_has(
            &text,
            &format!("{written} {}", a.doc.split(' ').next().unwrap()),
            "pam_ticketgate(8)",
        );
    }
    assert_has(
        &text,
        "pam_ticketgate.so [preauth|authfail|ticket|commit] [config=/PATH] [debug] [credential=password|pin]",
        "pam_ticketgate(8)",
    );
    for e in EventName::ALL {
        assert_has(
            &text,
            &format!("{} {}", e.as_str(), e.summary()),
            "pam_ticketgate(8)",
        );
    }
    // RETURN VALUES: each PAM code once, followed by every outcome that maps to it.
    let values = text
        .split("RETURN VALUES")
        .nth(1)
        .and_then(|t| t.split("By phase:").next())
        .unwrap();
    for o in Outcome::ALL {
        let code = format!("{:?}", pam_code(o));
        assert_eq!(
            values.matches(&format!("{code} ")).count(),
            1,
            "{code} is listed once: {values}"
        );
        let entry = values.split(&format!("{code} ")).nth(1).unwrap();
        let entry = entry.split(" PAM_").next().unwrap();
        assert!(entry.contains(o.summary()), "{code}: {entry}");
    }
    for line in ticketgate_man::SSHD_CONFIG.lines() {
        assert_has(&text, line, "pam_ticketgate(8)");
    }
    assert_has(
        &text,
        "AuthenticationMethods publickey,keyboard-interactive",
        "pam_ticketgate(8)",
    );
    for s in [
        "UsePAM yes",
        "KbdInteractiveAuthentication yes",
        "TICKETGATE_TICKET",
        "FILES",
    ] {
        assert_has(&text, s, "pam_ticketgate(8)");
    }
}

#[test]
fn the_stack_on_the_page_is_one_the_module_accepts() {
    let mut ours = 0;
    for line in ticketgate_man::STACK.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "pam_ticketgate.so") else {
            continue;
        };
        let parsed = args::parse(words[at + 1..].iter().copied()).unwrap();
        assert_eq!(parsed.auth_phase.is_some(), words[0] == "auth", "{line}");
        if parsed.commit {
            assert_eq!(words[0], "password", "{line}");
        }
        ours += 1;
    }
    assert_eq!(ours, 7);
}

#[test]
fn server_page_shows_every_command_key_and_endpoint() {
    let dir = generate();
    let text = plain(&dir.path().join("man8/ticketgate-server.8"));
    let mut leaves = Vec::new();
    leaf_commands(
        &ticketgate_man::server_command(),
        "ticketgate-server",
        &mut leaves,
    );
    assert_eq!(leaves.len(), 11, "{leaves:?}");
    for (name, longs) in leaves {
        assert_has(&text, &name, "ticketgate-server(8)");
        for l in longs {
            assert_has(&text, &l, "ticketgate-server(8)");
        }
    }
    for k in ticketgate_server::config::KEYS {
        assert_has(
            &text,
            &format!("{} {}", k.key, k.doc),
            "ticketgate-server(8)",
        );
    }
    // The endpoints are the ones the server routes.
    let routes = include_str!("../../ticketgate-server/src/http.rs");
    for (method, path, _) in ticketgate_man::ENDPOINTS {
        assert_has(&text, &format!("{method} {path}"), "ticketgate-server(8)");
        assert!(
            routes.contains(&format!("(\"{path}\"")) || routes.contains(&format!("(\"{path}\" |")),
            "{path} is not routed in ticketgate-server/src/http.rs"
        );
        assert!(routes.contains(&format!("Method::{method}")), "{method}");
    }
}

#[test]
fn agent_page_shows_every_task_kind_refusal_and_option() {
    let dir = generate();
    let page = "ticketgate-agent(8)";
    let text = plain(&dir.path().join("man8/ticketgate-agent.8"));
    for kind in pam_ticketgate::config::TaskKind::ALL {
        assert_has(&text, kind.as_str(), page);
    }
    for word in [
        "--once",
        "--config",
        "agent_task",
        "not_allowed",
        "expired",
        "unknown_user",
        "bad_task",
        "agent-tasks.json",
        "POST /v1/agent/poll",
    ] {
        assert_has(&text, word, page);
    }
}
