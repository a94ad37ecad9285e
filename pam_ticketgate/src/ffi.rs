//! The few libpam calls pam-bindings 0.4 lacks (pam_fail_delay, pam_putenv, pam_getenv, setting
//! PAM_AUTHTOK), `getspnam_r`, and this module's data in the PAM handle through typed keys.
//! Each wrapper is safe; each unsafe block says why. This is the only module allowed `unsafe`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_uint, c_void};

use zeroize::Zeroizing;

use pam::module::PamHandle;

/// A name for this module's data in a PAM handle, bound to the one type stored under it.
/// Data goes in and comes out only through [`set_data`] and [`get_data`] with the same key, so
/// what is read under a name is always what was stored under it.
pub struct DataKey<T> {
    name: &'static str,
    stored: PhantomData<fn() -> T>,
}

impl<T> DataKey<T> {
    /// A key; each name must be used by exactly one key of this module (the keys are `const`s
    /// in `hooks`, each with its own `pam_ticketgate_*` name).
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            stored: PhantomData,
        }
    }
}

/// Stores `value` under `key`, replacing (and dropping) what was there; false when libpam
/// refused.
pub fn set_data<T: 'static>(pamh: &mut PamHandle, key: &DataKey<T>, value: T) -> bool {
    pamh.set_data(key.name, Box::new(value)).is_ok()
}

/// What [`set_data`] stored under `key` in this handle, if anything.
pub fn get_data<'h, T: 'static>(pamh: &'h PamHandle, key: &DataKey<T>) -> Option<&'h T> {
    // SAFETY: pam_get_data hands back the pointer stored under the name. Only `set_data` above
    // stores under a `DataKey`'s name (no other code of this module calls PamHandle::set_data,
    // and the names are this module's own), always a `Box<T>` for a `DataKey<T>`, so the
    // pointer is a live `T` owned by the handle for as long as it is borrowed here.
    unsafe { pamh.get_data::<T>(key.name) }.ok()
}

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

/// The shadow entry of `name` through NSS (`getspnam_r`; root only): the hash and the
/// last-change day. `Ok(None)` when no shadow source knows the name.
pub fn shadow_entry(name: &str) -> std::io::Result<Option<(crate::secret::Secret, i64)>> {
    let Ok(c_name) = CString::new(name) else {
        return Ok(None);
    };
    let mut size = 1024usize;
    loop {
        let mut buf = Zeroizing::new(vec![0u8; size]);
        // SAFETY: an all-zero `spwd` is a valid value of this plain C struct (null pointers,
        // zero numbers); getspnam_r fills it in.
        let mut entry: libc::spwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::spwd = std::ptr::null_mut();
        // SAFETY: `c_name` is NUL-terminated; `entry` and `buf` are live, writable and `buf.len()`
        // bytes long; `found` is a valid out-pointer. The strings getspnam_r stores in `entry`
        // point into `buf`, which outlives every read below.
        let rc = unsafe {
            libc::getspnam_r(
                c_name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if found.is_null() {
            return match rc {
                0 | libc::ENOENT => Ok(None),
                e => Err(std::io::Error::from_raw_os_error(e)),
            };
        }
        if entry.sp_pwdp.is_null() {
            return Ok(None);
        }
        // SAFETY: non-NULL and NUL-terminated, pointing into `buf`, which is still alive.
        let hash = unsafe { std::ffi::CStr::from_ptr(entry.sp_pwdp) };
        let hash = crate::secret::Secret::new(String::from_utf8_lossy(hash.to_bytes()).into());
        return Ok(Some((hash, entry.sp_lstchg)));
    }
}
