//! Every path of the fleet lockout through the gate: locked by the fleet, a local lock with a
//! clean fleet, failures reported, a success only when needed (one round trip for a clean
//! login), unreachable under `local` and `deny`, the breaker, the spool (filling, dropping the
//! oldest, draining in order, a failed send, a corrupt spool) and refusals that never fall back.

use super::*;
use crate::fleet::spool::FleetSpool;
use crate::fleet::{FleetEvent, Kind, LockReason, Origin, SPOOL_LIMIT, Standing};
use crate::gate::fleet::{OFFLINE_MESSAGE, REFUSED_MESSAGE};

const NOW: i64 = 1_700_000_000;

/// alice and root share failures and locks through the fleet; bob's scope does not.
fn fleet_case(offline: &str) -> Case {
    case(&format!(
        "version = 1\n[module]\nstate_dir = \"/var/lib/tg-test\"\nfail_delay = \"0s\"\n\
         [[scope]]\nusers = [\"alice\", \"root\"]\nfleet = true\n\
         [[scope]]\nusers = [\"bob\"]\n\
         [policy.default]\nfailed_logon = 3\nreset_failed_after = \"30m\"\nlockout_duration = \"30m\"\n\
         [fleet]\nurl = \"https://fleet.example.com\"\nsecret_file = \"/etc/security/fleet.secret\"\n\
         [offline]\nfleet = \"{offline}\"\nretry_after = \"30s\"\n"
    ))
}

fn standing(failures: u32) -> Result<Standing, NetError> {
    Ok(Standing {
        locked: false,
        reason: None,
        until: None,
        failures,
    })
}

fn locked(reason: LockReason, until: Option<i64>, failures: u32) -> Result<Standing, NetError> {
    Ok(Standing {
        locked: true,
        reason: Some(reason),
        until,
        failures,
    })
}

fn unreachable() -> Result<Standing, NetError> {
    Err(NetError::Unreachable("connection refused".into()))
}

fn spooled(kind: Kind, at: i64) -> FleetEvent {
    let origin = Origin {
        user: "alice",
        credential: Credential::Password,
        host: "db02.example.com",
        service: "sshd",
        rhost: "192.0.2.9",
    };
    FleetEvent::new(kind, &origin, at).unwrap()
}

impl Case {
    fn replies(&self, replies: Vec<Result<Standing, NetError>>) {
        self.world.fleet.borrow_mut().extend(replies);
    }
    fn asked(&self) -> Vec<FleetRequest> {
        self.world.fleet_asked.borrow().clone()
    }
    /// The requests as short words: `check alice password`, `failure`, `success`.
    fn asked_words(&self) -> Vec<String> {
        self.asked()
            .iter()
            .map(|r| match r {
                FleetRequest::Check(who) => format!("check {who}"),
                FleetRequest::Sent(e) => e.kind.as_str().to_string(),
            })
            .collect()
    }
    fn sent(&self) -> Vec<FleetEvent> {
        self.asked()
            .into_iter()
            .filter_map(|r| match r {
                FleetRequest::Sent(e) => Some(e),
                FleetRequest::Check(_) => None,
            })
            .collect()
    }
    fn spool(&self) -> Vec<FleetEvent> {
        self.world.files.fleet_spool.events().unwrap()
    }
    fn count(&self, name: &str) -> usize {
        self.world
            .audit
            .names()
            .iter()
            .filter(|n| **n == name)
            .count()
    }
    fn last_field(&self, name: &str, key: &str) -> Option<String> {
        let events = self.world.audit.events.lock().unwrap();
        let event = events.iter().rev().find(|e| e.name.as_str() == name)?;
        event
            .fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }
    fn errors(&self) -> Vec<String> {
        self.world.audit.errors.lock().unwrap().clone()
    }
    fn phase(&self, phase: Phase, user: &str, now: i64) -> Outcome {
        self.run(phase, &login(user), now)
    }
}

#[test]
fn a_clean_login_makes_one_round_trip() {
    let c = fleet_case("local");
    c.replies(vec![standing(0)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW), Outcome::Allowed);
    assert_eq!(c.asked_words(), ["check alice password"]);
    assert!(c.world.audit.names().contains(&"auth_success"));
    assert_eq!(c.count("fleet_offline"), 0);
}

