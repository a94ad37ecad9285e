//! `ticketgate-server lock|unlock|reset|status [USER]`: the fleet's state, changed and shown
//! fleet-wide through the same store the server uses. Each change is logged with the operator.
//!
//! Exit statuses as the module's `ticketgate`: 0 ok, 1 refused (the store failed), 2 usage
//! (a bad user name), 4 configuration broken (including no `[fleet]`).

use super::{
    FleetPolicy, FleetStore, Reason, Record, State, UserStatus, user_status, window_start,
};
use crate::audit::{self, Event, Sink};
use crate::clock::{Clock, SystemClock, since_epoch};
use crate::config::Config;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A failed command: exit status and message.
pub type Failure = (u8, String);

/// The fleet store the server uses: `store = "postgres"` opens the shared database (so a change
/// holds on every replica at once), else `fleet.sqlite3` in `data_dir`.
fn store(config: &Config) -> Result<(FleetPolicy, Box<dyn FleetStore>), Failure> {
    let Some(policy) = config.fleet else {
        return Err((
            4,
            "fleet mode is not configured: add a [fleet] table to the server's config".into(),
        ));
    };
    let protect = crate::store::open(config).map_err(|e| (1, e.to_string()))?;
    let (store, _) =
        super::open(&config.data_dir, protect.as_ref()).map_err(|e| (1, e.to_string()))?;
    Ok((policy, store))
}

fn user_ok(user: &str) -> Result<(), Failure> {
    if user.is_empty()
        || user.len() > crate::api::MAX_FIELD_LEN
        || user.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err((
            2,
            format!("user {user:?} must be 1-256 bytes without spaces or control characters"),
        ));
    }
    Ok(())
}

/// The invoking administrator: `SUDO_USER`, else the name of the real uid.
pub fn operator() -> String {
    if let Ok(name) = std::env::var("SUDO_USER")
        && !name.is_empty()
    {
        return name;
    }
    // SAFETY: getuid takes no arguments, touches no memory we own and cannot fail (POSIX).
    let uid = unsafe { libc::getuid() };
    uid_name(uid).unwrap_or_else(|| format!("uid:{uid}"))
}

fn uid_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is a plain C struct of integers and pointers; all-zero is a valid value
    // that getpwuid_r overwrites.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local of the right type, and buf's length is passed,
    // so getpwuid_r writes only inside them.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside buf, alive here.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

fn epoch(now: SystemTime) -> i64 {
    i64::try_from(since_epoch(now).as_secs()).unwrap_or(i64::MAX)
}

fn time_text(t: i64) -> String {
    audit::rfc3339(UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0)))
}

fn log(event: Event) {
    // The server's own log format, on standard error (the journal when run by systemd).
    event.emit(&audit::Stderr as &dyn Sink);
}

/// `lock USER`.
pub fn lock(config: &Config, user: &str) -> Result<(), Failure> {
    user_ok(user)?;
    let (_, store) = store(config)?;
    let now = SystemClock.now();
    let by = operator();
    match store
        .lock(user, &by, epoch(now))
        .map_err(|e| (1, e.to_string()))?
    {
        None => {
            log(Event::new("fleet_lock", now)
                .field("reason", Reason::Admin.as_str())
                .field("user", user)
                .field("operator", &by));
            println!(
                "Locked {user} on every host of the fleet until `ticketgate-server unlock {user}`."
            );
        }
        Some(since) => println!("{user} was already locked since {}.", time_text(since)),
    }
    Ok(())
}

/// `unlock USER`.
pub fn unlock(config: &Config, user: &str) -> Result<(), Failure> {
    user_ok(user)?;
    let (_, store) = store(config)?;
    let now = SystemClock.now();
    let by = operator();
    if store.unlock(user).map_err(|e| (1, e.to_string()))? {
        log(Event::new("fleet_unlock", now)
            .field("user", user)
            .field("operator", &by));
        println!("Unlocked {user} on every host of the fleet; its failures are forgotten.");
    } else {
        println!("{user} had no fleet lock and no failures; nothing changed.");
    }
    Ok(())
}

