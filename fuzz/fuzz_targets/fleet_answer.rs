//! cargo-fuzz target `fleet_answer`: the harness is `pam_ticketgate::fuzzing` (see its docs for the
//! input format and the properties checked); `fuzz/seeds/fleet_answer/` holds its seeds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(run) = pam_ticketgate::fuzzing::harness("fleet_answer") {
        run(data);
    }
});
