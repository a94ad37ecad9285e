//! The login-protect verbs: `protect enable|disable` (the administrator's switch) and
//! `offline-pin set USER` (the hybrid offline mode's second secret).

use std::io::{BufRead, IsTerminal, Write};

use pam_ticketgate::audit::{AuditSink, Event, EventName, SystemAudit};
use pam_ticketgate::config::{Config, Policy};
use pam_ticketgate::directory::{Directory, Nss};
use pam_ticketgate::protect::{pin, switch};
use pam_ticketgate::rules;
use pam_ticketgate::scope::{self, HostNames};
use pam_ticketgate::secret::Secret;
use pam_ticketgate::user::UserName;

fn operator() -> String {
    std::env::var("SUDO_USER").unwrap_or_else(|_| "root".into())
}

fn need_root() -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err("this needs root".into())
    }
}

/// `ticketgate protect enable|disable`.
pub fn switch_protect(
    config: &Config,
    audit: &SystemAudit,
    disable: bool,
    now: i64,
) -> Result<(), String> {
    need_root()?;
    let by = operator();
    switch::set_disabled(&config.module.state_dir, disable, &by, now).map_err(|e| {
        format!(
            "{}: {e}",
            config.module.state_dir.join(switch::FLAG).display()
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
) -> Result<(), String> {
    need_root()?;
    let user = UserName::parse(user).map_err(|e| format!("{user:?}: {e}"))?;
    let account = Nss
        .lookup(user.as_str())
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{user}: no such user"))?;
    let host = HostNames::of_this_host();
    let scope = scope::select(config, user.as_str(), Some(&account), None, &host, &Nss)
        .map_err(|e| e.to_string())?;
    let policy = scope.map_or_else(Policy::pin_default, |s| s.pin_policy.clone());
    let first = read_pin("Offline PIN: ")?;
    let second = read_pin("Again: ")?;
    if first != second {
        return Err("the two PINs differ; nothing changed".into());
    }
    rules::check_pin(first.expose(), &policy, &account).map_err(|v| format!("PIN refused: {v}"))?;
    pin::set(&config.module.state_dir, &user, &first).map_err(|e| e.to_string())?;
    audit.event(
        &Event::new(EventName::CredentialUpdate, user.as_str(), "ticketgate", "")
            .with("credential", "offline_pin")
            .with("by", operator()),
        now,
    );
    println!("{user}: offline PIN set");
    Ok(())
}

/// One line from the terminal with echo off, or from stdin when it is not a terminal.
fn read_pin(prompt: &str) -> Result<Secret, String> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let saved = if tty {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let saved = nix::sys::termios::tcgetattr(&stdin).map_err(|e| e.to_string())?;
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet)
            .map_err(|e| e.to_string())?;
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
        Ok(0) => Err("no PIN given (end of input)".into()),
        Ok(_) => Ok(Secret::new(line.trim_end_matches(['\n', '\r']).to_string())),
        Err(e) => Err(format!("cannot read the PIN: {e}")),
    }
}
