//! Every path of the ticket gate and login protect that reaches outside — the offline
//! fallbacks, break-glass codes, the offline PIN, the administrator's switch — through the
//! gate, over a scripted ticket system, protect server and in-memory run files.

use serde_json::json;

use super::*;
use crate::protect::login::{LOCKED_MESSAGE, PIN_PROMPT, WAIT_PROMPT};

const NOW: i64 = 1_000_000;

/// alice's scope requires login protect; `[offline] login_protect = {mode}`.
fn protect_case(mode: &str, extra: &str) -> Case {
    let config = POLICY.replace("nosuch\"]\n", "nosuch\"]\nlogin_protect = true\n")
        + &format!(
            "[login_protect]\nurl = \"https://protect.example.com\"\nservice_id = \"web\"\nsecret_file = \"/etc/ticketgate/protect.secret\"\n{extra}\
         [offline]\nlogin_protect = \"{mode}\"\nretry_after = \"30s\"\n"
        );
    case(&config)
}

/// alice's scope requires a ticket; `[offline] ticket = {modes}`.
fn ticket_case(modes: &str) -> Case {
    let config = POLICY.replace("nosuch\"]\n", "nosuch\"]\nticket = true\n")
        + &format!(
            "[ticket]\nsystem = \"http\"\nurl = \"https://tickets.example.com/t/{{id}}\"\nsecret_file = \"/etc/ticketgate/ticket.secret\"\ncache = \"0s\"\n\
             [[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n\
             [offline]\nticket = {modes}\ncached_for = \"8h\"\nretry_after = \"30s\"\n"
        );
    let c = case(&config);
    *c.world.env.borrow_mut() = Some(Vec::new());
    c
}

impl Case {
    fn answers(&self, typed: &[&str]) {
        self.world
            .answers
            .borrow_mut()
            .extend(typed.iter().map(|a| a.to_string()));
    }
    fn protect_replies(&self, replies: Vec<Result<bool, NetError>>) {
        self.world.protect.borrow_mut().extend(replies);
    }
    fn tickets(&self, answers: Vec<Result<serde_json::Value, TicketError>>) {
        self.world.tickets.borrow_mut().extend(answers);
    }
    /// The value of `key` in the last event named `name`.
    fn field(&self, name: &str, key: &str) -> Option<String> {
        let events = self.world.audit.events.lock().unwrap();
        let event = events.iter().rev().find(|e| e.name.as_str() == name)?;
        event
            .fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }
    fn preauth(&self) -> Outcome {
        self.run(Phase::Preauth, &login("alice"), NOW)
    }
    fn ticket(&self, now: i64) -> Outcome {
        self.run(Phase::Ticket, &login("alice"), now)
    }
    fn failures(&self) -> usize {
        self.record("alice")
            .map_or(0, |r| r.password.failures.len())
    }
}

fn offline() -> Result<bool, NetError> {
    Err(NetError::Unreachable("connection refused".into()))
}

fn unreachable() -> Result<serde_json::Value, TicketError> {
    Err(TicketError::Unreachable("connection refused".into()))
}

fn owned_by(owner: &str) -> Result<serde_json::Value, TicketError> {
    Ok(json!({"id": "T-1", "status": "approved", "owner": owner}))
}

// ---- login protect ----

#[test]
fn protect_unlocked_lets_the_password_be_asked_and_uses_the_unlock() {
    let c = protect_case("deny", "");
    c.protect_replies(vec![Ok(true)]);
    assert_eq!(c.preauth(), Outcome::Allowed);
    assert_eq!(
        c.world.protect_asked.borrow().as_slice(),
        ["web alice db01.example.com sshd 192.0.2.7"]
    );
    assert_eq!(
        c.field("protect_unlock_used", "waited").as_deref(),
        Some("false")
    );
}

#[test]
fn protect_locked_refuses_before_the_password() {
    let c = protect_case("unlocked", "");
    c.protect_replies(vec![Ok(false)]);
    assert_eq!(c.preauth(), Outcome::ProtectLocked);
    assert_eq!(c.world.messages.borrow().as_slice(), [LOCKED_MESSAGE]);
    assert_eq!(
        c.field("protect_locked", "service_id").as_deref(),
        Some("web")
    );
    assert_eq!(c.failures(), 0, "a locked login is not a failed logon");
}

#[test]
fn wait_for_unlock_asks_once_then_asks_the_server_again() {
    let c = protect_case("deny", "wait_for_unlock = true\n");
    c.protect_replies(vec![Ok(false), Ok(true)]);
    c.answers(&[""]);
    assert_eq!(c.preauth(), Outcome::Allowed);
    assert_eq!(c.world.prompts.borrow().as_slice(), [WAIT_PROMPT]);
    assert_eq!(
        c.field("protect_unlock_used", "waited").as_deref(),
        Some("true")
    );

    let c = protect_case("deny", "wait_for_unlock = true\n");
    c.protect_replies(vec![Ok(false), Ok(false)]);
    c.answers(&[""]);
    assert_eq!(c.preauth(), Outcome::ProtectLocked);
    assert_eq!(c.field("protect_locked", "waited").as_deref(), Some("true"));
}

