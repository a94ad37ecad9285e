//! ticketgate(8). The command line is the binary's own clap definition (its `cli.rs`, compiled
//! in here): clap_mangen renders NAME, SYNOPSIS and OPTIONS from it, and COMMANDS is built from
//! the same `Command`, so a command or option cannot be added without appearing here.

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_mangen::Man;
use roff::{Inline, bold, italic, roman};

use crate::page::{Page, see};

// The binary's clap structs; their fields are read only by the binary.
#[allow(dead_code)]
#[path = "../../pam_ticketgate/src/bin/ticketgate/cli.rs"]
mod ticketgate_cli;

/// The `ticketgate` command line, exactly as the binary parses it (built: globals propagated).
pub fn ticketgate_command() -> Command {
    let mut cmd = ticketgate_cli::Cli::command();
    cmd.build();
    cmd
}

/// Renders one of clap_mangen's sections to roff source.
pub(crate) fn mangen(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = render(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

pub(crate) fn render() -> String {
    let cmd = ticketgate_command();
    let man = Man::new(cmd.clone());
    let mut page = Page::new("TICKETGATE", "8");
    page.raw(&mangen(|w| man.render_name_section(w)));
    synopsis(&mut page, &cmd);
    page.sh("DESCRIPTION")
        .text(
            "**ticketgate** administers **pam_ticketgate**(8) on this host, as **faillock**(8) does for \
             pam_faillock. It uses the module's own configuration parser, state store, lockout rules, \
             ticket evaluation and audit, so what it shows is what the module decides.",
        )
        .para(
            "Commands marked [root] change state and need root; each change is an audit event \
             (**admin_lock**, **admin_unlock**, **admin_reset**, **must_change**, \
             **protect_disabled**, **protect_enabled**, **session_terminated**) naming the operator \
             as by= (**$SUDO_USER**, else root). **status**, **sessions**, **check-config** and \
             **test-ticket** change nothing.",
        );
    page.raw(&mangen(|w| man.render_options_section(w)));
    page.sh("COMMANDS");
    commands(&mut page, &cmd);
    page.sh("FILES")
        .tp(
            vec![bold(pam_ticketgate::config::DEFAULT_PATH)],
            "The configuration read unless **--config** names another; see **ticketgate.toml**(5).",
        )
        .tp(
            vec![italic("state_dir"), roman("/USER.state")],
            "USER's record: failures, locks, last failure, credential changes and history (JSON, \
             0600). **status** reads it; **reset**, **lock**, **unlock** and **must-change** change \
             it under an exclusive lock on USER.lock. A record that cannot be read keeps the \
             account locked until **reset** removes it.",
        )
        .tp(
            vec![italic("state_dir"), roman("/USER.last")],
            "The last successful login.",
        )
        .tp(
            vec![italic("state_dir"), roman("/fleet-spool.jsonl")],
            "Fleet events waiting for the fleet server; **status** USER counts the user's.",
        )
        .tp(
            vec![italic("state_dir"), roman("/USER.pin")],
            "The Argon2id hash of USER's offline PIN (**offline-pin set**).",
        )
        .tp(
            vec![italic("state_dir"), roman("/breakglass.json")],
            "Hashes of the break-glass codes and which are used (**breakglass generate**).",
        )
        .tp(
            vec![italic("state_dir"), roman("/protect.disabled")],
            "Present while **protect disable** has switched login protect off on this host.",
        )
        .tp(
            vec![italic("run_dir"), roman("/sessions/")],
            "One record per open session (**sessions**, **terminate**), naming the session's \
             process by pid, start time and uid. **terminate** signals a process only while /proc \
             shows all three, and reads only records that are root's and mode 0600.",
        )
        .tp(
            vec![bold(pam_ticketgate::pamd::DEFAULT_DIR)],
            "The PAM stacks **check-config** reads unless **--pam-dir** names another directory: \
             every service whose stack loads pam_ticketgate.so (itself or through **@include**, \
             **include** or **substack**) is checked for the phase lines, their controls and their \
             order, and each mistake is printed as FILE:LINE: error: ... .",
        );
    page.sh("EXIT STATUS")
        .tp(vec![bold("0")], "Success; **test-ticket**: the ticket was accepted; **check-config**: no error in the configuration or the PAM stacks (warnings may have been printed).")
        .tp(
            vec![bold("1")],
            "Refused or rejected, with one line on standard error starting \"ticketgate: \": \
             not root (every command but **check-config** and **report** needs root; **report** \
             needs read access to the audit file), a user NSS does not know \
             (**lock**, **unlock**, **reset**, **must-change** change nothing then), a rejected \
             ticket or PIN, state that cannot be read.",
        )
        .tp(
            vec![bold("2")],
            "Usage error: unknown command or option, missing argument, a name that cannot be an \
             account, a **--since** that is no duration.",
        )
        .tp(vec![bold("3")], "A server could not be reached (**test-ticket**: the ticket system).")
        .tp(
            vec![bold("4")],
            "The configuration is broken: a file the module would refuse (the same message, \
             naming key and line); **check-config**: an error in the configuration or in a PAM \
             stack that loads the module (a phase word the module does not know, a missing or \
             misplaced preauth, authfail, ticket or commit line, a control that breaks a gate); \
             **report**: no audit_file is configured.",
        );
    page.sh("EXAMPLES")
        .para("Why is demo refused, and let them in again:")
        .example(
            "$ ticketgate status demo\n\
             demo: LOCKED after failed logons since 2026-11-22 15:33:25 UTC until 2026-11-22 16:03:25 UTC\n\
             \x20 failures:     0 of 3 in the last 30m (scope 1, policy default)\n\
             \x20 last failure: 2026-11-22 15:33:25 UTC via sshd from 192.0.2.7\n\
             \x20 last success: never\n\
             # ticketgate reset demo",
        )
        .para("What a scope in mode = \"report\" would have refused in the last week:")
        .example(
            "# ticketgate report --since 7d\n\
             2 would_refuse event(s) in /var/log/ticketgate/audit.jsonl since 2026-11-25 09:00:00 UTC\n\
             GATE     USER             SERVICE       COUNT  FIRST                    LAST                     REASONS\n\
             lockout  demo             sshd              2  2026-11-30 15:33:25 UTC  2026-11-30 15:40:02 UTC  hack_lock=2",
        )
        .para("Check a new configuration before installing it, then try a ticket without logging anyone in:")
        .example(
            "# ticketgate check-config /root/ticketgate.toml.new\n\
             # ticketgate test-ticket --user alice --host db01.example.com CHG0001234",
        )
        .para("A typo in a stack, found before anyone is locked out:")
        .example(
            "# ticketgate check-config\n\
             /etc/security/ticketgate.toml: OK (2 scope(s))\n\
             /etc/pam.d/sshd:5: error: unknown module argument \"pre-auth\": the module refuses the line (PAM_SERVICE_ERR), so every login through this stack fails\n\
             ticketgate: 1 error",
        )
        .para("End every session of a user who left, giving them 10 seconds:")
        .example("# ticketgate terminate --grace 10 alice");
    see_also(
        &mut page,
        &[
            ("pam_ticketgate", "8"),
            ("ticketgate.toml", "5"),
            ("ticketgate-server", "8"),
            ("faillock", "8"),
        ],
    );
    page.finish()
}

/// `.SH SEE ALSO` with comma-separated references.
pub(crate) fn see_also(page: &mut Page, refs: &[(&str, &str)]) {
    let mut line: Vec<Inline> = Vec::new();
    for (i, (name, section)) in refs.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.extend(see(name, section));
    }
    page.sh("SEE ALSO");
    page.tp(line, "");
}

/// Every leaf command of `root` as a tagged paragraph: its synopsis, what it does, its options.
pub(crate) fn commands(page: &mut Page, root: &Command) {
    leaf_commands(page, root.get_name(), root, &[]);
}

fn leaf_commands(page: &mut Page, prog: &str, cmd: &Command, path: &[&Command]) {
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let mut here = path.to_vec();
        here.push(sub);
        if sub.has_subcommands() {
            leaf_commands(page, prog, sub, &here);
            continue;
        }
        let names: Vec<&str> = here.iter().map(|c| c.get_name()).collect();
        let mut term = vec![bold(format!("{prog} {}", names.join(" ")))];
        for arg in own_args(sub) {
            term.push(roman(" "));
            term.extend(usage(arg));
        }
        let about: Vec<String> = here
            .iter()
            .filter_map(|c| c.get_long_about().or_else(|| c.get_about()))
            .map(|a| a.to_string())
            .collect();
        page.tp(term, &about.join(". "));
        let described: Vec<&Arg> = own_args(sub)
            .filter(|a| {
                a.get_help().is_some() || takes_value(a) && !a.get_default_values().is_empty()
            })
            .collect();
        if !described.is_empty() {
            page.indent();
            for arg in described {
                let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                if let Some(d) = arg
                    .get_default_values()
                    .first()
                    .filter(|_| takes_value(arg))
                {
                    if !help.is_empty() {
                        help.push(' ');
                    }
                    help.push_str(&format!("(default: {})", d.to_string_lossy()));
                }
                page.tp(usage(arg), &help);
            }
            page.outdent();
        }
    }
}

