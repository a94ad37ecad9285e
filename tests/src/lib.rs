//! Test harness shared by the integration tests and the benchmark: an in-process libpam client
//! (`pam_start_confdir`), a private-mount-namespace sandbox for pamtester, and paths to what
//! the workspace built.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod agent;
pub mod emulators;
pub mod fleet_responder;
pub mod libpam;
pub mod overlay;
pub mod pg;
pub mod protect_emulator;
pub mod pty;
pub mod sandbox;
pub mod server;

use std::path::PathBuf;

/// `target/<profile>/`, found from the running test binary (`target/<profile>/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The freshly built module. Cargo builds it (cdylib) as this crate's dependency.
pub fn module_so() -> PathBuf {
    let dir = target_dir();
    let candidates = [
        dir.join("deps/libpam_ticketgate.so"),
        dir.join("libpam_ticketgate.so"),
    ];
    let newest = candidates
        .iter()
        .filter_map(|p| Some((std::fs::metadata(p).ok()?.modified().ok()?, p.clone())))
        .max();
    match newest {
        Some((_, p)) => p,
        None => panic!(
            "libpam_ticketgate.so not found in {}: run `cargo build --workspace` (scripts/test.sh does)",
            dir.display()
        ),
    }
}

/// The `ticketgate` CLI binary built beside the module.
pub fn ticketgate_bin() -> PathBuf {
    workspace_bin("ticketgate", &["pam_ticketgate/src"])
}

/// The host agent `ticketgate-agent` built beside the module.
pub fn agent_bin() -> PathBuf {
    workspace_bin(
        "ticketgate-agent",
        &["ticketgate-agent/src", "pam_ticketgate/src"],
    )
}

/// A binary of a workspace package, built beside the tests. Cargo builds another package's
/// binaries for tests only when asked (`scripts/test.sh` runs `cargo build --workspace
/// --all-targets` first). The tests do not build it themselves: a `cargo build` of one package
/// from inside a running test can resolve features differently and rewrite the module under
/// the tests that are using it. A binary older than its sources fails loudly instead of
/// testing old code.
pub fn workspace_bin(bin: &str, sources: &[&str]) -> PathBuf {
    let p = target_dir().join(bin);
    let built = std::fs::metadata(&p)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run `cargo build --workspace --all-targets` (scripts/test.sh does)",
                p.display()
            )
        });
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in sources {
        if let Some(newer) = newest_source(&root.join(dir)).filter(|(t, _)| *t > built) {
            panic!(
                "{} is older than {}: run `cargo build --workspace --all-targets` (scripts/test.sh does)",
                p.display(),
                newer.1.display()
            );
        }
    }
    p
}

/// The most recently modified `.rs` file below `dir` that goes into a binary: unit-test files
/// (`tests.rs`, anything under a `tests/` directory) are left out, since changing one rebuilds
/// no binary and would make a fresh build look stale.
fn newest_source(dir: &std::path::Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let test_only = path
            .file_name()
            .is_some_and(|n| n == "tests" || n == "tests.rs");
        let candidate = if test_only {
            None
        } else if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, path))
        } else {
            None
        };
        if let Some(c) = candidate
            && newest.as_ref().is_none_or(|n| c.0 > n.0)
        {
            newest = Some(c);
        }
    }
    newest
}

/// A system PAM module such as `pam_permit.so`, from the distribution's security directory.
pub fn system_module(name: &str) -> PathBuf {
    for dir in [
        "/lib/x86_64-linux-gnu/security",
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib64/security",
        "/lib/security",
    ] {
        let p = PathBuf::from(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found: install libpam-modules (scripts/test.sh does)");
}

/// Runs `cmd` with `stdin` as its whole input and collects its output; `what` names the tool
/// (and the package it comes in) for the message when it cannot start.
pub fn run_with_input(
    cmd: &mut std::process::Command,
    stdin: &str,
    what: &str,
) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Reads the JSON audit file: one event per line.
pub fn read_events(path: &std::path::Path) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}