#[test]
fn a_refusing_protect_server_locks_and_never_falls_back() {
    let c = protect_case("unlocked", "");
    c.protect_replies(vec![Err(NetError::Denied("HTTP 401".into()))]);
    assert_eq!(c.preauth(), Outcome::ProtectLocked);
    assert_eq!(
        c.field("protect_locked", "reason").as_deref(),
        Some("server_refused")
    );
    assert!(!c.world.audit.names().contains(&"offline_fallback"));
    assert!(
        c.world.files.breakers.borrow().is_empty(),
        "an answer is not an outage"
    );
}

#[test]
fn offline_unlocked_mode_lets_the_password_alone_decide() {
    let c = protect_case("unlocked", "");
    c.protect_replies(vec![offline()]);
    assert_eq!(c.preauth(), Outcome::Allowed);
    assert_eq!(
        c.field("offline_fallback", "gate").as_deref(),
        Some("login_protect")
    );
    assert_eq!(
        c.field("offline_fallback", "result").as_deref(),
        Some("password_only")
    );
    assert_eq!(
        c.world.files.breakers.borrow().get("login_protect"),
        Some(&(NOW + 30)),
        "tripped for retry_after"
    );
}

#[test]
fn offline_deny_mode_refuses_and_the_open_breaker_skips_the_server() {
    let c = protect_case("deny", "");
    c.protect_replies(vec![offline()]);
    assert_eq!(c.preauth(), Outcome::Unavailable);
    assert_eq!(
        c.field("offline_fallback", "result").as_deref(),
        Some("denied")
    );
    // Inside retry_after: no request (none is scripted), the same refusal.
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), NOW + 29),
        Outcome::Unavailable
    );
    assert!(
        c.field("offline_fallback", "reason")
            .unwrap()
            .contains("failed recently")
    );
    assert_eq!(c.world.protect_asked.borrow().len(), 1);
}

#[test]
fn hybrid_mode_accepts_the_offline_pin() {
    let c = protect_case("hybrid", "");
    c.world
        .files
        .pins
        .borrow_mut()
        .insert("alice".into(), "482916".into());
    c.protect_replies(vec![offline()]);
    c.answers(&["482916"]);
    assert_eq!(c.preauth(), Outcome::Allowed);
    assert_eq!(c.world.prompts.borrow().as_slice(), [PIN_PROMPT]);
    assert_eq!(
        c.field("offline_fallback", "result").as_deref(),
        Some("pin_accepted")
    );
}

#[test]
fn hybrid_mode_counts_a_wrong_offline_pin_as_a_failed_logon() {
    let c = protect_case("hybrid", "");
    c.world
        .files
        .pins
        .borrow_mut()
        .insert("alice".into(), "482916".into());
    c.protect_replies(vec![offline()]);
    c.answers(&["000000"]);
    assert_eq!(c.preauth(), Outcome::AuthFailed);
    assert_eq!(
        c.field("offline_fallback", "result").as_deref(),
        Some("wrong_pin")
    );
    assert_eq!(c.failures(), 1);
    assert!(c.world.audit.names().contains(&"auth_failure"));
}

