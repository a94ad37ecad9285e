//! Credential lifecycle (Cisco credential policy): expiry with a warning period, the inactivity
//! lock and must-change. Pure rules over a [`Record`], the policy and `now`.

use crate::args::Credential;
use crate::config::Policy;
use crate::store::{CredentialState, Record};

/// How often the durable activity stamp is refreshed (it only needs day precision).
const ACTIVITY_REFRESH_SECS: i64 = 12 * 3600;

/// Where a credential stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Fine,
    /// Expires in `days_left` whole days or less (0 = today); inside `expiry_warning`.
    ExpiresSoon {
        days_left: i64,
        at: i64,
    },
    /// Past `expires_after`: Cisco's expired soft lock — change it to go on.
    Expired {
        at: i64,
    },
    /// `ticketgate must-change`.
    MustChange,
}

/// What the system's own password database says of the last change (the shadow entry), for
/// changes made without the module (`chpasswd`, `passwd -e`, `usermod`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outside {
    /// The shadow entry's last-change day, as epoch seconds.
    pub last_change: Option<i64>,
    /// The last-change day is 0 (`passwd -e`): change it at the next login.
    pub must_change: bool,
}

/// The credential state a service checks (`credential=password|pin`).
pub fn credential(record: &Record, which: Credential) -> &CredentialState {
    match which {
        Credential::Password => &record.password,
        Credential::Pin => &record.pin,
    }
}

pub fn credential_mut(record: &mut Record, which: Credential) -> &mut CredentialState {
    match which {
        Credential::Password => &mut record.password,
        Credential::Pin => &mut record.pin,
    }
}

/// When the credential expires: `expires_after` from its last change — the later of the
/// module's record (or first sight, when it recorded none) and the shadow entry's day.
/// `None` = never.
pub fn expires_at(
    state: &CredentialState,
    first_seen: Option<i64>,
    outside: &Outside,
    policy: &Policy,
) -> Option<i64> {
    let after = i64::try_from(policy.expires_after?.as_secs()).ok()?;
    let base = state.last_change.or(first_seen).max(outside.last_change)?;
    Some(base.saturating_add(after))
}

pub fn standing(
    record: &Record,
    which: Credential,
    policy: &Policy,
    outside: &Outside,
    now: i64,
) -> Standing {
    let state = credential(record, which);
    if state.must_change || outside.must_change {
        return Standing::MustChange;
    }
    let Some(at) = expires_at(state, record.first_seen, outside, policy) else {
        return Standing::Fine;
    };
    if now >= at {
        return Standing::Expired { at };
    }
    let warn = i64::try_from(policy.expiry_warning.as_secs()).unwrap_or(i64::MAX);
    let left = at.saturating_sub(now);
    if left <= warn {
        return Standing::ExpiresSoon {
            days_left: left / 86_400,
            at,
        };
    }
    Standing::Fine
}

/// The last sign of life: the durable stamp, the exact last success, or first sight.
pub fn last_activity(record: &Record, last_success: Option<i64>) -> Option<i64> {
    [record.last_active, last_success, record.first_seen]
        .into_iter()
        .flatten()
        .max()
}

/// True when `inactive_after` has passed since the last sign of life (never for unknown starts).
pub fn is_inactive(record: &Record, last_success: Option<i64>, policy: &Policy, now: i64) -> bool {
    let Some(after) = policy
        .inactive_after
        .and_then(|d| i64::try_from(d.as_secs()).ok())
    else {
        return false;
    };
    last_activity(record, last_success).is_some_and(|t| now >= t.saturating_add(after))
}

