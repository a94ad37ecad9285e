//! Orchestration: one function per PAM phase, taking plain values and `now`, returning an
//! [`Outcome`]. Config loading, scope selection, lock checks and audit happen here.

mod account;
mod auth;
mod fleet;
mod outcome;
mod password;
mod protect;
mod report;
mod session;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use outcome::Outcome;
pub use report::REPORT_DIR;

use crate::args::Credential;
use crate::audit::{AuditSink, Event, EventName};
use crate::config::{
    Config, ConfigError, Fleet, ModuleSettings, Policy, Protect, Scope, ScopeMode, Unprivileged,
};
use crate::directory::Directory;
use crate::fleet::FleetServer;
use crate::lifecycle;
use crate::lockout::{self, Lock};
use crate::protect::ProtectServer;
use crate::run_files::RunFiles;
use crate::scope::{self, HostNames};
use crate::secret::Secret;
use crate::store::{Attempt, Record, StateStore, StoreError};
use crate::ticket::TicketSource;
use crate::ticket::login::Prompter;
use crate::user::UserName;

/// The PAM phase being run, from the hook and its phase word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `auth ... preauth`: refuse locked accounts before any password is asked for.
    Preauth,
    /// `auth ... authfail`: the password was wrong; count it.
    Authfail,
    /// `auth ... ticket`: the password was accepted; ticket (when required) and success.
    Ticket,
    /// `account`: locks; resets the count after a successful authentication in this handle.
    Account,
    /// `password` (chauthtok), first pass (`PAM_PRELIM_CHECK`): may the user change it now?
    PasswordPrelim,
    /// `password` (chauthtok), second pass (`PAM_UPDATE_AUTHTOK`): check the new one and hand
    /// it to the password module; the change is recorded only by [`Phase::PasswordCommit`].
    Password,
    /// `password ... commit`, after the password module: it stored the new credential, so the
    /// change the `password` line checked is recorded now.
    PasswordCommit,
    /// `session` open / close.
    SessionOpen,
    SessionClose,
}

/// The login being decided, as plain values.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    pub user: &'a str,
    pub service: &'a str,
    pub rhost: &'a str,
    pub tty: &'a str,
    /// `PAM_SILENT`: no messages to the user.
    pub silent: bool,
    /// The caller runs with euid 0 and can reach state and secrets.
    pub privileged: bool,
    /// The `ticket` phase succeeded earlier in this PAM handle.
    pub authenticated: bool,
    /// `credential=password|pin`: which policy and which credential's lifecycle apply.
    pub credential: Credential,
    /// The caller's real uid: `passwd` run by a user is setuid root with the user's real uid;
    /// root (real uid 0) changing a credential is exempt from `min_change_interval`.
    pub real_uid: u32,
    /// The PAM client's process (it opens and closes the session; ending it ends the session).
    pub pid: i32,
}

/// Messages and prompts to the user, the failure delay and the PAM environment; the PAM
/// conversation and handle in production, a scripted fake in tests.
pub trait Conversation {
    /// A `PAM_ERROR_MSG` line.
    fn error(&self, message: &str);
    /// A `PAM_TEXT_INFO` line (sshd shows these only after authentication: anything the user
    /// must read before acting is sent as a prompt instead).
    fn info(&self, message: &str);
    /// Asks the user; `echo` = the answer is shown as typed. `None` if the client gave no answer.
    fn prompt(&self, message: &str, echo: bool) -> Option<Secret>;
    fn fail_delay(&self, delay: Duration);
    /// Sets `NAME=value` in the PAM environment (e.g. `TICKETGATE_TICKET`); false if refused.
    fn putenv(&self, name_value: &str) -> bool;
    /// `PAM_AUTHTOK`: a new credential an earlier module already obtained.
    fn authtok(&self) -> Option<Secret> {
        None
    }
    /// Sets `PAM_AUTHTOK`, for the next module's `use_authtok`.
    fn set_authtok(&self, _token: &Secret) -> bool {
        false
    }
    /// `PAM_OLDAUTHTOK`: the current credential, when the stack asked for it.
    fn old_authtok(&self) -> Option<Secret> {
        None
    }
    /// A variable of the PAM environment (`pam_getenv`).
    fn getenv(&self, _name: &str) -> Option<String> {
        None
    }
    /// Keeps the change the `password` line checked in this PAM handle, for the `commit` line.
    fn keep_pending(&self, _change: PendingChange) -> bool {
        false
    }
    /// The change the `password` line kept in this handle, taken (a second commit finds none).
    fn take_pending(&self) -> Option<PendingChange> {
        None
    }
    /// Keeps what this login learned from the fleet server in the PAM handle, for its later
    /// lines (the `ticket` line reports a success only when it is needed).
    fn keep_fleet(&self, _seen: FleetSeen) -> bool {
        false
    }
    /// Notes in the PAM handle that a report-mode `ticket` line would have refused `user`.
    fn keep_report_refused(&self, _user: &str) -> bool {
        false
    }
    /// The account [`Conversation::keep_report_refused`] noted in this handle.
    fn report_refused(&self) -> Option<String> {
        None
    }
    /// What an earlier line of this login kept with [`Conversation::keep_fleet`].
    fn fleet_seen(&self) -> Option<FleetSeen> {
        None
    }
}

