//! The man pages against the shipped binaries: the commands `ticketgate --help` and
//! `ticketgate-server --help` list (and those of their nested commands) are the ones the
//! generated pages document, and no other.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use ticketgate_tests::{ticketgate_bin, workspace_bin};

/// The names under "Commands:" in a clap --help, without `help`.
fn help_commands(bin: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(bin).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect()
}

/// Every leaf command the binary's --help leads to, as "a b".
fn leaves_by_help(bin: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in help_commands(bin, &[]) {
        let nested = help_commands(bin, &[&c]);
        if nested.is_empty() {
            out.insert(c);
        } else {
            out.extend(nested.into_iter().map(|n| format!("{c} {n}")));
        }
    }
    out
}

/// The commands a page's COMMANDS section documents, as "a b" (from `.TP` lines naming `prog`).
fn leaves_on_page(page: &Path, prog: &str) -> BTreeSet<String> {
    let source = std::fs::read_to_string(page).unwrap();
    let section: Vec<&str> = source
        .lines()
        .skip_while(|l| *l != ".SH COMMANDS")
        .skip(1)
        .take_while(|l| !l.starts_with(".SH"))
        .collect();
    let head = format!("\\fB{} ", prog.replace('-', "\\-"));
    section
        .windows(2)
        .filter(|w| w[0] == ".TP" && w[1].starts_with(&head))
        .map(|w| {
            let name = w[1][head.len()..].split("\\fR").next().unwrap_or_default();
            name.replace("\\-", "-")
        })
        .collect()
}

#[test]
fn help_and_man_pages_list_the_same_commands() {
    let dir = tempfile::tempdir().unwrap();
    let generator = workspace_bin(
        "ticketgate-man",
        &["man/src", "pam_ticketgate/src", "ticketgate-server/src"],
    );
    let out = Command::new(generator).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let server = workspace_bin("ticketgate-server", &["ticketgate-server/src"]);
    for (bin, prog, page) in [
        (ticketgate_bin(), "ticketgate", "man8/ticketgate.8"),
        (server, "ticketgate-server", "man8/ticketgate-server.8"),
    ] {
        let by_help = leaves_by_help(&bin);
        assert!(by_help.len() >= 4, "{prog}: {by_help:?}");
        assert_eq!(
            by_help,
            leaves_on_page(&dir.path().join(page), prog),
            "{prog}: --help (left) and {page} (right) differ"
        );
    }
}
