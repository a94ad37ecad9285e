use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::*;
use crate::audit::MemAudit;
use crate::net::{NetError, Response};
use crate::run_files::MemRunFiles;
use crate::ticket::token::TokenCache;
use crate::ticket::{Docs, Fetch, fetch_docs};

/// Answers every GET with the same scripted result and counts requests.
struct Fake {
    answer: Result<Value, NetError>,
    calls: AtomicUsize,
}

/// The ticket system behind the fake network: the `http` system's own requests and reading,
/// with the credentials the secret file would hold.
impl TicketSource for Fake {
    fn fetch(
        &self,
        cfg: &Ticket,
        id: &str,
        tokens: &dyn TokenCache,
        now: i64,
    ) -> Result<Docs, TicketError> {
        let creds = Credentials::Bearer(Secret::new("tok".into()));
        fetch_docs(cfg, id, &creds, &self, tokens, now)
    }
}

/// A ticket system whose secret file cannot be used.
struct NoSecret;

impl TicketSource for NoSecret {
    fn fetch(&self, _: &Ticket, _: &str, _: &dyn TokenCache, _: i64) -> Result<Docs, TicketError> {
        Err(TicketError::Config(
            "ticket.secret_file /etc/ticketgate/token.secret: not found".into(),
        ))
    }
}

impl Fetch for &Fake {
    fn get(&self, _url: &url::Url, _h: &[(&str, &str)]) -> Result<Response, NetError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.clone().map(|v| Response {
            status: 200,
            body: v.to_string().into_bytes(),
        })
    }
    fn post_form(
        &self,
        url: &url::Url,
        h: &[(&str, &str)],
        _f: &[(&str, &str)],
    ) -> Result<Response, NetError> {
        self.get(url, h)
    }
}

/// Scripted answers to prompts; records every prompt and message. An answer left unused
/// fails the test (the login asked less than the test thinks).
#[derive(Default)]
struct Ui {
    answers: RefCell<VecDeque<&'static str>>,
    log: RefCell<Vec<String>>,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let left = self.answers.get_mut();
        if !std::thread::panicking() && !left.is_empty() {
            panic!("scripted answers never asked for: {left:?}");
        }
    }
}

impl Prompter for Ui {
    fn ask(&self, message: &str, echo: bool) -> Option<Secret> {
        self.log.borrow_mut().push(format!("ask({echo}) {message}"));
        self.answers
            .borrow_mut()
            .pop_front()
            .map(|a| Secret::new(a.into()))
    }
    fn tell(&self, message: &str) {
        self.log.borrow_mut().push(format!("tell {message}"));
    }
}

struct Case {
    config: Config,
    /// Breakers, the verdict cache and the break-glass codes, kept between logins.
    files: MemRunFiles,
}

fn case(offline: &str) -> Case {
    let text = format!(
        "version = 1\n[module]\nstate_dir = \"/var/lib/tg-test\"\nrun_dir = \"/run/tg-test\"\n[ticket]\nsystem = \"http\"\nurl = \"http://127.0.0.1:9/t/{{id}}\"\nsecret_file = \"/etc/ticketgate/token.secret\"\ncache = \"2m\"\n\
         [[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n\
         [[ticket.condition]]\nop = \"within\"\nstart = \"/start\"\nend = \"/end\"\ntime_format = \"epoch_ms\"\n\
         [offline]\n{offline}\ncached_for = \"8h\"\nretry_after = \"30s\"\n"
    );
    let config = Config::parse(std::path::Path::new("/etc/ticketgate/t.toml"), &text).unwrap();
    Case {
        config,
        files: MemRunFiles::default(),
    }
}

const NOW: i64 = 1_000_000;

fn ticket(owner: &str) -> Value {
    json!({"id": "T-1", "status": "approved", "owner": owner, "start": (NOW - 60) * 1000, "end": (NOW + 3600) * 1000})
}

