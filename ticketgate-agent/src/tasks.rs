//! Running one task on this host: the password tasks through `chpasswd` and libcrypt, the
//! others through the same library code as the `ticketgate` CLI (`pam_ticketgate::admin`).

use std::time::Duration;

use pam_ticketgate::admin::{self, Action, AdminError};
use pam_ticketgate::args::Credential;
use pam_ticketgate::audit::AuditSink;
use pam_ticketgate::config::{Config, TaskKind};
use pam_ticketgate::directory::{Directory, Nss};
use pam_ticketgate::lifecycle;
use pam_ticketgate::scope::{self, HostNames};
use pam_ticketgate::secret::Secret;
use pam_ticketgate::store::{FileStore, StateStore};

use crate::crypt::{self, Verdict};
use crate::wire::{Status, Task};

/// The service name the agent's changes are audited under (and the PAM service chpasswd uses).
pub const SERVICE: &str = "ticketgate-agent";
/// Between SIGHUP+SIGTERM and SIGKILL for `terminate` (as `ticketgate terminate`'s default).
pub const GRACE: Duration = Duration::from_secs(5);

/// What a task needs of the host.
pub struct Host<'a> {
    pub config: &'a Config,
    pub audit: &'a dyn AuditSink,
    /// One log line (standard error and syslog).
    pub log: &'a dyn Fn(&str),
}

/// Runs `task` (allowed, not expired, never run before) and says how it ended. The detail
/// never holds the password.
pub fn run(host: &Host, task: &Task, now: i64) -> (Status, String) {
    let (user, account) = match admin::known_user(&Nss, &task.user) {
        Ok(found) => found,
        Err(AdminError::UnknownUser(_) | AdminError::BadName { .. }) => {
            return (Status::Refused, "unknown_user".into());
        }
        Err(e) => return (Status::Failed, format!("user lookup: {e}")),
    };
    let action = |a: Action| match FileStore::open(&host.config.module.state_dir)
        .map_err(AdminError::from)
        .and_then(|store| {
            admin::apply(
                &store,
                &Nss,
                host.audit,
                user.as_str(),
                a,
                (SERVICE, SERVICE),
                now,
            )
        }) {
        Ok(_) => (Status::Done, a.done().to_string()),
        Err(e) => (Status::Failed, e.to_string()),
    };
    match task.kind {
        TaskKind::Lock => action(Action::Lock),
        TaskKind::Unlock => action(Action::Unlock),
        TaskKind::MustChange => action(Action::MustChange(Credential::Password)),
        TaskKind::Terminate => {
            match admin::terminate(host.config, host.audit, user.as_str(), GRACE, now) {
                Ok(ended) => (Status::Done, format!("{} session(s) ended", ended.len())),
                Err(e) => (Status::Failed, e.to_string()),
            }
        }
        TaskKind::VerifyPassword => match &task.password {
            Some(p) => verify(host, user.as_str(), p),
            None => (Status::Refused, "bad_task".into()),
        },
        TaskKind::ResetPassword => match &task.password {
            Some(p) => reset(host, &user, &account, p, now),
            None => (Status::Refused, "bad_task".into()),
        },
    }
}

/// `verify_password`: `match` or `mismatch` against the shadow hash.
fn verify(host: &Host, user: &str, password: &Secret) -> (Status, String) {
    let shadow = match Nss.shadow(user) {
        Ok(Some(s)) => s,
        Ok(None) => return (Status::Failed, "no shadow entry".into()),
        Err(e) => return (Status::Failed, e.to_string()),
    };
    match crypt::verify(password, shadow.hash.expose()) {
        Verdict::Match => (Status::Done, "match".into()),
        Verdict::Mismatch => (Status::Done, "mismatch".into()),
        Verdict::Locked => {
            (host.log)(&format!(
                "verify_password {}: the account's password is locked (its hash starts with ! or *): mismatch",
                pam_ticketgate::audit::quoted_user(user)
            ));
            (Status::Done, "mismatch".into())
        }
        Verdict::Empty => {
            (host.log)(&format!(
                "verify_password {}: the account has no password (empty hash): mismatch",
                pam_ticketgate::audit::quoted_user(user)
            ));
            (Status::Done, "mismatch".into())
        }
        Verdict::Unusable => (
            Status::Failed,
            "the shadow hash's method is unknown to libcrypt".into(),
        ),
    }
}

/// `reset_password`: the host's password rules, chpasswd, then the module's bookkeeping
/// (unless the module's own `commit` line in chpasswd's PAM stack recorded it already).
fn reset(
    host: &Host,
    user: &pam_ticketgate::user::UserName,
    account: &pam_ticketgate::directory::Account,
    password: &Secret,
    now: i64,
) -> (Status, String) {
    let names = HostNames::of_this_host();
    let scope = match scope::select(
        host.config,
        user.as_str(),
        Some(account),
        Some("chpasswd"),
        &names,
        &Nss,
    ) {
        Ok(s) => s,
        Err(e) => return (Status::Failed, e.to_string()),
    };
    let store = match FileStore::open(&host.config.module.state_dir) {
        Ok(s) => s,
        Err(e) => return (Status::Failed, e.to_string()),
    };
    let before = match store.load(user) {
        Ok(r) => r,
        Err(e) => return (Status::Failed, e.to_string()),
    };
    if let Some(scope) = scope
        && let Err(v) = admin::check_new_password(password, &scope.policy, account, before.as_ref())
    {
        return (Status::Failed, v.rule.to_string());
    }
    if let Err(why) = crate::chpasswd::set(user.as_str(), password) {
        // chpasswd's own words (its PAM stack's messages) stay in this host's log: a module in
        // that stack is not ours, and the result goes to the server and the audit file.
        (host.log)(&format!(
            "reset_password {}: {why}",
            pam_ticketgate::audit::quoted_user(user.as_str())
        ));
        return (
            Status::Failed,
            "chpasswd_failed: see the agent's log on the host".into(),
        );
    }
    let Some(scope) = scope else {
        return (Status::Done, "password set".into());
    };
    let changed = |r: Option<&pam_ticketgate::store::Record>| {
        r.and_then(|r| lifecycle::credential(r, Credential::Password).last_change)
    };
    let after = store.load(user).ok().flatten();
    if changed(after.as_ref()) != changed(before.as_ref()) {
        // The module's password and commit lines cover chpasswd: they recorded it.
        return (Status::Done, "password set".into());
    }
    match admin::record_password_change(
        &store,
        host.audit,
        user,
        password,
        &scope.policy,
        SERVICE,
        now,
    ) {
        Ok(()) => (Status::Done, "password set".into()),
        Err(e) => (
            Status::Failed,
            format!("password set, but not recorded: {e}"),
        ),
    }
}