#[test]
fn hybrid_mode_without_a_pin_an_answer_or_a_usable_pin_file_refuses() {
    let c = protect_case("hybrid", "");
    c.protect_replies(vec![offline()]);
    c.answers(&["482916"]);
    assert_eq!(c.preauth(), Outcome::Unavailable);
    assert_eq!(
        c.field("offline_fallback", "result").as_deref(),
        Some("no_pin")
    );
    assert_eq!(
        c.world.messages.borrow().last().map(String::as_str),
        Some("Login protect server unreachable and no offline PIN is set.")
    );

    let c = protect_case("hybrid", "");
    c.world.files.pin_unusable.set(true);
    c.protect_replies(vec![offline()]);
    c.answers(&["482916"]);
    assert_eq!(c.preauth(), Outcome::Unavailable);
    assert_eq!(
        c.field("offline_fallback", "result").as_deref(),
        Some("pin_unusable")
    );
    assert!(c.world.audit.errors.lock().unwrap()[0].contains("offline PIN file"));

    /// A client that gives no answer at the PIN prompt.
    struct Mute<'a>(&'a TestWorld);
    impl World for Mute<'_> {
        fn store(&self, d: &Path) -> Result<Box<dyn StateStore + '_>, StoreError> {
            self.0.store(d)
        }
        fn audit(&self, f: Option<&Path>) -> Box<dyn AuditSink + '_> {
            self.0.audit(f)
        }
        fn directory(&self) -> &dyn Directory {
            self.0.directory()
        }
        fn host(&self) -> HostNames {
            self.0.host()
        }
        fn conversation(&self) -> &dyn Conversation {
            self
        }
        fn ticket_system(&self, c: &Config) -> Box<dyn TicketSource + '_> {
            self.0.ticket_system(c)
        }
        fn protect_server(
            &self,
            c: &Config,
            p: &Protect,
        ) -> Result<Box<dyn ProtectServer + '_>, ConfigError> {
            self.0.protect_server(c, p)
        }
        fn fleet_server(
            &self,
            c: &Config,
            f: &crate::config::Fleet,
        ) -> Result<Box<dyn crate::fleet::FleetServer + '_>, ConfigError> {
            self.0.fleet_server(c, f)
        }
        fn run_files(&self, m: &ModuleSettings) -> Box<dyn RunFiles + '_> {
            self.0.run_files(m)
        }
    }
    impl Conversation for Mute<'_> {
        fn error(&self, m: &str) {
            self.0.error(m);
        }
        fn info(&self, m: &str) {
            self.0.info(m);
        }
        fn prompt(&self, m: &str, _: bool) -> Option<Secret> {
            self.0.prompts.borrow_mut().push(m.to_string());
            None
        }
        fn fail_delay(&self, d: Duration) {
            self.0.fail_delay(d);
        }
        fn putenv(&self, kv: &str) -> bool {
            self.0.putenv(kv)
        }
    }
    let c = protect_case("hybrid", "");
    c.protect_replies(vec![offline()]);
    assert_eq!(
        c.run_in(&Mute(&c.world), Phase::Preauth, &login("alice"), NOW),
        Outcome::Unavailable
    );
    assert_eq!(
        c.field("offline_fallback", "result").as_deref(),
        Some("no_answer")
    );
}

#[test]
fn the_administrators_switch_skips_login_protect() {
    let c = protect_case("deny", "");
    c.world.files.switched_off.set(true);
    assert_eq!(
        c.preauth(),
        Outcome::Allowed,
        "no request is made (none is scripted)"
    );
    assert!(c.world.protect_asked.borrow().is_empty());
    let c = protect_case("deny", "disabled = true\n");
    assert_eq!(c.preauth(), Outcome::Allowed);
}

#[test]
fn an_unusable_run_dir_fails_login_protect_closed() {
    let c = protect_case("unlocked", "");
    c.world.files.run_dir_refused.set(true);
    assert_eq!(c.preauth(), Outcome::ConfigBroken);
    assert!(c.world.audit.errors.lock().unwrap()[0].contains("run_dir"));
}

// ---- the ticket gate ----

#[test]
fn an_accepted_ticket_is_put_in_the_environment() {
    let c = ticket_case("[\"deny\"]");
    c.answers(&["T-1"]);
    c.tickets(vec![owned_by("alice")]);
    assert_eq!(c.ticket(NOW), Outcome::Allowed);
    assert_eq!(
        c.world.env.borrow().as_deref(),
        Some(&["TICKETGATE_TICKET=T-1".to_string()][..])
    );
    assert_eq!(
        c.field("ticket_accepted", "source").as_deref(),
        Some("online")
    );
    assert!(c.world.audit.names().contains(&"auth_success"));
}

#[test]
fn a_rejected_ticket_counts_as_a_failed_logon() {
    let c = ticket_case("[\"allow\"]");
    c.answers(&["T-1"]);
    c.tickets(vec![owned_by("bob")]);
    assert_eq!(c.ticket(NOW), Outcome::AuthFailed);
    assert_eq!(c.failures(), 1);
    assert_eq!(c.world.env.borrow().as_deref(), Some(&[][..]));
}

#[test]
fn offline_deny_refuses_and_the_open_breaker_skips_the_ticket_system() {
    let c = ticket_case("[\"deny\"]");
    c.answers(&["T-1", "T-1"]);
    c.tickets(vec![unreachable()]);
    assert_eq!(c.ticket(NOW), Outcome::Unavailable);
    assert_eq!(c.field("offline_fallback", "mode").as_deref(), Some("deny"));
    assert_eq!(
        c.field("ticket_rejected", "reason").as_deref(),
        Some("unreachable")
    );
    assert_eq!(c.failures(), 0, "an outage is not a failed logon");
    // Inside retry_after: no fetch (none is scripted), the same refusal.
    assert_eq!(c.ticket(NOW + 29), Outcome::Unavailable);
    assert!(
        c.field("offline_fallback", "detail")
            .unwrap()
            .contains("breaker")
    );
}

