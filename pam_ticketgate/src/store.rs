//! Per-user state under `state_dir`: one JSON record per user, read-modify-write under an
//! exclusive lock, written by temp file + fsync + rename, so a crash never leaves half a record.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::user::UserName;

/// Size of a `<user>.last` file: one JSON object padded with spaces (user names, services and
/// rhosts are short; an entry that does not fit is not recorded).
pub(crate) const LAST_SUCCESS_BYTES: usize = 1024;

/// A record larger than this is corrupt (a real one is a few hundred bytes).
pub(crate) const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// One login attempt, as remembered for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: i64,
    pub service: String,
    pub rhost: String,
}

/// A lock set because of failed logons; `until: None` lasts until an administrator unlocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HackLock {
    pub at: i64,
    pub until: Option<i64>,
}

/// What the module must not forget about one user (locks, failures, credential lifecycle):
/// written durably. The last successful login is kept apart (see
/// [`StateStore::set_last_success`]). Failures and hack locks are kept per credential (Cisco:
/// wrong PINs do not lock password logins); an admin or inactivity lock covers the account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Since when an administrator has locked the account.
    #[serde(default)]
    pub admin_lock: Option<i64>,
    /// When the module first saw the user (the start for expiry and inactivity when nothing
    /// later is known: a new account does not count from 1970).
    #[serde(default)]
    pub first_seen: Option<i64>,
    /// A durable last-activity stamp for the inactivity lock, refreshed at most twice a day
    /// (the exact last success lives in the non-durable `.last` file).
    #[serde(default)]
    pub last_active: Option<i64>,
    /// Since when the account is locked for inactivity (until an administrator unlocks).
    #[serde(default)]
    pub inactive_lock: Option<i64>,
    #[serde(default)]
    pub password: CredentialState,
    #[serde(default)]
    pub pin: CredentialState,
}

/// Failed logons and lifecycle of one credential type (password or PIN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialState {
    /// Times (epoch seconds) of failures inside the current window, oldest first.
    #[serde(default)]
    pub failures: Vec<i64>,
    #[serde(default)]
    pub hack_lock: Option<HackLock>,
    #[serde(default)]
    pub last_failure: Option<Attempt>,
    /// When it was last changed through the module.
    #[serde(default)]
    pub last_change: Option<i64>,
    /// `ticketgate must-change`: the next login must change it.
    #[serde(default)]
    pub must_change: bool,
    /// Argon2 PHC strings of the most recent credentials, newest last.
    #[serde(default)]
    pub history: Vec<String>,
}

