//! Login sessions on this host: one record per open session under `run_dir/sessions`, so the
//! CLI can list and terminate them. Entries whose process is gone (or whose pid was reused) are
//! pruned when listed. A record names its process by pid, start time and uid, and the CLI
//! signals it only while `/proc` still shows all three (a record that does not describe the
//! running process cannot aim `terminate` at it).

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{self, Rule};
use crate::run_dir::{RunDir, RunDirError};

/// One open session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user: String,
    pub service: String,
    pub tty: String,
    pub rhost: String,
    /// The process that opened the session (sshd's per-connection process, su, login): ending
    /// it ends the session.
    pub pid: i32,
    /// That process's start time (clock ticks after boot), to tell a reused pid apart.
    pub start_ticks: u64,
    /// That process's real uid when the session opened (`/proc/<pid>/status`).
    pub uid: u32,
    pub ticket: Option<String>,
    pub start: i64,
}

/// Why session state could not be used.
#[derive(Debug)]
pub struct SessionError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sessions {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for SessionError {}

/// Session records as the `session` phase uses them: files in production ([`Sessions`]),
/// memory in tests.
pub trait SessionLog {
    /// Records a session (replacing a stale record of the same pid).
    fn open(&self, record: &SessionRecord) -> Result<(), SessionError>;
    /// Removes the record of `pid`, returning it when there was one.
    fn close(&self, pid: i32) -> Option<SessionRecord>;
}

/// A borrowed log is a log (a test keeps the one it inspects).
impl<T: SessionLog + ?Sized> SessionLog for &T {
    fn open(&self, record: &SessionRecord) -> Result<(), SessionError> {
        (**self).open(record)
    }
    fn close(&self, pid: i32) -> Option<SessionRecord> {
        (**self).close(pid)
    }
}

/// `run_dir/sessions`, one `<pid>.json` per session.
pub struct Sessions {
    dir: PathBuf,
}

impl Sessions {
    /// The records under the (checked) `run_dir`; its `sessions` directory is created and
    /// checked the same way.
    pub fn new(run_dir: &RunDir) -> Result<Self, RunDirError> {
        Ok(Self {
            dir: run_dir.subdir("sessions")?,
        })
    }

    fn err(&self, source: std::io::Error) -> SessionError {
        SessionError {
            path: self.dir.clone(),
            source,
        }
    }

    fn path(&self, pid: i32) -> PathBuf {
        self.dir.join(format!("{pid}.json"))
    }

    /// Every live session (of `user`, if given), oldest first; stale records are removed.
    pub fn list(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, SessionError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| self.err(e))?.path();
            match read(&path) {
                Some(r) if r.is_running() => {
                    if user.is_none_or(|u| u == r.user) {
                        out.push(r);
                    }
                }
                _ => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        out.sort_by_key(|r| (r.start, r.pid));
        Ok(out)
    }
}

impl SessionLog for Sessions {
    /// Records a session (replacing a stale record of the same pid).
    fn open(&self, record: &SessionRecord) -> Result<(), SessionError> {
        let bytes = serde_json::to_vec(record).map_err(|e| self.err(std::io::Error::other(e)))?;
        crate::fsutil::private()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.path(record.pid))
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(|e| self.err(e))
    }

    /// Removes the session opened by `pid`; `None` if there was none.
    fn close(&self, pid: i32) -> Option<SessionRecord> {
        let path = self.path(pid);
        let record = read(&path);
        std::fs::remove_file(&path).ok()?;
        record
    }
}

impl SessionRecord {
    /// True while `/proc` shows the recorded process: same pid, start time and real uid, and
    /// not a zombie. Checked again right before every signal.
    pub fn is_running(&self) -> bool {
        is_alive(self.pid, self.start_ticks) && real_uid(self.pid) == Some(self.uid)
    }
}

/// A record file: root's and open to nobody else (as every file the module writes), else none.
fn read(path: &Path) -> Option<SessionRecord> {
    let file = fsutil::private().read(true).open(path).ok()?;
    fsutil::check_opened(&file.metadata().ok()?, Rule::SECRET).ok()?;
    let mut bytes = Vec::new();
    file.take(64 * 1024).read_to_end(&mut bytes).ok()?;
    decode(&bytes)
}

/// A session file's record; `None` when it is not one.
pub(crate) fn decode(bytes: &[u8]) -> Option<SessionRecord> {
    serde_json::from_slice(bytes).ok()
}

/// The start time of `pid` in clock ticks after boot (field 22 of `/proc/<pid>/stat`).
pub fn start_ticks(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, ticks)| ticks)
}

/// The real uid of `pid` (the first `Uid:` field of `/proc/<pid>/status`).
pub fn real_uid(pid: i32) -> Option<u32> {
    if pid <= 0 {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// (state, start time) of `pid` from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: count after the last ')'.
    let mut rest = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.nth(18)?.parse().ok()?))
}

/// Every process below `pid` (children, their children, …) with its start time, from the
/// parent pids in `/proc`: what a session's leader started — for an sshd session without a
/// terminal, the user's commands, which no hang-up reaches when the leader ends.
pub fn descendants(pid: i32) -> Vec<(i32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let procs: Vec<(i32, i32, u64)> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| parent_and_start(p).map(|(ppid, start)| (p, ppid, start)))
        .collect();
    let mut found: Vec<(i32, u64)> = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, ppid, start) in &procs {
            if ppid == parent && p != pid && !found.iter().any(|&(f, _)| f == p) {
                found.push((p, start));
                frontier.push(p);
            }
        }
    }
    found
}

