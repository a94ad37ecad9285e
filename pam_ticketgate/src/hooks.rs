//! PAM glue, the only module that touches libpam: read arguments and items, call the gate with
//! plain values and `now`, map its [`Outcome`] to a PAM code.

use std::cell::RefCell;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pam::constants::{
    PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_SILENT, PAM_TEXT_INFO, PamFlag,
    PamMessageStyle, PamResultCode,
};
use pam::conv::Conv;
use pam::items::{AuthTok, OldAuthTok, RHost, Service, Tty, User};
use pam::module::{PamHandle, PamHooks};

use crate::args::{self, AuthPhase};
use crate::audit::{self, AuditSink, Event, EventName, SystemAudit};
use crate::config::{Config, ConfigError, Fleet, ModuleSettings, Protect};
use crate::directory::{Directory, DirectoryError, Nss};
use crate::ffi;
use crate::fleet::{FleetServer, HttpFleet};
use crate::gate::{self, Conversation, FleetSeen, Login, Outcome, PendingChange, Phase, World};
use crate::protect::{HttpServer, ProtectServer};
use crate::run_files::{Files, RunFiles};
use crate::scope::HostNames;
use crate::secret::Secret;
use crate::store::{FileStore, StateStore, StoreError};
use crate::ticket::{NetTicketSource, TicketSource};

/// `pam_sm_chauthtok`'s first pass (Linux-PAM `_pam_types.h`).
const PAM_PRELIM_CHECK: PamFlag = 0x4000;

/// Module data key marking a successful `ticket` phase (the `authsucc` of this module).
const AUTH_OK: ffi::DataKey<String> = ffi::DataKey::new("pam_ticketgate_auth_ok");

/// Module data key of the last account NSS answered for (the name asked, the answer): the
/// phases of one login ask once, not once per line.
const ACCOUNT: ffi::DataKey<(String, Option<nss_helper::Account>)> =
    ffi::DataKey::new("pam_ticketgate_account");

/// Module data key of the paths (the config, `state_dir`) whose directories passed the trust
/// walk earlier in this login: the login's next lines check only the file or directory itself.
/// A login is seconds long, and only root can change directories that passed.
const CHECKED: ffi::DataKey<Vec<PathBuf>> = ffi::DataKey::new("pam_ticketgate_checked_dirs");

/// Module data key of the change the `password` line checked, for the `commit` line.
const PENDING: ffi::DataKey<Option<PendingChange>> =
    ffi::DataKey::new("pam_ticketgate_pending_change");

/// Module data key of what this login learned from the fleet server (preauth's answer): the
/// `ticket` line reports a success only when the fleet had failures on record.
const FLEET: ffi::DataKey<FleetSeen> = ffi::DataKey::new("pam_ticketgate_fleet");

/// Module data key of the account whose ticket a report-mode `ticket` line would have refused:
/// its `account` line then does not count the login as a success (enforce mode would have
/// ended it at the ticket), so the failure stays counted towards the would-be lock.
const REPORT_REFUSED: ffi::DataKey<String> = ffi::DataKey::new("pam_ticketgate_report_refused");

/// The module's hooks.
pub struct TicketGate;

/// Which hook libpam called.
#[derive(Clone, Copy)]
enum Hook {
    Auth,
    Account,
    Password,
    OpenSession,
    CloseSession,
}

impl PamHooks for TicketGate {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        run(pamh, &args, flags, Hook::Auth)
    }

    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        run(pamh, &args, flags, Hook::Account)
    }

    fn sm_chauthtok(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        run(pamh, &args, flags, Hook::Password)
    }

    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        run(pamh, &args, flags, Hook::OpenSession)
    }

    fn sm_close_session(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        run(pamh, &args, flags, Hook::CloseSession)
    }

    /// Sets no credentials. The `ticket` line answers success here as in `pam_authenticate`
    /// (issue 7): when `pam_setcred` runs in a process that did not authenticate — sshd's
    /// keyboard-interactive authenticates in a child — libpam does not count pam_unix's
    /// `success=1` jump, and without one success on the stack sshd's pam_setcred fails
    /// (`PAM_PERM_DENIED`) and drops the login.
    fn sm_setcred(_pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        let words: Option<Vec<&str>> = args.iter().map(|a| a.to_str().ok()).collect();
        let phase = words.and_then(|w| args::parse(w.iter().copied()).ok()?.auth_phase);
        match phase {
            Some(AuthPhase::Ticket) => PamResultCode::PAM_SUCCESS,
            Some(AuthPhase::Preauth | AuthPhase::Authfail) | None => PamResultCode::PAM_IGNORE,
        }
    }
}

