//! `run_dir` and the directories below it (ticket cache, sessions), checked before anything in
//! them is read or written, by the rule `state_dir` is held to: root-owned, not writable by
//! group or others, not a symbolic link, and the directories leading to it likewise (fsutil).
//! A [`RunDir`] exists only once that check passed; the breaker, the verdict cache, the token
//! cache and the session records take one, so none can be used on an unchecked directory.

use std::fmt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::fsutil::{self, Owner};

/// A checked `run_dir`.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

/// Why `run_dir` (or a directory below it) cannot be used: the gates that need it fail closed.
#[derive(Debug)]
pub enum RunDirError {
    /// It was missing and could not be created.
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    /// It, or a directory leading to it, is not one only root can have written.
    Unsafe {
        path: PathBuf,
        refused: fsutil::Refused,
    },
}

impl fmt::Display for RunDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create { path, source } => {
                write!(f, "run_dir {}: cannot create: {source}", path.display())
            }
            Self::Unsafe { path, refused } => {
                write!(f, "run_dir {}: refused: {refused}", path.display())
            }
        }
    }
}

impl std::error::Error for RunDirError {}

impl RunDir {
    /// Checks `path`, creating it (root, 0700) when missing.
    pub fn open(path: &Path) -> Result<RunDir, RunDirError> {
        create(path, true)?;
        fsutil::check_dir(path, Owner::Root).map_err(|refused| RunDirError::Unsafe {
            path: path.to_path_buf(),
            refused,
        })?;
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory `name` below it (created 0700 when missing), checked as `run_dir` is.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, RunDirError> {
        let dir = self.path.join(name);
        create(&dir, false)?;
        fsutil::check_dir_entry(&dir, Owner::Root).map_err(|problem| RunDirError::Unsafe {
            path: dir.clone(),
            refused: fsutil::Refused { at: None, problem },
        })?;
        Ok(dir)
    }
}

/// Creates `dir` (mode 0700; its parents too when `parents`) unless something is there.
fn create(dir: &Path, parents: bool) -> Result<(), RunDirError> {
    if std::fs::symlink_metadata(dir).is_ok() {
        return Ok(());
    }
    match std::fs::DirBuilder::new()
        .recursive(parents)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(RunDirError::Create {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_missing_run_dir_and_subdir_are_created_private() {
        crate::test_support::needs_root!("a_missing_run_dir_and_subdir_are_created_private");
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::open(&d.path().join("run/ticketgate")).unwrap();
        let sessions = run.subdir("sessions").unwrap();
        for p in [run.path(), sessions.as_path()] {
            assert_eq!(
                std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }

    /// Issue 12 (item 4): a run_dir others can write (a wrong mode, a pre-created
    /// /run/ticketgate) let them plant cache files and session records. It is refused.
    #[test]
    fn a_world_writable_run_dir_is_refused_issue_12() {
        crate::test_support::needs_root!("a_world_writable_run_dir_is_refused_issue_12");
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        RunDir::open(&run).unwrap();
        chmod(&run, 0o777);
        let e = RunDir::open(&run).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "run_dir {}: refused: mode 0777 lets group or others write it; run chmod go-w",
                run.display()
            )
        );
        // Sticky does not help: this is the module's own directory.
        chmod(&run, 0o1777);
        assert!(RunDir::open(&run).is_err());
    }

    #[test]
    fn a_run_dir_owned_by_another_user_or_below_an_open_directory_is_refused_issue_12() {
        crate::test_support::needs_root!(
            "a_run_dir_owned_by_another_user_or_below_an_open_directory_is_refused_issue_12"
        );
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        RunDir::open(&run).unwrap();
        std::os::unix::fs::chown(&run, Some(65534), None).unwrap();
        assert!(
            RunDir::open(&run)
                .unwrap_err()
                .to_string()
                .contains("uid 65534")
        );
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        chmod(&open, 0o777);
        let e = RunDir::open(&open.join("run")).unwrap_err().to_string();
        assert!(e.contains(&format!("{}: mode 0777", open.display())), "{e}");
    }

    #[test]
    fn a_subdirectory_others_can_write_or_a_link_is_refused_issue_12() {
        crate::test_support::needs_root!(
            "a_subdirectory_others_can_write_or_a_link_is_refused_issue_12"
        );
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::open(d.path()).unwrap();
        let cache = run.subdir("ticket-cache").unwrap();
        chmod(&cache, 0o777);
        assert!(
            run.subdir("ticket-cache")
                .unwrap_err()
                .to_string()
                .contains("mode 0777")
        );
        std::os::unix::fs::symlink("/tmp", d.path().join("sessions")).unwrap();
        assert!(
            run.subdir("sessions")
                .unwrap_err()
                .to_string()
                .contains("symbolic link")
        );
    }
}
