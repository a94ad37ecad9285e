//! `ticketgate test-ticket` (the module's own fetch and evaluation, as a dry run that logs no
//! one in and uses no cache or breaker) and `ticketgate breakglass generate N`.

use crate::cli::BreakglassAction;
use crate::error::CliError;
use pam_ticketgate::audit::{AuditSink, Event, EventName, SystemAudit};
use pam_ticketgate::config::Config;
use pam_ticketgate::scope::HostNames;
use pam_ticketgate::ticket::fetch::connect_net;
use pam_ticketgate::ticket::login;
use pam_ticketgate::ticket::token::FileTokenCache;
use pam_ticketgate::ticket::{self, Credentials, Facts, breakglass::Breakglass};
use pam_ticketgate::timefmt::utc;

/// Fetches `id` as the module would for `user` on `host` and prints each condition.
pub fn test_ticket(
    config: &Config,
    user: &str,
    host: Option<&str>,
    id: &str,
    json: bool,
    now: i64,
) -> Result<(), CliError> {
    let cfg = config.ticket.as_ref().ok_or_else(|| {
        CliError::Failed(format!("{}: no [ticket] section", config.path.display()).into())
    })?;
    let this = HostNames::of_this_host();
    let (short, fqdn) = match host {
        Some(h) => (h.split('.').next().unwrap_or(h).to_string(), h.to_string()),
        None => (this.short, this.fqdn),
    };
    let facts = Facts {
        user: user.to_string(),
        host: short,
        host_fqdn: fqdn,
        rhost: String::new(),
        service: "ticketgate".into(),
        user_map: login::user_map(cfg, user),
    };
    let system = cfg.system.name();
    let id = ticket::normalise_id(cfg, id)
        .map_err(|e| CliError::Refused(format!("REJECTED before any request: {e}")))?;
    let creds = Credentials::load(&config.path, cfg)?;
    let http = connect_net(cfg)?;
    let run_dir = pam_ticketgate::run_dir::RunDir::open(&config.module.run_dir)?;
    let tokens = FileTokenCache::new(&run_dir);
    let checked = ticket::check(cfg, &id, &creds, &http, &tokens, &facts, now);
    if json {
        let (results, error) = match &checked {
            Ok(c) => (
                c.results
                    .iter()
                    .map(|r| serde_json::json!({"ok": r.ok, "condition": r.label, "seen": r.seen}))
                    .collect(),
                serde_json::Value::Null,
            ),
            Err(e) => (
                Vec::new(),
                serde_json::json!({"reason": e.reason(), "detail": e.to_string()}),
            ),
        };
        crate::json::print(&serde_json::json!({
            "ticket": id,
            "system": system,
            "user": user,
            "host": facts.host,
            "host_fqdn": facts.host_fqdn,
            "accepted": checked.as_ref().is_ok_and(|c| c.accepted()),
            "conditions": results,
            "error": error,
        }));
    } else {
        println!(
            "ticket {id} ({system}) for user {user} on {} / {}:",
            facts.host, facts.host_fqdn
        );
    }
    match checked {
        Ok(checked) if json => {
            if checked.accepted() {
                Ok(())
            } else {
                Err(CliError::Refused(
                    "REJECTED: a condition does not hold".into(),
                ))
            }
        }
        Ok(checked) => {
            for r in &checked.results {
                println!(
                    "  {:<4}  {}  seen {}",
                    if r.ok { "ok" } else { "FAIL" },
                    r.label,
                    r.seen
                );
            }
            if checked.results.is_empty() {
                println!("  (no conditions: the built-in checks passed)");
            }
            if checked.accepted() {
                println!("ACCEPTED");
                Ok(())
            } else {
                Err(CliError::Refused(
                    "REJECTED: a condition does not hold".into(),
                ))
            }
        }
        Err(e @ ticket::TicketError::Unreachable(_)) => Err(CliError::Unreachable(format!(
            "REJECTED ({}): {e}",
            e.reason()
        ))),
        Err(e) => Err(CliError::Refused(format!("REJECTED ({}): {e}", e.reason()))),
    }
}

/// `breakglass generate N | list | revoke`.
pub fn breakglass(
    config: &Config,
    audit: &SystemAudit,
    action: &BreakglassAction,
    now: i64,
) -> Result<(), CliError> {
    let store = Breakglass::new(&config.module.state_dir);
    match action {
        BreakglassAction::List { json } => {
            let codes = store.list()?;
            if *json {
                crate::json::print(&serde_json::Value::Array(
                    codes.iter().map(crate::json::code).collect(),
                ));
                return Ok(());
            }
            let unused = codes.iter().filter(|c| c.used.is_none()).count();
            println!("{unused} of {} break-glass code(s) unused", codes.len());
            for (i, c) in codes.iter().enumerate() {
                let used = c
                    .used
                    .map_or_else(|| "unused".to_string(), |t| format!("used {}", utc(t)));
                println!("  code {}: made {}, {used}", i + 1, utc(c.created));
            }
            Ok(())
        }
        BreakglassAction::Revoke => {
            let unused = store.revoke()?;
            let by = std::env::var("SUDO_USER").unwrap_or_else(|_| "root".into());
            audit.event(
                &Event::new(EventName::BreakglassRevoked, "", "ticketgate", "")
                    .with("revoked", unused)
                    .with("by", by),
                now,
            );
            println!("{unused} unused break-glass code(s) revoked; none works any more");
            Ok(())
        }
        BreakglassAction::Generate { n } => {
            let codes = store.generate(*n, now)?;
            println!(
                "{} break-glass code(s); each works once, only while the ticket system is unreachable.\n\
                 They are shown now and never again (stored hashed in {}); earlier codes no longer work.",
                codes.len(),
                config.module.state_dir.join("breakglass.json").display()
            );
            for c in &codes {
                println!("{}", c.expose());
            }
            Ok(())
        }
    }
}