#[test]
fn a_fleet_lock_refuses_before_the_password_with_the_message_of_a_local_lock() {
    let c = fleet_case("local");
    c.replies(vec![locked(LockReason::Failures, Some(NOW + 600), 5)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Locked);
    assert_eq!(
        c.world.messages.borrow().last().unwrap(),
        "Account locked after too many failed logins; try again in 10 minute(s)."
    );
    assert_eq!(
        c.last_field("fleet_lock", "reason").as_deref(),
        Some("failures")
    );
    assert_eq!(
        c.last_field("fleet_lock", "until"),
        Some((NOW + 600).to_string())
    );
    assert_eq!(
        c.last_field("fleet_lock", "phase").as_deref(),
        Some("preauth")
    );
    // The local state is untouched: the lock is the fleet's.
    assert!(
        c.record("alice")
            .is_none_or(|r| r.password.hack_lock.is_none())
    );

    c.replies(vec![locked(LockReason::Admin, None, 0)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Locked);
    assert_eq!(
        c.world.messages.borrow().last().unwrap(),
        "Account locked; contact your administrator."
    );
    assert_eq!(
        c.last_field("fleet_lock", "reason").as_deref(),
        Some("admin")
    );
    assert_eq!(
        c.last_field("fleet_lock", "until").as_deref(),
        Some("admin")
    );
}

#[test]
fn a_local_lock_refuses_with_a_clean_fleet_without_asking_it() {
    let c = fleet_case("local");
    for t in 0..3 {
        c.replies(vec![standing(t), standing(t + 1)]);
        assert_eq!(
            c.phase(Phase::Preauth, "alice", NOW + i64::from(t)),
            Outcome::Allowed
        );
        assert_eq!(
            c.phase(Phase::Authfail, "alice", NOW + i64::from(t)),
            Outcome::AuthFailed
        );
    }
    assert!(c.world.audit.names().contains(&"hack_lock"));
    let before = c.asked().len();
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW + 3), Outcome::Locked);
    assert_eq!(c.asked().len(), before, "a local lock refuses first");
}

#[test]
fn a_failure_is_reported_as_it_happened_and_a_fleet_lock_in_the_answer_is_audited() {
    let c = fleet_case("local");
    c.replies(vec![
        standing(4),
        locked(LockReason::Failures, Some(NOW + 1800), 5),
    ]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    assert_eq!(
        c.phase(Phase::Authfail, "alice", NOW + 2),
        Outcome::AuthFailed
    );
    let sent = c.sent();
    assert_eq!(sent.len(), 1);
    let e = &sent[0];
    assert_eq!(
        (
            e.kind,
            e.user.as_str(),
            e.credential.as_str(),
            e.host.as_str()
        ),
        (Kind::Failure, "alice", "password", "db01.example.com")
    );
    assert_eq!(
        (e.service.as_str(), e.rhost.as_str(), e.at),
        ("sshd", "192.0.2.7", NOW + 2)
    );
    assert_eq!(e.id.len(), 36);
    // Counted here too, and the fleet's lock is logged with the phase that learned it.
    assert_eq!(c.record("alice").unwrap().password.failures, vec![NOW + 2]);
    assert_eq!(
        c.last_field("fleet_lock", "phase").as_deref(),
        Some("authfail")
    );
    assert_eq!(c.last_field("fleet_lock", "failures").as_deref(), Some("5"));
    assert!(c.spool().is_empty());
}

#[test]
fn a_success_is_reported_only_when_the_fleet_had_failures_on_record() {
    let c = fleet_case("local");
    c.replies(vec![
        standing(2),
        Ok(Standing {
            locked: false,
            reason: None,
            until: None,
            failures: 0,
        }),
    ]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW + 1), Outcome::Allowed);
    assert_eq!(c.asked_words(), ["check alice password", "success"]);
    assert_eq!(c.sent()[0].at, NOW + 1);
    // The handle now knows the count is clear: a second ticket line sends nothing more.
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW + 2), Outcome::Allowed);
    assert_eq!(c.asked().len(), 2);
}

