//! The clock: time is a parameter of the logic, read from the system only at the edge.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the server reads "now"; tests pass fixed instants straight into the logic instead.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The server's one reading of the clock; everything else takes a `Clock`.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Time since the Unix epoch; a clock set before 1970 reads as the epoch itself.
pub fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}