/// The one mapping from outcome to PAM code: exhaustive, so fail-open vs fail-closed is visible here.
pub fn pam_code(outcome: Outcome) -> PamResultCode {
    match outcome {
        Outcome::NotCovered => PamResultCode::PAM_IGNORE,
        Outcome::Allowed => PamResultCode::PAM_SUCCESS,
        Outcome::Locked => PamResultCode::PAM_MAXTRIES,
        Outcome::AccountLocked => PamResultCode::PAM_PERM_DENIED,
        Outcome::AuthFailed => PamResultCode::PAM_AUTH_ERR,
        Outcome::UnprivilegedDenied => PamResultCode::PAM_PERM_DENIED,
        Outcome::ConfigBroken => PamResultCode::PAM_SERVICE_ERR,
        Outcome::SystemError => PamResultCode::PAM_SYSTEM_ERR,
        Outcome::Unavailable => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Outcome::NewAuthtokRequired => PamResultCode::PAM_NEW_AUTHTOK_REQD,
        Outcome::CredentialRefused => PamResultCode::PAM_AUTHTOK_ERR,
        Outcome::ProtectLocked => PamResultCode::PAM_AUTH_ERR,
    }
}

/// A pam.d line the module cannot run: one `config_error` event naming the service (and the user
/// and rhost when the application set them; the user is not asked for), and `PAM_SERVICE_ERR`.
fn line_error(pamh: &PamHandle, message: &str) -> PamResultCode {
    let item = |v: Option<&CStr>| {
        v.map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let service = item(pamh.get_item::<Service>().ok().flatten().map(|s| s.0));
    let rhost = item(pamh.get_item::<RHost>().ok().flatten().map(|s| s.0));
    let user = item(pamh.get_item::<User>().ok().flatten().map(|s| s.0));
    // The glue is where the clock is read.
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    SystemAudit::new(None).event(
        &Event::new(EventName::ConfigError, &user, &service, &rhost).with("error", message),
        now,
    );
    PamResultCode::PAM_SERVICE_ERR
}

fn run(pamh: &mut PamHandle, raw_args: &[&CStr], flags: PamFlag, hook: Hook) -> PamResultCode {
    let parsed = raw_args
        .iter()
        .map(|a| {
            a.to_str()
                .map_err(|_| "a module argument is not UTF-8".to_string())
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|a| args::parse(a.iter().copied()));
    let args = match parsed {
        Ok(a) => a,
        Err(e) => {
            return line_error(pamh, &format!("pam.d line: {e}"));
        }
    };
    let phase = match (hook, args.auth_phase) {
        (Hook::Auth, Some(AuthPhase::Preauth)) => Phase::Preauth,
        (Hook::Auth, Some(AuthPhase::Authfail)) => Phase::Authfail,
        (Hook::Auth, Some(AuthPhase::Ticket)) => Phase::Ticket,
        (Hook::Auth, None) => {
            return line_error(
                pamh,
                "pam.d auth line: add one of preauth, authfail, ticket",
            );
        }
        (_, Some(_)) => {
            return line_error(
                pamh,
                "pam.d line: preauth/authfail/ticket belong on auth lines only",
            );
        }
        (Hook::Account | Hook::OpenSession | Hook::CloseSession, None) if args.commit => {
            return line_error(pamh, "pam.d line: commit belongs on a password line only");
        }
        // The commit line has nothing to do in the first pass: nothing was changed yet.
        (Hook::Password, None) if args.commit && flags & PAM_PRELIM_CHECK != 0 => {
            return PamResultCode::PAM_IGNORE;
        }
        (Hook::Password, None) if args.commit => Phase::PasswordCommit,
        (Hook::Account, None) => Phase::Account,
        (Hook::Password, None) if flags & PAM_PRELIM_CHECK != 0 => Phase::PasswordPrelim,
        (Hook::Password, None) => Phase::Password,
        (Hook::OpenSession, None) => Phase::SessionOpen,
        (Hook::CloseSession, None) => Phase::SessionClose,
    };
    let user = match pamh.get_user(None) {
        Ok(u) => u,
        Err(code) => return code,
    };
    let item = |v: Option<&CStr>| {
        v.map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let service = item(pamh.get_item::<Service>().ok().flatten().map(|s| s.0));
    let rhost = item(pamh.get_item::<RHost>().ok().flatten().map(|s| s.0));
    let tty = item(pamh.get_item::<Tty>().ok().flatten().map(|s| s.0));
    let authenticated = ffi::get_data(pamh, &AUTH_OK).is_some_and(|u| *u == user);
    let login = Login {
        user: &user,
        service: &service,
        rhost: &rhost,
        tty: &tty,
        silent: flags & PAM_SILENT != 0,
        privileged: nix::unistd::geteuid().is_root(),
        credential: args.credential,
        real_uid: nix::unistd::getuid().as_raw(),
        pid: nix::unistd::getpid().as_raw(),
        authenticated,
    };
    // The glue is where the clock is read; everything below takes `now`.
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let config_path = gate::config_path(args.config.as_deref());
    let checked = |path: &Path| {
        ffi::get_data(pamh, &CHECKED).is_some_and(|paths| paths.iter().any(|p| p == path))
    };
    let config = Config::load_shared_with(&config_path, checked(&config_path));
    if config.is_ok() && !checked(&config_path) {
        remember_checked(pamh, config_path);
    }
    let outcome = {
        let world = PamWorld {
            login: (user.clone(), service.clone(), rhost.clone(), now),
            pamh: RefCell::new(&mut *pamh),
        };
        match &config {
            Ok(config) => gate::run(phase, config, &login, &world, now),
            Err(e) => gate::config_broken(phase, e, &login, &world, now),
        }
    };
    if args.debug {
        SystemAudit::debug(&format!(
            "phase={phase:?} user={} service={} outcome={outcome:?}",
            audit::quoted_user(&user),
            audit::quote(&service)
        ));
    }
    if phase == Phase::Ticket && outcome == Outcome::Allowed && !ffi::set_data(pamh, &AUTH_OK, user)
    {
        return PamResultCode::PAM_SYSTEM_ERR;
    }
    pam_code(outcome)
}

/// Notes that `path`'s directories passed the trust walk in this login (only a saving: a handle
/// that cannot keep it walks again next time).
fn remember_checked(pamh: &mut PamHandle, path: PathBuf) {
    let mut paths = ffi::get_data(pamh, &CHECKED).cloned().unwrap_or_default();
    paths.push(path);
    ffi::set_data(pamh, &CHECKED, paths);
}

/// A reply or token as a `Secret`, when it is UTF-8. Checked in place, so the only copy made is
/// the one the `Secret` owns and zeroes (`String::from_utf8` of a copy would drop a rejected
/// copy without zeroing it).
fn secret_text(bytes: &[u8]) -> Option<Secret> {
    std::str::from_utf8(bytes)
        .ok()
        .map(|text| Secret::new(text.to_string()))
}

/// The real world: files, NSS, syslog, and this PAM handle's conversation.
struct PamWorld<'h> {
    pamh: RefCell<&'h mut PamHandle>,
    /// User, service and rhost of this login and its `now`, for the audit sink's error lines.
    login: (String, String, String, i64),
}

impl World for PamWorld<'_> {
    fn store(&self, state_dir: &Path) -> Result<Box<dyn StateStore + '_>, StoreError> {
        let checked = self.pamh.try_borrow().is_ok_and(|pamh| {
            ffi::get_data(&pamh, &CHECKED).is_some_and(|paths| paths.iter().any(|p| p == state_dir))
        });
        if checked {
            return Ok(Box::new(FileStore::reopen(state_dir)?));
        }
        let store = FileStore::open(state_dir)?;
        if let Ok(mut pamh) = self.pamh.try_borrow_mut() {
            remember_checked(&mut pamh, state_dir.to_path_buf());
        }
        Ok(Box::new(store))
    }

    fn audit(&self, audit_file: Option<&Path>) -> Box<dyn AuditSink + '_> {
        let (user, service, rhost, now) = &self.login;
        Box::new(SystemAudit::for_login(
            audit_file.map(Path::to_path_buf),
            user,
            service,
            rhost,
            *now,
        ))
    }

    fn directory(&self) -> &dyn Directory {
        self
    }

    fn host(&self) -> HostNames {
        HostNames::of_this_host()
    }

    fn conversation(&self) -> &dyn Conversation {
        self
    }

    fn ticket_system(&self, config: &Config) -> Box<dyn TicketSource + '_> {
        Box::new(NetTicketSource {
            config_path: config.path.clone(),
        })
    }

    fn protect_server(
        &self,
        config: &Config,
        protect: &Protect,
    ) -> Result<Box<dyn ProtectServer + '_>, ConfigError> {
        Ok(Box::new(HttpServer::connect(&config.path, protect)?))
    }

    fn fleet_server(
        &self,
        config: &Config,
        fleet: &Fleet,
    ) -> Result<Box<dyn FleetServer + '_>, ConfigError> {
        Ok(Box::new(HttpFleet::connect(&config.path, fleet)?))
    }

    fn run_files(&self, module: &ModuleSettings) -> Box<dyn RunFiles + '_> {
        Box::new(Files::new(module))
    }
}