/// What one login learned from the fleet server, kept in the PAM handle between its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSeen {
    /// The canonical account name it is about (another user in the same handle starts afresh).
    pub user: String,
    /// The fleet's failure count as last answered; `None` when the server could not be asked
    /// (then a success must be reported).
    pub failures: Option<u32>,
    /// `fleet_offline` was logged for this login.
    pub offline_reported: bool,
}

/// A credential change checked by the `password` line and not yet recorded: the `commit` line
/// after the password module records it once that module stored the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChange {
    /// The canonical account name.
    pub user: String,
    pub credential: Credential,
    /// The new credential's Argon2 hash for the history (`None` when history is off).
    pub history_hash: Option<String>,
    /// The shadow hash before the change (local passwords): unchanged after the password
    /// module ran means it did not store the new one.
    pub shadow_before: Option<Secret>,
}

/// Everything outside the module's logic: state, directory, audit, host names, conversation,
/// the ticket system, the protect and fleet servers and the run files.
pub trait World {
    fn store(&self, state_dir: &Path) -> Result<Box<dyn StateStore + '_>, StoreError>;
    fn audit(&self, audit_file: Option<&Path>) -> Box<dyn AuditSink + '_>;
    fn directory(&self) -> &dyn Directory;
    fn host(&self) -> HostNames;
    fn conversation(&self) -> &dyn Conversation;
    /// The ticket system `[ticket]` names (its secrets and requests).
    fn ticket_system(&self, config: &Config) -> Box<dyn TicketSource + '_>;
    /// The protect server `protect` names, with the host token read (a config error if it
    /// cannot be).
    fn protect_server(
        &self,
        config: &Config,
        protect: &Protect,
    ) -> Result<Box<dyn ProtectServer + '_>, ConfigError>;
    /// The fleet server `fleet` names, with the host token read (a config error if it cannot be).
    fn fleet_server(
        &self,
        config: &Config,
        fleet: &Fleet,
    ) -> Result<Box<dyn FleetServer + '_>, ConfigError>;
    /// The breakers, caches, session records, break-glass codes, offline PINs and switch.
    fn run_files(&self, module: &ModuleSettings) -> Box<dyn RunFiles + '_>;
}

/// Runs `phase` for `login` under `config` (loaded and checked by the caller).
pub fn run(phase: Phase, config: &Config, login: &Login, world: &dyn World, now: i64) -> Outcome {
    let audit = world.audit(config.module.audit_file.as_deref());
    let audit = report::ModeAudit {
        inner: audit.as_ref(),
        report: std::cell::Cell::new(false),
        ticket_reason: std::cell::RefCell::new(None),
    };
    let gate = Gate {
        config,
        login,
        world,
        audit: &audit,
        mode: &audit,
        now,
        store: std::cell::OnceCell::new(),
        files: std::cell::OnceCell::new(),
    };
    gate.run(phase)
}

/// The outcome when the configuration cannot be used: one `config_error` event, and a refusal
/// (fail closed) for every phase but closing a session.
pub fn config_broken(
    phase: Phase,
    error: &dyn std::fmt::Display,
    login: &Login,
    world: &dyn World,
    now: i64,
) -> Outcome {
    let event = Event::new(
        EventName::ConfigError,
        login.user,
        login.service,
        login.rhost,
    )
    .with("error", error);
    world.audit(None).event(&event, now);
    match phase {
        Phase::SessionClose => Outcome::NotCovered,
        _ => Outcome::ConfigBroken,
    }
}

