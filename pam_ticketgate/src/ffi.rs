//! The few libpam calls pam-bindings 0.4 lacks (pam_fail_delay, pam_putenv, pam_getenv, setting
//! PAM_AUTHTOK). Each wrapper is safe; each unsafe block says why.

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_uint, c_void};

use zeroize::Zeroizing;

use pam::module::PamHandle;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_fail_delay(pamh: *mut PamHandle, musec_delay: c_uint) -> c_int;
    fn pam_putenv(pamh: *mut PamHandle, name_value: *const c_char) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
}

/// Asks libpam to delay a failed authentication by at least `micros` (it uses the longest asked).
pub fn fail_delay(pamh: &mut PamHandle, micros: u32) -> bool {
    // SAFETY: `pamh` is the live handle libpam passed to this hook; the call only records a number.
    unsafe { pam_fail_delay(pamh, micros) == 0 }
}

/// Sets `NAME=value` in the PAM environment (libpam copies the string).
pub fn putenv(pamh: &mut PamHandle, name_value: &str) -> bool {
    let Ok(c) = CString::new(name_value) else {
        return false;
    };
    // SAFETY: `pamh` is the live handle; `c` is a NUL-terminated string that outlives the call,
    // and pam_putenv copies it before returning.
    unsafe { pam_putenv(pamh, c.as_ptr()) == 0 }
}

/// `PAM_AUTHTOK` (Linux-PAM `_pam_types.h`).
const PAM_AUTHTOK: c_int = 6;

/// Sets `PAM_AUTHTOK` so that the next module (`pam_unix use_authtok`) takes the new credential.
pub fn set_authtok(pamh: &mut PamHandle, token: &str) -> bool {
    // Refused before copying: a failed CString::new would drop its copy without zeroing it.
    if token.contains('\0') {
        return false;
    }
    let Ok(c) = CString::new(token) else {
        return false;
    };
    // Zero our copy once libpam has made its own.
    let c = Zeroizing::new(c.into_bytes_with_nul());
    // SAFETY: `pamh` is the live handle; `c` is NUL-terminated and outlives the call, and
    // pam_set_item copies string items before returning.
    unsafe { pam_set_item(pamh, PAM_AUTHTOK, c.as_ptr().cast()) == 0 }
}

/// A variable of the PAM environment, copied out.
pub fn getenv(pamh: &mut PamHandle, name: &str) -> Option<String> {
    let c = CString::new(name).ok()?;
    // SAFETY: `pamh` is the live handle and `c` a NUL-terminated string; the result is NULL or
    // a pointer into libpam's environment, valid until the environment changes — copied at once.
    let value = unsafe { pam_getenv(pamh, c.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: non-NULL, NUL-terminated (libpam's own string), read before any other PAM call.
    let text = unsafe { std::ffi::CStr::from_ptr(value) };
    text.to_str().ok().map(str::to_string)
}
