//! The login-protect verbs: `protect enable|disable` (the administrator's switch),
//! `offline-pin set USER` (the hybrid offline mode's second secret) and `test-protect USER`
//! (the server checked from this host without using an unlock up).

use std::io::{BufRead, IsTerminal, Write};

use pam_ticketgate::audit::{AuditSink, Event, EventName, SystemAudit};
use pam_ticketgate::config::{Config, Policy};
use pam_ticketgate::directory::Nss;
use pam_ticketgate::net::NetError;
use pam_ticketgate::protect::{pin, switch};
use pam_ticketgate::rules;
use pam_ticketgate::scope::{self, HostNames};
use pam_ticketgate::secret::Secret;

use crate::error::CliError;

/// `ticketgate test-protect USER [--service-id ID]`: what a login would send, as a dry run.
/// Exit 0 when the server answered (reachable, TLS verified, token and service ID accepted);
/// 1 when it refused (401, 403, a certificate, a malformed answer); 3 unreachable; 4 when the
/// configuration or the host token cannot be used.
pub fn test_protect(config: &Config, user: &str, service_id: Option<&str>) -> Result<(), CliError> {
    let Some(protect) = config.login_protect.as_ref() else {
        return Err(CliError::ConfigBroken(format!(
            "{}: no [login_protect] table: nothing to test",
            config.path.display()
        )));
    };
    let service_id = service_id.unwrap_or(&protect.service_id);
    println!("login protect: {}", protect.url);
    println!("  service ID:   {service_id}");
    println!("  host token:   {}", protect.secret_file.display());
    let server = pam_ticketgate::protect::HttpServer::connect(&config.path, protect)?;
    println!("                read (root-only, its first line is sent)");
    let host = HostNames::of_this_host();
    let attempt = pam_ticketgate::protect::Attempt {
        service_id,
        user,
        host: if host.fqdn.is_empty() {
            &host.short
        } else {
            &host.fqdn
        },
        service: "ticketgate-test-protect",
        rhost: "",
    };
    match server.probe(&attempt) {
        Ok(_) => {
            let transport = if protect.url.scheme() == "https" {
                "reachable over HTTPS, certificate verified"
            } else {
                "reachable over plain HTTP"
            };
            println!("  server:       {transport}");
            println!(
                "  answer:       token and service ID accepted, answer well-formed; no unlock used (dry run)"
            );
            Ok(())
        }
        Err(NetError::Unreachable(why)) => {
            println!("  server:       UNREACHABLE");
            Err(CliError::Unreachable(format!(
                "login protect server unreachable: {why} (logins follow [offline] login_protect)"
            )))
        }
        Err(NetError::Denied(why)) => {
            println!("  server:       REFUSED");
            Err(CliError::Refused(format!(
                "login protect server refused the check: {why} (logins are refused, no offline fallback)"
            )))
        }
    }
}

fn operator() -> String {
    std::env::var("SUDO_USER").unwrap_or_else(|_| "root".into())
}

/// `ticketgate protect enable|disable`.
pub fn switch_protect(
    config: &Config,
    audit: &SystemAudit,
    disable: bool,
    now: i64,
) -> Result<(), CliError> {
    let by = operator();
    switch::set_disabled(&config.module.state_dir, disable, &by, now).map_err(|source| {
        std::io::Error::new(
            source.kind(),
            format!(
                "{}: {source}",
                config.module.state_dir.join(switch::FLAG).display()
            ),
        )
    })?;
    let name = if disable {
        EventName::ProtectDisabled
    } else {
        EventName::ProtectEnabled
    };
    audit.event(&Event::new(name, "", "ticketgate", "").with("by", by), now);
    if disable {
        println!(
            "login protect: OFF on this host (no check is made) until `ticketgate protect enable`"
        );
    } else if config.login_protect.as_ref().is_some_and(|p| p.disabled) {
        println!(
            "login protect: switch on, but {} still says disabled = true",
            config.path.display()
        );
    } else {
        println!("login protect: ON");
    }
    Ok(())
}

/// `ticketgate offline-pin set USER`: reads the PIN twice (terminal without echo, or stdin),
/// checks it with the PIN rules of the scope covering USER, stores its Argon2 hash.
pub fn set_offline_pin(
    config: &Config,
    audit: &SystemAudit,
    user: &str,
    now: i64,
) -> Result<(), CliError> {
    let (user, account) = crate::known_user(user)?;
    let host = HostNames::of_this_host();
    let scope = scope::select(config, user.as_str(), Some(&account), None, &host, &Nss)?;
    let policy = scope.map_or_else(Policy::pin_default, |s| s.pin_policy.clone());
    let first = read_pin("Offline PIN: ")?;
    let second = read_pin("Again: ")?;
    if first != second {
        return Err(CliError::Refused(
            "the two PINs differ; nothing changed".into(),
        ));
    }
    rules::check_pin(first.expose(), &policy, &account)
        .map_err(|v| CliError::Refused(format!("PIN refused: {v}")))?;
    pin::set(&config.module.state_dir, &user, &first)?;
    audit.event(
        &Event::new(EventName::CredentialUpdate, user.as_str(), "ticketgate", "")
            .with("credential", "offline_pin")
            .with("by", operator()),
        now,
    );
    println!("{user}: offline PIN set");
    Ok(())
}

/// `ticketgate offline-pin remove USER`: USER has no offline PIN afterwards (hybrid mode then
/// refuses USER while the server is unreachable).
pub fn remove_offline_pin(
    config: &Config,
    audit: &SystemAudit,
    user: &str,
    now: i64,
) -> Result<(), CliError> {
    let (user, _) = crate::known_user(user)?;
    pin::remove(&config.module.state_dir, &user)?;
    audit.event(
        &Event::new(EventName::CredentialUpdate, user.as_str(), "ticketgate", "")
            .with("credential", "offline_pin")
            .with("removed", "true")
            .with("by", operator()),
        now,
    );
    println!("{user}: offline PIN removed");
    Ok(())
}

/// One line from the terminal with echo off, or from stdin when it is not a terminal.
fn read_pin(prompt: &str) -> Result<Secret, CliError> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let saved = if tty {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let saved = nix::sys::termios::tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet)?;
        Some(saved)
    } else {
        None
    };
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &saved);
        eprintln!();
    }
    match read {
        Ok(0) => Err(CliError::Refused("no PIN given (end of input)".into())),
        Ok(_) => Ok(Secret::new(line.trim_end_matches(['\n', '\r']).to_string())),
        Err(e) => Err(CliError::Failed(format!("cannot read the PIN: {e}").into())),
    }
}
