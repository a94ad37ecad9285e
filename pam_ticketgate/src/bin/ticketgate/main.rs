//! `ticketgate`: the administrator's CLI (like `faillock`). It reuses the module's config parser,
//! state store, lockout rules and audit, so what it shows is what the module decides.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;

mod check;
mod cli;
mod error;
mod fleet_cmd;
mod json;
mod protect_cmd;
mod report;
mod sessions;
mod ticket_cli;

use cli::{Cli, Command, OfflinePinAction};
use error::CliError;

use pam_ticketgate::admin::{self, Action};
use pam_ticketgate::args::Credential;
use pam_ticketgate::audit::SystemAudit;
use pam_ticketgate::config::{Config, format_duration};
use pam_ticketgate::directory::{Directory, Nss};
use pam_ticketgate::lifecycle;
use pam_ticketgate::lockout::{self, Lock};
use pam_ticketgate::scope::{self, HostNames};
use pam_ticketgate::store::{FileStore, Record, StateStore};
use pam_ticketgate::timefmt::utc;
use pam_ticketgate::user::UserName;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ticketgate: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// The CLI's one reading of the clock; the library takes `now`.
#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn run(cli: &Cli) -> Result<(), CliError> {
    if let Command::CheckConfig {
        path,
        pam_dir,
        json,
    } = &cli.command
    {
        return check::check_config(path.as_ref().unwrap_or(&cli.config), pam_dir, *json);
    }
    // The audit file may be readable by an auditor who is not root (a log group).
    if let Command::Report { since, json } = &cli.command {
        let config = Config::load(&cli.config)?;
        return report::report(&config, since, *json, now());
    }
    // Everything else reads state, secrets or run files that only root can read: say so, not
    // "Permission denied (os error 13)".
    if !nix::unistd::geteuid().is_root() {
        return Err(CliError::NeedsRoot(
            "this command needs root (it reads state, secrets or run files only root can read)",
        ));
    }
    let config = Config::load(&cli.config)?;
    let audit = SystemAudit::new(config.module.audit_file.clone());
    let now = now();
    if let Command::TestProtect { user, service_id } = &cli.command {
        // Changes nothing here and uses no unlock up on the server.
        return protect_cmd::test_protect(&config, &canonical_name(user), service_id.as_deref());
    }
    if let Command::Status { user, locked, json } = &cli.command {
        let user = user.as_deref().map(parse_user).transpose()?;
        // Looking never creates anything: no state directory means no state.
        let Some(store) = FileStore::open_existing(&config.module.state_dir)? else {
            // No local state, but the fleet may hold some.
            let fleet = user.as_ref().and_then(|u| fleet_cmd::ask(&config, u));
            if let (Some(f), Some(u)) = (&fleet, &user) {
                if *json {
                    json::print(&serde_json::json!({"user": u.as_str(), "fleet": f.json()}));
                } else {
                    println!(
                        "{u}: no local state in {}",
                        config.module.state_dir.display()
                    );
                    print!("{}", f.text());
                }
            } else if *json {
                json::print(&serde_json::Value::Array(Vec::new()));
            } else {
                println!("no user has state in {}", config.module.state_dir.display());
            }
            return fleet.map_or(Ok(()), fleet_cmd::FleetStatus::result);
        };
        let show = Show {
            locked_only: *locked,
            json: *json,
        };
        return show_status(&config, &store, user.as_ref(), show, now);
    }
    let store = FileStore::open(&config.module.state_dir)?;
    match &cli.command {
        Command::Status { .. } | Command::CheckConfig { .. } | Command::Report { .. } => Ok(()),
        Command::Reset { user } => change(&store, &audit, user, Action::Reset, now),
        Command::Lock { user } => change(&store, &audit, user, Action::Lock, now),
        Command::Unlock { user } => change(&store, &audit, user, Action::Unlock, now),
        Command::MustChange { user, pin } => {
            let which = if *pin {
                Credential::Pin
            } else {
                Credential::Password
            };
            change(&store, &audit, user, Action::MustChange(which), now)
        }
        Command::Sessions { user, json } => sessions::list(
            &config,
            user.as_deref().map(canonical_name).as_deref(),
            *json,
        ),
        Command::Terminate { user, grace } => sessions::terminate(
            &config,
            &audit,
            &canonical_name(user),
            std::time::Duration::from_secs(*grace),
            now,
        ),
        Command::TestTicket {
            user,
            host,
            id,
            json,
        } => ticket_cli::test_ticket(&config, user, host.as_deref(), id, *json, now),
        Command::Breakglass { action } => ticket_cli::breakglass(&config, &audit, action, now),
        Command::Protect { action } => {
            protect_cmd::switch_protect(&config, &audit, action == "disable", now)
        }
        Command::TestProtect { .. } => Ok(()),
        Command::OfflinePin {
            action: OfflinePinAction::Set { user },
        } => protect_cmd::set_offline_pin(&config, &audit, &canonical_name(user), now),
        Command::OfflinePin {
            action: OfflinePinAction::Remove { user },
        } => protect_cmd::remove_offline_pin(&config, &audit, &canonical_name(user), now),
    }
}