struct Gate<'a> {
    config: &'a Config,
    login: &'a Login<'a>,
    world: &'a dyn World,
    audit: &'a dyn AuditSink,
    /// The login's scope is in `mode = "report"` (set once the scope is known): the store is
    /// report mode's own and events carry `mode=report`.
    mode: &'a report::ModeAudit<'a>,
    now: i64,
    /// The state store, opened (and its directory checked) once per phase.
    store: std::cell::OnceCell<Box<dyn StateStore + 'a>>,
    /// The run files, made once per phase (`run_dir` is checked on first use).
    files: std::cell::OnceCell<Box<dyn RunFiles + 'a>>,
}

/// The conversation as the ticket and login-protect gates need it (messages obey `PAM_SILENT`).
struct Ui<'g, 'a>(&'g Gate<'a>);

impl Prompter for Ui<'_, '_> {
    fn ask(&self, message: &str, echo: bool) -> Option<Secret> {
        self.0.world.conversation().prompt(message, echo)
    }
    fn tell(&self, message: &str) {
        // A report-mode login is told nothing of a refusal that does not happen.
        if !self.0.mode.report.get() {
            self.0.tell(message);
        }
    }
}

/// Who the login is for, once the scope and the directory have been asked.
enum Subject<'c> {
    /// No scope covers the account.
    NotCovered,
    /// A name NSS does not know: same prompts and answers as a wrong password, nothing stored.
    Unknown,
    Known {
        /// The account's name as NSS spells it (`pw_name`), whatever spelling was typed.
        user: UserName,
        uid: u32,
        scope: &'c Scope,
        /// A directory user under `local_users_only` logging in with a password: the password
        /// policy (counting, hack lock, expiry, inactivity, must-change, rules) is not applied;
        /// an admin lock, the PIN policy, login protect and the ticket gate are.
        exempt: bool,
    },
}

impl<'c> Subject<'c> {
    /// The account and its scope when the credential policy applies to this login (a known
    /// user, not exempt).
    fn under_policy(self) -> Option<(UserName, &'c Scope)> {
        match self {
            Subject::Known {
                user,
                scope,
                exempt: false,
                ..
            } => Some((user, scope)),
            _ => None,
        }
    }
}

impl<'a> Gate<'a> {
    fn run(&self, phase: Phase) -> Outcome {
        if matches!(phase, Phase::Preauth | Phase::Authfail | Phase::Ticket)
            && !self.config.module.fail_delay.is_zero()
        {
            self.world
                .conversation()
                .fail_delay(self.config.module.fail_delay);
        }
        if !self.login.privileged {
            return self.unprivileged(phase);
        }
        let subject = match self.subject() {
            Ok(s) => s,
            Err(outcome) => {
                return if phase == Phase::Authfail {
                    Outcome::AuthFailed
                } else {
                    outcome
                };
            }
        };
        if let Subject::Known { scope, .. } = &subject
            && scope.mode == ScopeMode::Report
        {
            self.mode.report.set(true);
            return self.report(phase, subject);
        }
        match phase {
            Phase::Preauth => self.preauth(subject),
            Phase::Authfail => self.authfail(subject),
            Phase::Ticket => self.ticket(subject),
            Phase::Account => self.account(subject),
            Phase::PasswordPrelim => self.password_prelim(subject),
            Phase::Password => self.password(subject),
            Phase::PasswordCommit => self.password_commit(subject),
            Phase::SessionOpen => self.session_open(subject),
            Phase::SessionClose => self.session_close(subject),
        }
    }

    fn unprivileged(&self, phase: Phase) -> Outcome {
        let mode = self.config.module.unprivileged;
        self.audit.error(&format!(
            "caller is not root (service={} user={}): cannot reach state; unprivileged = {}",
            crate::audit::quote(self.login.service),
            crate::audit::quoted_user(self.login.user),
            if mode == Unprivileged::Deny {
                "deny"
            } else {
                "ignore"
            }
        ));
        // A report-mode scope changes no result: its user is left to the stack, reported.
        if mode == Unprivileged::Deny
            && let Ok(Subject::Known { user, scope, .. }) = self.subject()
            && scope.mode == ScopeMode::Report
        {
            self.mode.report.set(true);
            self.would_refuse(&user, phase, "module", "unprivileged");
            return match phase {
                Phase::Authfail => Outcome::AuthFailed,
                Phase::Password => self.pass_through(),
                _ => Outcome::NotCovered,
            };
        }
        match (phase, mode) {
            (Phase::Authfail, _) => Outcome::AuthFailed,
            // No state is needed to hand a new password on: the stack works as without us.
            (Phase::Password, Unprivileged::Ignore) => self.pass_through(),
            (_, Unprivileged::Ignore) => Outcome::NotCovered,
            (_, Unprivileged::Deny) => Outcome::UnprivilegedDenied,
        }
    }

