//! Test harness shared by the integration tests and the benchmark: an in-process libpam client
//! (`pam_start_confdir`), a private-mount-namespace sandbox for pamtester, and paths to what
//! the workspace built.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod emulators;
pub mod libpam;
pub mod protect_emulator;
pub mod pty;
pub mod sandbox;

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

/// The `ticketgate` CLI binary built beside the module, rebuilt if its sources changed: cargo
/// builds another package's binaries for tests only when asked, and a stale CLI would test old
/// code.
pub fn ticketgate_bin() -> PathBuf {
    workspace_bin("pam_ticketgate", "ticketgate")
}

/// A binary of a workspace package, brought up to date (once per test process) in the target
/// directory the tests themselves were built in.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let dir = target_dir();
    let mut built = BUILT.lock().unwrap();
    if !built.iter().any(|b| b == bin) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = dir.parent().unwrap();
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-q", "-p", package, "--bin", bin, "--target-dir"])
            .arg(root);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.current_dir(env!("CARGO_MANIFEST_DIR")).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "could not build {bin} (cargo build -p {package})"
        );
        built.push(bin.to_string());
    }
    let p = dir.join(bin);
    assert!(p.exists(), "{} not found after building it", p.display());
    p
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
