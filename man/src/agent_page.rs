//! ticketgate-agent(8). NAME, SYNOPSIS and OPTIONS come from the binary's own clap definition
//! (its `cli.rs`, compiled in here); the task kinds from the config's task words.

use clap::{Command, CommandFactory};
use clap_mangen::Man;
use roff::{bold, italic, roman};

use crate::cli_page::{mangen, see_also, synopsis};
use crate::page::Page;

// The binary's clap structs; their fields are read only by the binary.
#[allow(dead_code)]
#[path = "../../ticketgate-agent/src/cli.rs"]
mod agent_cli;

/// The `ticketgate-agent` command line, exactly as the binary parses it.
pub fn agent_command() -> Command {
    let mut cmd = agent_cli::Cli::command();
    cmd.build();
    cmd
}

pub(crate) fn render() -> String {
    let cmd = agent_command();
    let man = Man::new(cmd.clone());
    let mut page = Page::new("TICKETGATE-AGENT", "8");
    page.raw(&mangen(|w| man.render_name_section(w)));
    synopsis(&mut page, &cmd);
    page.sh("DESCRIPTION")
        .text(
            "**ticketgate-agent** is the host side of central password reset and verify. It only \
             pulls: every **[agent] interval** (default 60 s, give or take 10 % at random) it sends \
             **POST /v1/agent/poll** to **ticketgate-server**(8) with this host's token, gets the \
             tasks an administrator queued for this host (**ticketgate-server task add**), runs \
             each and reports the results at once in one more request (the tasks that request \
             hands out wait for the next poll). The server never connects to the host; no port \
             is opened.",
        )
        .para(
            "A task runs at most once: its id is written (fsync'd) under state_dir before it runs \
             and its result after; an id handed out again is not run, its remembered result is \
             sent again. A task past its **not_after** by this host's clock is refused \
             (**expired**), a kind outside **[agent] tasks** is refused (**not_allowed**), a user \
             NSS does not know is refused (**unknown_user**), a task with a missing or malformed \
             field, or a **not_after** more than 7 days and an hour ahead (longer than the agent \
             remembers the tasks it ran), is refused (**bad_task**). Each task is one **agent_task** audit event \
             (task_id, kind, user, status, detail) and one log line; neither ever holds a password.",
        )
        .para(
            "While the server is unreachable (or answers 5xx) the wait doubles after each failed \
             poll, up to 10 times the interval, and returns to the interval after a success. A \
             longer interval in the server's answer is honoured, up to 10 times the agent's own. An \
             answer that is not the protocol's is logged and skipped. SIGTERM or SIGINT end the \
             wait at once; a poll under way finishes first.",
        );
    page.raw(&mangen(|w| man.render_options_section(w)));
    page.sh("TASKS");
    for kind in pam_ticketgate::config::TaskKind::ALL {
        let what = match kind {
            pam_ticketgate::config::TaskKind::ResetPassword => {
                "Applies this host's password rules (the scope covering USER for the service \
                 chpasswd: length, trivial rules, history) and refuses a violation as **failed** \
                 with the rule's name, changing nothing; then runs **chpasswd**(8) with \
                 USER:PASSWORD on its standard input (never its arguments or environment), and \
                 records the change as the module's commit line does (last change, must-change \
                 cleared, history) unless the module's own lines in chpasswd's PAM stack did."
            }
            pam_ticketgate::config::TaskKind::VerifyPassword => {
                "Compares the password with USER's shadow hash through libcrypt (yescrypt, \
                 SHA-512, bcrypt, ...), in constant time: **done** with detail **match** or \
                 **mismatch**. No PAM login: no failure is counted and no gate runs. A locked \
                 (! or *) or empty hash is a mismatch, and the log says so."
            }
            pam_ticketgate::config::TaskKind::Lock => "As **ticketgate lock** USER.",
            pam_ticketgate::config::TaskKind::Unlock => "As **ticketgate unlock** USER.",
            pam_ticketgate::config::TaskKind::MustChange => "As **ticketgate must-change** USER.",
            pam_ticketgate::config::TaskKind::Terminate => {
                "As **ticketgate terminate** USER (SIGHUP and SIGTERM, SIGKILL after 5 s)."
            }
        };
        page.tp(vec![bold(kind.as_str())], what);
    }
    page.sh("FILES")
        .tp(
            vec![bold(pam_ticketgate::config::DEFAULT_PATH)],
            "The configuration read unless **--config** names another; its **[agent]** table, see \
             **ticketgate.toml**(5).",
        )
        .tp(
            vec![italic("state_dir"), roman("/agent-tasks.json")],
            "The tasks this host took on and their results (root's, 0600, replaced whole), kept \
             8 days; a result stays until a poll carrying it was answered. A file that does not \
             parse is set aside as agent-tasks.json.corrupt-TIME. **agent-tasks.lock** keeps two \
             agents from polling at once.",
        );
    page.sh("EXIT STATUS")
        .tp(
            vec![bold("0")],
            "**--once**: the poll (and the one reporting its results) succeeded; the service: \
             stopped by SIGTERM or SIGINT.",
        )
        .tp(
            vec![bold("1")],
            "Not run as root; the server refused the request (401, 403, 404, 400, a TLS error) \
             or answered something that is not the protocol's; state_dir cannot be used.",
        )
        .tp(
            vec![bold("3")],
            "The server could not be reached (DNS, connection, deadline, 5xx).",
        )
        .tp(
            vec![bold("4")],
            "The configuration is broken: the file is refused, it has no **[agent]** table, or the \
             host token or **ca_file** cannot be used.",
        );
    page.sh("SECURITY")
        .text(
            "The agent runs as root: chpasswd replaces /etc/shadow, lock and must-change write the \
             module's state, terminate signals other users' processes. Whoever holds the server (or \
             this host's token) can therefore order password resets on this host; **[agent] tasks** \
             bounds what it can order. The process is not dumpable (no core dump, no ptrace by \
             other users), and the shipped unit adds LimitCORE=0 and a capability bounding set of \
             CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_KILL and CAP_AUDIT_WRITE.",
        );
    page.sh("EXAMPLES")
        .para("Run one poll by hand (the unit is not enabled by default):")
        .example("# ticketgate-agent --once")
        .para("Then as a service:")
        .example("# systemctl enable --now ticketgate-agent");
    see_also(
        &mut page,
        &[
            ("ticketgate-server", "8"),
            ("ticketgate", "8"),
            ("ticketgate.toml", "5"),
            ("chpasswd", "8"),
        ],
    );
    page.finish()
}
