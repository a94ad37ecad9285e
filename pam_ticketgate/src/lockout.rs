//! Failed-logon lockout (Cisco credential policy): pure rules over a [`Record`] and `now`.

use crate::args::Credential;
use crate::config::Policy;
use crate::lifecycle::{credential, credential_mut};
use crate::store::{Attempt, CredentialState, HackLock, Record};

/// Bound on remembered failures when `failed_logon = 0` (no limit) keeps counting.
const MAX_REMEMBERED_FAILURES: usize = 100;

/// Why an account is locked right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// `ticketgate lock`; lasts until `ticketgate unlock`. Covers every credential.
    Admin { since: i64 },
    /// Too many failures of this credential; `until: None` lasts until an administrator unlocks.
    Hack { since: i64, until: Option<i64> },
    /// No successful login for `inactive_after`; lasts until an administrator unlocks.
    Inactive { since: i64 },
}

/// The latest instant a stored time may name: 9999-12-31 23:59:59 UTC, the last one `status`
/// can print as a date.
pub const LATEST: i64 = 253_402_300_799;

/// The longest hack lock a policy can set (`lockout_duration` is at most 1440 minutes).
pub const MAX_LOCKOUT_SECS: i64 = 1440 * 60;

/// True when `t` is a time this module could have stored (1970 to 9999).
pub fn is_plausible_time(t: i64) -> bool {
    (0..=LATEST).contains(&t)
}

/// True when `lock` holds only times this module could have written: dates from 1970 to 9999,
/// and a hack lock that ends after it began and lasts at most [`MAX_LOCKOUT_SECS`]. Anything
/// else comes from a damaged or forged record: the account stays locked (as for any corrupt
/// record, until `ticketgate reset`), and messages say "corrupt record" instead of a time
/// such as "try again in 153722867250976107 minutes".
pub fn is_plausible(lock: &Lock) -> bool {
    match *lock {
        Lock::Admin { since } | Lock::Inactive { since } | Lock::Hack { since, until: None } => {
            is_plausible_time(since)
        }
        Lock::Hack {
            since,
            until: Some(until),
        } => {
            is_plausible_time(since)
                && is_plausible_time(until)
                && (0..=MAX_LOCKOUT_SECS).contains(&(until - since))
        }
    }
}

/// The lock in force at `now` for logins with credential `which`, if any (an admin lock wins
/// over the others; a hack lock of the other credential does not count).
pub fn current_lock(record: &Record, which: Credential, now: i64) -> Option<Lock> {
    if let Some(since) = record.admin_lock {
        return Some(Lock::Admin { since });
    }
    if let Some(since) = record.inactive_lock {
        return Some(Lock::Inactive { since });
    }
    hack_lock(credential(record, which), now)
}

/// The credential's hack lock in force at `now`.
pub fn hack_lock(state: &CredentialState, now: i64) -> Option<Lock> {
    match state.hack_lock {
        Some(HackLock { at, until: None }) => Some(Lock::Hack {
            since: at,
            until: None,
        }),
        Some(HackLock { at, until: Some(u) }) if u > now => Some(Lock::Hack {
            since: at,
            until: Some(u),
        }),
        _ => None,
    }
}

/// What recording one failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted; `count` failures are now inside the window.
    Counted { count: usize },
    /// This failure reached the limit: the account is now hack-locked.
    LockedNow { count: usize, until: Option<i64> },
    /// The account was already locked: not counted, the lock is not extended.
    AlreadyLocked,
}

/// Records a failure of credential `which` at `now` under `policy`. `is_root`: root is never
/// hack-locked unless `lock_root` (its failures are still counted, for `status`).
pub fn record_failure(
    record: &mut Record,
    which: Credential,
    policy: &Policy,
    is_root: bool,
    attempt: Attempt,
) -> Failure {
    let now = attempt.at;
    if current_lock(record, which, now).is_some() {
        return Failure::AlreadyLocked;
    }
    let state = credential_mut(record, which);
    state.hack_lock = None;
    let window_start = now.saturating_sub(secs(policy.reset_failed_after));
    // Keep failures stamped after `now` too: a process that read the clock before another
    // took the lock sees that one's (newer) failure here, and must count it (regression:
    // concurrent failures under load counted 1,2,2,3,3,…).
    state.failures.retain(|&t| t > window_start);
    state.failures.push(now);
    let excess = state.failures.len().saturating_sub(MAX_REMEMBERED_FAILURES);
    state.failures.drain(..excess);
    state.last_failure = Some(attempt);
    let count = state.failures.len();
    let limit = usize::try_from(policy.failed_logon).unwrap_or(usize::MAX);
    if limit == 0 || count < limit || (is_root && !policy.lock_root) {
        return Failure::Counted { count };
    }
    let until = policy.lockout_duration.map(|d| now.saturating_add(secs(d)));
    state.hack_lock = Some(HackLock { at: now, until });
    state.failures.clear();
    Failure::LockedNow { count, until }
}

