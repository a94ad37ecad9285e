//! The gate against in-memory state, directory and audit, with injected time.

use super::*;
use crate::args::Credential;
use crate::audit::MemAudit;
use crate::directory::MemDirectory;
use crate::net::NetError;
use crate::protect::Attempt as ProtectAttempt;
use crate::run_files::MemRunFiles;
use crate::store::{MemStore, Record};
use crate::ticket::token::TokenCache;
use crate::ticket::{Docs, TicketError};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

struct TestWorld {
    store: MemStore,
    /// `<state_dir>/report`: report mode's own records.
    report_store: MemStore,
    dir: MemDirectory,
    audit: MemAudit,
    messages: RefCell<Vec<String>>,
    delays: RefCell<Vec<Duration>>,
    state_dir_seen: RefCell<Option<PathBuf>>,
    /// What the user types at prompts, in order; a prompt with nothing scripted fails the test.
    answers: RefCell<std::collections::VecDeque<String>>,
    prompts: RefCell<Vec<String>>,
    authtok_set: RefCell<Option<String>>,
    /// `PAM_AUTHTOK` as an earlier module left it.
    given_authtok: RefCell<Option<String>>,
    /// The handle's kept change, between the `password` and the `commit` line.
    pending: RefCell<Option<PendingChange>>,
    /// `NAME=value` set in the PAM environment; `None`: a putenv fails the test.
    env: RefCell<Option<Vec<String>>>,
    /// Breakers, verdict cache, token, sessions, break-glass codes, offline PINs, the switch.
    files: MemRunFiles,
    /// The ticket system's answers, in order: the ticket document (as the `http` system
    /// reads it) or an error. A fetch with nothing scripted fails the test.
    tickets: RefCell<VecDeque<Result<serde_json::Value, TicketError>>>,
    /// The protect server's answers (`unlocked`, or a network error), in order; a request
    /// with nothing scripted fails the test.
    protect: RefCell<VecDeque<Result<bool, NetError>>>,
    /// Every attempt the protect server was asked about.
    protect_asked: RefCell<Vec<String>>,
    /// The login-protect host token cannot be read.
    protect_secret_broken: Cell<bool>,
    /// The fleet server's answers (a standing, or a network error), in order, whatever the
    /// request; a request with nothing scripted fails the test.
    fleet: RefCell<VecDeque<Result<crate::fleet::Standing, NetError>>>,
    /// Every request the fleet server got: `check USER CREDENTIAL` or the event sent.
    fleet_asked: RefCell<Vec<FleetRequest>>,
    /// The fleet host token cannot be read.
    fleet_secret_broken: Cell<bool>,
    /// What the PAM handle keeps between the lines of a login.
    fleet_seen: RefCell<Option<FleetSeen>>,
    /// The account a report-mode ticket line would have refused, kept in the handle.
    report_refused: RefCell<Option<String>>,
}

/// One request to the scripted fleet server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FleetRequest {
    Check(String),
    Sent(crate::fleet::FleetEvent),
}

/// A test that scripted more than the login used is wrong about the login (kanidm's
/// `TestHandler` does the same): every answer, ticket and server reply must be consumed.
impl Drop for TestWorld {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let answers = self.answers.get_mut();
        assert!(
            answers.is_empty(),
            "scripted answers never asked for: {answers:?}"
        );
        let tickets = self.tickets.get_mut();
        assert!(
            tickets.is_empty(),
            "scripted tickets never fetched: {tickets:?}"
        );
        let protect = self.protect.get_mut();
        assert!(
            protect.is_empty(),
            "scripted protect replies never asked for: {protect:?}"
        );
        let fleet = self.fleet.get_mut();
        assert!(
            fleet.is_empty(),
            "scripted fleet replies never asked for: {fleet:?}"
        );
    }
}

/// The scripted fleet server.
struct FleetScript<'w>(&'w TestWorld);

impl FleetScript<'_> {
    fn answer(&self, request: FleetRequest) -> Result<crate::fleet::Standing, NetError> {
        self.0.fleet_asked.borrow_mut().push(request.clone());
        let answer = self.0.fleet.borrow_mut().pop_front();
        answer.unwrap_or_else(|| panic!("unexpected fleet request {request:?}"))
    }
}

impl crate::fleet::FleetServer for FleetScript<'_> {
    fn check(
        &self,
        user: &str,
        credential: Credential,
    ) -> Result<crate::fleet::Standing, NetError> {
        self.answer(FleetRequest::Check(format!(
            "{user} {}",
            crate::fleet::credential_word(credential)
        )))
    }
    fn failure(
        &self,
        event: &crate::fleet::FleetEvent,
    ) -> Result<crate::fleet::Standing, NetError> {
        self.answer(FleetRequest::Sent(event.clone()))
    }
    fn success(&self, event: &crate::fleet::FleetEvent) -> Result<(), NetError> {
        self.answer(FleetRequest::Sent(event.clone())).map(drop)
    }
    fn spooled(
        &self,
        event: &crate::fleet::FleetEvent,
    ) -> Result<Option<crate::fleet::Standing>, NetError> {
        self.answer(FleetRequest::Sent(event.clone())).map(Some)
    }
}

/// The scripted ticket system.
struct Tickets<'w>(&'w TestWorld);

impl TicketSource for Tickets<'_> {
    fn fetch(
        &self,
        cfg: &crate::config::Ticket,
        id: &str,
        tokens: &dyn TokenCache,
        now: i64,
    ) -> Result<Docs, TicketError> {
        let answer = self.0.tickets.borrow_mut().pop_front();
        let document = answer.unwrap_or_else(|| panic!("unexpected fetch of ticket {id:?}"))?;
        /// The document as the ticket system's one answer.
        struct One(serde_json::Value);
        impl crate::ticket::Fetch for One {
            fn get(
                &self,
                _: &url::Url,
                _: &[(&str, &str)],
            ) -> Result<crate::net::Response, NetError> {
                Ok(crate::net::Response {
                    status: 200,
                    body: self.0.to_string().into_bytes(),
                })
            }
            fn post_form(
                &self,
                url: &url::Url,
                h: &[(&str, &str)],
                _: &[(&str, &str)],
            ) -> Result<crate::net::Response, NetError> {
                self.get(url, h)
            }
        }
        let creds = crate::ticket::Credentials::Bearer(Secret::new("tok".into()));
        crate::ticket::fetch_docs(cfg, id, &creds, &One(document), tokens, now)
    }
}