/// How `status` shows what it finds.
#[derive(Clone, Copy)]
struct Show {
    /// Only the users locked now.
    locked_only: bool,
    json: bool,
}

/// `status [USER]`: one user's state, or every user's that has state.
fn show_status(
    config: &Config,
    store: &FileStore,
    user: Option<&UserName>,
    show: Show,
    now: i64,
) -> Result<(), CliError> {
    if let Some(user) = user {
        let record = store.load(user)?;
        // Beside the local state, the fleet's (when the user's scope shares it).
        let fleet = fleet_cmd::ask(config, user);
        if show.json {
            let mut shown = json::status(config, store, user, record.as_ref(), now);
            if let Some(map) = shown.as_object_mut() {
                map.insert(
                    "fleet".into(),
                    fleet
                        .as_ref()
                        .map_or(serde_json::Value::Null, fleet_cmd::FleetStatus::json),
                );
            }
            json::print(&shown);
        } else {
            print!("{}", status(config, store, user, record.as_ref(), now));
            if let Some(f) = &fleet {
                print!("{}", f.text());
            }
        }
        return fleet.map_or(Ok(()), fleet_cmd::FleetStatus::result);
    }
    let users = store.users()?;
    if users.is_empty() && !show.json {
        println!("no user has state in {}", config.module.state_dir.display());
    }
    let mut shown = Vec::new();
    for user in users {
        match store.load(&user) {
            Ok(record) => {
                if show.locked_only && !record.as_ref().is_some_and(|r| is_locked(r, now)) {
                    continue;
                }
                if show.json {
                    shown.push(json::status(config, store, &user, record.as_ref(), now));
                } else {
                    print!("{}", status(config, store, &user, record.as_ref(), now));
                    shown.push(serde_json::Value::Null);
                }
            }
            // A record that cannot be read keeps the account locked (fail closed).
            Err(e) if show.json => shown.push(serde_json::json!({
                "user": user.as_str(),
                "locked": true,
                "error": e.to_string(),
            })),
            Err(e) => {
                println!("{user}: {e}");
                shown.push(serde_json::Value::Null);
            }
        }
    }
    if show.json {
        json::print(&serde_json::Value::Array(shown));
    } else if show.locked_only && shown.is_empty() {
        println!("no user is locked");
    }
    Ok(())
}

/// Locked now for any credential (an admin or inactivity lock, or a hack lock of either).
fn is_locked(record: &Record, now: i64) -> bool {
    [Credential::Password, Credential::Pin]
        .into_iter()
        .any(|c| lockout::current_lock(record, c, now).is_some())
}