#[test]
fn a_success_is_reported_when_no_earlier_line_asked_the_fleet() {
    let c = fleet_case("local");
    c.replies(vec![standing(0)]);
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW), Outcome::Allowed);
    assert_eq!(c.asked_words(), ["success"]);
    // What another user's login learned is not this one's.
    let c = fleet_case("local");
    *c.world.fleet_seen.borrow_mut() = Some(FleetSeen {
        user: "root".into(),
        failures: Some(0),
        offline_reported: false,
    });
    c.replies(vec![standing(0)]);
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW), Outcome::Allowed);
    assert_eq!(c.asked_words(), ["success"]);
}

#[test]
fn unreachable_under_local_counts_here_spools_and_logs_once_per_login() {
    let c = fleet_case("local");
    c.replies(vec![unreachable()]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    // The breaker is open: authfail and the next preauth make no request.
    assert_eq!(
        c.phase(Phase::Authfail, "alice", NOW + 1),
        Outcome::AuthFailed
    );
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW + 2), Outcome::Allowed);
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW + 3), Outcome::Allowed);
    assert_eq!(c.asked().len(), 1);
    assert_eq!(c.count("fleet_offline"), 1, "{:?}", c.world.audit.names());
    assert_eq!(
        c.last_field("fleet_offline", "result").as_deref(),
        Some("local")
    );
    assert_eq!(
        c.last_field("fleet_offline", "phase").as_deref(),
        Some("preauth")
    );
    // The host's own counting went on, and both events wait in the spool, in order.
    assert_eq!(c.record("alice").unwrap().password.failures, vec![NOW + 1]);
    let spool = c.spool();
    assert_eq!(
        spool.iter().map(|e| (e.kind, e.at)).collect::<Vec<_>>(),
        [(Kind::Failure, NOW + 1), (Kind::Success, NOW + 3)]
    );
    // More clean logins during the outage add nothing: that success already clears the count.
    *c.world.fleet_seen.borrow_mut() = None;
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW + 4), Outcome::Allowed);
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW + 5), Outcome::Allowed);
    assert_eq!(c.spool().len(), 2);
    assert_eq!(c.count("fleet_offline"), 2, "once per login");
}

#[test]
fn unreachable_under_deny_refuses_with_a_clear_log_line() {
    let c = fleet_case("deny");
    c.replies(vec![unreachable()]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Unavailable);
    assert_eq!(c.world.messages.borrow().last().unwrap(), OFFLINE_MESSAGE);
    assert_eq!(
        c.last_field("fleet_offline", "result").as_deref(),
        Some("denied")
    );
    assert!(
        c.errors()
            .iter()
            .any(|e| e.contains("[offline] fleet = \"deny\"") && e.contains("alice")),
        "{:?}",
        c.errors()
    );
    // A failure made meanwhile is still kept for the fleet (the breaker skips the server).
    assert_eq!(
        c.phase(Phase::Authfail, "alice", NOW + 1),
        Outcome::AuthFailed
    );
    assert_eq!(c.spool().len(), 1);
    // A success cannot be reported: the login is refused, and nothing is spooled for it.
    assert_eq!(
        c.phase(Phase::Ticket, "alice", NOW + 2),
        Outcome::Unavailable
    );
    assert_eq!(c.spool().len(), 1);
    assert_eq!(c.asked().len(), 1);
}

#[test]
fn the_breaker_skips_a_dead_server_until_retry_after() {
    let c = fleet_case("local");
    c.replies(vec![unreachable()]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    *c.world.fleet_seen.borrow_mut() = None; // the next login
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW + 29), Outcome::Allowed);
    assert_eq!(c.asked().len(), 1, "inside retry_after: no request");
    assert!(
        c.last_field("fleet_offline", "reason")
            .unwrap()
            .contains("skipped")
    );
    *c.world.fleet_seen.borrow_mut() = None;
    c.replies(vec![standing(0)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW + 30), Outcome::Allowed);
    assert_eq!(c.asked().len(), 2);
    assert!(
        c.world
            .files
            .breakers
            .borrow()
            .get(crate::fleet::BREAKER)
            .is_none()
    );
}