/// The scripted protect server.
struct ProtectScript<'w>(&'w TestWorld);

impl ProtectServer for ProtectScript<'_> {
    fn attempt(&self, a: &ProtectAttempt) -> Result<bool, NetError> {
        self.0.protect_asked.borrow_mut().push(format!(
            "{} {} {} {} {}",
            a.service_id, a.user, a.host, a.service, a.rhost
        ));
        let answer = self.0.protect.borrow_mut().pop_front();
        answer.unwrap_or_else(|| panic!("unexpected protect request {a:?}"))
    }
    fn probe(&self, a: &ProtectAttempt) -> Result<bool, NetError> {
        self.0.protect_asked.borrow_mut().push(format!(
            "dry-run {} {} {} {} {}",
            a.service_id, a.user, a.host, a.service, a.rhost
        ));
        let answer = self.0.protect.borrow_mut().pop_front();
        answer.unwrap_or_else(|| panic!("unexpected protect dry run {a:?}"))
    }
}

impl World for TestWorld {
    fn store(&self, state_dir: &Path) -> Result<Box<dyn StateStore + '_>, StoreError> {
        if state_dir.ends_with(REPORT_DIR) {
            return Ok(Box::new(&self.report_store));
        }
        *self.state_dir_seen.borrow_mut() = Some(state_dir.to_path_buf());
        Ok(Box::new(&self.store))
    }
    fn audit(&self, _: Option<&Path>) -> Box<dyn AuditSink + '_> {
        Box::new(&self.audit)
    }
    fn directory(&self) -> &dyn Directory {
        &self.dir
    }
    fn host(&self) -> HostNames {
        HostNames::from_parts("db01.example.com", "")
    }
    fn conversation(&self) -> &dyn Conversation {
        self
    }
    fn ticket_system(&self, _: &Config) -> Box<dyn TicketSource + '_> {
        Box::new(Tickets(self))
    }
    fn protect_server(
        &self,
        config: &Config,
        protect: &Protect,
    ) -> Result<Box<dyn ProtectServer + '_>, ConfigError> {
        if self.protect_secret_broken.get() {
            return Err(ConfigError::Secret {
                path: config.path.clone(),
                key: "login_protect.secret_file".into(),
                file: protect.secret_file.clone(),
                problem: "not found".into(),
            });
        }
        Ok(Box::new(ProtectScript(self)))
    }
    fn fleet_server(
        &self,
        config: &Config,
        fleet: &Fleet,
    ) -> Result<Box<dyn FleetServer + '_>, ConfigError> {
        if self.fleet_secret_broken.get() {
            return Err(ConfigError::Secret {
                path: config.path.clone(),
                key: "fleet.secret_file".into(),
                file: fleet.secret_file.clone(),
                problem: "not found".into(),
            });
        }
        Ok(Box::new(FleetScript(self)))
    }
    fn run_files(&self, _: &ModuleSettings) -> Box<dyn RunFiles + '_> {
        Box::new(&self.files)
    }
}

impl Conversation for TestWorld {
    fn error(&self, m: &str) {
        self.messages.borrow_mut().push(m.to_string());
    }
    fn info(&self, m: &str) {
        self.messages.borrow_mut().push(m.to_string());
    }
    fn prompt(&self, m: &str, _echo: bool) -> Option<Secret> {
        self.prompts.borrow_mut().push(m.to_string());
        let answer = self.answers.borrow_mut().pop_front();
        Some(Secret::new(
            answer.unwrap_or_else(|| panic!("unexpected prompt {m:?}")),
        ))
    }
    fn authtok(&self) -> Option<Secret> {
        self.given_authtok.borrow().clone().map(Secret::new)
    }
    fn set_authtok(&self, t: &Secret) -> bool {
        *self.authtok_set.borrow_mut() = Some(t.expose().to_string());
        true
    }
    fn fail_delay(&self, d: Duration) {
        self.delays.borrow_mut().push(d);
    }
    fn putenv(&self, kv: &str) -> bool {
        match self.env.borrow_mut().as_mut() {
            Some(env) => env.push(kv.to_string()),
            None => panic!("unexpected putenv {kv:?}"),
        }
        true
    }
    fn keep_pending(&self, change: PendingChange) -> bool {
        *self.pending.borrow_mut() = Some(change);
        true
    }
    fn take_pending(&self) -> Option<PendingChange> {
        self.pending.borrow_mut().take()
    }
    fn keep_fleet(&self, seen: FleetSeen) -> bool {
        *self.fleet_seen.borrow_mut() = Some(seen);
        true
    }
    fn fleet_seen(&self) -> Option<FleetSeen> {
        self.fleet_seen.borrow().clone()
    }
    fn keep_report_refused(&self, user: &str) -> bool {
        *self.report_refused.borrow_mut() = Some(user.to_string());
        true
    }
    fn report_refused(&self) -> Option<String> {
        self.report_refused.borrow().clone()
    }
}

struct Case {
    /// The config text, parsed at each run as the glue loads it (no file: the gate takes a
    /// resolved config).
    config: String,
    world: TestWorld,
}

const POLICY: &str = "version = 1\n[module]\nstate_dir = \"/var/lib/tg-test\"\nfail_delay = \"1s\"\n[[scope]]\nusers = [\"alice\", \"root\", \"carol\", \"nosuch\"]\n[policy.default]\nfailed_logon = 3\nreset_failed_after = \"30m\"\nlockout_duration = \"30m\"\n";

