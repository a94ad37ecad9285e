//! `user_canonical` (issue 12): the name a user types and the name the directory answers with,
//! through the gate's `preauth` and `authfail` over in-memory state. Input: the typed name on
//! the first line, the directory's canonical name after it. Properties: whatever was typed,
//! state exists only under the canonical name (never under the spelling typed); a canonical
//! name that can be stored is gated (counted, and locked at the limit), one that cannot is
//! refused with a `state_unwritable` event and nothing stored; every event names the canonical
//! user (in clear when it could be an account name, else as `(invalid, N characters)` with its
//! percent-encoding in `account`), with `typed_user` exactly when the spelling differed.

use std::path::Path;
use std::time::Duration;

use super::first_line;
use crate::audit::{AuditSink, EventName, MemAudit};
use crate::config::{Config, ConfigError, ModuleSettings, Protect};
use crate::directory::{Directory, MemDirectory};
use crate::gate::{self, Conversation, Login, Outcome, Phase, World};
use crate::net::NetError;
use crate::protect::{Attempt, ProtectServer};
use crate::run_files::{MemRunFiles, RunFiles};
use crate::scope::HostNames;
use crate::secret::Secret;
use crate::store::{MemStore, StateStore, StoreError};
use crate::ticket::token::TokenCache;
use crate::ticket::{Docs, TicketError, TicketSource};
use crate::user::UserName;

struct FuzzWorld {
    store: MemStore,
    directory: MemDirectory,
    audit: MemAudit,
    files: MemRunFiles,
    /// A prompt, putenv or request, which these phases must not make (checked after the run).
    unexpected: std::cell::RefCell<Vec<String>>,
}

/// The ticket system and the protect and fleet servers, which these phases must not reach.
struct Nowhere<'a>(&'a FuzzWorld);

impl TicketSource for Nowhere<'_> {
    fn fetch(
        &self,
        _: &crate::config::Ticket,
        id: &str,
        _: &dyn TokenCache,
        _: i64,
    ) -> Result<Docs, TicketError> {
        self.0.unexpected.borrow_mut().push(format!("fetch {id:?}"));
        Err(TicketError::Unreachable("no ticket system here".into()))
    }
}

impl ProtectServer for Nowhere<'_> {
    fn attempt(&self, attempt: &Attempt) -> Result<bool, NetError> {
        self.0
            .unexpected
            .borrow_mut()
            .push(format!("protect {attempt:?}"));
        Err(NetError::Unreachable("no protect server here".into()))
    }
    fn probe(&self, attempt: &Attempt) -> Result<bool, NetError> {
        self.attempt(attempt)
    }
}

impl crate::fleet::FleetServer for Nowhere<'_> {
    fn check(
        &self,
        user: &str,
        _: crate::args::Credential,
    ) -> Result<crate::fleet::Standing, NetError> {
        self.0
            .unexpected
            .borrow_mut()
            .push(format!("fleet check {user:?}"));
        Err(NetError::Unreachable("no fleet server here".into()))
    }
    fn failure(
        &self,
        event: &crate::fleet::FleetEvent,
    ) -> Result<crate::fleet::Standing, NetError> {
        self.0
            .unexpected
            .borrow_mut()
            .push(format!("fleet {event:?}"));
        Err(NetError::Unreachable("no fleet server here".into()))
    }
    fn success(&self, event: &crate::fleet::FleetEvent) -> Result<(), NetError> {
        self.0
            .unexpected
            .borrow_mut()
            .push(format!("fleet {event:?}"));
        Err(NetError::Unreachable("no fleet server here".into()))
    }
    fn spooled(
        &self,
        event: &crate::fleet::FleetEvent,
    ) -> Result<Option<crate::fleet::Standing>, NetError> {
        self.success(event).map(|()| None)
    }
}

/// The gate's view of `store` for one phase.
impl World for FuzzWorld {
    fn store(&self, _: &Path) -> Result<Box<dyn StateStore + '_>, StoreError> {
        Ok(Box::new(&self.store))
    }
    fn audit(&self, _: Option<&Path>) -> Box<dyn AuditSink + '_> {
        Box::new(&self.audit)
    }
    fn directory(&self) -> &dyn Directory {
        &self.directory
    }
    fn host(&self) -> HostNames {
        HostNames::from_parts("db01.example.com", "")
    }
    fn conversation(&self) -> &dyn Conversation {
        self
    }
    fn ticket_system(&self, _: &Config) -> Box<dyn TicketSource + '_> {
        Box::new(Nowhere(self))
    }
    fn protect_server(
        &self,
        _: &Config,
        _: &Protect,
    ) -> Result<Box<dyn ProtectServer + '_>, ConfigError> {
        Ok(Box::new(Nowhere(self)))
    }
    fn fleet_server(
        &self,
        _: &Config,
        _: &crate::config::Fleet,
    ) -> Result<Box<dyn crate::fleet::FleetServer + '_>, ConfigError> {
        Ok(Box::new(Nowhere(self)))
    }
    fn run_files(&self, _: &ModuleSettings) -> Box<dyn RunFiles + '_> {
        Box::new(&self.files)
    }
}