#[test]
fn a_full_spool_drops_its_oldest_event_with_an_audit_event() {
    let c = fleet_case("local");
    let old: Vec<FleetEvent> = (0..SPOOL_LIMIT)
        .map(|i| spooled(Kind::Failure, NOW - 10_000 + i64::try_from(i).unwrap()))
        .collect();
    *c.world.files.fleet_spool.events.borrow_mut() = old.clone();
    c.world
        .files
        .breakers
        .borrow_mut()
        .insert(crate::fleet::BREAKER.into(), NOW + 30);
    assert_eq!(c.phase(Phase::Authfail, "alice", NOW), Outcome::AuthFailed);
    let spool = c.spool();
    assert_eq!(spool.len(), SPOOL_LIMIT);
    assert_eq!(spool[0], old[1]);
    assert_eq!(spool.last().unwrap().at, NOW);
    assert_eq!(c.count("fleet_spool_dropped"), 1);
    assert_eq!(
        c.last_field("fleet_spool_dropped", "id"),
        Some(old[0].id.clone())
    );
    assert_eq!(
        c.last_field("fleet_spool_dropped", "kind").as_deref(),
        Some("failure")
    );
    assert!(c.asked().is_empty());
}

#[test]
fn spooled_events_are_sent_oldest_first_each_once_before_the_logins_own_call() {
    let c = fleet_case("local");
    let waiting = vec![
        spooled(Kind::Failure, NOW - 30),
        spooled(Kind::Failure, NOW - 20),
        spooled(Kind::Success, NOW - 10),
    ];
    *c.world.files.fleet_spool.events.borrow_mut() = waiting.clone();
    c.replies(vec![standing(1), standing(2), standing(0), standing(0)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    assert_eq!(
        c.asked_words(),
        ["failure", "failure", "success", "check alice password"]
    );
    // Sent as spooled: the same ids (the server counts each once) and the times they happened.
    assert_eq!(c.sent(), waiting);
    assert!(c.spool().is_empty());
    // With the spool empty and no failures on record, the ticket line sends nothing.
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW + 1), Outcome::Allowed);
    assert_eq!(c.asked().len(), 4);
}