/// An account NSS knows, under the name it answers with.
fn known_user(name: &str) -> Result<(UserName, pam_ticketgate::directory::Account), CliError> {
    Ok(admin::known_user(&Nss, name)?)
}

/// The account as the module stores it: the name NSS answers for `name` (a directory may
/// fold case or add a domain), or `name` itself when NSS does not know it (its state can still
/// be shown and reset).
fn parse_user(name: &str) -> Result<UserName, CliError> {
    let canonical = canonical_name(name);
    UserName::parse(&canonical).map_err(|why| CliError::BadName {
        name: name.to_string(),
        why,
    })
}

fn canonical_name(name: &str) -> String {
    match Nss.lookup(name) {
        Ok(Some(account)) => account.name,
        _ => name.to_string(),
    }
}

/// `reset`, `lock`, `unlock`, `must-change`: the library's operation, then one line saying
/// what it did.
fn change(
    store: &FileStore,
    audit: &SystemAudit,
    user: &str,
    action: Action,
    now: i64,
) -> Result<(), CliError> {
    let operator = std::env::var("SUDO_USER").unwrap_or_else(|_| "root".into());
    let applied = admin::apply(
        store,
        &Nss,
        audit,
        user,
        action,
        ("ticketgate", &operator),
        now,
    )?;
    let user = applied.user;
    if let Some((path, detail)) = applied.removed_corrupt {
        println!(
            "{user}: removing corrupt record {} ({detail})",
            path.display()
        );
    }
    println!("{user}: {}", action.done());
    Ok(())
}