/// (parent pid, start time) of `pid` from `/proc/<pid>/stat` (fields 4 and 22).
fn parent_and_start(pid: i32) -> Option<(i32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let ppid = rest.nth(1)?.parse().ok()?;
    Some((ppid, rest.nth(17)?.parse().ok()?))
}

/// True when `pid` runs and is the process that was recorded (same start time). A zombie (it
/// ended, its parent has not collected it yet) is not alive.
pub fn is_alive(pid: i32, recorded_start: u64) -> bool {
    pid > 0 && stat(pid).is_some_and(|(state, ticks)| state != 'Z' && ticks == recorded_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: i32, start_ticks: u64, user: &str) -> SessionRecord {
        SessionRecord {
            user: user.into(),
            service: "su".into(),
            tty: "pts/1".into(),
            rhost: String::new(),
            pid,
            start_ticks,
            uid: 0,
            ticket: Some("CHG0000001".into()),
            start: 10,
        }
    }

    fn sessions(dir: &Path) -> Sessions {
        Sessions::new(&RunDir::open(dir).unwrap()).unwrap()
    }

    #[test]
    fn live_sessions_are_listed_and_dead_or_reused_pids_pruned() {
        crate::test_support::needs_root!("live_sessions_are_listed_and_dead_or_reused_pids_pruned");
        let d = tempfile::tempdir().unwrap();
        let s = sessions(d.path());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let ticks = start_ticks(pid).unwrap();
        s.open(&record(pid, ticks, "alice")).unwrap();
        s.open(&record(pid + 100_000, 1, "bob")).unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        s.open(&record(me, start_ticks(me).unwrap() + 1, "carol"))
            .unwrap();
        assert_eq!(s.list(None).unwrap(), vec![record(pid, ticks, "alice")]);
        assert_eq!(s.list(Some("bob")).unwrap(), vec![]);
        assert_eq!(
            std::fs::read_dir(d.path().join("sessions"))
                .unwrap()
                .count(),
            1,
            "stale records removed"
        );
        child.kill().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            s.list(None).unwrap().is_empty(),
            "a zombie is not a live session"
        );
        child.wait().unwrap();
    }

    #[test]
    fn close_removes_the_record() {
        crate::test_support::needs_root!("close_removes_the_record");
        let d = tempfile::tempdir().unwrap();
        let s = sessions(d.path());
        let me = i32::try_from(std::process::id()).unwrap();
        s.open(&record(me, start_ticks(me).unwrap(), "alice"))
            .unwrap();
        assert_eq!(s.close(me).unwrap().user, "alice");
        assert_eq!(s.close(me), None);
    }

    #[test]
    fn start_ticks_survives_odd_command_names() {
        assert!(start_ticks(i32::try_from(std::process::id()).unwrap()).is_some());
        assert_eq!(start_ticks(-1), None);
    }

    #[test]
    fn descendants_include_children_and_grandchildren_with_their_start() {
        // sh starts sleep as its child: both are below this test process.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let sh = i32::try_from(child.id()).unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        // Bounded wait for sh to have started sleep.
        let mut grandchildren = Vec::new();
        for _ in 0..500 {
            grandchildren = descendants(sh);
            if !grandchildren.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let below = descendants(me);
        let _ = child.kill();
        let _ = child.wait();
        for (p, _) in &grandchildren {
            let _ = std::process::Command::new("kill")
                .arg(p.to_string())
                .status();
        }
        assert!(below.iter().any(|&(p, _)| p == sh), "{below:?}");
        let [(sleep, start)] = grandchildren[..] else {
            panic!("one grandchild expected: {grandchildren:?}");
        };
        assert!(below.contains(&(sleep, start)), "{below:?}");
        assert_eq!(start_ticks(sleep), Some(start));
        assert!(!descendants(me).iter().any(|&(p, _)| p == me));
    }

    /// Issue 12 (item 4): a record is the running process only with its uid too: a record
    /// naming a process of another uid (with the right start time) is not running.
    #[test]
    fn a_record_with_another_uid_or_start_time_is_not_the_running_process_issue_12() {
        crate::test_support::needs_root!(
            "a_record_with_another_uid_or_start_time_is_not_the_running_process_issue_12"
        );
        let me = i32::try_from(std::process::id()).unwrap();
        let ticks = start_ticks(me).unwrap();
        let mine = record(me, ticks, "alice");
        assert_eq!(real_uid(me), Some(0));
        assert!(mine.is_running());
        assert!(
            !SessionRecord {
                uid: 4242,
                ..mine.clone()
            }
            .is_running()
        );
        assert!(
            !SessionRecord {
                start_ticks: ticks + 1,
                ..mine
            }
            .is_running()
        );
    }

    #[test]
    fn a_record_file_not_roots_or_open_to_others_is_not_read_issue_12() {
        crate::test_support::needs_root!(
            "a_record_file_not_roots_or_open_to_others_is_not_read_issue_12"
        );
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let s = sessions(d.path());
        let me = i32::try_from(std::process::id()).unwrap();
        s.open(&record(me, start_ticks(me).unwrap(), "alice"))
            .unwrap();
        let file = d.path().join(format!("sessions/{me}.json"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(s.list(None).unwrap().is_empty());
        s.open(&record(me, start_ticks(me).unwrap(), "alice"))
            .unwrap();
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        assert!(s.list(None).unwrap().is_empty());
    }
}
