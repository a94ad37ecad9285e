//! Wrong-code rate limit: after `max_misses` refused codes inside `period`, a user is refused
//! (HTTP 429) until the oldest of those misses leaves the period.
//!
//! In memory: a restart forgets misses, which only an administrator can cause.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Misses allowed inside the period (docs/design.md §5: 5).
pub const MAX_MISSES: usize = 5;
/// The period misses are counted in (docs/design.md §5: 5 minutes).
pub const PERIOD: Duration = Duration::from_secs(300);
/// Forget users with no recent miss once the table holds this many (then twice the survivors).
const PRUNE_FLOOR: usize = 4096;

#[derive(Debug, Default)]
struct Inner {
    misses: HashMap<String, VecDeque<SystemTime>>,
    prune_at: usize,
}

/// Per-user miss counter.
#[derive(Debug)]
pub struct MissLimiter {
    max_misses: usize,
    period: Duration,
    inner: Mutex<Inner>,
}

impl Default for MissLimiter {
    fn default() -> Self {
        Self::new(MAX_MISSES, PERIOD)
    }
}

impl MissLimiter {
    /// A limiter allowing `max_misses` inside `period`.
    pub fn new(max_misses: usize, period: Duration) -> Self {
        Self {
            max_misses,
            period,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn recent(&self, times: &mut VecDeque<SystemTime>, now: SystemTime) {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t).unwrap_or(Duration::ZERO) >= self.period)
        {
            times.pop_front();
        }
    }

    /// `Some(wait)` when `user` is blocked at `now`: how long until one more try is allowed.
    pub fn blocked(&self, user: &str, now: SystemTime) -> Option<Duration> {
        let mut inner = self.lock();
        let times = inner.misses.get_mut(user)?;
        self.recent(times, now);
        if times.len() < self.max_misses {
            return None;
        }
        let oldest = *times.front()?;
        let free_at = oldest + self.period;
        Some(
            free_at
                .duration_since(now)
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_secs(1)),
        )
    }

    /// Records one refused code for `user` at `now`.
    pub fn miss(&self, user: &str, now: SystemTime) {
        let mut inner = self.lock();
        if inner.misses.len() >= inner.prune_at.max(PRUNE_FLOOR) {
            let period = self.period;
            inner.misses.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t).unwrap_or(Duration::ZERO) < period)
            });
            inner.prune_at = inner.misses.len().saturating_mul(2);
        }
        let times = inner.misses.entry(user.to_owned()).or_default();
        times.push_back(now);
        while times.len() > self.max_misses {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn five_misses_in_five_minutes_block_the_user() {
        let l = MissLimiter::default();
        for i in 0..4 {
            l.miss("alice", at(1000 + i));
            assert_eq!(l.blocked("alice", at(1000 + i)), None);
        }
        l.miss("alice", at(1004));
        assert_eq!(l.blocked("alice", at(1004)), Some(Duration::from_secs(296)));
        assert_eq!(l.blocked("bob", at(1004)), None);
    }

    #[test]
    fn the_block_lifts_when_the_oldest_miss_leaves_the_period() {
        let l = MissLimiter::default();
        for i in 0..5 {
            l.miss("alice", at(1000 + i * 10));
        }
        assert!(l.blocked("alice", at(1299)).is_some());
        assert_eq!(l.blocked("alice", at(1300)), None);
    }

    #[test]
    fn misses_spread_over_more_than_the_period_never_block() {
        let l = MissLimiter::default();
        for i in 0..20 {
            l.miss("alice", at(1000 + i * 76));
            assert_eq!(l.blocked("alice", at(1000 + i * 76)), None, "miss {i}");
        }
    }

    #[test]
    fn table_of_sprayed_names_stays_bounded() {
        let l = MissLimiter::default();
        for i in 0..50_000_u64 {
            l.miss(&format!("u{i}"), at(i * 10));
        }
        assert!(l.lock().misses.len() < 2 * PRUNE_FLOOR + 100);
    }
}
