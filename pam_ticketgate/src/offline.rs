//! The circuit breaker every process shares: after a server failed, skip it for `retry_after` (one file per server under `run_dir`).

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A breaker for one server, named by the gate (`login_protect`, `ticket`).
///
/// State: `run_dir/breaker.<name>` holds the epoch second until which the server is skipped.
/// Written by temp file + rename, so concurrent logins never read half a number. A file that
/// is missing, unreadable, malformed, not owned by this process's user or writable by others
/// reads as "closed": the network is tried, which is the side that can only cost time.
#[derive(Debug, Clone)]
pub struct Breaker {
    dir: PathBuf,
    file: PathBuf,
}

impl Breaker {
    /// The breaker `name` under `run_dir` (created 0700 when missing). Characters other than
    /// ASCII letters, digits, `-` and `_` in `name` become `_`.
    pub fn new(run_dir: &Path, name: &str) -> Breaker {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Breaker {
            dir: run_dir.to_path_buf(),
            file: run_dir.join(format!("breaker.{safe}")),
        }
    }

    /// True while the server is to be skipped (treated as unreachable without a request).
    pub fn is_open(&self, now: i64) -> bool {
        self.open_until().is_some_and(|until| now < until)
    }

    /// The epoch second until which the breaker is open, if it was tripped and is trusted.
    pub fn open_until(&self) -> Option<i64> {
        let meta = fs::symlink_metadata(&self.file).ok()?;
        if !meta.is_file()
            || meta.uid() != nix::unistd::geteuid().as_raw()
            || meta.mode() & 0o022 != 0
        {
            return None;
        }
        let text = fs::read_to_string(&self.file).ok()?;
        text.trim().parse::<i64>().ok()
    }

    /// Opens the breaker until `now + retry_after`. Best effort: when the file cannot be
    /// written, the breaker stays closed and the next login tries the server again.
    pub fn trip(&self, now: i64, retry_after: Duration) {
        let secs = i64::try_from(retry_after.as_secs()).unwrap_or(i64::MAX);
        let until = now.saturating_add(secs);
        let _ = self.write(until);
    }

    /// Closes the breaker (the server answered).
    pub fn close(&self) {
        // Only touch the file when it exists: a healthy server costs no write per login.
        if fs::symlink_metadata(&self.file).is_ok() {
            let _ = fs::remove_file(&self.file);
        }
    }

    fn write(&self, until: i64) -> std::io::Result<()> {
        if !self.dir.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)?;
        }
        crate::fsutil::replace(&self.file, format!("{until}\n").as_bytes(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_until_tripped_then_open_for_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let b = Breaker::new(dir.path(), "login_protect");
        assert!(!b.is_open(1000));
        b.trip(1000, Duration::from_secs(30));
        assert!(b.is_open(1000));
        assert!(b.is_open(1029));
        assert!(!b.is_open(1030));
        assert_eq!(b.open_until(), Some(1030));
    }

    #[test]
    fn close_reopens_the_network() {
        let dir = tempfile::tempdir().unwrap();
        let b = Breaker::new(dir.path(), "ticket");
        b.trip(0, Duration::from_secs(60));
        b.close();
        assert!(!b.is_open(1));
        b.close(); // closing a closed breaker is fine
        assert!(!b.is_open(1));
    }

    #[test]
    fn shared_between_instances_and_separate_per_name() {
        let dir = tempfile::tempdir().unwrap();
        Breaker::new(dir.path(), "login_protect").trip(10, Duration::from_secs(5));
        assert!(Breaker::new(dir.path(), "login_protect").is_open(12));
        assert!(!Breaker::new(dir.path(), "ticket").is_open(12));
    }

    #[test]
    fn creates_missing_run_dir_0700() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run/ticketgate");
        let b = Breaker::new(&run, "x");
        b.trip(0, Duration::from_secs(1));
        let mode = fs::metadata(&run).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(b.is_open(0));
    }

    #[test]
    fn garbage_or_world_writable_state_reads_closed() {
        let dir = tempfile::tempdir().unwrap();
        let b = Breaker::new(dir.path(), "p");
        fs::write(dir.path().join("breaker.p"), "not a number").unwrap();
        assert!(!b.is_open(0));
        fs::write(dir.path().join("breaker.p"), "99999").unwrap();
        assert!(b.is_open(0));
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            dir.path().join("breaker.p"),
            fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        assert!(!b.is_open(0));
    }

    #[test]
    fn symlinked_state_reads_closed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("target"), "99999").unwrap();
        std::os::unix::fs::symlink(dir.path().join("target"), dir.path().join("breaker.s"))
            .unwrap();
        assert!(!Breaker::new(dir.path(), "s").is_open(0));
    }

    #[test]
    fn name_cannot_escape_run_dir() {
        let dir = tempfile::tempdir().unwrap();
        let b = Breaker::new(&dir.path().join("run"), "../../etc/x");
        b.trip(0, Duration::from_secs(10));
        assert!(dir.path().join("run/breaker.______etc_x").exists());
        assert!(b.is_open(1));
    }

    #[test]
    fn unwritable_run_dir_leaves_it_closed() {
        let b = Breaker::new(Path::new("/proc/no/such/dir"), "p");
        b.trip(0, Duration::from_secs(10));
        assert!(!b.is_open(1));
    }

    #[test]
    fn huge_retry_after_saturates() {
        let dir = tempfile::tempdir().unwrap();
        let b = Breaker::new(dir.path(), "p");
        b.trip(i64::MAX - 1, Duration::from_secs(u64::MAX));
        assert!(b.is_open(i64::MAX - 1));
    }
}
