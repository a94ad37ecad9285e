//! The tasks this host has run: `state_dir/agent-tasks.json`. A task's id is written (fsync'd)
//! before it runs and its result after, so a task id is never run twice, even across a crash or
//! a server that hands it out again: a replayed id gets its remembered result re-sent. A
//! result is kept until a poll that carried it was answered; a record is pruned 8 days after
//! its task ran. The file is root's, 0600, replaced whole; one that does not parse is set
//! aside (`agent-tasks.json.corrupt-<time>`) and the agent goes on with a record of the task ids
//! still legible in it, each as taken on without a result (never run again).

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

use pam_ticketgate::fsutil::{self, FileError, Rule};

use crate::wire::{Status, TaskResult};

/// The file's name under `state_dir`.
pub const FILE: &str = "agent-tasks.json";
/// Its lock file: held by the agent for a whole poll, so two agents never run one task.
pub const LOCK: &str = "agent-tasks.lock";
/// How long a record is kept after its task ran.
pub const KEEP_SECS: i64 = 8 * 86_400;
/// A larger file is corrupt (50 tasks a minute for 8 days is far less).
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// One task this host took on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ran {
    pub id: String,
    pub kind: String,
    pub user: String,
    /// When it was taken on (epoch seconds).
    pub at: i64,
    /// `done`, `failed` or `refused`; `None` while it runs (or if the agent stopped during it).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub detail: String,
    /// The result went out in a poll the server answered.
    #[serde(default)]
    pub sent: bool,
}

impl Ran {
    /// The result to send, if the task has one.
    pub fn result(&self) -> Option<TaskResult> {
        let status = Status::from_word(self.status.as_deref()?)?;
        Some(TaskResult {
            task_id: self.id.clone(),
            status,
            detail: self.detail.clone(),
        })
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    version: u32,
    tasks: Vec<Ran>,
}

/// The file under `state_dir`, locked while this value lives.
pub struct RanFile {
    path: PathBuf,
    _lock: Flock<File>,
    tasks: Vec<Ran>,
}

/// What opening found.
pub enum Opened {
    Ok(RanFile),
    /// The file did not parse: it was moved to `aside` and the record starts empty.
    SetAside {
        file: RanFile,
        aside: PathBuf,
        why: String,
    },
}

impl RanFile {
    /// Takes the lock (waiting for another agent's poll to end), reads the file, prunes records
    /// older than 8 days. A corrupt file is set aside.
    pub fn open(state_dir: &Path, now: i64) -> Result<Opened, FileError> {
        let lock_path = state_dir.join(LOCK);
        let lock = fsutil::lock(&lock_path).map_err(FileError::io(&lock_path))?;
        let path = state_dir.join(FILE);
        let (tasks, aside) = match read(&path) {
            Ok(tasks) => (tasks, None),
            Err(FileError::Corrupt { detail, .. }) => {
                let aside = path.with_file_name(format!("{FILE}.corrupt-{now}"));
                fs::rename(&path, &aside).map_err(FileError::io(&path))?;
                // Every task id still legible in it is remembered as taken on with no result:
                // handed out again, it is reported (outcome unknown), never run a second time.
                let mut bytes = Vec::new();
                let _ = File::open(&aside).and_then(|f| f.take(MAX_BYTES).read_to_end(&mut bytes));
                let salvaged = salvage_ids(&bytes)
                    .into_iter()
                    .map(|id| Ran {
                        id,
                        kind: "?".into(),
                        user: String::new(),
                        at: now,
                        status: None,
                        detail: String::new(),
                        sent: false,
                    })
                    .collect();
                (salvaged, Some((aside, detail)))
            }
            Err(e) => return Err(e),
        };
        let mut file = RanFile {
            path,
            _lock: lock,
            tasks,
        };
        file.prune(now);
        Ok(match aside {
            None => Opened::Ok(file),
            Some((aside, why)) => {
                file.save()?;
                Opened::SetAside { file, aside, why }
            }
        })
    }

    /// The record of task `id`.
    pub fn get(&self, id: &str) -> Option<&Ran> {
        self.tasks.iter().find(|r| r.id == id)
    }

