//! `--json` output for scripts: the same facts as the text, times as RFC 3339 UTC
//! (`2026-12-02T11:00:36Z`), counts and limits as numbers, an absent fact as `null`.

use serde_json::{Value, json};

use pam_ticketgate::args::Credential;
use pam_ticketgate::config::{Config, Scope};
use pam_ticketgate::directory::{Directory, Nss};
use pam_ticketgate::lifecycle;
use pam_ticketgate::lockout::{self, Lock};
use pam_ticketgate::session::SessionRecord;
use pam_ticketgate::store::{Attempt, FileStore, Record, StateStore};
use pam_ticketgate::ticket::breakglass::CodeInfo;
use pam_ticketgate::timefmt::rfc3339;
use pam_ticketgate::user::UserName;

fn attempt(a: Option<&Attempt>) -> Value {
    a.map_or(
        Value::Null,
        |a| json!({"at": rfc3339(a.at), "service": a.service, "rhost": a.rhost}),
    )
}

fn time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

fn lock(lock: Option<Lock>) -> Value {
    match lock {
        None => Value::Null,
        Some(l) if !lockout::is_plausible(&l) => json!({"kind": "corrupt"}),
        Some(Lock::Admin { since }) => json!({"kind": "admin", "since": rfc3339(since)}),
        Some(Lock::Inactive { since }) => json!({"kind": "inactive", "since": rfc3339(since)}),
        Some(Lock::Hack { since, until }) => {
            json!({"kind": "failed_logons", "since": rfc3339(since), "until": time(until)})
        }
    }
}

/// One user's status as `ticketgate status --json` prints it.
pub fn status(
    config: &Config,
    store: &FileStore,
    user: &UserName,
    record: Option<&Record>,
    now: i64,
) -> Value {
    let default = Record::default();
    let record = record.unwrap_or(&default);
    let account = Nss.lookup(user.as_str()).ok().flatten();
    let host = pam_ticketgate::scope::HostNames::of_this_host();
    let scope =
        pam_ticketgate::scope::select(config, user.as_str(), account.as_ref(), None, &host, &Nss)
            .ok()
            .flatten();
    let outside = match Nss.shadow(user.as_str()) {
        Ok(Some(shadow)) => lifecycle::Outside {
            last_change: shadow.last_change(),
            must_change: shadow.must_change(),
        },
        _ => lifecycle::Outside::default(),
    };
    let credential = |which: Credential| {
        let state = lifecycle::credential(record, which);
        let policy = scope.map(|s: &Scope| match which {
            Credential::Password => &s.policy,
            Credential::Pin => &s.pin_policy,
        });
        let outside = match which {
            Credential::Password => outside,
            Credential::Pin => lifecycle::Outside::default(),
        };
        json!({
            "lock": lock(lockout::current_lock(record, which, now)),
            "failures": policy.map_or(state.failures.len(), |p| {
                lockout::failures_in_window(record, which, p, now)
            }),
            "limit": policy.map(|p| p.failed_logon),
            "last_failure": attempt(state.last_failure.as_ref()),
            "last_change": time(state.last_change.or(outside.last_change)),
            "must_change": state.must_change || outside.must_change,
            "expires": time(policy.and_then(|p| {
                lifecycle::expires_at(state, record.first_seen, &outside, p)
            })),
        })
    };
    let locked = [Credential::Password, Credential::Pin]
        .into_iter()
        .any(|c| lockout::current_lock(record, c, now).is_some());
    json!({
        "user": user.as_str(),
        "known": account.is_some(),
        "scope": scope.map(|s| s.index),
        "locked": locked,
        "password": credential(Credential::Password),
        "pin": credential(Credential::Pin),
        "last_success": attempt(store.last_success(user).as_ref()),
        "first_seen": time(record.first_seen),
    })
}

/// One session as `ticketgate sessions --json` prints it.
pub fn session(s: &SessionRecord) -> Value {
    json!({
        "user": s.user,
        "pid": s.pid,
        "service": s.service,
        "tty": s.tty,
        "rhost": s.rhost,
        "ticket": s.ticket,
        "start": rfc3339(s.start),
    })
}

/// One break-glass code as `ticketgate breakglass list --json` prints it (never the code).
pub fn code(c: &CodeInfo) -> Value {
    json!({"created": rfc3339(c.created), "used": time(c.used)})
}

/// Prints `value` as one line of JSON.
pub fn print(value: &Value) {
    println!("{value}");
}