fn case(config: &str) -> Case {
    let world = TestWorld {
        store: MemStore::default(),
        report_store: MemStore::default(),
        dir: MemDirectory::default()
            .with("alice", 1000, &["alice"], true)
            .with("root", 0, &["root"], true)
            .with("carol", 2000, &["staff"], false)
            .with("bob", 1001, &["bob"], true),
        audit: MemAudit::default(),
        messages: RefCell::new(Vec::new()),
        delays: RefCell::new(Vec::new()),
        state_dir_seen: RefCell::new(None),
        answers: RefCell::new(Default::default()),
        prompts: RefCell::new(Vec::new()),
        authtok_set: RefCell::new(None),
        given_authtok: RefCell::new(None),
        pending: RefCell::new(None),
        env: RefCell::new(None),
        files: MemRunFiles::default(),
        tickets: RefCell::new(VecDeque::new()),
        protect: RefCell::new(VecDeque::new()),
        protect_asked: RefCell::new(Vec::new()),
        protect_secret_broken: Cell::new(false),
        fleet: RefCell::new(VecDeque::new()),
        fleet_asked: RefCell::new(Vec::new()),
        fleet_secret_broken: Cell::new(false),
        fleet_seen: RefCell::new(None),
        report_refused: RefCell::new(None),
    };
    Case {
        config: config.to_string(),
        world,
    }
}

fn login(user: &str) -> Login<'_> {
    Login {
        user,
        service: "sshd",
        rhost: "192.0.2.7",
        tty: "ssh",
        silent: false,
        privileged: true,
        authenticated: false,
        credential: crate::args::Credential::Password,
        real_uid: 0,
        pid: i32::try_from(std::process::id()).unwrap(),
    }
}

impl Case {
    fn run(&self, phase: Phase, login: &Login, now: i64) -> Outcome {
        self.run_in(&self.world, phase, login, now)
    }
    /// As the glue does: parse, then run the gate, or refuse a broken config.
    fn run_in(&self, world: &dyn World, phase: Phase, login: &Login, now: i64) -> Outcome {
        match Config::parse(Path::new("ticketgate.toml"), &self.config) {
            Ok(config) => run(phase, &config, login, world, now),
            Err(e) => config_broken(phase, &e, login, world, now),
        }
    }
    fn record(&self, user: &str) -> Option<Record> {
        self.world
            .store
            .load(&UserName::parse(user).unwrap())
            .unwrap()
    }
    /// A whole change: the `password` line, then (when it passed) the password module and the
    /// `commit` line after it.
    fn change(&self, login: &Login, now: i64) -> Outcome {
        let checked = self.run(Phase::Password, login, now);
        if checked != Outcome::Allowed {
            return checked;
        }
        self.run(Phase::PasswordCommit, login, now)
    }
    fn fail(&self, user: &str, now: i64) {
        assert_eq!(
            self.run(Phase::Preauth, &login(user), now),
            Outcome::Allowed,
            "preauth at {now}"
        );
        assert_eq!(
            self.run(Phase::Authfail, &login(user), now),
            Outcome::AuthFailed
        );
    }
}

#[test]
fn locks_after_three_failures_and_refuses_before_the_password() {
    let c = case(POLICY);
    for t in 0..3 {
        c.fail("alice", 1000 + t);
    }
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 1003),
        Outcome::Locked
    );
    assert!(
        c.world
            .messages
            .borrow()
            .last()
            .unwrap()
            .contains("try again in 30 minute")
    );
    assert!(c.world.audit.names().contains(&"hack_lock"));
    assert_eq!(
        c.world.state_dir_seen.borrow().as_deref(),
        Some(Path::new("/var/lib/tg-test"))
    );
    // Timed unlock: refused one second before the end, allowed at the end.
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 1002 + 1799),
        Outcome::Locked
    );
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 1002 + 1800),
        Outcome::Allowed
    );
}

#[test]
fn failures_while_locked_do_not_extend_the_lock() {
    let c = case(POLICY);
    for t in 0..3 {
        c.fail("alice", t);
    }
    let locked = c.record("alice");
    assert_eq!(
        c.run(Phase::Authfail, &login("alice"), 600),
        Outcome::AuthFailed
    );
    assert_eq!(
        c.record("alice").unwrap().password.hack_lock,
        locked.unwrap().password.hack_lock
    );
    assert_eq!(
        c.world.audit.events.lock().unwrap().last().unwrap().fields,
        vec![("reason", "locked".to_string())]
    );
}

#[test]
fn zero_minute_lockout_lasts_until_an_administrator_unlocks() {
    let c = case(&POLICY.replace("lockout_duration = \"30m\"", "lockout_duration = \"0m\""));
    for t in 0..3 {
        c.fail("alice", t);
    }
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 10_000_000),
        Outcome::Locked
    );
    assert!(
        c.world
            .messages
            .borrow()
            .last()
            .unwrap()
            .contains("contact your administrator")
    );
    c.world
        .store
        .update(&UserName::parse("alice").unwrap(), &mut |r| {
            lockout::admin_unlock(r, 10_000_000)
        })
        .unwrap();
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 10_000_001),
        Outcome::Allowed
    );
}

#[test]
fn success_resets_the_count_only_after_authentication_in_the_same_handle() {
    let c = case(POLICY);
    c.fail("alice", 0);
    c.fail("alice", 1);
    // Account-only (cron, sudo NOPASSWD, ssh public key): allowed, count untouched.
    assert_eq!(c.run(Phase::Account, &login("alice"), 2), Outcome::Allowed);
    assert_eq!(c.record("alice").unwrap().password.failures.len(), 2);
    // Password accepted, ticket phase succeeds, then account with the marker: count reset.
    assert_eq!(c.run(Phase::Ticket, &login("alice"), 3), Outcome::Allowed);
    let authed = Login {
        authenticated: true,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Account, &authed, 3), Outcome::Allowed);
    let r = c.record("alice").unwrap();
    assert!(r.password.failures.is_empty());
    assert_eq!(
        c.world
            .store
            .last_success(&UserName::parse("alice").unwrap())
            .unwrap()
            .at,
        3
    );
    assert!(c.world.audit.names().contains(&"auth_success"));
    c.fail("alice", 4);
    c.fail("alice", 5);
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 6),
        Outcome::Allowed,
        "two failures after the reset do not lock"
    );
}

