//! The few libpam calls pam-bindings 0.4 lacks. Each wrapper is safe; each unsafe block says why.

use std::os::raw::{c_int, c_uint};

use pam::module::PamHandle;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_fail_delay(pamh: *mut PamHandle, musec_delay: c_uint) -> c_int;
}

/// Asks libpam to delay a failed authentication by at least `micros` (it uses the longest asked).
pub fn fail_delay(pamh: &mut PamHandle, micros: u32) -> bool {
    // SAFETY: `pamh` is the live handle libpam passed to this hook; the call only records a number.
    unsafe { pam_fail_delay(pamh, micros) == 0 }
}
