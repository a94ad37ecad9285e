//! The administrator's commands (`enroll`, `revoke`, `list`, the fleet verbs) are run as root,
//! but the files they write in `data_dir` must stay the server's: the server runs as its own
//! user and could not open a store file root created. So, run as root against a `data_dir` that
//! another user owns (systemd's `StateDirectory=` gives it to the unit's `User=`), a command
//! first takes that user and group as its effective ids (new files get them, and the trust
//! checks accept that user's directories). The real uid stays root's, so the fleet verbs still
//! log the administrator who ran them (`operator=`).

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Why a command could not become the owner of `data_dir`.
#[derive(Debug)]
pub enum SwitchError {
    /// A `setgroups`, `setegid` or `seteuid` call failed (the command stops: half-switched
    /// credentials would write files with the wrong owner).
    Call {
        call: &'static str,
        source: std::io::Error,
    },
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Call { call, source } => write!(
                f,
                "cannot become the owner of data_dir ({call} failed: {source}); run the command as that user, e.g. runuser -u _ticketgate-server -- ticketgate-server ..."
            ),
        }
    }
}

impl std::error::Error for SwitchError {}

/// As root, takes the user and group owning `data_dir` as effective ids when that is not root
/// and the directories leading to it are root's alone (so only root can have chosen that
/// owner). Returns the uid switched to; `None` when nothing changed (not root, no such
/// directory yet, owned by root, or an untrusted path, which the store then refuses with its
/// own message).
pub fn become_data_dir_owner(data_dir: &Path) -> Result<Option<u32>, SwitchError> {
    // SAFETY: geteuid takes no arguments, touches no memory we own and cannot fail (POSIX).
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let Ok(meta) = std::fs::symlink_metadata(data_dir) else {
        return Ok(None);
    };
    let trusted_parent = data_dir
        .parent()
        .is_some_and(|p| fs_trust::check_dir(p, fs_trust::Owner::Root).is_ok());
    if !meta.is_dir() || meta.uid() == 0 || !trusted_parent {
        return Ok(None);
    }
    let (uid, gid) = (meta.uid(), meta.gid());
    let check = |call: &'static str, rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(SwitchError::Call {
                call,
                source: std::io::Error::last_os_error(),
            })
        }
    };
    // Groups first, then the gid, then the uid: once the effective uid is not root's, the
    // groups could no longer be changed.
    // SAFETY: a count of 0 with a null list drops every supplementary group; nothing is read.
    check("setgroups", unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: setegid takes a plain integer and touches no memory.
    check("setegid", unsafe { libc::setegid(gid) })?;
    // SAFETY: seteuid takes a plain integer and touches no memory; the real uid stays root's
    // (read by fleet::cli::operator), the effective uid decides file owners and access.
    check("seteuid", unsafe { libc::seteuid(uid) })?;
    Ok(Some(uid))
}