#[test]
fn admin_lock_refuses_in_preauth_and_account() {
    let c = case(POLICY);
    c.world
        .store
        .update(&UserName::parse("alice").unwrap(), &mut |r| {
            lockout::admin_lock(r, 5)
        })
        .unwrap();
    assert_eq!(c.run(Phase::Preauth, &login("alice"), 6), Outcome::Locked);
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 6),
        Outcome::AccountLocked
    );
    let authed = Login {
        authenticated: true,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Account, &authed, 6), Outcome::AccountLocked);
    assert_eq!(
        c.world
            .store
            .last_success(&UserName::parse("alice").unwrap()),
        None,
        "a locked account records no success"
    );
}

#[test]
fn lock_set_after_preauth_still_stops_the_ticket_phase() {
    let c = case(POLICY);
    assert_eq!(c.run(Phase::Preauth, &login("alice"), 0), Outcome::Allowed);
    for t in 0..3 {
        c.fail("alice", t);
    }
    assert_eq!(c.run(Phase::Ticket, &login("alice"), 4), Outcome::Locked);
}

#[test]
fn unknown_users_get_the_same_answers_and_nothing_is_stored() {
    let c = case(POLICY);
    for t in 0..5 {
        c.fail("nosuch", t);
    }
    assert_eq!(c.world.store.users().unwrap(), Vec::<UserName>::new());
    assert_eq!(
        c.world.delays.borrow().len(),
        10,
        "the fail delay is asked for unknown users too"
    );
    assert!(c.world.messages.borrow().is_empty());
    let events = c.world.audit.events.lock().unwrap();
    assert!(
        events.iter().all(|e| e.user == "(unknown)"),
        "a typed name may be a password: not logged"
    );
}

#[test]
fn root_is_not_hack_locked_unless_lock_root() {
    let c = case(POLICY);
    for t in 0..5 {
        c.fail("root", t);
    }
    assert_eq!(c.record("root").unwrap().password.hack_lock, None);
    let c = case(&format!("{POLICY}lock_root = true\n"));
    for t in 0..3 {
        c.fail("root", t);
    }
    assert_eq!(c.run(Phase::Preauth, &login("root"), 4), Outcome::Locked);
}

#[test]
fn local_users_only_exempts_directory_passwords_from_the_policy_only() {
    // Regression (issue 11): it used to switch off every gate for directory users.
    let c = case(&format!("{POLICY}local_users_only = true\n"));
    for t in 0..5 {
        assert_eq!(
            c.run(Phase::Preauth, &login("carol"), t),
            Outcome::Allowed,
            "covered: preauth runs (login protect would too)"
        );
        assert_eq!(
            c.run(Phase::Authfail, &login("carol"), t),
            Outcome::AuthFailed
        );
    }
    assert_eq!(
        c.record("carol"),
        None,
        "directory passwords are not counted"
    );
    // The PIN policy applies to directory users.
    let pin = Login {
        credential: crate::args::Credential::Pin,
        ..login("carol")
    };
    for t in 10..13 {
        assert_eq!(c.run(Phase::Preauth, &pin, t), Outcome::Allowed);
        assert_eq!(c.run(Phase::Authfail, &pin, t), Outcome::AuthFailed);
    }
    assert_eq!(c.run(Phase::Preauth, &pin, 14), Outcome::Locked);
    assert_eq!(c.run(Phase::Preauth, &login("carol"), 14), Outcome::Allowed);
    // An administrator's lock holds for them too.
    let carol = UserName::parse("carol").unwrap();
    c.world
        .store
        .update(&carol, &mut |r| lockout::admin_lock(r, 15))
        .unwrap();
    assert_eq!(c.run(Phase::Preauth, &login("carol"), 16), Outcome::Locked);
    assert_eq!(
        c.run(Phase::Account, &login("carol"), 16),
        Outcome::AccountLocked
    );
    for t in 0..3 {
        c.fail("alice", t);
    }
    assert_eq!(c.run(Phase::Preauth, &login("alice"), 4), Outcome::Locked);
}

#[test]
fn a_directory_spelling_of_a_user_is_the_same_person() {
    // Regression (issue 12): `ALICE` and `alice@corp.example` had their own counters.
    let mut c = case(POLICY);
    c.world.dir = std::mem::take(&mut c.world.dir)
        .alias("ALICE", "alice")
        .alias("alice@corp.example", "alice");
    c.fail("ALICE", 0);
    c.fail("alice@corp.example", 1);
    c.fail("alice", 2);
    for spelling in ["alice", "ALICE", "alice@corp.example"] {
        assert_eq!(
            c.run(Phase::Preauth, &login(spelling), 3),
            Outcome::Locked,
            "{spelling}"
        );
    }
    assert_eq!(
        c.world.store.users().unwrap(),
        vec![UserName::parse("alice").unwrap()],
        "one record, under the canonical name"
    );
    let events = c.world.audit.events.lock().unwrap();
    let typed: Vec<String> = events
        .iter()
        .filter_map(|e| {
            e.fields
                .iter()
                .find(|(k, _)| *k == "typed_user")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert!(typed.contains(&"ALICE".to_string()), "{typed:?}");
    assert!(events.iter().all(|e| e.user == "alice"));
}

#[test]
fn names_nss_knows_are_never_unknown() {
    // Regression (issue 12): `.dotuser` and a name with a tab skipped every gate.
    let mut c = case(&POLICY.replace(
        "users = [\"alice\", \"root\", \"carol\", \"nosuch\"]",
        "users = []",
    ));
    c.world.dir = std::mem::take(&mut c.world.dir)
        .with(".dotuser", 3000, &[], true)
        .with("tab\tuser", 3001, &[], true);
    for name in [".dotuser", "tab\tuser"] {
        for t in 0..3 {
            c.fail(name, t);
        }
        assert_eq!(
            c.run(Phase::Preauth, &login(name), 4),
            Outcome::Locked,
            "{name:?}"
        );
    }
    let long = "x".repeat(300);
    c.world.dir = std::mem::take(&mut c.world.dir).with(&long, 3002, &[], true);
    assert_eq!(
        c.run(Phase::Preauth, &login(&long), 0),
        Outcome::SystemError,
        "a name that cannot be stored is refused"
    );
    let events = c.world.audit.events.lock().unwrap();
    let refused = events.last().unwrap();
    assert_eq!(refused.name, EventName::StateUnwritable);
    assert!(
        refused
            .fields
            .iter()
            .any(|(k, v)| *k == "error" && v.contains("cannot be stored")),
        "{refused:?}"
    );
}

#[test]
fn preauth_refuses_when_failures_cannot_be_recorded() {
    // Regression (issue 12): on a full state_dir wrong passwords were not counted, and the
    // right one then logged in.
    let c = case(POLICY);
    c.world
        .store
        .full
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 0),
        Outcome::SystemError
    );
    assert!(c.world.audit.names().contains(&"state_unwritable"));
    assert!(
        c.world
            .messages
            .borrow()
            .last()
            .unwrap()
            .contains("cannot be recorded"),
    );
    assert_eq!(
        c.run(Phase::Preauth, &login("root"), 0),
        Outcome::Allowed,
        "root stays exempt unless lock_root"
    );
    let allow = case(&POLICY.replace("[module]\n", "[module]\nstate_unwritable = \"allow\"\n"));
    allow
        .world
        .store
        .full
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        allow.run(Phase::Preauth, &login("alice"), 0),
        Outcome::Allowed
    );
    assert!(allow.world.audit.names().contains(&"state_unwritable"));
}

