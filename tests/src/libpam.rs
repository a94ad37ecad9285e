//! An in-process libpam client: `pam_start_confdir` with a scripted conversation that records
//! every message, the way Linux-PAM's own tests drive pam_faillock without root-owned files.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::Path;

pub const PAM_SUCCESS: i32 = 0;
pub const PAM_SERVICE_ERR: i32 = 3;
pub const PAM_SYSTEM_ERR: i32 = 4;
pub const PAM_PERM_DENIED: i32 = 6;
pub const PAM_AUTH_ERR: i32 = 7;
pub const PAM_MAXTRIES: i32 = 11;
pub const PAM_IGNORE: i32 = 25;
pub const PAM_SILENT: i32 = 0x8000;
pub const PAM_PROMPT_ECHO_OFF: i32 = 1;
pub const PAM_PROMPT_ECHO_ON: i32 = 2;
pub const PAM_ERROR_MSG: i32 = 3;
const PAM_RHOST: c_int = 4;
const PAM_CONV_ERR: c_int = 19;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

/// What the user will type, and everything the stack said.
#[derive(Default)]
struct Script {
    answers: VecDeque<String>,
    transcript: Vec<(i32, String)>,
}

extern "C" fn converse(
    n: c_int,
    msgs: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    // SAFETY: appdata is the RefCell<Script> owned by the Session that registered this function,
    // alive until pam_end; libpam hands us `n` valid message pointers (Linux-PAM layout).
    let script = unsafe { &*(appdata as *const RefCell<Script>) };
    let n = usize::try_from(n).unwrap_or(0);
    // SAFETY: calloc'd array of n responses; libpam frees it and each resp string.
    let out = unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) as *mut PamResponse };
    if out.is_null() {
        return PAM_CONV_ERR;
    }
    let mut script = script.borrow_mut();
    for i in 0..n {
        // SAFETY: i < n, see above.
        let m = unsafe { &**msgs.add(i) };
        let text = unsafe { CStr::from_ptr(m.msg) }
            .to_string_lossy()
            .into_owned();
        script.transcript.push((m.msg_style, text));
        if m.msg_style == PAM_PROMPT_ECHO_OFF || m.msg_style == PAM_PROMPT_ECHO_ON {
            let Some(answer) = script.answers.pop_front() else {
                unsafe { libc::free(out.cast()) };
                return PAM_CONV_ERR;
            };
            let c = CString::new(answer).unwrap();
            // SAFETY: strdup copies into malloc'd memory that libpam frees.
            unsafe { (*out.add(i)).resp = libc::strdup(c.as_ptr()) };
        }
    }
    // SAFETY: resp is libpam's out-pointer.
    unsafe { *resp = out };
    PAM_SUCCESS
}

/// One PAM transaction (one handle), ended on drop.
pub struct Session {
    pamh: *mut c_void,
    _conv: Box<PamConv>,
    script: Box<RefCell<Script>>,
    last: c_int,
}

impl Session {
    /// `pam_start_confdir(service, user, conv, confdir)`; `answers` are typed at prompts in order.
    pub fn start(confdir: &Path, service: &str, user: &str, answers: &[&str]) -> Session {
        let script = Box::new(RefCell::new(Script {
            answers: answers.iter().map(|s| s.to_string()).collect(),
            transcript: Vec::new(),
        }));
        let conv = Box::new(PamConv {
            conv: converse,
            appdata: (&*script as *const RefCell<Script>).cast_mut().cast(),
        });
        let (s, u, d) = (
            CString::new(service).unwrap(),
            CString::new(user).unwrap(),
            CString::new(confdir.to_str().unwrap()).unwrap(),
        );
        let mut pamh = std::ptr::null_mut();
        // SAFETY: all pointers are valid C strings / structs that outlive the handle (boxed).
        let rc =
            unsafe { pam_start_confdir(s.as_ptr(), u.as_ptr(), &*conv, d.as_ptr(), &mut pamh) };
        assert_eq!(rc, PAM_SUCCESS, "pam_start_confdir failed");
        Session {
            pamh,
            _conv: conv,
            script,
            last: PAM_SUCCESS,
        }
    }

    pub fn set_rhost(&mut self, rhost: &str) {
        let c = CString::new(rhost).unwrap();
        // SAFETY: libpam copies the string.
        assert_eq!(
            unsafe { pam_set_item(self.pamh, PAM_RHOST, c.as_ptr().cast()) },
            PAM_SUCCESS
        );
    }

    pub fn authenticate(&mut self, flags: i32) -> i32 {
        // SAFETY: live handle.
        self.last = unsafe { pam_authenticate(self.pamh, flags) };
        self.last
    }

    pub fn acct_mgmt(&mut self, flags: i32) -> i32 {
        // SAFETY: live handle.
        self.last = unsafe { pam_acct_mgmt(self.pamh, flags) };
        self.last
    }

    /// Every message the stack sent, with its style.
    pub fn transcript(&self) -> Vec<(i32, String)> {
        self.script.borrow().transcript.clone()
    }

    /// Only the prompts (messages that asked for input).
    pub fn prompts(&self) -> Vec<String> {
        self.transcript()
            .into_iter()
            .filter(|(s, _)| *s == PAM_PROMPT_ECHO_OFF || *s == PAM_PROMPT_ECHO_ON)
            .map(|(_, m)| m)
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the handle is live and ended exactly once.
        unsafe { pam_end(self.pamh, self.last) };
    }
}