/// Why state could not be read or written.
#[derive(Debug)]
pub enum StoreError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file exists but is not a record this module wrote; the account is treated as locked.
    Corrupt { path: PathBuf, detail: String },
    /// `state_dir`, or a directory leading to it, is not root-owned, others may write it, or it
    /// is a symbolic link.
    UnsafeDir { path: PathBuf, problem: String },
    /// The user's record could not be written now (full or read-only file system).
    Unwritable { path: PathBuf, problem: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "state {}: {source}", path.display()),
            Self::Corrupt { path, detail } => write!(
                f,
                "state {}: corrupt ({detail}); the account is treated as locked until `ticketgate reset`",
                path.display()
            ),
            Self::UnsafeDir { path, problem } => {
                write!(f, "state_dir {}: refused: {problem}", path.display())
            }
            Self::Unwritable { path, problem } => {
                write!(f, "state {}: cannot be written: {problem}", path.display())
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// Where records live. Implemented by [`FileStore`] and, for tests, [`MemStore`].
pub trait StateStore {
    /// The user's record, `None` if nothing was ever stored.
    fn load(&self, user: &UserName) -> Result<Option<Record>, StoreError>;
    /// Locks the user's record, re-reads it, applies `f`, writes it back if it changed.
    fn update(&self, user: &UserName, f: &mut dyn FnMut(&mut Record))
    -> Result<Record, StoreError>;
    /// Removes the user's record, corrupt or not (`ticketgate reset`).
    fn remove(&self, user: &UserName) -> Result<(), StoreError>;
    /// Every user that has a record.
    fn users(&self) -> Result<Vec<UserName>, StoreError>;
    /// The last successful login, if one was recorded and is readable.
    fn last_success(&self, user: &UserName) -> Option<Attempt>;
    /// Records a successful login. Informational, so written without fsync: every login pays
    /// for this, and a crash can at worst lose or garble it, which reads as "none recorded" and
    /// never locks anyone out (unlike [`Record`], which a crash must not damage).
    fn set_last_success(&self, user: &UserName, attempt: &Attempt) -> Result<(), StoreError>;
    /// Whether a failure of `user` could be recorded now: the lock file is not a link (or
    /// anything but a file) and the file system is neither read-only nor full. Cheap (one
    /// lstat, one statvfs).
    fn check_writable(&self, _user: &UserName) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A borrowed store is a store: a test or a fuzz harness keeps its [`MemStore`] and hands the
/// gate a reference.
impl<S: StateStore + ?Sized> StateStore for &S {
    fn load(&self, user: &UserName) -> Result<Option<Record>, StoreError> {
        (**self).load(user)
    }
    fn update(
        &self,
        user: &UserName,
        f: &mut dyn FnMut(&mut Record),
    ) -> Result<Record, StoreError> {
        (**self).update(user, f)
    }
    fn remove(&self, user: &UserName) -> Result<(), StoreError> {
        (**self).remove(user)
    }
    fn users(&self) -> Result<Vec<UserName>, StoreError> {
        (**self).users()
    }
    fn last_success(&self, user: &UserName) -> Option<Attempt> {
        (**self).last_success(user)
    }
    fn set_last_success(&self, user: &UserName, attempt: &Attempt) -> Result<(), StoreError> {
        (**self).set_last_success(user, attempt)
    }
    fn check_writable(&self, user: &UserName) -> Result<(), StoreError> {
        (**self).check_writable(user)
    }
}

/// Free space below which the state directory counts as full: a record (at most 64 KiB) and
/// its temporary copy must fit.
const MIN_FREE_BYTES: u64 = 2 * MAX_RECORD_BYTES;

/// The real store: `<state_dir>/<user>.state`, locked through `<state_dir>/<user>.lock`.
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Opens `dir` when it exists (`None` when it does not), creating nothing: for looking
    /// (`ticketgate status`). Refused as [`open`](Self::open) refuses.
    pub fn open_existing(dir: &Path) -> Result<Option<Self>, StoreError> {
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => Self::open(dir).map(Some),
        }
    }

    /// `dir`, checked a moment ago by [`open`](Self::open) (an earlier line of the same login):
    /// only the directory itself is checked again (root's, not a link, not writable by others),
    /// not every directory leading to it.
    pub fn reopen(dir: &Path) -> Result<Self, StoreError> {
        fsutil::check_dir_entry(dir, fsutil::Owner::Root).map_err(|problem| {
            StoreError::UnsafeDir {
                path: dir.to_path_buf(),
                problem: problem.to_string(),
            }
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Opens `dir`, creating it (root, 0700) if missing; refuses a directory others could write.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        // The rule run_dir and every trusted file share (fsutil): root's, not writable by group
        // or others, no symbolic link, and the directories leading to it likewise. A missing
        // directory is created 0700 and then checked.
        let unsafe_dir = |refused: fsutil::Refused| StoreError::UnsafeDir {
            path: dir.to_path_buf(),
            problem: refused.to_string(),
        };
        match fsutil::check_dir(dir, fsutil::Owner::Root) {
            Ok(()) => {}
            Err(fsutil::Refused {
                problem: fsutil::Problem::Io(e),
                ..
            }) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io)?;
                fsutil::check_dir(dir, fsutil::Owner::Root).map_err(unsafe_dir)?;
            }
            Err(refused) => return Err(unsafe_dir(refused)),
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, user: &UserName, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", user.file_stem()))
    }

    fn read(&self, path: &Path) -> Result<Option<Record>, StoreError> {
        let mut file = match fsutil::private().read(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: "is a symbolic link".into(),
                });
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        // Records are small: one read fills the buffer, a second sees the end.
        let mut bytes = Vec::with_capacity(4096);
        Read::by_ref(&mut file)
            .take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        decode(&bytes)
            .map(Some)
            .map_err(|detail| StoreError::Corrupt {
                path: path.to_path_buf(),
                detail,
            })
    }

    fn write(&self, path: &Path, record: &Record) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = encode(record).map_err(|e| io(std::io::Error::other(e)))?;
        fsutil::replace(path, &bytes, true).map_err(io)
    }

    fn lock(&self, user: &UserName) -> Result<Flock<File>, StoreError> {
        let path = self.path(user, "lock");
        fsutil::lock(&path).map_err(|source| StoreError::Io { path, source })
    }
}