/// `.SH SYNOPSIS`: the program, each top-level option with its argument (`[--config FILE]`),
/// then the command (each command's own synopsis is under COMMANDS).
pub(crate) fn synopsis(page: &mut Page, cmd: &Command) {
    let mut line = vec![bold(cmd.get_name())];
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        line.push(roman(" "));
        match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) if !takes_value(arg) => {
                line.push(roman("["));
                line.push(bold(format!("-{short}")));
                line.push(roman("|"));
                line.push(bold(format!("--{long}")));
                line.push(roman("]"));
            }
            _ => line.extend(usage(arg)),
        }
    }
    if cmd.has_subcommands() {
        line.push(roman(" "));
        line.push(italic("COMMAND"));
        line.push(roman(" ["));
        line.push(italic("ARGUMENTS"));
        line.push(roman("]"));
    }
    page.sh("SYNOPSIS");
    page.tp(line, "");
}

/// A command's own arguments: not the propagated globals, not --help.
fn own_args(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        !a.is_global_set()
            && !a.is_hide_set()
            && !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
    })
}

/// How an argument is written: `USER`, `[USER]`, `enable|disable`, `--user USER`, `[--pin]`.
fn usage(arg: &Arg) -> Vec<Inline> {
    let value = || -> Inline {
        let possible: Vec<String> = arg
            .get_possible_values()
            .iter()
            .map(|p| p.get_name().to_string())
            .collect();
        if !possible.is_empty() {
            return bold(possible.join("|"));
        }
        let name = arg
            .get_value_names()
            .and_then(|v| v.first())
            .map_or_else(|| arg.get_id().as_str().to_uppercase(), |v| v.to_string());
        italic(name)
    };
    let mut out = Vec::new();
    let optional = !arg.is_required_set();
    if optional {
        out.push(roman("["));
    }
    if let Some(long) = arg.get_long() {
        out.push(bold(format!("--{long}")));
        if takes_value(arg) {
            out.push(roman(" "));
            out.push(value());
        }
    } else {
        out.push(value());
    }
    if optional {
        out.push(roman("]"));
    }
    out
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values())
}