    /// The results not yet delivered, oldest first.
    pub fn unsent(&self) -> Vec<TaskResult> {
        self.tasks
            .iter()
            .filter(|r| !r.sent)
            .filter_map(Ran::result)
            .collect()
    }

    /// Records that the task is taken on, durably, before it runs.
    pub fn begin(&mut self, ran: Ran) -> Result<(), FileError> {
        self.tasks.retain(|r| r.id != ran.id);
        self.tasks.push(ran);
        self.save()
    }

    /// Records a task's result (to be sent).
    pub fn finish(&mut self, result: &TaskResult) -> Result<(), FileError> {
        if let Some(r) = self.tasks.iter_mut().find(|r| r.id == result.task_id) {
            r.status = Some(result.status.as_str().to_string());
            r.detail = result.detail.clone();
            r.sent = false;
        }
        self.save()
    }

    /// Sends the remembered result of `id` again (a replayed task).
    pub fn resend(&mut self, id: &str) -> Result<(), FileError> {
        if let Some(r) = self.tasks.iter_mut().find(|r| r.id == id && r.sent) {
            r.sent = false;
            return self.save();
        }
        Ok(())
    }

    /// Marks the results with these ids as delivered.
    pub fn mark_sent(&mut self, ids: &[String]) -> Result<(), FileError> {
        let mut changed = false;
        for r in self.tasks.iter_mut().filter(|r| ids.contains(&r.id)) {
            changed |= !r.sent;
            r.sent = true;
        }
        if changed { self.save() } else { Ok(()) }
    }

    fn prune(&mut self, now: i64) {
        self.tasks
            .retain(|r| r.at > now.saturating_sub(KEEP_SECS) || (r.status.is_some() && !r.sent));
    }