impl StateStore for FileStore {
    fn load(&self, user: &UserName) -> Result<Option<Record>, StoreError> {
        // Writers replace the file by rename, so a reader without the lock sees a whole record.
        self.read(&self.path(user, "state"))
    }

    fn update(
        &self,
        user: &UserName,
        f: &mut dyn FnMut(&mut Record),
    ) -> Result<Record, StoreError> {
        let _guard = self.lock(user)?;
        let path = self.path(user, "state");
        let before = self.read(&path)?;
        let mut record = before.clone().unwrap_or_default();
        f(&mut record);
        let unchanged = match &before {
            Some(b) => *b == record,
            None => record == Record::default(),
        };
        if !unchanged {
            self.write(&path, &record)?;
        }
        Ok(record)
    }

    fn remove(&self, user: &UserName) -> Result<(), StoreError> {
        let _guard = self.lock(user)?;
        let path = self.path(user, "state");
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    fn last_success(&self, user: &UserName) -> Option<Attempt> {
        decode_last(&std::fs::read(self.path(user, "last")).ok()?)
    }

    fn set_last_success(&self, user: &UserName, attempt: &Attempt) -> Result<(), StoreError> {
        let path = self.path(user, "last");
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut bytes = serde_json::to_vec(attempt).map_err(|e| io(std::io::Error::other(e)))?;
        if bytes.len() > LAST_SUCCESS_BYTES {
            return Err(io(std::io::Error::other("last-success entry too long")));
        }
        // Overwritten in place, one fixed-size write: no truncate and no rename, which on ext4
        // would each force the data to disk (auto_da_alloc) and cost a flush on every login.
        bytes.resize(LAST_SUCCESS_BYTES, b' ');
        fsutil::private()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .and_then(|f| std::os::unix::fs::FileExt::write_all_at(&f, &bytes, 0))
            .map_err(io)
    }

    fn check_writable(&self, user: &UserName) -> Result<(), StoreError> {
        let path = self.path(user, "lock");
        let unwritable = |problem: String| StoreError::Unwritable {
            path: path.clone(),
            problem,
        };
        // Root may write any file here unless the file system refuses; what stops a write is a
        // planted link (opened O_NOFOLLOW: ELOOP), a read-only or full file system (statvfs).
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(unwritable("the lock file is a symbolic link".into()));
            }
            Ok(meta) if !meta.is_file() => {
                return Err(unwritable("the lock file is not a regular file".into()));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unwritable(e.to_string())),
        }
        let fs = nix::sys::statvfs::statvfs(&self.dir)
            .map_err(|e| unwritable(format!("statvfs: {e}")))?;
        if fs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            return Err(unwritable("the file system is read-only".into()));
        }
        // Root may use the reserved blocks, so the free (not the available) count is the one.
        let free = fs.blocks_free().saturating_mul(fs.fragment_size());
        if free < MIN_FREE_BYTES {
            return Err(unwritable(format!(
                "the file system is full ({free} bytes free)"
            )));
        }
        if fs.files() > 0 && fs.files_free() == 0 {
            return Err(unwritable("the file system has no free inodes".into()));
        }
        Ok(())
    }

    fn users(&self) -> Result<Vec<UserName>, StoreError> {
        let io = |source| StoreError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            if let Some(user) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".state"))
                .and_then(UserName::from_file_stem)
            {
                out.push(user);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A `<user>.last` file: one JSON object padded to [`LAST_SUCCESS_BYTES`]; `None` when garbled.
pub(crate) fn decode_last(bytes: &[u8]) -> Option<Attempt> {
    serde_json::from_slice(bytes.get(..LAST_SUCCESS_BYTES)?.trim_ascii_end()).ok()
}

/// The record format this module writes. Format 1 (before issue 11) kept one failure count
/// and hack lock for the account; they are read as the password's.
const FORMAT: u32 = 2;

/// Record format: one JSON object with a format version.
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Versioned<'a> {
        v: u32,
        #[serde(flatten)]
        record: &'a Record,
    }
    let mut out = serde_json::to_vec(&Versioned { v: FORMAT, record })?;
    out.push(b'\n');
    Ok(out)
}