#[test]
fn offline_allow_lets_the_login_on() {
    let c = ticket_case("[\"allow\"]");
    c.answers(&["T-1"]);
    c.tickets(vec![unreachable()]);
    assert_eq!(c.ticket(NOW), Outcome::Allowed);
    assert_eq!(
        c.field("ticket_accepted", "source").as_deref(),
        Some("offline_allow")
    );
    assert_eq!(
        c.world.env.borrow().as_deref(),
        Some(&["TICKETGATE_TICKET=T-1".to_string()][..])
    );
}

#[test]
fn offline_cached_needs_an_earlier_online_accept_then_falls_to_deny() {
    let c = ticket_case("[\"cached\", \"deny\"]");
    c.answers(&["T-1"]);
    c.tickets(vec![unreachable()]);
    assert_eq!(c.ticket(NOW), Outcome::Unavailable, "never accepted online");

    let c = ticket_case("[\"cached\", \"deny\"]");
    c.answers(&["T-1", "T-1"]);
    c.tickets(vec![owned_by("alice"), unreachable()]);
    assert_eq!(c.ticket(NOW), Outcome::Allowed);
    assert_eq!(c.ticket(NOW + 600), Outcome::Allowed);
    assert_eq!(
        c.field("offline_fallback", "mode").as_deref(),
        Some("cached")
    );
    assert_eq!(
        c.field("ticket_accepted", "source").as_deref(),
        Some("offline_cached")
    );
}

#[test]
fn offline_breakglass_takes_a_code_once_and_a_wrong_code_is_a_failed_logon() {
    let c = ticket_case("[\"breakglass\", \"deny\"]");
    c.world.files.codes.set(&["WXYZ-2345-6789-ABCD"]);
    c.answers(&["T-1", "AAAA-BBBB-CCCC-DDDD"]);
    c.tickets(vec![unreachable()]);
    assert_eq!(c.ticket(NOW), Outcome::AuthFailed);
    assert_eq!(
        c.field("ticket_rejected", "reason").as_deref(),
        Some("breakglass_wrong")
    );
    assert_eq!(c.failures(), 1);

    c.answers(&["T-1", "WXYZ-2345-6789-ABCD"]);
    assert_eq!(
        c.ticket(NOW + 1),
        Outcome::Allowed,
        "breaker open: no fetch"
    );
    assert_eq!(
        c.field("breakglass_used", "remaining").as_deref(),
        Some("0")
    );
    assert_eq!(
        c.field("ticket_accepted", "source").as_deref(),
        Some("breakglass")
    );

    c.answers(&["T-1"]);
    assert_eq!(
        c.ticket(NOW + 2),
        Outcome::Unavailable,
        "used up: the next mode, deny"
    );
}

#[test]
fn unreadable_breakglass_codes_fall_to_the_next_mode() {
    let c = ticket_case("[\"breakglass\", \"allow\"]");
    c.world.files.codes.broken.set(true);
    c.answers(&["T-1"]);
    c.tickets(vec![unreachable()]);
    assert_eq!(c.ticket(NOW), Outcome::Allowed);
    assert_eq!(
        c.field("offline_fallback", "mode").as_deref(),
        Some("allow")
    );
    assert!(c.world.audit.errors.lock().unwrap()[0].starts_with("breakglass: "));
}

#[test]
fn a_refusing_ticket_system_denies_even_with_an_allow_fallback() {
    let c = ticket_case("[\"allow\"]");
    c.answers(&["T-1"]);
    c.tickets(vec![Err(TicketError::Denied("HTTP 401".into()))]);
    assert_eq!(c.ticket(NOW), Outcome::AuthFailed);
    assert_eq!(
        c.field("ticket_rejected", "reason").as_deref(),
        Some("denied")
    );
    assert!(!c.world.audit.names().contains(&"offline_fallback"));
}

#[test]
fn an_unusable_ticket_secret_or_run_dir_fails_closed() {
    let c = ticket_case("[\"allow\"]");
    c.answers(&["T-1"]);
    c.tickets(vec![Err(TicketError::Config(
        "ticket.secret_file: not found".into(),
    ))]);
    assert_eq!(c.ticket(NOW), Outcome::ConfigBroken);
    assert_eq!(c.failures(), 0);

    let c = ticket_case("[\"allow\"]");
    c.world.files.run_dir_refused.set(true);
    c.answers(&["T-1"]);
    assert_eq!(c.ticket(NOW), Outcome::ConfigBroken);
    assert_eq!(
        c.world.messages.borrow().last().map(String::as_str),
        Some("Ticket check unavailable: the module's files are not safe to use.")
    );
}

#[test]
fn a_scripted_answer_left_unused_fails_the_test() {
    let result = std::panic::catch_unwind(|| {
        let c = case(POLICY);
        c.answers(&["never asked"]);
        assert_eq!(c.preauth(), Outcome::Allowed);
    });
    let message = result.unwrap_err();
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("never asked for"), "{text}");
}