/// Records a sign of life durably, at most every 12 hours (each refresh costs an fsync).
pub fn note_activity(record: &mut Record, now: i64) {
    if record
        .last_active
        .is_none_or(|t| now.saturating_sub(t) >= ACTIVITY_REFRESH_SECS)
    {
        record.last_active = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const DAY: i64 = 86_400;

    fn policy(expires_days: u64, warn_days: u64, inactive_days: u64) -> Policy {
        Policy {
            expires_after: (expires_days > 0).then(|| Duration::from_secs(expires_days * 86_400)),
            expiry_warning: Duration::from_secs(warn_days * 86_400),
            inactive_after: (inactive_days > 0)
                .then(|| Duration::from_secs(inactive_days * 86_400)),
            ..Policy::password_default()
        }
    }

    #[test]
    fn expiry_counts_from_the_last_change_or_first_sight() {
        let p = policy(90, 14, 0);
        let mut r = Record {
            first_seen: Some(1000),
            ..Record::default()
        };
        assert_eq!(
            standing(
                &r,
                Credential::Password,
                &p,
                &Outside::default(),
                1000 + 90 * DAY - 1
            ),
            Standing::ExpiresSoon {
                days_left: 0,
                at: 1000 + 90 * DAY
            }
        );
        assert_eq!(
            standing(
                &r,
                Credential::Password,
                &p,
                &Outside::default(),
                1000 + 90 * DAY
            ),
            Standing::Expired {
                at: 1000 + 90 * DAY
            }
        );
        r.password.last_change = Some(1000 + 80 * DAY);
        assert_eq!(
            standing(
                &r,
                Credential::Password,
                &p,
                &Outside::default(),
                1000 + 90 * DAY
            ),
            Standing::Fine
        );
        assert_eq!(
            standing(
                &r,
                Credential::Pin,
                &p,
                &Outside::default(),
                1000 + 90 * DAY
            ),
            Standing::Expired {
                at: 1000 + 90 * DAY
            },
            "the PIN has its own clock"
        );
    }

    #[test]
    fn warning_starts_exactly_expiry_warning_before() {
        let p = policy(90, 14, 0);
        let r = Record {
            first_seen: Some(0),
            ..Record::default()
        };
        let at = 90 * DAY;
        assert_eq!(
            standing(
                &r,
                Credential::Password,
                &p,
                &Outside::default(),
                at - 14 * DAY - 1
            ),
            Standing::Fine
        );
        assert_eq!(
            standing(
                &r,
                Credential::Password,
                &p,
                &Outside::default(),
                at - 14 * DAY
            ),
            Standing::ExpiresSoon { days_left: 14, at }
        );
        assert_eq!(
            standing(&r, Credential::Password, &p, &Outside::default(), at - 1),
            Standing::ExpiresSoon { days_left: 0, at }
        );
    }

    #[test]
    fn zero_days_never_expires_and_must_change_wins() {
        let r = Record {
            first_seen: Some(0),
            ..Record::default()
        };
        assert_eq!(
            standing(
                &r,
                Credential::Password,
                &policy(0, 14, 0),
                &Outside::default(),
                i64::MAX / 2
            ),
            Standing::Fine
        );
        let mut r = r;
        r.password.must_change = true;
        assert_eq!(
            standing(
                &r,
                Credential::Password,
                &policy(0, 14, 0),
                &Outside::default(),
                5
            ),
            Standing::MustChange
        );
    }

    #[test]
    fn inactivity_counts_from_the_latest_sign_of_life() {
        let p = policy(0, 0, 30);
        let r = Record {
            first_seen: Some(0),
            ..Record::default()
        };
        assert!(!is_inactive(&r, None, &p, 30 * DAY - 1));
        assert!(is_inactive(&r, None, &p, 30 * DAY));
        assert!(
            !is_inactive(&r, Some(10 * DAY), &p, 30 * DAY),
            "a recent success counts"
        );
        let stamped = Record {
            last_active: Some(20 * DAY),
            ..r.clone()
        };
        assert!(
            !is_inactive(&stamped, None, &p, 49 * DAY),
            "the durable stamp counts when .last is lost"
        );
        assert!(
            !is_inactive(&Record::default(), None, &p, i64::MAX / 2),
            "never seen: no start, no lock"
        );
        assert!(
            !is_inactive(&r, None, &policy(0, 0, 0), i64::MAX / 2),
            "0d = off"
        );
    }

    #[test]
    fn activity_stamp_is_refreshed_at_most_twice_a_day() {
        let mut r = Record::default();
        note_activity(&mut r, 100);
        note_activity(&mut r, 100 + ACTIVITY_REFRESH_SECS - 1);
        assert_eq!(r.last_active, Some(100));
        note_activity(&mut r, 100 + ACTIVITY_REFRESH_SECS);
        assert_eq!(r.last_active, Some(100 + ACTIVITY_REFRESH_SECS));
    }

    /// Issue 7 (fuzzing, store_record): a record stamped far in the past (corrupt, or
    /// written with a broken clock) overflowed `now - last_active`; a clock before 1970
    /// overflowed the days left to expiry.
    #[test]
    fn extreme_stamps_and_clocks_do_not_overflow_issue_7() {
        let mut r = Record {
            last_active: Some(i64::MIN),
            first_seen: Some(i64::MAX - 1),
            ..Record::default()
        };
        note_activity(&mut r, 1_795_339_199);
        assert_eq!(r.last_active, Some(1_795_339_199));
        let p = policy(90, 14, 0);
        assert!(matches!(
            standing(&r, Credential::Password, &p, &Outside::default(), i64::MIN),
            Standing::Fine
        ));
        let r = Record {
            first_seen: Some(-10),
            ..Record::default()
        };
        assert!(matches!(
            standing(&r, Credential::Password, &p, &Outside::default(), i64::MIN),
            Standing::Fine
        ));
    }

    #[test]
    fn changes_made_outside_the_module_count_for_expiry() {
        // Issue 11: chpasswd / usermod move the shadow entry's last-change day.
        let p = policy(90, 14, 0);
        let r = Record {
            first_seen: Some(0),
            ..Record::default()
        };
        let now = 100 * DAY;
        let none = Outside::default();
        assert!(matches!(
            standing(&r, Credential::Password, &p, &none, now),
            Standing::Expired { .. }
        ));
        let changed = Outside {
            last_change: Some(95 * DAY),
            must_change: false,
        };
        assert_eq!(
            standing(&r, Credential::Password, &p, &changed, now),
            Standing::Fine
        );
        // An older shadow day never shortens what the module knows.
        let old = Outside {
            last_change: Some(DAY),
            must_change: false,
        };
        let recent = Record {
            password: CredentialState {
                last_change: Some(99 * DAY),
                ..CredentialState::default()
            },
            ..r.clone()
        };
        assert_eq!(
            standing(&recent, Credential::Password, &p, &old, now),
            Standing::Fine
        );
        // `passwd -e`.
        let forced = Outside {
            last_change: None,
            must_change: true,
        };
        assert_eq!(
            standing(&recent, Credential::Password, &p, &forced, now),
            Standing::MustChange
        );
    }
}