/// Decodes what [`encode`] wrote, and format 1; anything else is an error that says why.
pub fn decode(bytes: &[u8]) -> Result<Record, String> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    #[derive(Deserialize)]
    struct Format1 {
        #[serde(default)]
        failures: Vec<i64>,
        #[serde(default)]
        hack_lock: Option<HackLock>,
        #[serde(default)]
        last_failure: Option<Attempt>,
        #[serde(flatten)]
        record: Record,
    }
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err("larger than 64 KiB".into());
    }
    let not_a_record = |e: serde_json::Error| format!("not a record: {e}");
    let version: Version = serde_json::from_slice(bytes).map_err(not_a_record)?;
    match version.v {
        // The version key is not a field of the record; serde passes it over.
        FORMAT => serde_json::from_slice(bytes).map_err(not_a_record),
        1 => {
            let old: Format1 = serde_json::from_slice(bytes).map_err(not_a_record)?;
            let mut record = old.record;
            record.password.failures = old.failures;
            record.password.hack_lock = old.hack_lock;
            record.password.last_failure = old.last_failure;
            Ok(record)
        }
        v => Err(format!("format version {v} is not 1 or {FORMAT}")),
    }
}

/// In-memory store for unit tests of the gate.
#[derive(Default)]
pub struct MemStore {
    records: Mutex<BTreeMap<UserName, Record>>,
    last: Mutex<BTreeMap<UserName, Attempt>>,
    /// Set: every write fails, as on a full or read-only file system.
    pub full: std::sync::atomic::AtomicBool,
    /// Users whose record reads as corrupt (a garbled file), and is never replaced.
    pub corrupt: Mutex<std::collections::BTreeSet<String>>,
}

impl MemStore {
    fn refuse_if_corrupt(&self, user: &UserName) -> Result<(), StoreError> {
        if self
            .corrupt
            .lock()
            .map_err(|_| poisoned())?
            .contains(user.as_str())
        {
            return Err(StoreError::Corrupt {
                path: PathBuf::from(format!("(memory)/{}.state", user.file_stem())),
                detail: "not a state record".into(),
            });
        }
        Ok(())
    }

    fn refuse_if_full(&self) -> Result<(), StoreError> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Unwritable {
                path: PathBuf::from("(memory)"),
                problem: "the file system is full".into(),
            });
        }
        Ok(())
    }
}

impl StateStore for MemStore {
    fn load(&self, user: &UserName) -> Result<Option<Record>, StoreError> {
        self.refuse_if_corrupt(user)?;
        Ok(self
            .records
            .lock()
            .map_err(|_| poisoned())?
            .get(user)
            .cloned())
    }