/// The status block for one user.
fn status(
    config: &Config,
    store: &FileStore,
    user: &UserName,
    record: Option<&Record>,
    now: i64,
) -> String {
    let default = Record::default();
    let record = record.unwrap_or(&default);
    let account = Nss.lookup(user.as_str()).ok().flatten();
    let host = HostNames::of_this_host();
    let scope = scope::select(config, user.as_str(), account.as_ref(), None, &host, &Nss)
        .ok()
        .flatten();
    let mut out = String::new();
    // Admin and inactivity locks cover the account; hack locks are per credential.
    let lock_text = |lock: Option<Lock>| match lock {
        None => "not locked".to_string(),
        Some(lock) if !lockout::is_plausible(&lock) => format!(
            "LOCKED: corrupt record ({lock:?} holds times this module never writes); \
             run ticketgate reset"
        ),
        Some(Lock::Admin { since }) => format!("LOCKED by an administrator since {}", when(since)),
        Some(Lock::Hack {
            since,
            until: Some(u),
        }) => format!(
            "LOCKED after failed logons since {} until {}",
            when(since),
            when(u)
        ),
        Some(Lock::Hack { since, until: None }) => format!(
            "LOCKED after failed logons since {} until an administrator unlocks",
            when(since)
        ),
        Some(Lock::Inactive { since }) => format!(
            "LOCKED for inactivity since {} until an administrator unlocks",
            when(since)
        ),
    };
    let password_lock = lockout::current_lock(record, Credential::Password, now);
    let pin_lock = lockout::current_lock(record, Credential::Pin, now);
    let state = match (password_lock, pin_lock) {
        (None, Some(pin)) => format!("PIN {}", lock_text(Some(pin))),
        (Some(Lock::Hack { .. }), Some(Lock::Hack { .. })) => {
            format!("{} (password and PIN)", lock_text(password_lock))
        }
        (Some(Lock::Hack { .. }), _) => format!("password {}", lock_text(password_lock)),
        (lock, _) => lock_text(lock),
    };
    out.push_str(&format!("{user}: {state}\n"));
    let attempt = |a: &Option<pam_ticketgate::store::Attempt>| match a {
        Some(a) if a.rhost.is_empty() => format!("{} via {}", when(a.at), a.service),
        Some(a) => format!("{} via {} from {}", when(a.at), a.service, a.rhost),
        None => "never".to_string(),
    };
    for (which, name) in [(Credential::Password, "password"), (Credential::Pin, "PIN")] {
        let state = lifecycle::credential(record, which);
        let policy = scope.map(|s| match which {
            Credential::Password => &s.policy,
            Credential::Pin => &s.pin_policy,
        });
        let failures = match (scope, policy) {
            (Some(s), Some(p)) => format!(
                "{} of {} in the last {} (scope {}, policy {})",
                lockout::failures_in_window(record, which, p, now),
                p.failed_logon,
                format_duration(p.reset_failed_after),
                s.index,
                match which {
                    Credential::Password => s.policy_name.as_str(),
                    Credential::Pin => "pin",
                }
            ),
            _ => format!(
                "{} recorded (no scope covers this user)",
                state.failures.len()
            ),
        };
        if which == Credential::Pin && state.failures.is_empty() && state.last_failure.is_none() {
            continue;
        }
        out.push_str(&format!(
            "  failures:     {name} {failures}; last failure: {}\n",
            attempt(&state.last_failure)
        ));
    }
    out.push_str(&format!(
        "  last success: {}\n",
        attempt(&store.last_success(user))
    ));
    if let Some(s) = scope {
        let outside = match Nss.shadow(user.as_str()) {
            Ok(Some(shadow)) => lifecycle::Outside {
                last_change: shadow.last_change(),
                must_change: shadow.must_change(),
            },
            _ => lifecycle::Outside::default(),
        };
        for (which, name, policy, outside) in [
            (Credential::Password, "password", &s.policy, outside),
            (
                Credential::Pin,
                "PIN",
                &s.pin_policy,
                lifecycle::Outside::default(),
            ),
        ] {
            out.push_str(&credential_status(
                record, which, name, policy, &outside, now,
            ));
        }
        if let Some(after) = s.policy.inactive_after {
            let last = store.last_success(user).map(|a| a.at);
            match lifecycle::last_activity(record, last) {
                Some(t) => out.push_str(&format!(
                    "  inactivity:   last activity {}; locks after {} without a login\n",
                    when(t),
                    format_duration(after)
                )),
                None => out.push_str("  inactivity:   not seen yet\n"),
            }
        }
    }
    if let Some(since) = record.first_seen {
        out.push_str(&format!("  first seen:   {}\n", when(since)));
    }
    if account.is_none() {
        out.push_str("  note:         NSS does not know this user\n");
    }
    out
}

/// One line about a credential: last change, must-change, expiry date and days left.
fn credential_status(
    record: &Record,
    which: Credential,
    name: &str,
    policy: &pam_ticketgate::config::Policy,
    outside: &lifecycle::Outside,
    now: i64,
) -> String {
    let state = lifecycle::credential(record, which);
    let mut changed = state.last_change.map_or_else(
        || "never changed here".to_string(),
        |t| format!("changed {}", when(t)),
    );
    if let Some(day) = outside.last_change {
        changed.push_str(&format!(" (system: {})", utc(day)));
    }
    let must = if state.must_change || outside.must_change {
        "; MUST CHANGE at next login"
    } else {
        ""
    };
    let expiry = match lifecycle::expires_at(state, record.first_seen, outside, policy) {
        None => "never expires".to_string(),
        Some(at) if !lockout::is_plausible_time(at) => when(at),
        Some(at) if at <= now => format!("EXPIRED {}", when(at)),
        Some(at) => format!("expires {} ({} days left)", when(at), (at - now) / 86_400),
    };
    format!(
        "  {name:<13} {changed}; {expiry}{must}\n",
        name = format!("{name}:")
    )
}

/// A stored time for people: the date, or "corrupt record" for a time this module never
/// writes (before 1970 or after 9999), never an absurd date.
fn when(t: i64) -> String {
    if lockout::is_plausible_time(t) {
        utc(t)
    } else {
        format!("corrupt record (time {t})")
    }
}