/// Failures of `which` still inside the window at `now` (what `status` shows).
pub fn failures_in_window(record: &Record, which: Credential, policy: &Policy, now: i64) -> usize {
    let window_start = now.saturating_sub(secs(policy.reset_failed_after));
    credential(record, which)
        .failures
        .iter()
        .filter(|&&t| t > window_start)
        .count()
}

/// A successful authentication with `which`: its failure count starts again.
pub fn record_success(record: &mut Record, which: Credential) {
    credential_mut(record, which).failures.clear();
}

/// `ticketgate reset`: forget every credential's failures and hack lock (an admin lock stays).
pub fn reset(record: &mut Record) {
    for state in [&mut record.password, &mut record.pin] {
        state.failures.clear();
        state.hack_lock = None;
    }
}

/// `ticketgate lock`.
pub fn admin_lock(record: &mut Record, now: i64) {
    record.admin_lock.get_or_insert(now);
}

/// `ticketgate unlock`: lifts every lock and forgets the failures. `now` restarts the
/// inactivity clock, so an account unlocked after inactivity is not locked again at once.
pub fn admin_unlock(record: &mut Record, now: i64) {
    record.admin_lock = None;
    record.inactive_lock = None;
    record.last_active = Some(now);
    reset(record);
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const PW: Credential = Credential::Password;

    fn policy(limit: u32, window_min: u64, lock_min: u64) -> Policy {
        Policy {
            failed_logon: limit,
            reset_failed_after: Duration::from_secs(window_min * 60),
            lockout_duration: (lock_min > 0).then(|| Duration::from_secs(lock_min * 60)),
            ..Policy::password_default()
        }
    }

    fn at(t: i64) -> Attempt {
        Attempt {
            at: t,
            service: "sshd".into(),
            rhost: "192.0.2.1".into(),
        }
    }

    #[test]
    fn locks_after_three_failures_inside_window() {
        let p = policy(3, 30, 30);
        let mut r = Record::default();
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(1000)),
            Failure::Counted { count: 1 }
        );
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(1001)),
            Failure::Counted { count: 2 }
        );
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(1002)),
            Failure::LockedNow {
                count: 3,
                until: Some(1002 + 1800)
            }
        );
        assert_eq!(
            current_lock(&r, PW, 1002),
            Some(Lock::Hack {
                since: 1002,
                until: Some(2802)
            })
        );
    }

    #[test]
    fn failures_outside_window_are_forgotten_exactly_at_the_edge() {
        let p = policy(3, 30, 30);
        let mut r = Record::default();
        record_failure(&mut r, PW, &p, false, at(0));
        record_failure(&mut r, PW, &p, false, at(1));
        // 1800 s after the first failure it has left the window (window is (now-1800, now]).
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(1800)),
            Failure::Counted { count: 2 }
        );
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(1800)),
            Failure::LockedNow {
                count: 3,
                until: Some(3600)
            }
        );
        let mut r = Record::default();
        record_failure(&mut r, PW, &p, false, at(0));
        record_failure(&mut r, PW, &p, false, at(1));
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(1799)),
            Failure::LockedNow {
                count: 3,
                until: Some(3599)
            }
        );
    }

    #[test]
    fn a_failure_recorded_with_an_older_clock_reading_loses_no_newer_failure() {
        let p = policy(3, 30, 30);
        let mut r = Record::default();
        record_failure(&mut r, PW, &p, false, at(1001));
        record_failure(&mut r, PW, &p, false, at(1002));
        // This process read the clock (1000) before the other two took the lock.
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(1000)),
            Failure::LockedNow {
                count: 3,
                until: Some(2800)
            }
        );
    }

    #[test]
    fn timed_lock_ends_exactly_at_until() {
        let p = policy(1, 30, 30);
        let mut r = Record::default();
        record_failure(&mut r, PW, &p, false, at(100));
        assert!(current_lock(&r, PW, 100 + 1799).is_some());
        assert_eq!(current_lock(&r, PW, 100 + 1800), None);
    }

    #[test]
    fn failures_while_locked_are_not_counted_and_do_not_extend() {
        let p = policy(2, 30, 30);
        let mut r = Record::default();
        record_failure(&mut r, PW, &p, false, at(0));
        record_failure(&mut r, PW, &p, false, at(1));
        let locked = r.clone();
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(500)),
            Failure::AlreadyLocked
        );
        assert_eq!(r, locked);
        // After expiry the count starts from zero.
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(1801)),
            Failure::Counted { count: 1 }
        );
    }

    #[test]
    fn zero_minute_lockout_needs_an_administrator() {
        let p = policy(1, 30, 0);
        let mut r = Record::default();
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(0)),
            Failure::LockedNow {
                count: 1,
                until: None
            }
        );
        assert!(current_lock(&r, PW, i64::MAX).is_some());
        admin_unlock(&mut r, 6);
        assert_eq!(current_lock(&r, PW, 10), None);
    }

    #[test]
    fn root_is_counted_but_locked_only_with_lock_root() {
        let mut p = policy(1, 30, 30);
        let mut r = Record::default();
        assert_eq!(
            record_failure(&mut r, PW, &p, true, at(0)),
            Failure::Counted { count: 1 }
        );
        assert_eq!(current_lock(&r, PW, 0), None);
        p.lock_root = true;
        assert!(matches!(
            record_failure(&mut r, PW, &p, true, at(1)),
            Failure::LockedNow { .. }
        ));
    }

    #[test]
    fn no_limit_counts_but_never_locks_and_stays_bounded() {
        let p = policy(0, 120, 30);
        let mut r = Record::default();
        for t in 0..500 {
            assert!(matches!(
                record_failure(&mut r, PW, &p, false, at(t)),
                Failure::Counted { .. }
            ));
        }
        assert_eq!(r.password.failures.len(), MAX_REMEMBERED_FAILURES);
        assert_eq!(current_lock(&r, PW, 500), None);
    }

    #[test]
    fn success_and_reset_clear_the_count_admin_lock_survives_reset() {
        let p = policy(3, 30, 30);
        let mut r = Record::default();
        record_failure(&mut r, PW, &p, false, at(0));
        record_failure(&mut r, PW, &p, false, at(1));
        record_success(&mut r, PW);
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(3)),
            Failure::Counted { count: 1 }
        );
        admin_lock(&mut r, 4);
        reset(&mut r);
        assert_eq!(current_lock(&r, PW, 5), Some(Lock::Admin { since: 4 }));
        admin_unlock(&mut r, 6);
        assert_eq!(current_lock(&r, PW, 5), None);
    }

    #[test]
    fn wrong_pins_do_not_lock_password_logins_and_the_other_way_round() {
        // Issue 11: counts and hack locks are per credential, as Cisco keeps them.
        let p = policy(2, 30, 30);
        let mut r = Record::default();
        record_failure(&mut r, Credential::Pin, &p, false, at(0));
        record_failure(&mut r, Credential::Pin, &p, false, at(1));
        assert!(current_lock(&r, Credential::Pin, 2).is_some());
        assert_eq!(current_lock(&r, PW, 2), None);
        assert_eq!(
            record_failure(&mut r, PW, &p, false, at(3)),
            Failure::Counted { count: 1 },
            "the PIN's failures are not the password's"
        );
        record_success(&mut r, PW);
        assert!(
            current_lock(&r, Credential::Pin, 4).is_some(),
            "still locked"
        );
        // An admin lock covers both; reset clears both hack locks.
        admin_lock(&mut r, 5);
        assert!(matches!(current_lock(&r, PW, 5), Some(Lock::Admin { .. })));
        r.admin_lock = None;
        reset(&mut r);
        assert_eq!(current_lock(&r, Credential::Pin, 6), None);
    }

    /// Issue 12 (item 8c): a hack lock "until" near i64::MAX made the user message read "try
    /// again in 153722867250976107 minutes". Such a lock is recognised as not the module's.
    #[test]
    fn absurd_stored_times_are_not_plausible_locks_issue_12() {
        let now = 1_795_339_199;
        for lock in [
            Lock::Hack {
                since: now,
                until: Some(i64::MAX),
            },
            Lock::Hack {
                since: now,
                until: Some(now + MAX_LOCKOUT_SECS + 1),
            },
            Lock::Hack {
                since: now,
                until: Some(now - 1),
            },
            Lock::Hack {
                since: i64::MIN,
                until: None,
            },
            Lock::Admin { since: -1 },
            Lock::Inactive { since: LATEST + 1 },
        ] {
            assert!(!is_plausible(&lock), "{lock:?}");
        }
        for lock in [
            Lock::Hack {
                since: now,
                until: Some(now + MAX_LOCKOUT_SECS),
            },
            Lock::Hack {
                since: 0,
                until: None,
            },
            Lock::Admin { since: now },
            Lock::Inactive { since: LATEST },
        ] {
            assert!(is_plausible(&lock), "{lock:?}");
        }
    }
}