    fn save(&self) -> Result<(), FileError> {
        let doc = Doc {
            version: 1,
            tasks: self.tasks.clone(),
        };
        let bytes = serde_json::to_vec(&doc).map_err(|e| FileError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        fsutil::replace(&self.path, &bytes, true).map_err(FileError::io(&self.path))
    }

    /// Every record (for tests and the log).
    pub fn records(&self) -> &[Ran] {
        &self.tasks
    }
}

fn read(path: &Path) -> Result<Vec<Ran>, FileError> {
    let io = FileError::io(path);
    let mut file = match fsutil::private().read(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(&io)?;
    fsutil::check_opened(&meta, Rule::SECRET).map_err(|problem| FileError::Refused {
        path: path.to_path_buf(),
        problem,
    })?;
    let mut bytes = Vec::new();
    Read::by_ref(&mut file)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(&io)?;
    let corrupt = |detail: String| FileError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    if bytes.len() as u64 > MAX_BYTES {
        return Err(corrupt(format!("larger than {MAX_BYTES} bytes")));
    }
    let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if doc.version != 1 {
        return Err(corrupt(format!("version {} is not 1", doc.version)));
    }
    Ok(doc.tasks)
}

/// The task ids (UUID text, 8-4-4-4-12 hex digits) legible anywhere in `bytes`, lower case,
/// each once, in order.
fn salvage_ids(bytes: &[u8]) -> Vec<String> {
    const DASHES: [usize; 4] = [8, 13, 18, 23];
    let mut ids: Vec<String> = Vec::new();
    for w in bytes.windows(36) {
        let shaped = w.iter().enumerate().all(|(i, b)| {
            if DASHES.contains(&i) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
        if shaped {
            let id = String::from_utf8_lossy(w).to_ascii_lowercase();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    const NOW: i64 = 1_796_000_000;

    fn open(dir: &Path, now: i64) -> RanFile {
        match RanFile::open(dir, now).unwrap() {
            Opened::Ok(f) => f,
            Opened::SetAside { why, .. } => panic!("set aside: {why}"),
        }
    }

    fn ran(id: &str, at: i64) -> Ran {
        Ran {
            id: id.into(),
            kind: "lock".into(),
            user: "alice".into(),
            at,
            status: None,
            detail: String::new(),
            sent: false,
        }
    }

    fn done(id: &str) -> TaskResult {
        TaskResult {
            task_id: id.into(),
            status: Status::Done,
            detail: String::new(),
        }
    }

    #[test]
    fn a_task_is_remembered_before_it_runs_and_its_result_after() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut f = open(d.path(), NOW);
            f.begin(ran("a1", NOW)).unwrap();
        }
        // A crash here: the id is on disk without a result; it is never run again.
        let mut f = open(d.path(), NOW);
        assert!(f.get("a1").is_some_and(|r| r.status.is_none()));
        f.finish(&done("a1")).unwrap();
        drop(f);
        let f = open(d.path(), NOW);
        assert_eq!(f.unsent(), vec![done("a1")]);
    }

    #[test]
    fn a_delivered_result_is_not_sent_again_until_the_task_is_replayed() {
        let d = tempfile::tempdir().unwrap();
        let mut f = open(d.path(), NOW);
        f.begin(ran("a1", NOW)).unwrap();
        f.finish(&done("a1")).unwrap();
        f.mark_sent(&["a1".into()]).unwrap();
        assert!(f.unsent().is_empty());
        f.resend("a1").unwrap();
        drop(f);
        assert_eq!(open(d.path(), NOW).unsent(), vec![done("a1")]);
    }

    #[test]
    fn records_are_pruned_after_eight_days_unless_a_result_is_undelivered() {
        let d = tempfile::tempdir().unwrap();
        let mut f = open(d.path(), NOW);
        f.begin(ran("old-sent", NOW)).unwrap();
        f.finish(&done("old-sent")).unwrap();
        f.mark_sent(&["old-sent".into()]).unwrap();
        f.begin(ran("old-unsent", NOW)).unwrap();
        f.finish(&done("old-unsent")).unwrap();
        f.begin(ran("recent", NOW + KEEP_SECS)).unwrap();
        drop(f);
        let f = open(d.path(), NOW + KEEP_SECS);
        let ids: Vec<&str> = f.records().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["old-unsent", "recent"]);
        drop(f);
        // Seven days and 23 hours: still kept.
        let d = tempfile::tempdir().unwrap();
        let mut f = open(d.path(), NOW);
        f.begin(ran("a", NOW)).unwrap();
        drop(f);
        assert!(open(d.path(), NOW + KEEP_SECS - 3600).get("a").is_some());
    }

    #[test]
    fn a_corrupt_file_is_set_aside_and_the_record_starts_empty() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(FILE);
        std::fs::write(&path, "{\"version\": 1, \"tasks\": [tru").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        match RanFile::open(d.path(), NOW).unwrap() {
            Opened::SetAside { file, aside, .. } => {
                assert!(file.records().is_empty());
                assert_eq!(aside, d.path().join(format!("{FILE}.corrupt-{NOW}")));
                assert!(aside.exists());
            }
            Opened::Ok(_) => panic!("a corrupt file was read"),
        }
    }

    #[test]
    fn the_ids_legible_in_a_corrupt_file_are_remembered_as_taken_on_without_a_result() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(FILE);
        let done = "0a1b2c3d-0000-4000-8000-00000000000a";
        let cut = "0A1B2C3D-0000-4000-8000-00000000000B";
        std::fs::write(
            &path,
            format!(
                "{{\"version\": 1, \"tasks\": [{{\"id\": \"{done}\", \"status\": \"done\"}}, \
                 {{\"id\": \"{cut}\", \"kind\": \"lo"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let Opened::SetAside { file, .. } = RanFile::open(d.path(), NOW).unwrap() else {
            panic!("a corrupt file was read");
        };
        let ids: Vec<String> = file.records().iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids, [done.to_string(), cut.to_ascii_lowercase()]);
        assert!(file.records().iter().all(|r| r.status.is_none()));
        assert!(
            file.unsent().is_empty(),
            "nothing to report until handed out again"
        );
        drop(file);
        // Saved at once: the next open reads them from the new file.
        let again = open(d.path(), NOW + 60);
        assert!(again.get(done).is_some());
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped (needs root: the file must be root's)");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(FILE);
        std::fs::write(&path, "{\"version\": 1, \"tasks\": []}").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        assert!(matches!(
            RanFile::open(d.path(), NOW),
            Err(FileError::Refused { .. })
        ));
    }
}