    /// Resolves the typed name through NSS once: scopes, state, caches, sessions and audit use
    /// the canonical account name, so `ALICE` or `alice@corp.example` is alice (issue 12).
    fn subject(&self) -> Result<Subject<'a>, Outcome> {
        let dir = self.world.directory();
        let typed = self.login.user;
        let account = dir
            .lookup(typed)
            .map_err(|e| self.system_error(&format!("directory lookup of a user: {e}")))?;
        let name = account.as_ref().map_or(typed, |a| a.name.as_str());
        // Host names are read (from /etc/hosts) only when some scope has host patterns.
        let host = if self.config.scopes.iter().any(|s| s.hosts.is_some()) {
            self.world.host()
        } else {
            HostNames {
                short: String::new(),
                fqdn: String::new(),
            }
        };
        let scope = scope::select(
            self.config,
            name,
            account.as_ref(),
            Some(self.login.service),
            &host,
            dir,
        )
        .map_err(|e| self.system_error(&format!("group lookup: {e}")))?;
        let (Some(scope), Some(account)) = (scope, account) else {
            // A report-mode scope changes nothing for a name NSS does not know either.
            return Ok(if scope.is_some_and(|s| s.mode == ScopeMode::Enforce) {
                Subject::Unknown
            } else {
                Subject::NotCovered
            });
        };
        // A name NSS knows is never "unknown": it is gated, or refused when it cannot be stored.
        let user = UserName::parse(&account.name).map_err(|e| {
            self.audit.event(
                &self
                    .event(EventName::StateUnwritable, &account.name)
                    .with("uid", account.uid)
                    .with("error", format!("the account's name cannot be stored: {e}")),
                self.now,
            );
            Outcome::SystemError
        })?;
        let exempt = self.login.credential == Credential::Password
            && scope.policy.local_users_only
            && !dir
                .is_local(user.as_str())
                .map_err(|e| self.system_error(&e.to_string()))?;
        Ok(Subject::Known {
            user,
            uid: account.uid,
            scope,
            exempt,
        })
    }

    fn store(&self) -> Result<&(dyn StateStore + 'a), Outcome> {
        if let Some(store) = self.store.get() {
            return Ok(store.as_ref());
        }
        let dir = if self.mode.report.get() {
            self.config.module.state_dir.join(REPORT_DIR)
        } else {
            self.config.module.state_dir.clone()
        };
        let store = self
            .world
            .store(&dir)
            .map_err(|e| self.system_error(&e.to_string()))?;
        Ok(self.store.get_or_init(|| store).as_ref())
    }

    fn files(&self) -> &(dyn RunFiles + 'a) {
        self.files
            .get_or_init(|| self.world.run_files(&self.config.module))
            .as_ref()
    }

    fn system_error(&self, message: &str) -> Outcome {
        self.audit.error(message);
        Outcome::SystemError
    }

    /// An audit event about `user` (the canonical name); the name as typed is added when it
    /// was another spelling of the same account. An account whose name cannot be logged in
    /// clear (`.dotuser`, a tab in it) is named by its percent-encoding in `account`.
    fn event(&self, name: EventName, user: &str) -> Event {
        let mut event = Event::new(name, user, self.login.service, self.login.rhost);
        if !crate::audit::is_loggable_name(user) {
            event = event.with("account", crate::user::encode(user));
        }
        if user != self.login.user {
            event.with("typed_user", self.login.user)
        } else {
            event
        }
    }

    fn attempt(&self) -> Attempt {
        Attempt {
            at: self.now,
            service: self.login.service.into(),
            rhost: self.login.rhost.into(),
        }
    }

    fn tell(&self, message: &str) {
        if !self.login.silent {
            self.world.conversation().error(message);
        }
    }

    /// The policy for the credential this service checks.
    fn policy<'s>(&self, scope: &'s Scope) -> &'s Policy {
        match self.login.credential {
            Credential::Password => &scope.policy,
            Credential::Pin => &scope.pin_policy,
        }
    }

    /// The lock in force, or the outcome for unreadable state (corrupt = locked). An account
    /// found inactive is locked here, durably, with an `inactive_lock` event.
    fn lock_of(
        &self,
        store: &dyn StateStore,
        user: &UserName,
        policy: &Policy,
        exempt: bool,
    ) -> Result<Option<Lock>, Outcome> {
        self.record_and_lock(store, user, policy, exempt)
            .map(|(_, lock)| lock)
    }

    /// The user's record (default when none) and the lock in force, as [`Self::lock_of`].
    /// `exempt` (a directory user's password under `local_users_only`): only an
    /// administrator's lock holds, the password policy's locks do not.
    fn record_and_lock(
        &self,
        store: &dyn StateStore,
        user: &UserName,
        policy: &Policy,
        exempt: bool,
    ) -> Result<(Record, Option<Lock>), Outcome> {
        let record = match store.load(user) {
            Ok(r) => r.unwrap_or_default(),
            Err(e @ StoreError::Corrupt { .. }) => {
                self.audit.error(&e.to_string());
                return Err(Outcome::Locked);
            }
            Err(e) => return Err(self.system_error(&e.to_string())),
        };
        if exempt {
            let lock = record.admin_lock.map(|since| Lock::Admin { since });
            return Ok((record, lock));
        }
        if let Some(lock) = lockout::current_lock(&record, self.login.credential, self.now) {
            return Ok((record, Some(lock)));
        }
        if policy.inactive_after.is_some() {
            let last = store.last_success(user).map(|a| a.at);
            if lifecycle::is_inactive(&record, last, policy, self.now) {
                let lock = self.lock_inactive(store, user, &record, last)?;
                return Ok((record, Some(lock)));
            }
        }
        Ok((record, None))
    }

    /// Sets the inactivity lock (until an administrator unlocks) and audits it.
    fn lock_inactive(
        &self,
        store: &dyn StateStore,
        user: &UserName,
        record: &crate::store::Record,
        last: Option<i64>,
    ) -> Result<Lock, Outcome> {
        let now = self.now;
        store
            .update(user, &mut |r| {
                r.inactive_lock.get_or_insert(now);
            })
            .map_err(|e| self.system_error(&e.to_string()))?;
        let since = lifecycle::last_activity(record, last)
            .map_or_else(|| "never".to_string(), |t| t.to_string());
        self.audit.event(
            &self
                .event(EventName::InactiveLock, user.as_str())
                .with("last_activity", since),
            now,
        );
        Ok(Lock::Inactive { since: now })
    }

    fn refuse_locked(&self, user: &UserName, lock: Option<Lock>) -> Outcome {
        // A lock with times this module never writes is a corrupt record (still locked).
        if let Some(bad) = lock.filter(|l| !lockout::is_plausible(l)) {
            self.audit.error(&format!(
                "state of {}: corrupt record ({bad:?} holds times this module never writes); \
                 the account is treated as locked until `ticketgate reset`",
                crate::audit::quoted_user(user.as_str())
            ));
        }
        let lock = lock.filter(lockout::is_plausible);
        let message = match lock {
            Some(Lock::Hack { until: Some(u), .. }) => {
                let minutes = (u - self.now + 59) / 60;
                format!(
                    "Account locked after too many failed logins; try again in {minutes} minute(s)."
                )
            }
            Some(Lock::Hack { until: None, .. }) => {
                "Account locked after too many failed logins; contact your administrator."
                    .to_string()
            }
            Some(Lock::Inactive { .. }) => {
                "Account locked after a long time without a login; contact your administrator."
                    .to_string()
            }
            Some(Lock::Admin { .. }) => "Account locked; contact your administrator.".to_string(),
            None => "Account locked (corrupt record); contact your administrator.".to_string(),
        };
        self.tell(&message);
        let reason = match lock {
            Some(Lock::Admin { .. }) => "admin_lock",
            Some(Lock::Hack { .. }) => "hack_lock",
            Some(Lock::Inactive { .. }) => "inactive_lock",
            None => "corrupt_state",
        };
        self.audit.event(
            &self
                .event(EventName::AuthFailure, user.as_str())
                .with("reason", reason),
            self.now,
        );
        Outcome::Locked
    }

    /// The refusal for a locked account (or one whose state cannot be read); `None` = go on.
    fn refuse_if_locked(&self, user: &UserName, policy: &Policy, exempt: bool) -> Option<Outcome> {
        let store = match self.store() {
            Ok(s) => s,
            Err(o) => return Some(o),
        };
        match self.lock_of(store, user, policy, exempt) {
            Ok(None) => None,
            Ok(lock @ Some(_)) => Some(self.refuse_locked(user, lock)),
            Err(Outcome::Locked) => Some(self.refuse_locked(user, None)),
            Err(o) => Some(o),
        }
    }
}

/// A path to the config: the `config=` argument or the default.
pub fn config_path(arg: Option<&str>) -> PathBuf {
    PathBuf::from(arg.unwrap_or(crate::config::DEFAULT_PATH))
}

#[cfg(test)]
mod tests;