/// `reset USER`.
pub fn reset(config: &Config, user: &str) -> Result<(), Failure> {
    user_ok(user)?;
    let (_, store) = store(config)?;
    let now = SystemClock.now();
    let by = operator();
    if store.reset(user).map_err(|e| (1, e.to_string()))? {
        log(Event::new("fleet_reset", now)
            .field("user", user)
            .field("operator", &by));
        println!("Forgot {user}'s fleet failures and failures locks (an admin lock stays).");
    } else {
        println!("{user} had no fleet failures; nothing changed.");
    }
    Ok(())
}

/// `status [USER] [--json]`.
pub fn status(config: &Config, user: Option<&str>, json: bool) -> Result<(), Failure> {
    if let Some(u) = user {
        user_ok(u)?;
    }
    let (policy, store) = store(config)?;
    let now = epoch(SystemClock.now());
    let db = |e: super::FleetError| (1, e.to_string());
    let users = match user {
        Some(u) => vec![u.to_owned()],
        None => store.listed(now, window_start(now, &policy)).map_err(db)?,
    };
    let mut all = Vec::with_capacity(users.len());
    for u in &users {
        all.push(user_status(store.as_ref(), u).map_err(db)?);
    }
    if json {
        let value = serde_json::json!({
            "users": all.iter().map(|s| status_json(s, now, &policy)).collect::<Vec<_>>()
        });
        println!("{value}");
    } else {
        print!("{}", status_table(&all, now, &policy));
    }
    Ok(())
}

fn admin_of(s: &UserStatus) -> Option<&Record> {
    s.records
        .first()
        .map(|(_, r)| r)
        .filter(|r| r.admin_since.is_some())
}

/// One user as JSON: `{"user", "admin_lock": {"since","by"}|null, "credentials": {...}}`.
pub fn status_json(s: &UserStatus, now: i64, policy: &FleetPolicy) -> serde_json::Value {
    let mut credentials = serde_json::Map::new();
    for (c, r) in &s.records {
        let mut v = State::of(r, now, policy).to_json();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("last_failure".into(), serde_json::json!(r.last_failure));
            obj.insert("lock_host".into(), serde_json::json!(r.lock_host));
        }
        credentials.insert(c.as_str().into(), v);
    }
    serde_json::json!({
        "user": s.user,
        "admin_lock": admin_of(s).map(|r| serde_json::json!({"since": r.admin_since, "by": r.admin_by})),
        "credentials": credentials,
    })
}

/// The human table of `status`.
pub fn status_table(all: &[UserStatus], now: i64, policy: &FleetPolicy) -> String {
    let mut out = format!(
        "{:<24} {:<10} {:<56} {:>8} LAST FAILURE (UTC)\n",
        "USER", "CREDENTIAL", "STATE", "FAILURES"
    );
    for s in all {
        for (c, r) in &s.records {
            let state = State::of(r, now, policy);
            let text = match state.reason {
                None => "not locked".to_owned(),
                Some(Reason::Admin) => format!(
                    "locked by {} since {}",
                    r.admin_by.as_deref().unwrap_or("?"),
                    time_text(r.admin_since.unwrap_or(0))
                ),
                Some(Reason::Failures) => format!(
                    "locked (failures via {}) {}",
                    r.lock_host.as_deref().unwrap_or("?"),
                    state.until.map_or_else(
                        || "until unlocked".to_owned(),
                        |u| format!("until {}", time_text(u))
                    )
                ),
            };
            out.push_str(&format!(
                "{:<24} {:<10} {:<56} {:>8} {}\n",
                s.user,
                c.as_str(),
                text,
                state.failures,
                r.last_failure.map_or_else(|| "never".to_owned(), time_text)
            ));
        }
    }
    if all.is_empty() {
        out.push_str("no user has fleet failures or a fleet lock\n");
    }
    out
}
