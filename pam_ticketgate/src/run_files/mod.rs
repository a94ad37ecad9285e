//! The module's own files besides account state, as the gates need them: the breakers, the
//! verdict cache, the OAuth token and the session records under `run_dir`; the break-glass
//! codes, the offline PINs, the protect switch and the fleet spool under `state_dir`. Files in production
//! ([`Files`]), memory in tests (`MemRunFiles`).

#[cfg(any(test, feature = "fuzzing"))]
mod mem;

use std::cell::OnceCell;
use std::path::PathBuf;

#[cfg(any(test, feature = "fuzzing"))]
pub use mem::{MemCodes, MemRunFiles};

use crate::config::ModuleSettings;
use crate::fleet::spool::{FileSpool, FleetSpool};
use crate::offline::{Breaker, FileBreaker};
use crate::protect::{pin, switch};
use crate::run_dir::{RunDir, RunDirError};
use crate::secret::Secret;
use crate::session::{SessionLog, Sessions};
use crate::ticket::breakglass::{Breakglass, BreakglassCodes};
use crate::ticket::cache::{TicketCache, VerdictCache};
use crate::ticket::token::{FileTokenCache, TokenCache};
use crate::user::UserName;

/// What the gates read and write besides the state store. The `run_dir` ones fail (closed)
/// when `run_dir` does not pass its checks.
pub trait RunFiles {
    /// The breaker of one server (`ticket`, `login_protect`).
    fn breaker(&self, name: &str) -> Result<Box<dyn Breaker + '_>, RunDirError>;
    /// Tickets accepted online: the verdict cache and the offline `cached` fallback.
    fn verdicts(&self) -> Result<Box<dyn VerdictCache + '_>, RunDirError>;
    /// The ticket system's OAuth access token.
    fn tokens(&self) -> Result<Box<dyn TokenCache + '_>, RunDirError>;
    /// The records of open sessions.
    fn sessions(&self) -> Result<Box<dyn SessionLog + '_>, RunDirError>;
    /// The break-glass codes (`state_dir`).
    fn breakglass(&self) -> Box<dyn BreakglassCodes + '_>;
    /// An administrator switched login protect off (`ticketgate protect disable`).
    fn protect_switched_off(&self) -> bool;
    /// True when `typed` is `user`'s offline PIN.
    fn check_offline_pin(&self, user: &UserName, typed: &Secret) -> Result<bool, pin::PinError>;
    /// The fleet events waiting for the fleet server (`state_dir`).
    fn fleet_spool(&self) -> Box<dyn FleetSpool + '_>;
}

/// Borrowed run files are run files (a test keeps the ones it inspects).
impl<T: RunFiles + ?Sized> RunFiles for &T {
    fn breaker(&self, name: &str) -> Result<Box<dyn Breaker + '_>, RunDirError> {
        (**self).breaker(name)
    }
    fn verdicts(&self) -> Result<Box<dyn VerdictCache + '_>, RunDirError> {
        (**self).verdicts()
    }
    fn tokens(&self) -> Result<Box<dyn TokenCache + '_>, RunDirError> {
        (**self).tokens()
    }
    fn sessions(&self) -> Result<Box<dyn SessionLog + '_>, RunDirError> {
        (**self).sessions()
    }
    fn breakglass(&self) -> Box<dyn BreakglassCodes + '_> {
        (**self).breakglass()
    }
    fn protect_switched_off(&self) -> bool {
        (**self).protect_switched_off()
    }
    fn check_offline_pin(&self, user: &UserName, typed: &Secret) -> Result<bool, pin::PinError> {
        (**self).check_offline_pin(user, typed)
    }
    fn fleet_spool(&self) -> Box<dyn FleetSpool + '_> {
        (**self).fleet_spool()
    }
}

/// The real files under `[module] run_dir` and `state_dir`; `run_dir` is checked on first use.
pub struct Files {
    run_dir: PathBuf,
    state_dir: PathBuf,
    checked: OnceCell<RunDir>,
}

impl Files {
    pub fn new(module: &ModuleSettings) -> Self {
        Self {
            run_dir: module.run_dir.clone(),
            state_dir: module.state_dir.clone(),
            checked: OnceCell::new(),
        }
    }

    /// `run_dir`, checked once per phase (a failed check is tried again on the next use).
    fn run_dir(&self) -> Result<&RunDir, RunDirError> {
        if let Some(dir) = self.checked.get() {
            return Ok(dir);
        }
        let dir = RunDir::open(&self.run_dir)?;
        Ok(self.checked.get_or_init(|| dir))
    }
}

impl RunFiles for Files {
    fn breaker(&self, name: &str) -> Result<Box<dyn Breaker + '_>, RunDirError> {
        Ok(Box::new(FileBreaker::new(self.run_dir()?, name)))
    }

    fn verdicts(&self) -> Result<Box<dyn VerdictCache + '_>, RunDirError> {
        Ok(Box::new(TicketCache::new(self.run_dir()?)?))
    }

    fn tokens(&self) -> Result<Box<dyn TokenCache + '_>, RunDirError> {
        Ok(Box::new(FileTokenCache::new(self.run_dir()?)))
    }

    fn sessions(&self) -> Result<Box<dyn SessionLog + '_>, RunDirError> {
        Ok(Box::new(Sessions::new(self.run_dir()?)?))
    }

    fn breakglass(&self) -> Box<dyn BreakglassCodes + '_> {
        Box::new(Breakglass::new(&self.state_dir))
    }

    fn protect_switched_off(&self) -> bool {
        switch::is_disabled(&self.state_dir)
    }

    fn check_offline_pin(&self, user: &UserName, typed: &Secret) -> Result<bool, pin::PinError> {
        pin::verify(&self.state_dir, user, typed)
    }

    fn fleet_spool(&self) -> Box<dyn FleetSpool + '_> {
        Box::new(FileSpool::new(&self.state_dir))
    }
}
