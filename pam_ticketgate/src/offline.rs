//! The circuit breaker every process shares: after a server failed, skip it for `retry_after` (one file per server under `run_dir`).

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use crate::fsutil::{self, Rule};
use crate::run_dir::RunDir;

/// A breaker for one server, as the gates use it: a file in production ([`FileBreaker`]),
/// memory in tests.
pub trait Breaker {
    /// The epoch second until which the server is skipped, if it was tripped and is trusted.
    fn open_until(&self) -> Option<i64>;
    /// Skips the server until `until`. Best effort: a breaker that cannot be written stays
    /// closed and the next login tries the server again.
    fn open(&self, until: i64);
    /// Closes the breaker (the server answered).
    fn close(&self);

    /// True while the server is to be skipped (treated as unreachable without a request).
    fn is_open(&self, now: i64) -> bool {
        self.open_until().is_some_and(|until| now < until)
    }

    /// Opens the breaker until `now + retry_after`.
    fn trip(&self, now: i64, retry_after: Duration) {
        let secs = i64::try_from(retry_after.as_secs()).unwrap_or(i64::MAX);
        self.open(now.saturating_add(secs));
    }
}

/// A breaker for one server, named by the gate (`login_protect`, `ticket`).
///
/// State: `run_dir/breaker.<name>` holds the epoch second until which the server is skipped.
/// Written by temp file + rename, so concurrent logins never read half a number. A file that
/// is missing, unreadable, malformed, not root's or open to others reads as "closed": the
/// network is tried, which is the side that can only cost time.
#[derive(Debug, Clone)]
pub struct FileBreaker {
    file: PathBuf,
}

impl FileBreaker {
    /// The breaker `name` under the (checked) `run_dir`. Characters other than ASCII letters,
    /// digits, `-` and `_` in `name` become `_`.
    pub fn new(run_dir: &RunDir, name: &str) -> FileBreaker {
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
        FileBreaker {
            file: run_dir.path().join(format!("breaker.{safe}")),
        }
    }
}

impl Breaker for FileBreaker {
    fn open_until(&self) -> Option<i64> {
        let mut file = fsutil::private().read(true).open(&self.file).ok()?;
        // Others may read a breaker (it holds a time), only root may have written it.
        fsutil::check_opened(&file.metadata().ok()?, Rule::PUBLIC).ok()?;
        let mut text = String::new();
        file.by_ref().take(64).read_to_string(&mut text).ok()?;
        text.trim().parse::<i64>().ok()
    }

    fn open(&self, until: i64) {
        let _ = fsutil::replace(&self.file, format!("{until}\n").as_bytes(), false);
    }

    fn close(&self) {
        // Only touch the file when it exists: a healthy server costs no write per login.
        if fs::symlink_metadata(&self.file).is_ok() {
            let _ = fs::remove_file(&self.file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    fn run(dir: &Path) -> RunDir {
        RunDir::open(dir).unwrap()
    }

    #[test]
    fn closed_until_tripped_then_open_for_retry_after() {
        crate::test_support::needs_root!("closed_until_tripped_then_open_for_retry_after");
        let dir = tempfile::tempdir().unwrap();
        let b = FileBreaker::new(&run(dir.path()), "login_protect");
        assert!(!b.is_open(1000));
        b.trip(1000, Duration::from_secs(30));
        assert!(b.is_open(1000));
        assert!(b.is_open(1029));
        assert!(!b.is_open(1030));
        assert_eq!(b.open_until(), Some(1030));
    }

    #[test]
    fn close_reopens_the_network() {
        crate::test_support::needs_root!("close_reopens_the_network");
        let dir = tempfile::tempdir().unwrap();
        let b = FileBreaker::new(&run(dir.path()), "ticket");
        b.trip(0, Duration::from_secs(60));
        b.close();
        assert!(!b.is_open(1));
        b.close(); // closing a closed breaker is fine
        assert!(!b.is_open(1));
    }

    #[test]
    fn shared_between_instances_and_separate_per_name() {
        crate::test_support::needs_root!("shared_between_instances_and_separate_per_name");
        let dir = tempfile::tempdir().unwrap();
        FileBreaker::new(&run(dir.path()), "login_protect").trip(10, Duration::from_secs(5));
        assert!(FileBreaker::new(&run(dir.path()), "login_protect").is_open(12));
        assert!(!FileBreaker::new(&run(dir.path()), "ticket").is_open(12));
    }

    #[test]
    fn creates_missing_run_dir_0700() {
        crate::test_support::needs_root!("creates_missing_run_dir_0700");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/ticketgate");
        let b = FileBreaker::new(&run(&path), "x");
        b.trip(0, Duration::from_secs(1));
        let mode = fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(b.is_open(0));
    }

    #[test]
    fn garbage_or_world_writable_state_reads_closed() {
        crate::test_support::needs_root!("garbage_or_world_writable_state_reads_closed");
        let dir = tempfile::tempdir().unwrap();
        let b = FileBreaker::new(&run(dir.path()), "p");
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
        crate::test_support::needs_root!("symlinked_state_reads_closed");
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("target"), "99999").unwrap();
        std::os::unix::fs::symlink(dir.path().join("target"), dir.path().join("breaker.s"))
            .unwrap();
        assert!(!FileBreaker::new(&run(dir.path()), "s").is_open(0));
    }

    #[test]
    fn name_cannot_escape_run_dir() {
        crate::test_support::needs_root!("name_cannot_escape_run_dir");
        let dir = tempfile::tempdir().unwrap();
        let b = FileBreaker::new(&run(&dir.path().join("run")), "../../etc/x");
        b.trip(0, Duration::from_secs(10));
        assert!(dir.path().join("run/breaker.______etc_x").exists());
        assert!(b.is_open(1));
    }

    #[test]
    fn unwritable_run_dir_leaves_it_closed() {
        crate::test_support::needs_root!("unwritable_run_dir_leaves_it_closed");
        let dir = tempfile::tempdir().unwrap();
        let b = FileBreaker::new(&run(dir.path()), "p");
        drop(dir);
        b.trip(0, Duration::from_secs(10));
        assert!(!b.is_open(1));
    }

    #[test]
    fn a_breaker_file_not_roots_reads_closed() {
        crate::test_support::needs_root!("a_breaker_file_not_roots_reads_closed");
        let dir = tempfile::tempdir().unwrap();
        let b = FileBreaker::new(&run(dir.path()), "p");
        b.trip(0, Duration::from_secs(10));
        let f = dir.path().join("breaker.p");
        std::os::unix::fs::chown(&f, Some(65534), None).unwrap();
        assert!(!b.is_open(1));
        std::os::unix::fs::chown(&f, Some(0), None).unwrap();
        assert!(b.is_open(1));
    }

    #[test]
    fn huge_retry_after_saturates() {
        crate::test_support::needs_root!("huge_retry_after_saturates");
        let dir = tempfile::tempdir().unwrap();
        let b = FileBreaker::new(&run(dir.path()), "p");
        b.trip(i64::MAX - 1, Duration::from_secs(u64::MAX));
        assert!(b.is_open(i64::MAX - 1));
    }
}