#[test]
fn logins_outside_every_scope_are_left_alone() {
    let c = case(POLICY);
    for t in 0..5 {
        assert_eq!(c.run(Phase::Preauth, &login("bob"), t), Outcome::NotCovered);
        assert_eq!(
            c.run(Phase::Authfail, &login("bob"), t),
            Outcome::AuthFailed,
            "authfail always fails"
        );
    }
    assert_eq!(
        c.run(Phase::Ticket, &login("bob"), 9),
        Outcome::Allowed,
        "the success line after the password jump"
    );
    assert_eq!(c.run(Phase::Account, &login("bob"), 9), Outcome::NotCovered);
    assert_eq!(c.record("bob"), None);
}

#[test]
fn corrupt_state_fails_closed() {
    let c = case(POLICY);
    c.world.store.corrupt.lock().unwrap().insert("alice".into());
    assert_eq!(c.run(Phase::Preauth, &login("alice"), 0), Outcome::Locked);
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 0),
        Outcome::AccountLocked
    );
    let authed = Login {
        authenticated: true,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Account, &authed, 0), Outcome::AccountLocked);
    assert!(
        c.world
            .audit
            .errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("corrupt") && e.contains("ticketgate reset"))
    );
    // Never replaced: the record still reads as corrupt (FileStore's side of this is
    // store::tests::corrupt_record_is_reported_not_replaced).
    assert!(
        c.world
            .store
            .load(&UserName::parse("alice").unwrap())
            .is_err()
    );
}

#[test]
fn broken_config_fails_closed_with_one_config_error_event() {
    let c = case("version = 1\n[policy.default]\nfailed_logon = 500\n");
    for phase in [Phase::Preauth, Phase::Ticket, Phase::Account] {
        assert_eq!(c.run(phase, &login("alice"), 0), Outcome::ConfigBroken);
    }
    let events = c.world.audit.events.lock().unwrap();
    assert_eq!(events.len(), 3);
    assert!(
        events[0]
            .syslog_line()
            .contains("line 3: policy.default.failed_logon: 500 is out of range 0-100"),
        "{}",
        events[0].syslog_line()
    );
}

#[test]
fn protected_scope_with_an_unusable_secret_file_fails_closed() {
    let c = case(
        "version = 1\n[[scope]]\nlogin_protect = true\n[login_protect]\nurl = \"https://p.example.com\"\nservice_id = \"x\"\nsecret_file = \"/nonexistent/protect.secret\"\n",
    );
    c.world.protect_secret_broken.set(true);
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 0),
        Outcome::ConfigBroken
    );
    assert!(c.world.audit.names().contains(&"config_error"));
}

#[test]
fn unprivileged_callers_follow_the_setting() {
    let c = case(POLICY);
    let user = Login {
        privileged: false,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Preauth, &user, 0), Outcome::NotCovered);
    assert_eq!(c.run(Phase::Authfail, &user, 0), Outcome::AuthFailed);
    assert_eq!(c.record("alice"), None);
    let c = case(&POLICY.replace(
        "fail_delay = \"1s\"",
        "fail_delay = \"1s\"\nunprivileged = \"deny\"",
    ));
    assert_eq!(c.run(Phase::Preauth, &user, 0), Outcome::UnprivilegedDenied);
    assert_eq!(c.run(Phase::Account, &user, 0), Outcome::UnprivilegedDenied);
}

#[test]
fn silent_flag_suppresses_messages() {
    let c = case(POLICY);
    for t in 0..3 {
        c.fail("alice", t);
    }
    let quiet = Login {
        silent: true,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Preauth, &quiet, 4), Outcome::Locked);
    assert!(c.world.messages.borrow().is_empty());
}

#[test]
fn zero_fail_delay_asks_for_none() {
    let c = case(&POLICY.replace("fail_delay = \"1s\"", "fail_delay = \"0s\""));
    c.fail("alice", 0);
    assert!(c.world.delays.borrow().is_empty());
}

const DAY: i64 = 86_400;

fn lifecycle_case(extra: &str) -> Case {
    case(&format!("{POLICY}{extra}"))
}

