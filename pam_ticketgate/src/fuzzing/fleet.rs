//! `fleet_answer`: bytes as the body of a `/v1/fleet/check` or `/v1/fleet/failure` answer. A
//! standing comes only from an object with a boolean `locked` and a non-negative integer
//! `failures` that repeats no key; a lock always has a reason (`failures` or `admin`), an
//! unlocked standing has neither reason nor until; anything else is a refusal, never
//! "unreachable".
//!
//! `fleet_spool`: bytes as `state_dir/fleet-spool.jsonl`. A spool that decodes re-encodes to
//! bytes that decode to the same events (whole lines, one per event); pushing an event keeps
//! the bound, drops only the oldest, and adds the event last (or leaves the spool as it was,
//! for a success after the user's own success); removing sent ids removes exactly those.

use serde_json::Value;

use crate::fleet::spool::{self, FleetSpool, MemSpool};
use crate::fleet::{FleetEvent, Kind, LockReason, client};

pub fn fleet_answer(data: &[u8]) -> bool {
    let got = client::standing_of(data, "check");
    let object = serde_json::from_slice::<Value>(data).ok();
    let field = |k: &str| object.as_ref().and_then(|v| v.as_object()?.get(k).cloned());
    let unique = super::misc::top_level_keys(data).is_some_and(|keys| {
        let set: std::collections::BTreeSet<&String> = keys.iter().collect();
        set.len() == keys.len()
    });
    match got {
        Ok(s) => {
            assert!(unique, "an answer with a repeated key was read");
            assert_eq!(field("locked").and_then(|v| v.as_bool()), Some(s.locked));
            assert_eq!(
                field("failures").and_then(|v| v.as_u64()),
                Some(u64::from(s.failures))
            );
            if s.locked {
                let word = field("reason");
                let word = word.as_ref().and_then(Value::as_str);
                assert_eq!(word, s.reason.map(LockReason::as_str));
                assert!(s.reason.is_some(), "a lock without a reason was read");
            } else {
                assert_eq!((s.reason, s.until), (None, None));
            }
            true
        }
        Err(e) => {
            assert!(!e.is_unreachable(), "a body read as unreachable: {e}");
            false
        }
    }
}

pub fn fleet_spool(data: &[u8]) -> bool {
    let Ok(events) = spool::decode(data) else {
        return false;
    };
    let bytes = spool::encode(&events);
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), events.len());
    assert_eq!(spool::decode(&bytes).as_ref(), Ok(&events));
    let limit = events.len().clamp(1, 4);
    let mem = MemSpool::default();
    *mem.events.borrow_mut() = events.clone();
    let new = FleetEvent {
        kind: if events.len() % 2 == 0 {
            Kind::Failure
        } else {
            Kind::Success
        },
        id: "00000000-0000-4000-8000-000000000000".into(),
        ..events.first().cloned().unwrap_or(FleetEvent {
            kind: Kind::Failure,
            id: String::new(),
            user: "alice".into(),
            credential: "password".into(),
            host: "h".into(),
            service: "sshd".into(),
            rhost: String::new(),
            at: 0,
        })
    };
    let dropped = spool::push(&mem, new.clone(), limit).unwrap_or_default();
    let after = mem.events().unwrap_or_default();
    if after == events {
        // Only a success after the user's own latest success is left out.
        assert_eq!(new.kind, Kind::Success);
        assert!(dropped.is_empty());
    } else {
        assert!(after.len() <= limit, "the bound does not hold");
        assert_eq!(after.last(), Some(&new));
        assert_eq!(
            dropped.as_slice(),
            events.get(..dropped.len()).unwrap_or_default()
        );
        assert_eq!(
            after.get(..after.len() - 1).unwrap_or_default(),
            events.get(dropped.len()..).unwrap_or_default()
        );
    }
    let ids: Vec<String> = events.iter().take(2).map(|e| e.id.clone()).collect();
    let before = mem.events().unwrap_or_default();
    spool::remove_sent(&mem, &ids).unwrap_or_default();
    let left = mem.events().unwrap_or_default();
    assert!(left.iter().all(|e| !ids.contains(&e.id)));
    assert_eq!(
        left.len(),
        before.iter().filter(|e| !ids.contains(&e.id)).count()
    );
    true
}
