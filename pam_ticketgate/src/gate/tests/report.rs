//! `mode = "report"` through the gate: each would-be refusal of every gate is one complete
//! `would_refuse` event, the PAM result is the one the line gives an uncovered login, nothing
//! is written to the state enforce mode reads and the user is told nothing.

use super::*;
use crate::fleet::{LockReason, Standing};

const NOW: i64 = 1_700_000_000;

/// alice, root and carol in a report-mode scope; bob in an enforce-mode one.
fn report_case(extra_scope: &str, tail: &str) -> Case {
    case(&format!(
        "version = 1\n[module]\nstate_dir = \"/var/lib/tg-test\"\nfail_delay = \"1s\"\n\
         [[scope]]\nusers = [\"alice\", \"root\", \"carol\", \"nosuch\"]\nmode = \"report\"\n{extra_scope}\
         [[scope]]\nusers = [\"bob\"]\n\
         [policy.default]\nfailed_logon = 3\nreset_failed_after = \"30m\"\nlockout_duration = \"30m\"\n{tail}"
    ))
}

impl Case {
    /// Every `would_refuse` event as `gate reason phase`.
    fn would_refuse(&self) -> Vec<String> {
        let events = self.world.audit.events.lock().unwrap();
        events
            .iter()
            .filter(|e| e.name == EventName::WouldRefuse)
            .map(|e| {
                let f = |k: &str| {
                    e.fields
                        .iter()
                        .find(|(key, _)| *key == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                format!("{} {} {}", f("gate"), f("reason"), f("phase"))
            })
            .collect()
    }
    /// Enforce mode's state holds nothing for anyone.
    fn assert_enforce_state_untouched(&self) {
        assert_eq!(self.world.store.users().unwrap(), Vec::<UserName>::new());
        for user in ["alice", "root", "carol"] {
            assert!(
                self.world
                    .store
                    .last_success(&UserName::parse(user).unwrap())
                    .is_none()
            );
        }
    }
    fn report_record(&self, user: &str) -> Option<Record> {
        self.world
            .report_store
            .load(&UserName::parse(user).unwrap())
            .unwrap()
    }
}

#[test]
fn failed_logons_never_refuse_and_the_would_be_hack_lock_is_reported() {
    let c = report_case("", "");
    for t in 0..3 {
        assert_eq!(
            c.run(Phase::Preauth, &login("alice"), NOW + t),
            Outcome::NotCovered
        );
        assert_eq!(
            c.run(Phase::Authfail, &login("alice"), NOW + t),
            Outcome::AuthFailed
        );
    }
    assert!(c.would_refuse().is_empty(), "{:?}", c.would_refuse());
    // The fourth try: enforce mode would refuse it before the password.
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), NOW + 3),
        Outcome::NotCovered
    );
    assert_eq!(c.would_refuse(), vec!["lockout hack_lock preauth"]);
    let events = c.world.audit.events.lock().unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (
            last.name,
            last.user.as_str(),
            last.service.as_str(),
            last.rhost.as_str()
        ),
        (EventName::WouldRefuse, "alice", "sshd", "192.0.2.7")
    );
    // The report state's own failures and lock; enforce events are marked as report mode's.
    let hack = events
        .iter()
        .find(|e| e.name == EventName::HackLock)
        .unwrap();
    assert!(hack.fields.contains(&("mode", "report".to_string())));
    drop(events);
    assert!(
        c.report_record("alice")
            .unwrap()
            .password
            .hack_lock
            .is_some()
    );
    assert!(
        c.world.messages.borrow().is_empty(),
        "the user is told nothing"
    );
    c.assert_enforce_state_untouched();
}

