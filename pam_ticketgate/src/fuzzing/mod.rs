//! Fuzzing harnesses (issue 7): one function per cargo-fuzz target in `fuzz/fuzz_targets/`.
//!
//! Each harness feeds untrusted bytes to one decoder and checks a property beyond "does not
//! panic" (a round trip, a built-in check that must hold after `Ok`, a fail-closed rule). A
//! property that does not hold panics: that is how libFuzzer learns of it. Compiled only for
//! tests and the `fuzzing` feature (never into the PAM module); the unit test in `replay.rs`
//! runs every committed seed and regression input in `fuzz/seeds/<target>/` through the same
//! functions, so a fixed crash stays fixed without nightly.

mod conditions;
mod config;
mod files;
mod fleet;
mod log;
mod misc;
mod names;
mod store;
mod ticket;

#[cfg(test)]
mod replay;

/// A harness: takes the fuzzer's bytes, panics when a property does not hold, and returns
/// whether the decoder under test accepted the input (the replay test wants each target's
/// seeds to reach past the decoder, not only be refused by it).
pub type Harness = fn(&[u8]) -> bool;

/// Every target: its name (the `fuzz/fuzz_targets/<name>.rs` file and `fuzz/seeds/<name>/`
/// directory) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("config", config::config),
    ("store_record", store::store_record),
    ("ticket_response", ticket::ticket_response),
    ("ticket_conditions", conditions::ticket_conditions),
    ("ticket_time", misc::ticket_time),
    ("ticket_id", ticket::ticket_id),
    ("protect_answer", misc::protect_answer),
    ("fleet_answer", fleet::fleet_answer),
    ("fleet_spool", fleet::fleet_spool),
    ("gecos", misc::gecos),
    ("user_name", misc::user_name),
    ("user_canonical", names::user_canonical),
    ("run_files", files::run_files),
    ("log_quote", log::log_quote),
];

/// The harness named `name`.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

/// Splits `data` at the first `\n`: a selector line and the rest (the seeds stay readable).
fn first_line(data: &[u8]) -> (&str, &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => (
            std::str::from_utf8(data.get(..i).unwrap_or_default()).unwrap_or(""),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => ("", data),
    }
}

/// Splits `data` into parts separated by lines holding only `---`.
fn parts(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(5).position(|w| w == b"\n---\n") {
        out.push(rest.get(..i).unwrap_or_default());
        rest = rest.get(i + 5..).unwrap_or_default();
    }
    out.push(rest);
    out
}

/// Instants every time-dependent rule is tried at: a realistic one and the extremes a
/// hostile clock or record can reach.
const NOWS: [i64; 5] = [1_795_339_199, 0, -1, i64::MIN, i64::MAX];