#[test]
fn events_in_the_spool_make_the_ticket_line_report_the_success() {
    let c = fleet_case("local");
    c.replies(vec![standing(0)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    // Another login spooled an event meanwhile.
    let other = spooled(Kind::Failure, NOW);
    c.world
        .files
        .fleet_spool
        .events
        .borrow_mut()
        .push(other.clone());
    c.replies(vec![standing(1), standing(0)]);
    assert_eq!(c.phase(Phase::Ticket, "alice", NOW + 1), Outcome::Allowed);
    assert_eq!(
        c.asked_words(),
        ["check alice password", "failure", "success"]
    );
    assert_eq!(c.sent()[0], other);
    assert!(c.spool().is_empty());
}

#[test]
fn a_send_that_fails_stops_the_drain_and_keeps_the_rest() {
    let waiting = vec![
        spooled(Kind::Failure, NOW - 30),
        spooled(Kind::Failure, NOW - 20),
        spooled(Kind::Success, NOW - 10),
    ];
    // The first send finds the server unreachable: offline, and the login's own check is not
    // made (it would cost another deadline).
    let c = fleet_case("local");
    *c.world.files.fleet_spool.events.borrow_mut() = waiting.clone();
    c.replies(vec![unreachable()]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    assert_eq!(c.asked_words(), ["failure"]);
    assert_eq!(c.spool(), waiting);
    assert_eq!(
        c.last_field("fleet_offline", "result").as_deref(),
        Some("local")
    );
    assert!(
        c.world
            .files
            .breakers
            .borrow()
            .contains_key(crate::fleet::BREAKER)
    );

    // A later send fails so (the drain's one deadline passed, or the server went away): the
    // drain stops and keeps the rest, and the login's own check, with its own deadline, decides.
    let c = fleet_case("local");
    *c.world.files.fleet_spool.events.borrow_mut() = waiting.clone();
    c.replies(vec![standing(1), unreachable(), standing(0)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    assert_eq!(
        c.asked_words(),
        ["failure", "failure", "check alice password"]
    );
    assert_eq!(c.spool(), waiting[1..].to_vec());
    assert_eq!(c.count("fleet_offline"), 0);
    assert!(c.world.files.breakers.borrow().is_empty());

    // A refusal of a spooled event stops the drain too (the event is kept), but the server is
    // up: the login's own check is made.
    let c = fleet_case("local");
    *c.world.files.fleet_spool.events.borrow_mut() = waiting.clone();
    c.replies(vec![Err(NetError::Denied("HTTP 400".into())), standing(0)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    assert_eq!(c.asked_words(), ["failure", "check alice password"]);
    assert_eq!(c.spool(), waiting);
    assert!(
        c.errors().iter().any(|e| e.contains("drain stops")),
        "{:?}",
        c.errors()
    );
}

#[test]
fn a_corrupt_spool_is_reported_and_set_aside_and_never_blocks_logins() {
    let c = fleet_case("local");
    c.world.files.fleet_spool.corrupt.set(true);
    c.replies(vec![standing(0)]);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::Allowed);
    assert_eq!(c.world.files.fleet_spool.set_aside.get(), 1);
    assert!(
        c.errors()
            .iter()
            .any(|e| e.contains("corrupt") && e.contains("set aside")),
        "{:?}",
        c.errors()
    );
    assert_eq!(c.asked_words(), ["check alice password"]);

    // Found corrupt while spooling: set aside, and the new event is kept.
    let c = fleet_case("local");
    c.world.files.fleet_spool.corrupt.set(true);
    c.world
        .files
        .breakers
        .borrow_mut()
        .insert(crate::fleet::BREAKER.into(), NOW + 30);
    assert_eq!(c.phase(Phase::Authfail, "alice", NOW), Outcome::AuthFailed);
    assert_eq!(c.world.files.fleet_spool.set_aside.get(), 1);
    assert_eq!(c.spool().len(), 1);
}

#[test]
fn a_401_or_403_answer_denies_without_a_fallback() {
    for status in ["HTTP 401 Unauthorized", "HTTP 403 Forbidden"] {
        let c = fleet_case("local");
        c.replies(vec![Err(NetError::Denied(status.into()))]);
        assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::SystemError);
        assert_eq!(c.world.messages.borrow().last().unwrap(), REFUSED_MESSAGE);
        assert_eq!(c.count("fleet_offline"), 0);
        assert!(
            c.errors()
                .iter()
                .any(|e| e.contains(status) && e.contains("not treated as offline"))
        );
        // The server answered: no breaker, and a failure it refuses is not spooled either.
        assert!(c.world.files.breakers.borrow().is_empty());
        c.replies(vec![Err(NetError::Denied(status.into()))]);
        assert_eq!(
            c.phase(Phase::Authfail, "alice", NOW + 1),
            Outcome::AuthFailed
        );
        assert!(c.spool().is_empty());
        assert_eq!(c.record("alice").unwrap().password.failures, vec![NOW + 1]);
        // And the ticket line refuses when the success report is refused.
        c.replies(vec![Err(NetError::Denied(status.into()))]);
        assert_eq!(
            c.phase(Phase::Ticket, "alice", NOW + 2),
            Outcome::SystemError
        );
        assert!(!c.world.audit.names().contains(&"auth_success"));
    }
}

#[test]
fn a_scope_without_fleet_never_asks_it() {
    let c = fleet_case("local");
    assert_eq!(c.phase(Phase::Preauth, "bob", NOW), Outcome::Allowed);
    assert_eq!(c.phase(Phase::Authfail, "bob", NOW), Outcome::AuthFailed);
    assert_eq!(c.phase(Phase::Ticket, "bob", NOW), Outcome::Allowed);
    assert!(c.asked().is_empty());
    assert!(c.spool().is_empty());
}

#[test]
fn an_unreadable_host_token_is_a_broken_configuration_and_failures_wait_in_the_spool() {
    let c = fleet_case("local");
    c.world.fleet_secret_broken.set(true);
    assert_eq!(c.phase(Phase::Preauth, "alice", NOW), Outcome::ConfigBroken);
    assert!(
        c.last_field("config_error", "error")
            .unwrap()
            .contains("fleet.secret_file")
    );
    assert_eq!(
        c.phase(Phase::Authfail, "alice", NOW + 1),
        Outcome::AuthFailed
    );
    assert_eq!(c.spool().len(), 1);
    assert!(c.asked().is_empty());
}

#[test]
fn the_credential_of_the_line_is_the_one_asked_about() {
    let c = fleet_case("local");
    c.replies(vec![standing(0), standing(1)]);
    let pin = Login {
        credential: Credential::Pin,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Preauth, &pin, NOW), Outcome::Allowed);
    assert_eq!(c.run(Phase::Authfail, &pin, NOW), Outcome::AuthFailed);
    assert_eq!(c.asked_words(), ["check alice pin", "failure"]);
    assert_eq!(c.sent()[0].credential, "pin");
}