#[test]
fn an_administrators_lock_and_must_change_are_reported_not_applied() {
    let c = report_case("", "expires_after = \"90d\"\n");
    let alice = UserName::parse("alice").unwrap();
    c.world
        .store
        .update(&alice, &mut |r| {
            lockout::admin_lock(r, NOW - 10);
            r.password.must_change = true;
        })
        .unwrap();
    let before = c.record("alice");
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(
        c.run(Phase::Account, &login("alice"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(
        c.would_refuse(),
        vec![
            "lockout admin_lock preauth",
            "account admin_lock account",
            "password must_change account"
        ]
    );
    assert_eq!(c.record("alice"), before, "enforce state only read");
    assert!(c.world.messages.borrow().is_empty());
}

#[test]
fn an_expired_password_is_reported_and_the_clock_is_report_modes_own() {
    let c = report_case("", "expires_after = \"90d\"\nexpiry_warning = \"14d\"\n");
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 0),
        Outcome::NotCovered
    );
    assert_eq!(c.report_record("alice").unwrap().first_seen, Some(0));
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 80 * 86_400),
        Outcome::NotCovered
    );
    assert!(c.would_refuse().is_empty(), "a warning is no refusal");
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 91 * 86_400),
        Outcome::NotCovered
    );
    assert_eq!(c.would_refuse(), vec!["password expired account"]);
    assert!(c.world.messages.borrow().is_empty());
    c.assert_enforce_state_untouched();
}

#[test]
fn a_wrong_or_empty_ticket_is_asked_for_reported_and_lets_the_login_on() {
    let c = report_case(
        "ticket = true\n",
        "[ticket]\nsystem = \"http\"\nurl = \"https://tickets.example.com/t/{id}\"\nsecret_file = \"/etc/ticketgate/ticket.secret\"\ncache = \"0s\"\n\
         [[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n",
    );
    *c.world.env.borrow_mut() = Some(Vec::new());
    c.types(&["T-1"]);
    c.world.tickets.borrow_mut().push_back(Ok(
        serde_json::json!({"id": "T-1", "status": "approved", "owner": "bob"}),
    ));
    assert_eq!(c.run(Phase::Ticket, &login("alice"), NOW), Outcome::Allowed);
    assert_eq!(c.world.prompts.borrow().len(), 1, "the ticket is asked for");
    assert_eq!(c.would_refuse(), vec!["ticket conditions ticket"]);
    assert_eq!(
        c.report_record("alice").unwrap().password.failures.len(),
        1,
        "counted in report state"
    );
    // The login goes on (the ticket line succeeded), but its account line neither counts it
    // as a success nor reports: enforce mode would have ended it at the ticket.
    let authed = Login {
        authenticated: true,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Account, &authed, NOW), Outcome::NotCovered);
    assert_eq!(
        c.report_record("alice").unwrap().password.failures.len(),
        1,
        "not reset"
    );
    assert!(
        !c.world.audit.names().contains(&"auth_success"),
        "no success event for a would-be refusal"
    );
    c.world.report_refused.replace(None);
    // An empty answer: reported, not a failed PAM result.
    c.types(&[""]);
    assert_eq!(c.run(Phase::Ticket, &login("alice"), NOW), Outcome::Allowed);
    assert_eq!(c.would_refuse().len(), 2);
    assert!(c.would_refuse()[1].starts_with("ticket "));
    // A good ticket: no would_refuse, the ticket in the environment as in enforce mode.
    c.types(&["T-2"]);
    c.world.tickets.borrow_mut().push_back(Ok(
        serde_json::json!({"id": "T-2", "status": "approved", "owner": "alice"}),
    ));
    assert_eq!(c.run(Phase::Ticket, &login("alice"), NOW), Outcome::Allowed);
    assert_eq!(c.would_refuse().len(), 2);
    assert_eq!(
        c.world.env.borrow().as_deref(),
        Some(&["TICKETGATE_TICKET=T-2".to_string()][..])
    );
    assert!(c.world.messages.borrow().is_empty());
    c.assert_enforce_state_untouched();
}