impl Case {
    fn decide(&self, fake: &Fake, typed: &[&'static str], now: i64) -> (Verdict, MemAudit, Ui) {
        self.decide_with(fake, typed, now)
    }

    fn decide_with(
        &self,
        system: &dyn TicketSource,
        typed: &[&'static str],
        now: i64,
    ) -> (Verdict, MemAudit, Ui) {
        let audit = MemAudit::default();
        let ui = Ui::default();
        ui.answers.borrow_mut().extend(typed.iter().copied());
        let req = Request {
            config: &self.config,
            service: "sshd",
            rhost: "192.0.2.7",
            facts: Facts {
                user: "alice".into(),
                host: "db01".into(),
                ..Facts::default()
            },
            now,
        };
        let reach = Reach {
            system,
            files: &self.files,
        };
        let v = decide(&req, &audit, &ui, &reach);
        (v, audit, ui)
    }
}

fn field(audit: &MemAudit, event: &str, key: &str) -> Option<String> {
    let events = audit.events.lock().unwrap();
    let e = events.iter().find(|e| e.name.as_str() == event)?;
    e.fields
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.clone())
}

fn online(v: Value) -> Fake {
    Fake {
        answer: Ok(v),
        calls: AtomicUsize::new(0),
    }
}

fn unreachable() -> Fake {
    Fake {
        answer: Err(NetError::Unreachable("connection refused".into())),
        calls: AtomicUsize::new(0),
    }
}

#[test]
fn accepted_ticket_is_audited_with_each_condition_then_served_from_the_cache() {
    let c = case("ticket = [\"deny\"]");
    let fake = online(ticket("alice"));
    let (v, audit, ui) = c.decide(&fake, &[" T-1 "], NOW);
    assert_eq!(v, Verdict::Accepted("T-1".into()));
    assert_eq!(ui.log.borrow().as_slice(), ["ask(true) Ticket ID: "]);
    assert_eq!(
        field(&audit, "ticket_accepted", "source").as_deref(),
        Some("online")
    );
    let conds = field(&audit, "ticket_accepted", "conditions").unwrap();
    assert!(
        conds.starts_with("/owner eq from=user=ok(\"alice\"); within [/start, /end]=ok("),
        "{conds}"
    );
    let (v, audit, _) = c.decide(&fake, &["T-1"], NOW + 60);
    assert_eq!(v, Verdict::Accepted("T-1".into()));
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        1,
        "the cache hit made no request"
    );
    assert_eq!(
        field(&audit, "ticket_accepted", "source").as_deref(),
        Some("cache")
    );
    c.decide(&fake, &["T-1"], NOW + 121);
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        2,
        "cache = 2m has passed"
    );
}

