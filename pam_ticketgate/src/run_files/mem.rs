//! In-memory run files for the gate's unit tests and the fuzz harnesses: what the gate wrote
//! can be read back, what it must find (an open breaker, a cached ticket, codes, a PIN, the
//! switch, a `run_dir` that fails its checks) can be set beforehand.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::RunFiles;
use crate::fleet::spool::{FleetSpool, MemSpool};
use crate::fsutil::FileError;
use crate::offline::Breaker;
use crate::protect::pin::PinError;
use crate::run_dir::RunDirError;
use crate::secret::Secret;
use crate::session::{SessionError, SessionLog, SessionRecord};
use crate::ticket::breakglass::{BreakglassCodes, BreakglassError, Check};
use crate::ticket::cache::{self, Accepted, CacheFile, VerdictCache};
use crate::ticket::token::{MemTokenCache, TokenCache};
use crate::user::UserName;

/// Every run file in memory.
#[derive(Default)]
pub struct MemRunFiles {
    /// Open breakers: name → the epoch second they are open until.
    pub breakers: RefCell<BTreeMap<String, i64>>,
    /// The verdict cache: user → that user's cache file, encoded as on disk.
    pub verdicts: RefCell<BTreeMap<String, Vec<u8>>>,
    pub tokens: MemTokenCache,
    /// Open sessions by pid.
    pub sessions: RefCell<BTreeMap<i32, SessionRecord>>,
    pub codes: MemCodes,
    /// `ticketgate protect disable` was run.
    pub switched_off: Cell<bool>,
    /// Offline PINs by user (in clear: the hashing is `protect::pin`'s, tested there).
    pub pins: RefCell<BTreeMap<String, String>>,
    /// An offline PIN file that cannot be trusted.
    pub pin_unusable: Cell<bool>,
    /// `run_dir` fails its checks: every file under it is refused.
    pub run_dir_refused: Cell<bool>,
    /// The fleet events waiting for the server.
    pub fleet_spool: MemSpool,
}

impl MemRunFiles {
    fn run_dir(&self) -> Result<(), RunDirError> {
        if self.run_dir_refused.get() {
            return Err(RunDirError::Create {
                path: PathBuf::from("/run/ticketgate"),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            });
        }
        Ok(())
    }

    /// Records `accepted` for `user` as an earlier online acceptance did.
    pub fn cached(&self, user: &str, accepted: Accepted) {
        let _ = VerdictCache::record(self, user, accepted);
    }
}

/// One breaker of [`MemRunFiles`].
struct MemBreaker<'a> {
    files: &'a MemRunFiles,
    name: String,
}

impl Breaker for MemBreaker<'_> {
    fn open_until(&self) -> Option<i64> {
        self.files.breakers.borrow().get(&self.name).copied()
    }
    fn open(&self, until: i64) {
        self.files
            .breakers
            .borrow_mut()
            .insert(self.name.clone(), until);
    }
    fn close(&self) {
        self.files.breakers.borrow_mut().remove(&self.name);
    }
}

impl VerdictCache for MemRunFiles {
    fn load(&self, user: &str) -> Vec<Accepted> {
        self.verdicts
            .borrow()
            .get(user)
            .map(|bytes| cache::decode(bytes, user))
            .unwrap_or_default()
    }
    fn record(&self, user: &str, accepted: Accepted) -> Result<(), FileError> {
        let mut files = self.verdicts.borrow_mut();
        let old = files.get(user).cloned().unwrap_or_default();
        let file = CacheFile {
            user: user.to_string(),
            accepted: cache::merged(&old, user, accepted),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| FileError::Corrupt {
            path: PathBuf::from(user),
            detail: e.to_string(),
        })?;
        files.insert(user.to_string(), bytes);
        Ok(())
    }
}

impl TokenCache for MemRunFiles {
    fn load(&self, now: i64) -> Option<Secret> {
        self.tokens.load(now)
    }
    fn store(&self, token: &Secret, expires_at: i64) {
        self.tokens.store(token, expires_at);
    }
}

impl SessionLog for MemRunFiles {
    fn open(&self, record: &SessionRecord) -> Result<(), SessionError> {
        self.sessions
            .borrow_mut()
            .insert(record.pid, record.clone());
        Ok(())
    }
    fn close(&self, pid: i32) -> Option<SessionRecord> {
        self.sessions.borrow_mut().remove(&pid)
    }
}

/// Break-glass codes in clear, each with the time it was used; `broken` = the code file
/// cannot be read.
#[derive(Default)]
pub struct MemCodes {
    pub codes: RefCell<Vec<(String, Option<i64>)>>,
    pub broken: Cell<bool>,
}

impl MemCodes {
    /// Unused codes `codes`, replacing any earlier ones.
    pub fn set(&self, codes: &[&str]) {
        *self.codes.borrow_mut() = codes.iter().map(|c| (c.to_string(), None)).collect();
    }

    fn check(&self) -> Result<(), BreakglassError> {
        if self.broken.get() {
            return Err(BreakglassError::File(FileError::Corrupt {
                path: PathBuf::from("/var/lib/ticketgate/breakglass.json"),
                detail: "scripted".into(),
            }));
        }
        Ok(())
    }
}

impl BreakglassCodes for MemCodes {
    fn remaining(&self) -> Result<usize, BreakglassError> {
        self.check()?;
        Ok(self.codes.borrow().iter().filter(|c| c.1.is_none()).count())
    }
    fn use_code(&self, code: &Secret, now: i64) -> Result<Check, BreakglassError> {
        self.check()?;
        let mut codes = self.codes.borrow_mut();
        if codes.iter().all(|c| c.1.is_some()) {
            return Ok(Check::NoCodes);
        }
        let Some(hit) = codes
            .iter_mut()
            .find(|c| c.1.is_none() && c.0 == code.expose())
        else {
            return Ok(Check::Wrong);
        };
        hit.1 = Some(now);
        Ok(Check::Used {
            remaining: codes.iter().filter(|c| c.1.is_none()).count(),
        })
    }
}

impl RunFiles for MemRunFiles {
    fn breaker(&self, name: &str) -> Result<Box<dyn Breaker + '_>, RunDirError> {
        self.run_dir()?;
        Ok(Box::new(MemBreaker {
            files: self,
            name: name.to_string(),
        }))
    }
    fn verdicts(&self) -> Result<Box<dyn VerdictCache + '_>, RunDirError> {
        self.run_dir()?;
        Ok(Box::new(self))
    }
    fn tokens(&self) -> Result<Box<dyn TokenCache + '_>, RunDirError> {
        self.run_dir()?;
        Ok(Box::new(self))
    }
    fn sessions(&self) -> Result<Box<dyn SessionLog + '_>, RunDirError> {
        self.run_dir()?;
        Ok(Box::new(self))
    }
    fn breakglass(&self) -> Box<dyn BreakglassCodes + '_> {
        Box::new(&self.codes)
    }
    fn protect_switched_off(&self) -> bool {
        self.switched_off.get()
    }
    fn check_offline_pin(&self, user: &UserName, typed: &Secret) -> Result<bool, PinError> {
        if self.pin_unusable.get() {
            return Err(PinError::Unusable {
                path: PathBuf::from(format!("/var/lib/ticketgate/{}.pin", user.file_stem())),
                detail: "mode 0644: others can read it".into(),
            });
        }
        match self.pins.borrow().get(user.as_str()) {
            Some(pin) => Ok(pin == typed.expose()),
            None => Err(PinError::NotSet),
        }
    }
    fn fleet_spool(&self) -> Box<dyn FleetSpool + '_> {
        Box::new(&self.fleet_spool)
    }
}