#[test]
fn a_password_that_breaks_the_rules_is_handed_on_and_reported() {
    let c = report_case("", "min_change_interval = \"1d\"\n");
    assert_eq!(
        c.run(Phase::PasswordPrelim, &login("alice"), NOW),
        Outcome::NotCovered
    );
    c.types(&["short", "short"]);
    assert_eq!(
        c.run(Phase::Password, &login("alice"), NOW),
        Outcome::Allowed
    );
    assert_eq!(c.world.authtok_set.borrow().as_deref(), Some("short"));
    assert_eq!(c.would_refuse(), vec!["password min_length password"]);
    assert!(
        c.world.pending.borrow().is_none(),
        "a refused change starts no clock and no history"
    );
    assert_eq!(
        c.run(Phase::PasswordCommit, &login("alice"), NOW),
        Outcome::NotCovered
    );
    assert!(c.report_record("alice").is_none());
    // A good one is kept and, once stored, recorded in report state: a second change inside
    // min_change_interval is then reported too.
    c.types(&[GOOD, GOOD]);
    let user = Login {
        real_uid: 1000,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Password, &user, NOW), Outcome::Allowed);
    assert_eq!(
        c.run(Phase::PasswordCommit, &user, NOW),
        Outcome::NotCovered
    );
    assert!(
        c.report_record("alice")
            .unwrap()
            .password
            .last_change
            .is_some()
    );
    c.types(&["An0ther-g00d-one", "An0ther-g00d-one"]);
    assert_eq!(c.run(Phase::Password, &user, NOW + 60), Outcome::Allowed);
    assert_eq!(
        c.would_refuse()[1..],
        ["password min_change_interval password".to_string()]
    );
    assert!(c.world.messages.borrow().is_empty());
    c.assert_enforce_state_untouched();
}

#[test]
fn three_mismatched_entries_end_the_change_as_without_the_module() {
    let c = report_case("", "");
    c.types(&[GOOD, "x", GOOD, "y", GOOD, "z"]);
    assert_eq!(
        c.run(Phase::Password, &login("alice"), NOW),
        Outcome::CredentialRefused
    );
    // What a caller no scope covers gets from the same entries.
    c.types(&[GOOD, "x", GOOD, "y", GOOD, "z"]);
    assert_eq!(
        c.run(Phase::Password, &login("bob"), NOW),
        Outcome::CredentialRefused,
        "bob's enforce scope refuses a mismatch the same way"
    );
    c.types(&[GOOD, "x", GOOD, "y", GOOD, "z"]);
    assert_eq!(
        c.run(Phase::Password, &login("nobody-covers-me"), NOW),
        Outcome::CredentialRefused
    );
    assert!(c.would_refuse().is_empty(), "a mismatch is no refusal");
    assert!(c.world.authtok_set.borrow().is_none());
}

#[test]
fn the_fleet_is_asked_but_told_nothing_and_its_lock_is_reported() {
    let c = report_case(
        "fleet = true\n",
        "[fleet]\nurl = \"https://fleet.example.com\"\nsecret_file = \"/etc/security/fleet.secret\"\n",
    );
    c.world.fleet.borrow_mut().push_back(Ok(Standing {
        locked: true,
        reason: Some(LockReason::Failures),
        until: Some(NOW + 600),
        failures: 9,
    }));
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(
        c.run(Phase::Authfail, &login("alice"), NOW),
        Outcome::AuthFailed
    );
    assert_eq!(c.would_refuse(), vec!["fleet fleet_lock preauth"]);
    assert_eq!(
        c.world.fleet_asked.borrow().len(),
        1,
        "one check; the failure is not sent"
    );
    c.assert_enforce_state_untouched();
}

#[test]
fn login_protect_is_asked_as_a_dry_run_and_a_server_problem_reported() {
    let c = report_case(
        "login_protect = true\n",
        "[login_protect]\nurl = \"https://protect.example.com\"\nservice_id = \"web\"\nsecret_file = \"/etc/ticketgate/protect.secret\"\nwait_for_unlock = true\n\
         [offline]\nlogin_protect = \"deny\"\nretry_after = \"30s\"\n",
    );
    c.world.protect.borrow_mut().extend([
        Ok(false),
        Ok(true),
        Err(NetError::Unreachable("refused".into())),
    ]);
    for t in 0..3 {
        assert_eq!(
            c.run(Phase::Preauth, &login("alice"), NOW + t),
            Outcome::NotCovered
        );
    }
    // A dry run does not say whether the user unlocked: only the unreachable server (which
    // refuses every login under offline = "deny") is a finding.
    assert_eq!(c.would_refuse(), vec!["protect unavailable preauth"]);
    let asked = c.world.protect_asked.borrow();
    assert_eq!(asked.len(), 3);
    assert!(
        asked.iter().all(|a| a.starts_with("dry-run web alice ")),
        "never a real attempt (it would use up the unlock): {asked:?}"
    );
    assert!(
        c.world.prompts.borrow().is_empty(),
        "no wait-for-unlock prompt"
    );
    assert!(c.world.messages.borrow().is_empty());
}

