//! Per-login cost, in one process, of three auth+account stacks through real libpam:
//! `pam_start_confdir` → `pam_authenticate` → `pam_acct_mgmt` → `pam_end`, repeated.
//!
//! 1. `pam_permit` only (the baseline: what libpam itself costs);
//! 2. `pam_faillock` preauth / authfail / authsucc + account, `nodelay`;
//! 3. pam_ticketgate's lockout stack (preauth / authfail / ticket + account), which on every
//!    login also records the last success (pam_faillock records nothing on success).
//!
//! The password check is `pam_permit` in all three, so only the lockout modules differ. Rounds
//! alternate between the stacks so that machine noise hits all three alike; each figure is the
//! median of the rounds. Prints µs per login and the overhead ratio
//! (ticketgate − permit) / (faillock − permit). Bounded: `--logins N` per stack (default 20000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use ticketgate_tests::libpam::{PAM_SUCCESS, Session};
use ticketgate_tests::{module_so, system_module};

const USER: &str = "daemon";
const ROUNDS: usize = 20;

fn main() {
    let logins: usize = std::env::args()
        .skip_while(|a| a != "--logins")
        .nth(1)
        .map_or(20_000, |n| n.parse().expect("--logins N"));
    let per_round = (logins / ROUNDS).max(1);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (permit, faillock, so) = (
        system_module("pam_permit.so"),
        system_module("pam_faillock.so"),
        module_so(),
    );
    let (permit, faillock, so) = (permit.display(), faillock.display(), so.display());
    let cfg = d.join("ticketgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "version = 1\n[module]\nstate_dir = \"{}\"\nfail_delay = \"0s\"\n[[scope]]\nusers = [\"{USER}\"]\n[policy.default]\nfailed_logon = 3\n",
            d.join("state").display()
        ),
    )
    .unwrap();
    std::fs::create_dir(d.join("tally")).unwrap();
    let tally = d.join("tally");
    let cfg = cfg.display();
    let tally = tally.display();
    std::fs::write(
        d.join("permit"),
        format!("auth required {permit}\naccount required {permit}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("faillock"),
        format!(
            "auth required {faillock} preauth dir={tally} deny=3 nodelay\n\
             auth [success=1 default=bad] {permit}\n\
             auth [default=die] {faillock} authfail dir={tally} deny=3 nodelay\n\
             auth sufficient {faillock} authsucc dir={tally} deny=3 nodelay\n\
             account required {faillock} dir={tally}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("ticketgate"),
        format!(
            "auth requisite {so} preauth config={cfg}\n\
             auth [success=1 default=ignore] {permit}\n\
             auth [default=die] {so} authfail config={cfg}\n\
             auth requisite {so} ticket config={cfg}\n\
             account required {so} config={cfg}\n"
        ),
    )
    .unwrap();

    let stacks = ["permit", "faillock", "ticketgate"];
    for s in stacks {
        login(d, s); // warm up, and fail loudly if a stack does not let the user in
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); stacks.len()];
    for _ in 0..ROUNDS {
        for (i, s) in stacks.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..per_round {
                login(d, s);
            }
            samples[i].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
        }
    }
    let med: Vec<f64> = samples.iter_mut().map(|v| median(v)).collect();
    println!("per-login cost, {per_round} logins x {ROUNDS} rounds per stack (median of rounds):");
    for (i, s) in stacks.iter().enumerate() {
        let over = if i == 0 {
            String::new()
        } else {
            format!("  (+{:.1} µs over pam_permit)", med[i] - med[0])
        };
        println!("  {s:<11} {:>8.1} µs/login{over}", med[i]);
    }
    let ratio = (med[2] - med[0]) / (med[1] - med[0]);
    println!("overhead ratio ticketgate/faillock: {ratio:.2} (goal <= 1.0)");
}

fn login(dir: &Path, service: &str) {
    let mut s = Session::start(dir, service, USER, &[]);
    assert_eq!(s.authenticate(0), PAM_SUCCESS, "{service}: authenticate");
    assert_eq!(s.acct_mgmt(0), PAM_SUCCESS, "{service}: acct_mgmt");
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