/// NSS, with the account lookup remembered in this handle for the next line of the same login
/// (asked again when `PAM_USER` changed in between).
impl Directory for PamWorld<'_> {
    fn lookup(&self, user: &str) -> Result<Option<nss_helper::Account>, DirectoryError> {
        if let Ok(pamh) = self.pamh.try_borrow()
            && let Some((asked, answer)) = ffi::get_data(&pamh, &ACCOUNT)
            && asked == user
        {
            return Ok(answer.clone());
        }
        let answer = Nss.lookup(user)?;
        if let Ok(mut pamh) = self.pamh.try_borrow_mut() {
            // Only a saving: a handle that cannot keep it asks NSS again next time.
            ffi::set_data(&mut pamh, &ACCOUNT, (user.to_string(), answer.clone()));
        }
        Ok(answer)
    }

    fn groups(&self, account: &nss_helper::Account) -> Result<Vec<String>, DirectoryError> {
        Nss.groups(account)
    }

    fn shadow(&self, user: &str) -> Result<Option<crate::directory::Shadow>, DirectoryError> {
        Nss.shadow(user)
    }

    fn is_local(&self, user: &str) -> Result<bool, DirectoryError> {
        Nss.is_local(user)
    }
}

impl PamWorld<'_> {
    fn send(&self, style: PamMessageStyle, message: &str) -> Option<Secret> {
        let pamh = self.pamh.try_borrow().ok()?;
        let conv = pamh.get_item::<Conv>().ok()??;
        let reply = conv.send(style, message).ok()??;
        secret_text(reply.as_bytes())
    }
}

