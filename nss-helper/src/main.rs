//! `nss-helper USER [--json]`: print what NSS knows about one user.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use nss_helper::{AccountFacts, facts};

const USAGE: &str = "usage: nss-helper USER [--json]

Prints what NSS knows about USER: name, uid, gid, home, shell, the GECOS fields,
groups (primary first) and source (local = listed in /etc/passwd, directory = NSS only).
  --json   print one JSON object instead
Exit status: 0 found, 1 unknown user, 2 usage error, 3 NSS or /etc/passwd failure.";

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Show { user: String, json: bool },
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut user = None;
    let mut json = false;
    let mut options_done = false;
    for arg in args {
        let arg = arg
            .into_string()
            .map_err(|arg| format!("argument is not UTF-8: {arg:?}"))?;
        match arg.as_str() {
            "--help" | "-h" if !options_done => return Ok(Command::Help),
            "--json" if !options_done => json = true,
            "--" if !options_done => options_done = true,
            option if !options_done && option.starts_with('-') => {
                return Err(format!("unknown option {option:?}"));
            }
            _ if user.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => user = Some(arg),
        }
    }
    let user = user.ok_or("missing USER")?;
    Ok(Command::Show { user, json })
}

/// Directory-controlled text (GECOS from LDAP, say) must not drive the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn human_lines(facts: &AccountFacts) -> String {
    let account = &facts.account;
    let fields = [
        ("name", account.name.clone()),
        ("uid", account.uid.to_string()),
        ("gid", account.gid.to_string()),
        ("home", account.home.to_string_lossy().into_owned()),
        ("shell", account.shell.to_string_lossy().into_owned()),
        ("full name", account.gecos.full_name.clone()),
        ("room", account.gecos.room.clone()),
        ("work phone", account.gecos.work_phone.clone()),
        ("home phone", account.gecos.home_phone.clone()),
        ("other", account.gecos.other.clone()),
        ("groups", facts.groups.join(", ")),
        ("source", facts.source.to_string()),
    ];
    let mut out = String::new();
    for (label, value) in fields {
        let label = format!("{label}:");
        if value.is_empty() {
            out.push_str(&label);
        } else {
            out.push_str(&format!("{label:<12}{}", printable(&value)));
        }
        out.push('\n');
    }
    out
}

fn main() -> ExitCode {
    let (user, json) = match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Show { user, json }) => (user, json),
        Err(message) => {
            eprintln!("nss-helper: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let facts = match facts(&user) {
        Ok(Some(facts)) => facts,
        Ok(None) => {
            eprintln!("nss-helper: no such user: {}", printable(&user));
            return ExitCode::from(1);
        }
        Err(err) => {
            eprintln!("nss-helper: {}", printable(&err.to_string()));
            return ExitCode::from(3);
        }
    };
    let output = if json {
        match serde_json::to_string(&facts) {
            Ok(text) => text + "\n",
            Err(err) => {
                eprintln!("nss-helper: cannot write JSON: {err}");
                return ExitCode::from(3);
            }
        }
    } else {
        human_lines(&facts)
    };
    // A closed pipe (`nss-helper root | head -1`) is not worth a panic.
    match std::io::stdout().lock().write_all(output.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    fn show(user: &str, json: bool) -> Result<Command, String> {
        Ok(Command::Show {
            user: user.into(),
            json,
        })
    }

    #[test]
    fn user_with_and_without_json() {
        assert_eq!(parse(&["alice"]), show("alice", false));
        assert_eq!(parse(&["alice", "--json"]), show("alice", true));
        assert_eq!(parse(&["--json", "alice"]), show("alice", true));
    }

    #[test]
    fn double_dash_allows_names_starting_with_a_dash() {
        assert_eq!(parse(&["--", "-odd"]), show("-odd", false));
        assert_eq!(parse(&["--json", "--", "--json"]), show("--json", true));
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(&["alice", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse(&[]), Err("missing USER".into()));
        assert_eq!(parse(&["--json"]), Err("missing USER".into()));
        assert_eq!(parse(&["a", "b"]), Err("unexpected argument \"b\"".into()));
        assert_eq!(parse(&["-x"]), Err("unknown option \"-x\"".into()));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("Eve\u{1b}[2J\tx"), "Eve\\u{1b}[2J\\tx");
        assert_eq!(printable("Zoë Ünal"), "Zoë Ünal");
    }
}