/// `preauth` and `authfail` never talk to the user in this config (no login protect).
impl Conversation for FuzzWorld {
    fn error(&self, _: &str) {}
    fn info(&self, _: &str) {}
    fn prompt(&self, message: &str, _: bool) -> Option<Secret> {
        self.unexpected
            .borrow_mut()
            .push(format!("prompt {message:?}"));
        None
    }
    fn fail_delay(&self, _: Duration) {}
    fn putenv(&self, name_value: &str) -> bool {
        self.unexpected
            .borrow_mut()
            .push(format!("putenv {name_value:?}"));
        false
    }
}

pub fn user_canonical(data: &[u8]) -> bool {
    let (typed, rest) = first_line(data);
    let Ok(canonical) = std::str::from_utf8(rest) else {
        return false;
    };
    // NSS never answers an empty name or one with NUL (nss-helper does not even ask).
    if [typed, canonical]
        .iter()
        .any(|n| n.is_empty() || n.contains('\0'))
    {
        return false;
    }
    // A scope naming the canonical user (so the scope must match it whatever was typed), or,
    // for a name a config cannot list, a scope for everyone.
    let config_for = |users: &str| {
        let text = format!(
            "version = 1\n[module]\nfail_delay = \"0s\"\n[[scope]]\n{users}\n\
             [policy.default]\nfailed_logon = 2\n"
        );
        Config::parse(Path::new("fuzz.toml"), &text)
    };
    let listed = format!("users = [{}]", toml::Value::String(canonical.to_string()));
    let config = match config_for(&listed).or_else(|_| config_for("")) {
        Ok(c) => c,
        Err(e) => {
            assert!(e.to_string().is_empty(), "the harness's own config: {e}");
            return false;
        }
    };
    let world = FuzzWorld {
        store: MemStore::default(),
        directory: MemDirectory::default()
            .with(canonical, 4242, &[], true)
            .alias(typed, canonical),
        audit: MemAudit::default(),
        files: MemRunFiles::default(),
        unexpected: std::cell::RefCell::new(Vec::new()),
    };
    let login = Login {
        user: typed,
        service: "sshd",
        rhost: "192.0.2.1",
        tty: "ssh",
        silent: false,
        privileged: true,
        authenticated: false,
        credential: crate::args::Credential::Password,
        real_uid: 0,
        pid: 1,
    };
    let storable = UserName::parse(canonical).ok();
    let mut outcomes = Vec::new();
    for now in 0..3 {
        outcomes.push(gate::run(Phase::Preauth, &config, &login, &world, now));
        outcomes.push(gate::run(Phase::Authfail, &config, &login, &world, now));
    }
    assert!(
        world.unexpected.borrow().is_empty(),
        "{:?}",
        world.unexpected
    );
    let stored = world.store.users().unwrap_or_default();
    match &storable {
        Some(name) => {
            assert_eq!(
                stored,
                vec![name.clone()],
                "state under the canonical name only"
            );
            assert_eq!(
                outcomes,
                [
                    Outcome::Allowed,
                    Outcome::AuthFailed,
                    Outcome::Allowed,
                    Outcome::AuthFailed,
                    Outcome::Locked,
                    Outcome::AuthFailed
                ],
                "gated: counted and locked at the limit"
            );
        }
        None => {
            assert!(stored.is_empty(), "nothing stored for {canonical:?}");
            assert!(
                outcomes
                    .iter()
                    .step_by(2)
                    .all(|o| *o == Outcome::SystemError),
                "refused, never let through: {outcomes:?}"
            );
        }
    }
    let events = world
        .audit
        .events
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    assert!(!events.is_empty());
    for event in &events {
        let field = |name: &str| {
            event
                .fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        if crate::audit::is_loggable_name(canonical) {
            assert_eq!(event.user, canonical, "{event:?}");
            assert_eq!(field("account"), None, "{event:?}");
        } else {
            // Not shown in clear, but named: the encoding maps back to exactly this account.
            assert_eq!(event.user, crate::audit::user_field(canonical), "{event:?}");
            let account = field("account").unwrap_or_default();
            assert_eq!(crate::user::encode(canonical), account, "{event:?}");
            assert!(account.bytes().all(|b| b.is_ascii_graphic()), "{event:?}");
        }
        let typed_field = event.fields.iter().find(|(k, _)| *k == "typed_user");
        assert_eq!(
            typed_field.map(|(_, v)| v.as_str()),
            (typed != canonical).then_some(typed),
            "{event:?}"
        );
        if storable.is_none() {
            assert_eq!(event.name, EventName::StateUnwritable);
        }
    }
    storable.is_some()
}