impl Conversation for PamWorld<'_> {
    fn error(&self, message: &str) {
        self.send(PAM_ERROR_MSG, message);
    }

    fn info(&self, message: &str) {
        self.send(PAM_TEXT_INFO, message);
    }

    fn prompt(&self, message: &str, echo: bool) -> Option<Secret> {
        self.send(
            if echo {
                PAM_PROMPT_ECHO_ON
            } else {
                PAM_PROMPT_ECHO_OFF
            },
            message,
        )
    }

    fn putenv(&self, name_value: &str) -> bool {
        self.pamh
            .try_borrow_mut()
            .is_ok_and(|mut pamh| ffi::putenv(&mut pamh, name_value))
    }

    fn authtok(&self) -> Option<Secret> {
        let pamh = self.pamh.try_borrow().ok()?;
        let tok = pamh.get_item::<AuthTok>().ok()??;
        secret_text(tok.as_bytes())
    }

    fn set_authtok(&self, token: &Secret) -> bool {
        self.pamh
            .try_borrow_mut()
            .is_ok_and(|mut pamh| ffi::set_authtok(&mut pamh, token.expose()))
    }

    fn getenv(&self, name: &str) -> Option<String> {
        let mut pamh = self.pamh.try_borrow_mut().ok()?;
        ffi::getenv(&mut pamh, name)
    }

    fn old_authtok(&self) -> Option<Secret> {
        let pamh = self.pamh.try_borrow().ok()?;
        let tok = pamh.get_item::<OldAuthTok>().ok()??;
        secret_text(tok.as_bytes())
    }

    fn keep_pending(&self, change: PendingChange) -> bool {
        self.pamh
            .try_borrow_mut()
            .is_ok_and(|mut pamh| ffi::set_data(&mut pamh, &PENDING, Some(change)))
    }

    fn take_pending(&self) -> Option<PendingChange> {
        let mut pamh = self.pamh.try_borrow_mut().ok()?;
        let change = ffi::get_data(&pamh, &PENDING)?.clone()?;
        // Used up: a second commit line in the same handle records nothing.
        ffi::set_data(&mut pamh, &PENDING, None).then_some(change)
    }

    fn keep_fleet(&self, seen: FleetSeen) -> bool {
        self.pamh
            .try_borrow_mut()
            .is_ok_and(|mut pamh| ffi::set_data(&mut pamh, &FLEET, seen))
    }

    fn fleet_seen(&self) -> Option<FleetSeen> {
        let pamh = self.pamh.try_borrow().ok()?;
        ffi::get_data(&pamh, &FLEET).cloned()
    }

    fn keep_report_refused(&self, user: &str) -> bool {
        self.pamh
            .try_borrow_mut()
            .is_ok_and(|mut pamh| ffi::set_data(&mut pamh, &REPORT_REFUSED, user.to_string()))
    }

    fn report_refused(&self) -> Option<String> {
        let pamh = self.pamh.try_borrow().ok()?;
        ffi::get_data(&pamh, &REPORT_REFUSED).cloned()
    }

    fn fail_delay(&self, delay: Duration) {
        let micros = u32::try_from(delay.as_micros()).unwrap_or(u32::MAX);
        if let Ok(mut pamh) = self.pamh.try_borrow_mut() {
            ffi::fail_delay(&mut pamh, micros);
        }
    }
}