    fn update(
        &self,
        user: &UserName,
        f: &mut dyn FnMut(&mut Record),
    ) -> Result<Record, StoreError> {
        self.refuse_if_corrupt(user)?;
        let mut map = self.records.lock().map_err(|_| poisoned())?;
        let mut record = map.get(user).cloned().unwrap_or_default();
        f(&mut record);
        if map.get(user) != Some(&record) {
            self.refuse_if_full()?;
            map.insert(user.clone(), record.clone());
        }
        Ok(record)
    }

    fn remove(&self, user: &UserName) -> Result<(), StoreError> {
        self.records.lock().map_err(|_| poisoned())?.remove(user);
        Ok(())
    }

    fn last_success(&self, user: &UserName) -> Option<Attempt> {
        self.last.lock().ok()?.get(user).cloned()
    }

    fn check_writable(&self, _user: &UserName) -> Result<(), StoreError> {
        self.refuse_if_full()
    }

    fn set_last_success(&self, user: &UserName, attempt: &Attempt) -> Result<(), StoreError> {
        self.refuse_if_full()?;
        self.last
            .lock()
            .map_err(|_| poisoned())?
            .insert(user.clone(), attempt.clone());
        Ok(())
    }

    fn users(&self) -> Result<Vec<UserName>, StoreError> {
        Ok(self
            .records
            .lock()
            .map_err(|_| poisoned())?
            .keys()
            .cloned()
            .collect())
    }
}

