//! `store_record`: bytes as a `<user>.state` record (and as a `<user>.last` file). A record
//! that decodes re-encodes to bytes that decode to the same record and still fit the size cap;
//! the lockout and lifecycle rules run over it at any clock without overflow and keep their
//! invariants (a locked account stays locked and is not counted; at most 100 failures kept).

use std::time::Duration;

use super::NOWS;
use crate::args::Credential;
use crate::config::Policy;
use crate::lifecycle;
use crate::lockout::{self, Failure};
use crate::store::{self, Attempt, Record};

fn policies() -> [Policy; 2] {
    let strict = Policy {
        failed_logon: 1,
        reset_failed_after: Duration::from_secs(120 * 60),
        lockout_duration: None,
        expires_after: Some(Duration::from_secs(365 * 86_400)),
        expiry_warning: Duration::from_secs(90 * 86_400),
        inactive_after: Some(Duration::from_secs(5000 * 86_400)),
        lock_root: true,
        ..Policy::password_default()
    };
    [Policy::password_default(), strict]
}

fn round_trips(record: &Record) {
    let bytes = store::encode(record);
    assert!(bytes.is_ok(), "encode failed: {bytes:?}");
    let bytes = bytes.unwrap_or_default();
    assert!(
        bytes.len() as u64 <= store::MAX_RECORD_BYTES,
        "the module would write a record it cannot read back ({} bytes)",
        bytes.len()
    );
    assert_eq!(store::decode(&bytes).as_ref(), Ok(record));
}

pub fn store_record(data: &[u8]) -> bool {
    if let Some(last) = store::decode_last(data) {
        let text = serde_json::to_vec(&last).unwrap_or_default();
        let mut padded = text.clone();
        padded.resize(store::LAST_SUCCESS_BYTES.max(text.len()), b' ');
        if text.len() <= store::LAST_SUCCESS_BYTES {
            assert_eq!(store::decode_last(&padded), Some(last));
        }
    }
    let Ok(record) = store::decode(data) else {
        return false;
    };
    round_trips(&record);
    for now in NOWS {
        for policy in &policies() {
            rules_hold(&record, policy, now);
        }
    }
    true
}

fn rules_hold(record: &Record, policy: &Policy, now: i64) {
    let outside = lifecycle::Outside {
        last_change: Some(now),
        must_change: false,
    };
    for which in [Credential::Password, Credential::Pin] {
        let _ = lifecycle::standing(record, which, policy, &lifecycle::Outside::default(), now);
        let _ = lifecycle::standing(record, which, policy, &outside, now);
    }
    let _ = lifecycle::is_inactive(record, Some(now), policy, now);
    let _ = lifecycle::is_inactive(record, None, policy, now);

    for which in [Credential::Password, Credential::Pin] {
        let locked = lockout::current_lock(record, which, now);
        let _ = lockout::failures_in_window(record, which, policy, now);
        let mut after = record.clone();
        let attempt = Attempt {
            at: now,
            service: "sshd".into(),
            rhost: "192.0.2.1".into(),
        };
        let failure = lockout::record_failure(&mut after, which, policy, false, attempt);
        if locked.is_some() {
            assert_eq!(failure, Failure::AlreadyLocked);
            assert_eq!(
                &after, record,
                "a locked account's record changed on a failure"
            );
        } else {
            assert_ne!(failure, Failure::AlreadyLocked);
            assert!(lifecycle::credential(&after, which).failures.len() <= 100);
            if let Failure::LockedNow { .. } = failure {
                assert!(
                    lockout::current_lock(&after, which, now).is_some(),
                    "locked now, but not locked"
                );
            }
        }
        let other = match which {
            Credential::Password => Credential::Pin,
            Credential::Pin => Credential::Password,
        };
        assert_eq!(
            lifecycle::credential(&after, other),
            lifecycle::credential(record, other),
            "a failure of one credential changed the other's state"
        );
        round_trips(&after);
    }

    let mut active = record.clone();
    lifecycle::note_activity(&mut active, now);
    assert!(active.last_active.is_some());
    lockout::admin_unlock(&mut active, now);
    for which in [Credential::Password, Credential::Pin] {
        assert_eq!(lockout::current_lock(&active, which, now), None);
    }
    round_trips(&active);
}
