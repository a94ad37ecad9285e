//! cargo-fuzz target `user_name`: the harness is `pam_ticketgate::fuzzing` (see its docs for the
//! input format and the properties checked); `fuzz/seeds/user_name/` holds its seeds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(run) = pam_ticketgate::fuzzing::harness("user_name") {
        run(data);
    }
});