#[test]
fn invalid_ids_never_reach_the_network_and_are_not_logged() {
    let c = case("ticket = [\"allow\"]");
    let fake = online(ticket("alice"));
    for typed in [
        "T-1^ORnumberISNOTEMPTY",
        "../T-1",
        "%2F",
        "T-1\"",
        "T'1",
        "a\nb",
        "hunter2!",
    ] {
        let (v, audit, ui) = c.decide(&fake, &[typed], NOW);
        assert_eq!(v, Verdict::Rejected, "{typed:?}");
        let shown = field(&audit, "ticket_rejected", "ticket").unwrap();
        assert!(shown.starts_with("(invalid, "), "{shown}");
        assert!(
            ui.log
                .borrow()
                .iter()
                .any(|l| l == "tell Ticket rejected: not a valid ticket ID.")
        );
    }
    let long: &'static str = Box::leak("T".repeat(65).into_boxed_str());
    assert_eq!(c.decide(&fake, &[long], NOW).0, Verdict::Rejected);
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn failing_conditions_reject_with_the_value_seen() {
    let c = case("ticket = [\"allow\"]");
    let (v, audit, ui) = c.decide(&online(ticket("bob")), &["T-1"], NOW);
    assert_eq!(v, Verdict::Rejected);
    assert_eq!(
        field(&audit, "ticket_rejected", "reason").as_deref(),
        Some("conditions")
    );
    assert!(
        field(&audit, "ticket_rejected", "conditions")
            .unwrap()
            .contains("=FAIL(\"bob\")")
    );
    assert!(
        ui.log
            .borrow()
            .contains(&"tell Ticket rejected: it does not allow this login.".to_string())
    );
}

#[test]
fn verdicts_deny_even_when_the_fallback_is_allow() {
    let c = case("ticket = [\"allow\"]");
    let denied = Fake {
        answer: Err(NetError::Denied("HTTP 401".into())),
        calls: AtomicUsize::new(0),
    };
    assert_eq!(c.decide(&denied, &["T-1"], NOW).0, Verdict::Rejected);
    let closed = online(json!({"id": "T-1", "status": "Closed", "owner": "alice"}));
    assert_eq!(c.decide(&closed, &["T-1"], NOW).0, Verdict::Rejected);
    let wrong = online(json!({"id": "T-2", "owner": "alice"}));
    let (v, audit, _) = c.decide(&wrong, &["T-1"], NOW);
    assert_eq!(v, Verdict::Rejected);
    assert_eq!(
        field(&audit, "ticket_rejected", "reason").as_deref(),
        Some("wrong_record")
    );
}

#[test]
fn unreachable_trips_the_breaker_and_deny_answers_unavailable() {
    let c = case("ticket = [\"deny\"]");
    let dead = unreachable();
    let (v, audit, _) = c.decide(&dead, &["T-1"], NOW);
    assert_eq!(v, Verdict::Unavailable);
    assert_eq!(
        field(&audit, "offline_fallback", "mode").as_deref(),
        Some("deny")
    );
    let (v, audit, _) = c.decide(&dead, &["T-1"], NOW + 10);
    assert_eq!(v, Verdict::Unavailable);
    assert_eq!(
        dead.calls.load(Ordering::SeqCst),
        1,
        "breaker open: no second request"
    );
    assert!(
        field(&audit, "offline_fallback", "detail")
            .unwrap()
            .contains("breaker")
    );
    c.decide(&dead, &["T-1"], NOW + 31);
    assert_eq!(
        dead.calls.load(Ordering::SeqCst),
        2,
        "retry_after has passed"
    );
}

#[test]
fn cached_fallback_needs_an_earlier_online_accept_on_this_host_with_an_open_window() {
    let c = case("ticket = [\"cached\", \"deny\"]");
    let dead = unreachable();
    assert_eq!(
        c.decide(&dead, &["T-1"], NOW).0,
        Verdict::Unavailable,
        "never accepted online"
    );
    c.files.breakers.borrow_mut().remove("ticket");
    assert!(matches!(
        c.decide(&online(ticket("alice")), &["T-1"], NOW).0,
        Verdict::Accepted(_)
    ));
    let (v, audit, _) = c.decide(&dead, &["T-1"], NOW + 600);
    assert_eq!(v, Verdict::Accepted("T-1".into()));
    assert_eq!(
        field(&audit, "offline_fallback", "mode").as_deref(),
        Some("cached")
    );
    assert_eq!(
        field(&audit, "ticket_accepted", "source").as_deref(),
        Some("offline_cached")
    );
    assert_eq!(
        c.decide(&dead, &["T-1"], NOW + 3601).0,
        Verdict::Unavailable,
        "change window closed"
    );
}

#[test]
fn allow_fallback_lets_the_login_on_and_says_so() {
    let c = case("ticket = [\"allow\"]");
    let (v, audit, _) = c.decide(&unreachable(), &["T-1"], NOW);
    assert_eq!(v, Verdict::Accepted("T-1".into()));
    assert_eq!(
        field(&audit, "offline_fallback", "mode").as_deref(),
        Some("allow")
    );
}

#[test]
fn breakglass_codes_work_once_and_only_while_unreachable() {
    let c = case("ticket = [\"breakglass\", \"deny\"]");
    let code = "WXYZ-2345-6789-ABCD";
    c.files.codes.set(&[code]);
    let (v, _, ui) = c.decide(&online(ticket("bob")), &["T-1"], NOW);
    assert_eq!(v, Verdict::Rejected, "online: no code is asked for");
    assert_eq!(ui.log.borrow().len(), 2);
    let (v, _, _) = c.decide(&unreachable(), &["T-1", "AAAA-BBBB-CCCC-DDDD"], NOW);
    assert_eq!(v, Verdict::Rejected, "a wrong code is a failed logon");
    let (v, audit, ui) = c.decide(&unreachable(), &["T-1", code], NOW + 1);
    assert_eq!(v, Verdict::Accepted("T-1".into()));
    assert!(
        ui.log
            .borrow()
            .contains(&"ask(false) Ticket system unreachable. Break-glass code: ".to_string())
    );
    assert_eq!(
        field(&audit, "breakglass_used", "remaining").as_deref(),
        Some("0")
    );
    let (v, _, ui) = c.decide(&unreachable(), &["T-1"], NOW + 2);
    assert_eq!(v, Verdict::Unavailable, "used up: no codes left, so deny");
    assert_eq!(
        ui.log
            .borrow()
            .iter()
            .filter(|l| l.starts_with("ask"))
            .count(),
        1
    );
}

#[test]
fn no_answer_and_missing_secret_file() {
    let c = case("ticket = [\"deny\"]");
    assert_eq!(
        c.decide(&online(ticket("alice")), &[], NOW).0,
        Verdict::NoAnswer
    );
    assert_eq!(
        c.decide_with(&NoSecret, &["T-1"], NOW).0,
        Verdict::ConfigBroken
    );
}