#[test]
fn expired_password_requires_a_change_and_warns_before() {
    let c = lifecycle_case("expires_after = \"90d\"\nexpiry_warning = \"14d\"\n");
    // First sight starts the clock for a user with no recorded change.
    assert_eq!(c.run(Phase::Account, &login("alice"), 0), Outcome::Allowed);
    assert_eq!(c.record("alice").unwrap().first_seen, Some(0));
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 76 * DAY - 1),
        Outcome::Allowed
    );
    assert!(
        c.world.messages.borrow().is_empty(),
        "no warning before the warning period"
    );
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 76 * DAY),
        Outcome::Allowed
    );
    assert_eq!(
        c.world.messages.borrow().last().unwrap(),
        "Your password expires in 14 days; change it soon."
    );
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 90 * DAY - 1),
        Outcome::Allowed
    );
    assert_eq!(
        c.world.messages.borrow().last().unwrap(),
        "Your password expires today; change it soon."
    );
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 90 * DAY),
        Outcome::NewAuthtokRequired
    );
    assert!(c.world.audit.names().contains(&"expired_lock"));
    // A change (recorded by the password phase) restarts the clock.
    c.world
        .store
        .update(&UserName::parse("alice").unwrap(), &mut |r| {
            r.password.last_change = Some(90 * DAY)
        })
        .unwrap();
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 90 * DAY + 1),
        Outcome::Allowed
    );
}

#[test]
fn zero_days_never_expires() {
    let c = lifecycle_case("expires_after = \"0d\"\n");
    assert_eq!(c.run(Phase::Account, &login("alice"), 0), Outcome::Allowed);
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 3650 * DAY),
        Outcome::Allowed
    );
}

#[test]
fn must_change_answers_new_authtok_required_until_changed() {
    let c = case(POLICY);
    let alice = UserName::parse("alice").unwrap();
    c.world
        .store
        .update(&alice, &mut |r| r.password.must_change = true)
        .unwrap();
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 5),
        Outcome::NewAuthtokRequired
    );
    assert!(
        c.world
            .messages
            .borrow()
            .last()
            .unwrap()
            .contains("You must change your password now")
    );
    assert!(c.world.audit.names().contains(&"must_change"));
    let pin = Login {
        credential: crate::args::Credential::Pin,
        ..login("alice")
    };
    assert_eq!(
        c.run(Phase::Account, &pin, 5),
        Outcome::Allowed,
        "the PIN is a separate credential"
    );
    c.world
        .store
        .update(&alice, &mut |r| r.password.must_change = false)
        .unwrap();
    assert_eq!(c.run(Phase::Account, &login("alice"), 6), Outcome::Allowed);
}

#[test]
fn inactivity_locks_until_an_administrator_unlocks() {
    let c = lifecycle_case("inactive_after = \"30d\"\n");
    let authed = Login {
        authenticated: true,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Account, &authed, 0), Outcome::Allowed);
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 30 * DAY - 1),
        Outcome::Allowed
    );
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 30 * DAY),
        Outcome::Locked
    );
    assert!(
        c.world
            .messages
            .borrow()
            .last()
            .unwrap()
            .contains("long time without a login")
    );
    assert!(c.world.audit.names().contains(&"inactive_lock"));
    assert_eq!(c.record("alice").unwrap().inactive_lock, Some(30 * DAY));
    assert_eq!(
        c.run(Phase::Account, &authed, 31 * DAY),
        Outcome::AccountLocked,
        "the lock stays"
    );
    let alice = UserName::parse("alice").unwrap();
    c.world
        .store
        .update(&alice, &mut |r| lockout::admin_unlock(r, 40 * DAY))
        .unwrap();
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 40 * DAY + 1),
        Outcome::Allowed,
        "unlock restarts the clock"
    );
}

#[test]
fn a_new_user_counts_inactivity_from_first_sight_not_1970() {
    let c = lifecycle_case("inactive_after = \"30d\"\n");
    let t = 20_000 * DAY;
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), t),
        Outcome::Allowed,
        "never seen: no start, no lock"
    );
    assert_eq!(c.run(Phase::Account, &login("alice"), t), Outcome::Allowed);
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), t + 29 * DAY),
        Outcome::Allowed
    );
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), t + 30 * DAY),
        Outcome::Locked
    );
}

impl Case {
    fn types(&self, answers: &[&str]) {
        self.world
            .answers
            .borrow_mut()
            .extend(answers.iter().map(|a| a.to_string()));
    }
    fn failed_rules(&self) -> Vec<String> {
        let events = self.world.audit.events.lock().unwrap();
        events
            .iter()
            .filter(|e| e.name == EventName::CredentialUpdateFailed)
            .map(|e| e.fields[0].1.clone())
            .collect()
    }
}

const GOOD: &str = "Tr0ub4dor&3x";

#[test]
fn new_password_is_checked_recorded_and_handed_on() {
    let c = case(POLICY);
    let alice = UserName::parse("alice").unwrap();
    c.world
        .store
        .update(&alice, &mut |r| r.password.must_change = true)
        .unwrap();
    c.types(&["short", "short", GOOD, GOOD]);
    assert_eq!(
        c.run(Phase::Password, &login("alice"), 50),
        Outcome::Allowed
    );
    assert_eq!(
        *c.world.prompts.borrow(),
        vec![
            "New password: ",
            "Retype new password: ",
            "New password: ",
            "Retype new password: "
        ]
    );
    assert!(c.world.messages.borrow()[0].contains("Too short"));
    assert_eq!(c.failed_rules(), vec!["min_length"]);
    assert_eq!(
        c.world.authtok_set.borrow().as_deref(),
        Some(GOOD),
        "handed to pam_unix use_authtok"
    );
    let r = c.record("alice").unwrap();
    assert!(
        r.password.must_change && r.password.last_change.is_none(),
        "nothing recorded before the password module stored it (issue 11)"
    );
    assert_eq!(
        c.run(Phase::PasswordCommit, &login("alice"), 51),
        Outcome::Allowed
    );
    let r = c.record("alice").unwrap();
    assert_eq!(r.password.last_change, Some(51));
    assert!(!r.password.must_change);
    assert!(c.world.audit.names().contains(&"credential_update"));
    let logged = format!("{:?}", c.world.audit.events.lock().unwrap());
    assert!(
        !logged.contains("Tr0ub4dor") && !logged.contains("short\""),
        "no credential in the audit trail"
    );
}

