//! The fleet spool: failure and success events made while the fleet server was unreachable,
//! kept under `state_dir` until it answers again, then sent oldest first.
//!
//! `state_dir/fleet-spool.jsonl` holds one event per line, oldest first. Every change takes
//! the lock (`fleet-spool.lock`), re-reads the file and replaces it whole (temporary file,
//! fsync, rename), so a crash leaves the old or the new spool, never a partial line. The file
//! must be root's and not readable by others, as the state files. A file that does not parse
//! is corrupt: the gate sets it aside and goes on with an empty spool, never blocking logins.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;

use super::{FleetEvent, Kind};
use crate::fsutil::{self, FileError, Rule};

/// The spool's file name under `state_dir`.
pub const FILE: &str = "fleet-spool.jsonl";
/// Its lock file.
pub const LOCK: &str = "fleet-spool.lock";

/// A spool larger than this is corrupt (a full one of real events is a few hundred KiB).
const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// The spool as the gate uses it: a file in production ([`FileSpool`]), memory in tests.
pub trait FleetSpool {
    /// The spooled events, oldest first (an unreadable or corrupt spool is an error).
    fn events(&self) -> Result<Vec<FleetEvent>, FileError>;
    /// True when nothing is spooled (no read: a login with an empty spool pays one `stat`).
    fn is_empty(&self) -> bool;
    /// Under the spool's lock: reads the events, lets `f` change them, writes them back.
    fn update(&self, f: &mut dyn FnMut(&mut Vec<FleetEvent>)) -> Result<(), FileError>;
    /// Moves a corrupt spool aside (kept for the administrator); returns where it went.
    fn set_aside(&self, now: i64) -> Result<PathBuf, FileError>;
}

/// Borrowed spools are spools (a test keeps the one it inspects).
impl<T: FleetSpool + ?Sized> FleetSpool for &T {
    fn events(&self) -> Result<Vec<FleetEvent>, FileError> {
        (**self).events()
    }
    fn is_empty(&self) -> bool {
        (**self).is_empty()
    }
    fn update(&self, f: &mut dyn FnMut(&mut Vec<FleetEvent>)) -> Result<(), FileError> {
        (**self).update(f)
    }
    fn set_aside(&self, now: i64) -> Result<PathBuf, FileError> {
        (**self).set_aside(now)
    }
}

/// Appends `event`; when the spool already holds `limit` events the oldest are dropped to make
/// room. Returns the dropped events, oldest first.
///
/// A success whose user's latest spooled event (for the same credential) is already a success
/// is not added: it would clear nothing the first does not, and during an outage every clean
/// login would otherwise rewrite the spool (and push older events out of it).
pub fn push(
    spool: &dyn FleetSpool,
    event: FleetEvent,
    limit: usize,
) -> Result<Vec<FleetEvent>, FileError> {
    let mut dropped = Vec::new();
    let mut event = Some(event);
    spool.update(&mut |events| {
        dropped.clear();
        let Some(e) = event.take() else {
            return;
        };
        let latest = events
            .iter()
            .rev()
            .find(|x| x.user == e.user && x.credential == e.credential);
        if e.kind == Kind::Success && latest.is_some_and(|x| x.kind == Kind::Success) {
            return;
        }
        let over = (events.len() + 1).saturating_sub(limit.max(1));
        dropped.extend(events.drain(..over.min(events.len())));
        events.push(e);
    })?;
    Ok(dropped)
}

/// Removes the events the server accepted (by id: events spooled meanwhile by other logins stay).
pub fn remove_sent(spool: &dyn FleetSpool, ids: &[String]) -> Result<(), FileError> {
    if ids.is_empty() {
        return Ok(());
    }
    spool.update(&mut |events| events.retain(|e| !ids.contains(&e.id)))
}

/// The lines of a spool file, or why it is corrupt.
pub fn decode(bytes: &[u8]) -> Result<Vec<FleetEvent>, String> {
    let mut events = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let event = serde_json::from_slice::<serde_json::Value>(line)
            .map_err(|e| e.to_string())
            .and_then(|v| FleetEvent::from_json(&v))
            .map_err(|e| format!("line {}: {e}", i + 1))?;
        events.push(event);
    }
    Ok(events)
}

