//! `ticketgate status USER`'s fleet part: the fleet server's word on the user beside the local
//! state, when the user's scope has `fleet = true`, and the user's events waiting in the spool.

use serde_json::{Value, json};

use pam_ticketgate::args::Credential;
use pam_ticketgate::config::{Config, ConfigError, Fleet, FleetFallback};
use pam_ticketgate::directory::{Directory, Nss};
use pam_ticketgate::fleet::spool::{FileSpool, FleetSpool};
use pam_ticketgate::fleet::{FleetServer, HttpFleet, LockReason, Standing};
use pam_ticketgate::net::NetError;
use pam_ticketgate::scope::{self, HostNames};
use pam_ticketgate::timefmt::{rfc3339, utc};
use pam_ticketgate::user::UserName;

use crate::error::CliError;

/// What the fleet server said about one user, asked directly (the CLI skips no breaker).
pub struct FleetStatus {
    fleet: Fleet,
    offline: FleetFallback,
    /// The password's and the PIN's standing, or why the server was not asked or did not answer.
    answer: Result<(Standing, Standing), Problem>,
    /// This user's events in the spool, or why it cannot be read.
    spooled: Result<usize, String>,
}

enum Problem {
    Unreachable(String),
    Refused(String),
    Config(ConfigError),
}

/// The fleet's state of `user` when its scope has `fleet = true`; `None` otherwise.
pub fn ask(config: &Config, user: &UserName) -> Option<FleetStatus> {
    let fleet = config.fleet.as_ref()?;
    let account = Nss.lookup(user.as_str()).ok().flatten();
    let host = HostNames::of_this_host();
    let in_fleet = scope::select(config, user.as_str(), account.as_ref(), None, &host, &Nss)
        .ok()
        .flatten()
        .is_some_and(|s| s.fleet);
    if !in_fleet {
        return None;
    }
    let answer = HttpFleet::connect(&config.path, fleet)
        .map_err(Problem::Config)
        .and_then(|server| {
            let ask = |c| {
                server.check(user.as_str(), c).map_err(|e| match e {
                    NetError::Unreachable(m) => Problem::Unreachable(m),
                    NetError::Denied(m) => Problem::Refused(m),
                })
            };
            Ok((ask(Credential::Password)?, ask(Credential::Pin)?))
        });
    let spooled = FileSpool::new(&config.module.state_dir)
        .events()
        .map(|events| events.iter().filter(|e| e.user == user.as_str()).count())
        .map_err(|e| e.to_string());
    Some(FleetStatus {
        fleet: fleet.clone(),
        offline: config.offline.fleet,
        answer,
        spooled,
    })
}

impl FleetStatus {
    /// The exit status's view: an unreachable server is exit code 3, a refusal 1, an unreadable
    /// host token 4; the rest of the status was printed already.
    pub fn result(self) -> Result<(), CliError> {
        match self.answer {
            Ok(_) => Ok(()),
            Err(Problem::Unreachable(m)) => Err(CliError::Unreachable(format!(
                "fleet server {} unreachable: {m}",
                self.fleet.url
            ))),
            Err(Problem::Refused(m)) => Err(CliError::Refused(format!(
                "fleet server {} refused the check: {m}",
                self.fleet.url
            ))),
            Err(Problem::Config(e)) => Err(CliError::Config(e)),
        }
    }

    /// The lines `status` adds to a user's block.
    pub fn text(&self) -> String {
        let standing = |name: &str, s: &Standing| {
            let state = match (s.locked, s.reason, s.until) {
                (false, _, _) => "not locked".to_string(),
                (true, Some(LockReason::Admin), _) => {
                    "LOCKED fleet-wide by an administrator".to_string()
                }
                (true, _, Some(until)) => {
                    format!("LOCKED fleet-wide after failed logons until {}", utc(until))
                }
                (true, _, None) => {
                    "LOCKED fleet-wide after failed logons until an administrator unlocks"
                        .to_string()
                }
            };
            format!(
                "  fleet:        {name} {state}; {} failure(s) on record\n",
                s.failures
            )
        };
        let mut out = match &self.answer {
            Ok((password, pin)) => {
                let mut lines = standing("password", password);
                if pin.locked || pin.failures > 0 {
                    lines.push_str(&standing("PIN", pin));
                }
                lines
            }
            Err(Problem::Unreachable(m)) => format!(
                "  fleet:        UNREACHABLE ({m}); logins follow [offline] fleet = \"{}\"\n",
                mode(self.offline)
            ),
            Err(Problem::Refused(m)) => {
                format!("  fleet:        the server refused the check: {m}\n")
            }
            Err(Problem::Config(e)) => format!("  fleet:        not asked: {e}\n"),
        };
        out.push_str(&match &self.spooled {
            Ok(0) => String::new(),
            Ok(n) => format!("  fleet spool:  {n} event(s) of this user wait to be sent\n"),
            Err(e) => format!("  fleet spool:  {e}\n"),
        });
        out
    }

    /// The `"fleet"` object of `status --json`.
    pub fn json(&self) -> Value {
        let standing = |s: &Standing| {
            json!({
                "locked": s.locked,
                "reason": s.reason.map(LockReason::as_str),
                "until": s.until.map(rfc3339),
                "failures": s.failures,
            })
        };
        let mut out = json!({
            "url": self.fleet.url.as_str(),
            "offline": mode(self.offline),
            "spooled": self.spooled.as_ref().ok(),
        });
        let (key, value) = match &self.answer {
            Ok((password, pin)) => {
                if let Some(map) = out.as_object_mut() {
                    map.insert("password".into(), standing(password));
                    map.insert("pin".into(), standing(pin));
                    map.insert("reachable".into(), true.into());
                }
                return out;
            }
            Err(Problem::Unreachable(m)) => ("unreachable", m.clone()),
            Err(Problem::Refused(m)) => ("refused", m.clone()),
            Err(Problem::Config(e)) => ("error", e.to_string()),
        };
        if let Some(map) = out.as_object_mut() {
            map.insert("reachable".into(), (key != "unreachable").into());
            map.insert(key.into(), value.into());
            if let Err(e) = &self.spooled {
                map.insert("spool_error".into(), e.clone().into());
            }
        }
        out
    }
}

fn mode(m: FleetFallback) -> &'static str {
    match m {
        FleetFallback::Local => "local",
        FleetFallback::Deny => "deny",
    }
}