#[test]
fn mismatch_and_three_bad_tries_refuse_the_change() {
    let c = case(POLICY);
    c.types(&[
        GOOD,
        "Other-Pass9",
        "aaaaaaaa",
        "aaaaaaaa",
        "password1",
        "password1",
    ]);
    assert_eq!(
        c.run(Phase::Password, &login("alice"), 50),
        Outcome::CredentialRefused
    );
    assert_eq!(
        c.world.messages.borrow()[0],
        "Sorry, the passwords do not match."
    );
    assert_eq!(
        c.failed_rules(),
        vec!["mismatch", "character_classes", "character_classes"]
    );
    assert_eq!(c.record("alice"), None, "nothing recorded");
}

#[test]
fn history_refuses_recent_credentials() {
    let c = case(&format!("{POLICY}history = 2\n"));
    for (t, pw) in [(1, GOOD), (2, "Second-Pass9"), (3, "Third-Pass9!")] {
        c.types(&[pw, pw]);
        assert_eq!(c.change(&login("alice"), t), Outcome::Allowed, "{pw}");
    }
    c.types(&[
        "Third-Pass9!",
        "Third-Pass9!",
        "Second-Pass9",
        "Second-Pass9",
        GOOD,
        GOOD,
    ]);
    assert_eq!(
        c.change(&login("alice"), 4),
        Outcome::Allowed,
        "the third-newest is free again"
    );
    assert_eq!(c.failed_rules(), vec!["history", "history"]);
    let r = c.record("alice").unwrap();
    assert!(
        r.password
            .history
            .iter()
            .all(|h| h.starts_with("$argon2id$"))
    );
}

#[test]
fn min_change_interval_binds_users_not_root() {
    let c = case(&format!("{POLICY}min_change_interval = \"60m\"\n"));
    c.types(&[GOOD, GOOD]);
    let user = Login {
        real_uid: 1000,
        ..login("alice")
    };
    assert_eq!(c.change(&user, 0), Outcome::Allowed);
    assert_eq!(
        c.run(Phase::PasswordPrelim, &user, 3599),
        Outcome::CredentialRefused,
        "one second before"
    );
    assert!(
        c.world
            .messages
            .borrow()
            .last()
            .unwrap()
            .contains("too recently")
    );
    assert!(
        c.world.prompts.borrow().len() == 2,
        "refused before any prompt"
    );
    assert_eq!(
        c.run(Phase::PasswordPrelim, &user, 3600),
        Outcome::Allowed,
        "exactly at the interval"
    );
    assert_eq!(
        c.run(Phase::PasswordPrelim, &login("alice"), 1),
        Outcome::Allowed,
        "root resetting it is exempt"
    );
}

#[test]
fn pin_services_use_the_pin_policy_and_rules() {
    let c = case(POLICY);
    let pin = Login {
        credential: crate::args::Credential::Pin,
        ..login("alice")
    };
    c.types(&["121212", "121212", "284917", "284917"]);
    assert_eq!(c.change(&pin, 7), Outcome::Allowed);
    assert_eq!(c.failed_rules(), vec!["distinct_digits"]);
    assert_eq!(*c.world.prompts.borrow().first().unwrap(), "New PIN: ");
    let r = c.record("alice").unwrap();
    assert_eq!((r.pin.last_change, r.password.last_change), (Some(7), None));
}

#[test]
fn uncovered_callers_get_the_password_asked_twice_and_handed_on_without_rules() {
    // Regression (issue 11): PAM_IGNORE without PAM_AUTHTOK broke `passwd` for everyone no
    // scope covers (`pam_unix use_authtok` had nothing to use).
    let c = case(POLICY);
    c.types(&["abc", "abd", "abc", "abc"]);
    assert_eq!(c.change(&login("bob"), 0), Outcome::NotCovered);
    assert_eq!(
        *c.world.prompts.borrow(),
        vec![
            "New password: ",
            "Retype new password: ",
            "New password: ",
            "Retype new password: "
        ]
    );
    assert_eq!(
        c.world.messages.borrow().as_slice(),
        ["Sorry, the passwords do not match."]
    );
    assert_eq!(
        c.world.authtok_set.borrow().as_deref(),
        Some("abc"),
        "no rules: a short password is pam_unix's business"
    );
    assert!(c.failed_rules().is_empty());
    assert_eq!(c.record("bob"), None, "nothing stored for bob");
}

#[test]
fn uncovered_callers_keep_an_earlier_modules_token() {
    let c = case(POLICY);
    *c.world.given_authtok.borrow_mut() = Some("whatever".into());
    assert_eq!(c.run(Phase::Password, &login("bob"), 0), Outcome::Allowed);
    assert!(c.world.prompts.borrow().is_empty());
    assert_eq!(*c.world.authtok_set.borrow(), None);
}

#[test]
fn unprivileged_callers_still_get_a_token_for_use_authtok() {
    let c = case(POLICY);
    c.types(&[GOOD, GOOD]);
    let user = Login {
        privileged: false,
        ..login("alice")
    };
    assert_eq!(c.run(Phase::Password, &user, 0), Outcome::Allowed);
    assert_eq!(c.world.authtok_set.borrow().as_deref(), Some(GOOD));
}