/// One line per event, each ending in a newline.
pub fn encode(events: &[FleetEvent]) -> Vec<u8> {
    let mut out = String::new();
    for e in events {
        out.push_str(&e.to_json().to_string());
        out.push('\n');
    }
    out.into_bytes()
}

/// The spool file under `state_dir` (the caller has checked `state_dir`, as for the state store).
pub struct FileSpool {
    file: PathBuf,
    lock: PathBuf,
}

impl FileSpool {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            file: state_dir.join(FILE),
            lock: state_dir.join(LOCK),
        }
    }

    /// The spool file's path.
    pub fn path(&self) -> &Path {
        &self.file
    }

    fn locked(&self) -> Result<Flock<File>, FileError> {
        fsutil::lock(&self.lock).map_err(FileError::io(&self.lock))
    }

    fn read(&self) -> Result<Vec<FleetEvent>, FileError> {
        let io = FileError::io(&self.file);
        let mut file = match fsutil::private().read(true).open(&self.file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let meta = file.metadata().map_err(&io)?;
        fsutil::check_opened(&meta, Rule::SECRET).map_err(|problem| FileError::Refused {
            path: self.file.clone(),
            problem,
        })?;
        let mut bytes = Vec::new();
        Read::by_ref(&mut file)
            .take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(&io)?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(FileError::Corrupt {
                path: self.file.clone(),
                detail: format!("larger than {MAX_BYTES} bytes"),
            });
        }
        decode(&bytes).map_err(|detail| FileError::Corrupt {
            path: self.file.clone(),
            detail,
        })
    }
}

impl FleetSpool for FileSpool {
    fn events(&self) -> Result<Vec<FleetEvent>, FileError> {
        // Writers replace the file by rename: a reader without the lock sees a whole spool.
        self.read()
    }

    fn is_empty(&self) -> bool {
        match fs::symlink_metadata(&self.file) {
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
            Ok(meta) => meta.is_file() && meta.len() == 0,
        }
    }

    fn update(&self, f: &mut dyn FnMut(&mut Vec<FleetEvent>)) -> Result<(), FileError> {
        let _guard = self.locked()?;
        let before = self.read()?;
        let mut events = before.clone();
        f(&mut events);
        if events == before {
            return Ok(());
        }
        let io = FileError::io(&self.file);
        if events.is_empty() {
            return match fs::remove_file(&self.file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
                _ => Ok(()),
            };
        }
        fsutil::replace(&self.file, &encode(&events), true).map_err(io)
    }

    fn set_aside(&self, now: i64) -> Result<PathBuf, FileError> {
        let _guard = self.locked()?;
        let aside = self.file.with_file_name(format!("{FILE}.corrupt-{now}"));
        fs::rename(&self.file, &aside).map_err(FileError::io(&self.file))?;
        Ok(aside)
    }
}

/// A spool in memory, for the gate's unit tests and the fuzz harnesses.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Default)]
pub struct MemSpool {
    pub events: std::cell::RefCell<Vec<FleetEvent>>,
    /// The spool reads as corrupt until it is set aside.
    pub corrupt: std::cell::Cell<bool>,
    /// How many times a corrupt spool was set aside.
    pub set_aside: std::cell::Cell<u32>,
}

#[cfg(any(test, feature = "fuzzing"))]
impl MemSpool {
    fn refuse_if_corrupt(&self) -> Result<(), FileError> {
        if self.corrupt.get() {
            return Err(FileError::Corrupt {
                path: PathBuf::from("(memory)/fleet-spool.jsonl"),
                detail: "line 1: expected value".into(),
            });
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl FleetSpool for MemSpool {
    fn events(&self) -> Result<Vec<FleetEvent>, FileError> {
        self.refuse_if_corrupt()?;
        Ok(self.events.borrow().clone())
    }
    fn is_empty(&self) -> bool {
        !self.corrupt.get() && self.events.borrow().is_empty()
    }
    fn update(&self, f: &mut dyn FnMut(&mut Vec<FleetEvent>)) -> Result<(), FileError> {
        self.refuse_if_corrupt()?;
        f(&mut self.events.borrow_mut());
        Ok(())
    }
    fn set_aside(&self, now: i64) -> Result<PathBuf, FileError> {
        self.corrupt.set(false);
        self.events.borrow_mut().clear();
        self.set_aside.set(self.set_aside.get() + 1);
        Ok(PathBuf::from(format!("(memory)/{FILE}.corrupt-{now}")))
    }
}
