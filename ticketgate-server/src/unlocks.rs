//! Open unlock windows, in memory only: an unlock is used up by exactly one attempt.
//!
//! Kept out of the store on purpose: the attempt path then never touches disk, and a crash or
//! restart can only drop open windows (users unlock again: fail closed), never bring back a used one.

use crate::store::ANY_SERVICE;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Prune expired windows once the table reaches this many entries (then at twice the survivors).
const PRUNE_FLOOR: usize = 1024;

#[derive(Debug, Default)]
struct Inner {
    open: HashMap<(String, String), SystemTime>,
    prune_at: usize,
}

/// The open windows, keyed by (service ID, user).
#[derive(Debug, Default)]
pub struct Unlocks {
    inner: Mutex<Inner>,
}

impl Unlocks {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is still safe to use.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens (or reopens) the window for `user` at `service_id` until `now + window`; returns the end.
    pub fn open(
        &self,
        service_id: &str,
        user: &str,
        now: SystemTime,
        window: Duration,
    ) -> SystemTime {
        let until = now + window;
        self.open_until(service_id, user, now, until);
        until
    }

    /// Opens (or reopens) the window for `user` at `service_id`, at `now`, until `until`.
    pub fn open_until(&self, service_id: &str, user: &str, now: SystemTime, until: SystemTime) {
        let mut inner = self.lock();
        if inner.open.len() >= inner.prune_at.max(PRUNE_FLOOR) {
            inner.open.retain(|_, end| *end > now);
            inner.prune_at = inner.open.len().saturating_mul(2);
        }
        inner
            .open
            .insert((service_id.to_owned(), user.to_owned()), until);
    }

    /// One login attempt: true when the window at `service_id` or the user's
    /// [`ANY_SERVICE`] window is open at `now`; both are then closed. Under the lock, so of any
    /// number of concurrent attempts at most one sees `true`.
    pub fn take(&self, service_id: &str, user: &str, now: SystemTime) -> bool {
        let mut inner = self.lock();
        if inner.open.is_empty() {
            return false;
        }
        let mut open = false;
        for key in [service_id, ANY_SERVICE] {
            if let Some(until) = inner.open.remove(&(key.to_owned(), user.to_owned())) {
                open |= now < until;
            }
        }
        open
    }

    /// How many windows are in the table (open or expired but not yet pruned).
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn an_unlock_is_used_up_by_the_first_attempt() {
        let u = Unlocks::new();
        assert_eq!(u.open("web", "alice", at(100), W), at(160));
        assert!(u.take("web", "alice", at(110)));
        assert!(!u.take("web", "alice", at(111)));
    }

    #[test]
    fn an_unlock_expires_at_the_end_of_its_window() {
        let u = Unlocks::new();
        u.open("web", "alice", at(100), W);
        assert!(!u.take("web", "alice", at(160)));
        u.open("web", "alice", at(100), W);
        assert!(u.take("web", "alice", at(159)));
    }

    #[test]
    fn windows_are_per_user_and_service_id() {
        let u = Unlocks::new();
        u.open("web", "alice", at(100), W);
        assert!(!u.take("db", "alice", at(101)));
        assert!(!u.take("web", "bob", at(101)));
        assert!(u.take("web", "alice", at(101)));
    }

    /// Issue 16 (item 7): an unlock without a service ID opens the user's wildcard window,
    /// which one attempt at any service ID takes once, with any window for that service ID.
    #[test]
    fn a_wildcard_window_is_taken_once_by_any_service_id_of_its_user() {
        let u = Unlocks::new();
        u.open(ANY_SERVICE, "alice", at(100), W);
        assert!(!u.take("web", "bob", at(101)));
        assert!(u.take("db", "alice", at(101)));
        assert!(!u.take("web", "alice", at(102)));
        u.open(ANY_SERVICE, "alice", at(100), W);
        u.open("web", "alice", at(100), W);
        assert!(u.take("web", "alice", at(101)));
        assert!(!u.take("db", "alice", at(101)), "one login used up both");
        u.open(ANY_SERVICE, "alice", at(100), W);
        assert!(
            !u.take("web", "alice", at(160)),
            "expired at the window's end"
        );
    }

    #[test]
    fn expired_windows_are_pruned_so_memory_stays_bounded() {
        let u = Unlocks::new();
        for i in 0..10_000_u64 {
            u.open("web", &format!("user{i}"), at(i), W);
        }
        assert!(u.len() < 2 * PRUNE_FLOOR + 100, "{}", u.len());
    }

    #[test]
    fn concurrent_attempts_see_exactly_one_true() {
        for round in 0..50 {
            let u = Arc::new(Unlocks::new());
            u.open("web", "alice", at(100), W);
            let barrier = Arc::new(std::sync::Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (u, b) = (Arc::clone(&u), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        b.wait();
                        u.take("web", "alice", at(101))
                    })
                })
                .collect();
            let trues = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|t| *t)
                .count();
            assert_eq!(trues, 1, "round {round}");
        }
    }
}