#[test]
fn a_change_the_password_module_did_not_store_is_not_recorded() {
    // Regression (issue 11): the old password typed as the new one; pam_unix refused
    // ("password unchanged"), but must-change was already cleared.
    let c = case(&format!(
        "{POLICY}history = 3\nmin_change_interval = \"1d\"\n"
    ));
    let alice = UserName::parse("alice").unwrap();
    c.world
        .store
        .update(&alice, &mut |r| r.password.must_change = true)
        .unwrap();
    c.world.dir.set_shadow("alice", "$y$old", Some(19000));
    c.types(&[GOOD, GOOD]);
    assert_eq!(
        c.run(Phase::Password, &login("alice"), 50),
        Outcome::Allowed
    );
    assert_eq!(
        c.run(Phase::PasswordCommit, &login("alice"), 51),
        Outcome::CredentialRefused,
        "the shadow entry did not change"
    );
    let r = c.record("alice").unwrap();
    assert!(r.password.must_change, "must-change stays");
    assert_eq!(
        r.password.last_change, None,
        "the interval clock did not start"
    );
    assert!(r.password.history.is_empty(), "history untouched");
    assert_eq!(c.failed_rules(), vec!["not_stored"]);
    // The same change, stored this time.
    c.types(&[GOOD, GOOD]);
    assert_eq!(
        c.run(Phase::Password, &login("alice"), 60),
        Outcome::Allowed
    );
    c.world.dir.set_shadow("alice", "$y$new", Some(19001));
    assert_eq!(
        c.run(Phase::PasswordCommit, &login("alice"), 61),
        Outcome::Allowed
    );
    let r = c.record("alice").unwrap();
    assert!(!r.password.must_change);
    assert_eq!(r.password.last_change, Some(61));
    assert_eq!(r.password.history.len(), 1);
}

#[test]
fn a_commit_line_with_nothing_checked_records_nothing() {
    let c = case(POLICY);
    assert_eq!(
        c.run(Phase::PasswordCommit, &login("alice"), 1),
        Outcome::NotCovered
    );
    assert_eq!(c.record("alice"), None);
    // A refused change keeps nothing for the commit line either.
    c.types(&["short", "short", "short", "short", "short", "short"]);
    assert_eq!(c.change(&login("alice"), 2), Outcome::CredentialRefused);
    assert!(c.world.pending.borrow().is_none());
}

#[test]
fn a_credential_from_an_earlier_module_is_checked_without_prompting() {
    let c = case(POLICY);
    *c.world.given_authtok.borrow_mut() = Some("weakpass".into());
    assert_eq!(
        c.run(Phase::Password, &login("alice"), 1),
        Outcome::CredentialRefused
    );
    assert!(
        c.world.prompts.borrow().is_empty(),
        "no prompt: the earlier module's token is used"
    );
    assert_eq!(c.failed_rules(), vec!["character_classes"]);
    *c.world.given_authtok.borrow_mut() = Some(GOOD.into());
    assert_eq!(c.change(&login("alice"), 2), Outcome::Allowed);
    assert_eq!(
        *c.world.authtok_set.borrow(),
        None,
        "PAM_AUTHTOK is already set; not set again"
    );
    assert_eq!(c.record("alice").unwrap().password.last_change, Some(2));
}

#[test]
fn a_session_without_the_ticket_line_counts_as_activity() {
    // Regression (issue 11): ssh public-key logins never pass the `ticket` line; a user who logs
    // in that way every 20 days was locked as inactive on day 40.
    let c = case(&format!("{POLICY}inactive_after = \"30d\"\n"));
    let t0 = 20_000 * DAY;
    for day in [0, 20, 40, 60] {
        let now = t0 + day * DAY;
        assert_eq!(
            c.run(Phase::Preauth, &login("alice"), now),
            Outcome::Allowed,
            "day {day}"
        );
        assert_eq!(
            c.run(Phase::Account, &login("alice"), now),
            Outcome::Allowed
        );
        assert_eq!(
            c.run(Phase::SessionOpen, &login("alice"), now),
            Outcome::Allowed
        );
        assert_eq!(
            c.run(Phase::SessionClose, &login("alice"), now + 60),
            Outcome::Allowed
        );
    }
    assert!(!c.world.audit.names().contains(&"inactive_lock"));
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), t0 + 90 * DAY),
        Outcome::Locked,
        "30 days after the last session"
    );
}

#[test]
fn wrong_pins_do_not_lock_password_logins() {
    // Issue 11: failure counts and hack locks per credential; an admin lock covers both.
    let c = case(POLICY);
    let pin = Login {
        credential: crate::args::Credential::Pin,
        ..login("alice")
    };
    for t in 0..3 {
        assert_eq!(c.run(Phase::Preauth, &pin, t), Outcome::Allowed);
        assert_eq!(c.run(Phase::Authfail, &pin, t), Outcome::AuthFailed);
    }
    assert_eq!(c.run(Phase::Preauth, &pin, 4), Outcome::Locked);
    assert_eq!(
        c.run(Phase::Preauth, &login("alice"), 4),
        Outcome::Allowed,
        "password logins go on"
    );
    for t in 5..7 {
        c.fail("alice", t);
    }
    assert_eq!(
        c.record("alice").unwrap().password.failures.len(),
        2,
        "the PIN's three failures are not counted for the password"
    );
    let alice = UserName::parse("alice").unwrap();
    c.world
        .store
        .update(&alice, &mut |r| lockout::admin_lock(r, 8))
        .unwrap();
    assert_eq!(c.run(Phase::Preauth, &login("alice"), 9), Outcome::Locked);
    assert_eq!(c.run(Phase::Preauth, &pin, 9), Outcome::Locked);
}

#[test]
fn shadow_changes_count_for_expiry_and_passwd_e_means_must_change() {
    // Issue 11: chpasswd, usermod and `passwd -e` change the shadow entry, not our record.
    let c = lifecycle_case("expires_after = \"90d\"\n");
    assert_eq!(c.run(Phase::Account, &login("alice"), 0), Outcome::Allowed);
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 100 * DAY),
        Outcome::NewAuthtokRequired,
        "expired, counted from first sight"
    );
    c.world.dir.set_shadow("alice", "$y$x", Some(95));
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 100 * DAY),
        Outcome::Allowed,
        "changed with chpasswd on day 95"
    );
    c.world.dir.set_shadow("alice", "$y$x", Some(0));
    assert_eq!(
        c.run(Phase::Account, &login("alice"), 100 * DAY),
        Outcome::NewAuthtokRequired
    );
    assert!(c.world.audit.names().contains(&"must_change"));
}

/// The ticket and login-protect paths over the scripted ticket system, protect server and run files.
mod outside;

/// The fleet lockout over a scripted fleet server, the handle's memory and an in-memory spool.
mod fleet;

/// `mode = "report"`: every gate's would-be refusal is an event, the PAM result is unchanged.
mod report;
