//! The administrator's switch (PassLogic 3.2): `ticketgate protect disable` drops a flag file under `state_dir`; while it is there no login-protect check is made.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The flag file's name under `state_dir`.
pub const FLAG: &str = "protect.disabled";

fn flag(state_dir: &Path) -> PathBuf {
    state_dir.join(FLAG)
}

/// True when an administrator switched login protect off. A flag that is not a root-owned
/// regular file, or that others can write, is ignored (protection stays on).
pub fn is_disabled(state_dir: &Path) -> bool {
    fs::symlink_metadata(flag(state_dir))
        .is_ok_and(|m| crate::fsutil::check_opened(&m, crate::fsutil::Rule::PUBLIC).is_ok())
}

/// Switches login protect off (`disabled = true`) or back on. `state_dir` must exist.
pub fn set_disabled(state_dir: &Path, disabled: bool, by: &str, now: i64) -> std::io::Result<()> {
    let path = flag(state_dir);
    if !disabled {
        return match fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
    }
    let mut f = crate::fsutil::private()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    f.write_all(format!("disabled by {by} at {now}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_and_on_again() {
        crate::test_support::needs_root!("off_and_on_again");
        let d = tempfile::tempdir().unwrap();
        assert!(!is_disabled(d.path()));
        set_disabled(d.path(), true, "root", 5).unwrap();
        assert!(is_disabled(d.path()));
        set_disabled(d.path(), true, "root", 6).unwrap();
        assert!(is_disabled(d.path()));
        set_disabled(d.path(), false, "root", 7).unwrap();
        assert!(!is_disabled(d.path()));
        set_disabled(d.path(), false, "root", 8).unwrap();
        assert!(!is_disabled(d.path()));
    }

    #[test]
    fn a_writable_or_symlinked_flag_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(FLAG), "x").unwrap();
        fs::set_permissions(d.path().join(FLAG), fs::Permissions::from_mode(0o646)).unwrap();
        assert!(!is_disabled(d.path()));
        fs::remove_file(d.path().join(FLAG)).unwrap();
        fs::write(d.path().join("elsewhere"), "x").unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), d.path().join(FLAG)).unwrap();
        assert!(!is_disabled(d.path()));
    }
}