fn poisoned() -> StoreError {
    StoreError::Io {
        path: PathBuf::from("<memory>"),
        source: std::io::Error::other("lock poisoned"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn alice() -> UserName {
        UserName::parse("alice").unwrap()
    }

    #[test]
    fn record_round_trips_and_survives_reopen() {
        crate::test_support::needs_root!("record_round_trips_and_survives_reopen");
        let d = tempfile::tempdir().unwrap();
        let store = FileStore::open(d.path()).unwrap();
        assert_eq!(store.load(&alice()).unwrap(), None);
        store
            .update(&alice(), &mut |r| r.password.failures.push(100))
            .unwrap();
        let again = FileStore::open(d.path()).unwrap();
        assert_eq!(
            again.load(&alice()).unwrap().unwrap().password.failures,
            vec![100]
        );
        let mode = std::fs::metadata(d.path().join("alice.state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(again.users().unwrap(), vec![alice()]);
    }

    #[test]
    fn format_1_records_become_the_passwords_counts() {
        // Issue 11: format 1 kept one count for the account; it was the password's.
        let old = br#"{"v":1,"failures":[10,11],"hack_lock":{"at":12,"until":null},"last_failure":{"at":11,"service":"sshd","rhost":"h"},"admin_lock":null,"first_seen":5,"password":{"last_change":7,"must_change":true,"history":[]},"pin":{}}"#;
        let r = decode(old).unwrap();
        assert_eq!(r.password.failures, vec![10, 11]);
        assert_eq!(
            r.password.hack_lock,
            Some(HackLock {
                at: 12,
                until: None
            })
        );
        assert_eq!(r.password.last_failure.as_ref().map(|a| a.at), Some(11));
        assert_eq!(
            (r.password.last_change, r.password.must_change),
            (Some(7), true)
        );
        assert_eq!(r.pin, CredentialState::default());
        assert_eq!(r.first_seen, Some(5));
        let written = encode(&r).unwrap();
        assert!(written.starts_with(br#"{"v":2,"#), "written as format 2");
        assert_eq!(decode(&written).unwrap(), r);
    }

    #[test]
    fn corrupt_record_is_reported_not_replaced() {
        crate::test_support::needs_root!("corrupt_record_is_reported_not_replaced");
        let d = tempfile::tempdir().unwrap();
        let store = FileStore::open(d.path()).unwrap();
        for junk in [
            &b"{not json"[..],
            b"",
            b"{\"v\":3}",
            b"[]",
            b"{\"v\":2,\"pin\":7}",
        ] {
            std::fs::write(d.path().join("alice.state"), junk).unwrap();
            let e = store.load(&alice()).unwrap_err();
            assert!(e.to_string().contains("corrupt"), "{e}");
            assert!(
                store
                    .update(&alice(), &mut |r| r.password.failures.push(1))
                    .is_err()
            );
            assert_eq!(
                std::fs::read(d.path().join("alice.state")).unwrap(),
                junk,
                "must not overwrite evidence"
            );
        }
        store.remove(&alice()).unwrap();
        assert_eq!(store.load(&alice()).unwrap(), None);
    }

    #[test]
    fn symlinked_record_is_refused() {
        crate::test_support::needs_root!("symlinked_record_is_refused");
        let d = tempfile::tempdir().unwrap();
        let store = FileStore::open(d.path()).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("alice.state")).unwrap();
        assert!(
            store
                .load(&alice())
                .unwrap_err()
                .to_string()
                .contains("symbolic link")
        );
    }

    #[test]
    fn unsafe_state_dir_is_refused_and_missing_one_created_private() {
        crate::test_support::needs_root!(
            "unsafe_state_dir_is_refused_and_missing_one_created_private"
        );
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("a/b");
        FileStore::open(&sub).unwrap();
        assert_eq!(
            std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            FileStore::open(&sub)
                .err()
                .unwrap()
                .to_string()
                .contains("chmod go-w")
        );
        // A later line of the same login checks the directory itself again (not its parents).
        assert!(
            FileStore::reopen(&sub)
                .err()
                .unwrap()
                .to_string()
                .contains("chmod go-w")
        );
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&sub, &link).unwrap();
        assert!(FileStore::reopen(&link).is_err(), "a link in its place");
        assert!(FileStore::reopen(&sub).is_ok());
    }

    #[test]
    fn last_success_is_kept_apart_and_a_garbled_one_reads_as_none() {
        crate::test_support::needs_root!(
            "last_success_is_kept_apart_and_a_garbled_one_reads_as_none"
        );
        let d = tempfile::tempdir().unwrap();
        let store = FileStore::open(d.path()).unwrap();
        assert_eq!(store.last_success(&alice()), None);
        let a = Attempt {
            at: 7,
            service: "sshd".into(),
            rhost: "192.0.2.1".into(),
        };
        store.set_last_success(&alice(), &a).unwrap();
        assert_eq!(store.last_success(&alice()), Some(a));
        assert_eq!(
            store.load(&alice()).unwrap(),
            None,
            "no durable record was needed"
        );
        std::fs::write(d.path().join("alice.last"), b"").unwrap();
        assert_eq!(store.last_success(&alice()), None);
        store
            .update(&alice(), &mut |r| r.password.failures.push(1))
            .unwrap();
        assert!(
            store.load(&alice()).is_ok(),
            "a garbled last-success file never makes the record corrupt"
        );
    }

    #[test]
    fn unchanged_record_is_not_rewritten() {
        crate::test_support::needs_root!("unchanged_record_is_not_rewritten");
        let d = tempfile::tempdir().unwrap();
        let store = FileStore::open(d.path()).unwrap();
        store
            .update(&alice(), &mut |r| r.admin_lock = Some(5))
            .unwrap();
        let before = std::fs::metadata(d.path().join("alice.state"))
            .unwrap()
            .ino();
        store.update(&alice(), &mut |_| {}).unwrap();
        assert_eq!(
            std::fs::metadata(d.path().join("alice.state"))
                .unwrap()
                .ino(),
            before
        );
    }

    #[test]
    fn concurrent_updates_from_threads_lose_nothing() {
        crate::test_support::needs_root!("concurrent_updates_from_threads_lose_nothing");
        let d = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let store = FileStore::open(d.path()).unwrap();
                    for i in 0..25 {
                        store
                            .update(&alice(), &mut |r| r.password.failures.push(i))
                            .unwrap();
                    }
                });
            }
        });
        let store = FileStore::open(d.path()).unwrap();
        assert_eq!(
            store
                .load(&alice())
                .unwrap()
                .unwrap()
                .password
                .failures
                .len(),
            200
        );
    }
}