#[test]
fn an_unknown_name_in_a_report_scope_is_left_to_the_stack() {
    let c = report_case("", "");
    assert_eq!(
        c.run(Phase::Preauth, &login("nosuch"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(
        c.run(Phase::Ticket, &login("nosuch"), NOW),
        Outcome::Allowed
    );
}

#[test]
fn a_report_scope_never_changes_what_an_enforce_scope_does() {
    let c = report_case("", "");
    for t in 0..3 {
        c.fail("bob", NOW + t);
        assert_eq!(
            c.run(Phase::Authfail, &login("alice"), NOW + t),
            Outcome::AuthFailed
        );
    }
    assert_eq!(
        c.run(Phase::Preauth, &login("bob"), NOW + 3),
        Outcome::Locked
    );
    assert!(c.record("bob").unwrap().password.hack_lock.is_some());
    let events = c.world.audit.events.lock().unwrap();
    assert!(
        events
            .iter()
            .filter(|e| e.user == "bob")
            .all(|e| !e.fields.iter().any(|(k, _)| *k == "mode")),
        "bob's events are enforce mode's"
    );
}

#[test]
fn a_broken_state_store_is_reported_not_returned() {
    let c = report_case("", "");
    c.world
        .report_store
        .full
        .store(true, std::sync::atomic::Ordering::SeqCst);
    c.world
        .report_store
        .corrupt
        .lock()
        .unwrap()
        .insert("alice".to_string());
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(
        c.run(Phase::Account, &login("alice"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(
        c.would_refuse(),
        vec![
            "lockout corrupt_state preauth",
            "account corrupt_state account"
        ]
    );
}

#[test]
fn a_caller_that_is_not_root_is_not_denied_for_a_report_scope() {
    let c = case(&format!(
        "{}mode = \"report\"\n[[scope]]\nusers = [\"bob\"]\n",
        POLICY
            .replace(
                "fail_delay = \"1s\"",
                "fail_delay = \"1s\"\nunprivileged = \"deny\""
            )
            .replace("[policy.default]\n", "")
            .replace(
                "failed_logon = 3\nreset_failed_after = \"30m\"\nlockout_duration = \"30m\"\n",
                ""
            )
    ));
    let screen_locker = |user| Login {
        privileged: false,
        ..login(user)
    };
    assert_eq!(
        c.run(Phase::Preauth, &screen_locker("alice"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(
        c.run(Phase::Account, &screen_locker("alice"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(
        c.would_refuse(),
        vec!["module unprivileged preauth", "module unprivileged account"]
    );
    // An enforce-mode scope's user is still denied.
    assert_eq!(
        c.run(Phase::Preauth, &screen_locker("bob"), NOW),
        Outcome::UnprivilegedDenied
    );
}

#[test]
fn a_corrupt_enforce_record_is_reported_as_enforce_mode_would_lock() {
    let c = report_case("", "");
    c.world
        .store
        .corrupt
        .lock()
        .unwrap()
        .insert("alice".to_string());
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), NOW),
        Outcome::NotCovered
    );
    assert_eq!(c.would_refuse(), vec!["lockout corrupt_state preauth"]);
}

#[test]
fn mode_must_be_enforce_or_report() {
    let err = Config::parse(
        Path::new("t.toml"),
        &POLICY.replace("nosuch\"]\n", "nosuch\"]\nmode = \"audit\"\n"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("scope[1].mode"), "{err}");
    let ok = Config::parse(Path::new("t.toml"), POLICY).unwrap();
    assert_eq!(ok.scopes[0].mode, crate::config::ScopeMode::Enforce);
}
