//! pam_ticketgate(8): module arguments from `args::ARGS`, return codes from `Outcome::ALL`
//! through the module's own `hooks::pam_code`, audit events from `EventName::ALL`.

use pam_ticketgate::args::{ARGS, ArgKind};
use pam_ticketgate::audit::EventName;
use pam_ticketgate::gate::Outcome;
use pam_ticketgate::hooks::pam_code;
use roff::{bold, italic, roman};

use crate::cli_page::see_also;
use crate::page::Page;

/// The stack docs/design.md §2 recommends (the tests log in through exactly this).
pub const STACK: &str = "\
auth     requisite                   pam_ticketgate.so preauth
auth     [success=1 default=ignore]  pam_unix.so nullok
auth     [default=die]               pam_ticketgate.so authfail
auth     requisite                   pam_ticketgate.so ticket
account  required                    pam_ticketgate.so
password requisite                   pam_ticketgate.so
password requisite                   pam_unix.so use_authtok yescrypt
password optional                    pam_ticketgate.so commit
session  optional                    pam_ticketgate.so";

/// The sshd_config(5) settings the gates need.
pub const SSHD_CONFIG: &str = "\
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
AuthenticationMethods publickey,keyboard-interactive";

pub(crate) fn render() -> String {
    let mut page = Page::new("PAM_TICKETGATE", "8");
    page.sh("NAME")
        .text("pam_ticketgate - PAM module: credential policy, login protect and ticket gate");
    page.sh("SYNOPSIS");
    let mut synopsis = vec![bold("pam_ticketgate.so")];
    let phases: Vec<&str> = ARGS
        .iter()
        .filter(|a| matches!(a.kind, ArgKind::Phase(_) | ArgKind::Commit))
        .map(|a| a.name)
        .collect();
    synopsis.push(roman(" ["));
    synopsis.push(bold(phases.join("|")));
    synopsis.push(roman("]"));
    for a in ARGS
        .iter()
        .filter(|a| !matches!(a.kind, ArgKind::Phase(_) | ArgKind::Commit))
    {
        synopsis.push(roman(" ["));
        synopsis.push(bold(a.name));
        if let Some(v) = a.value {
            synopsis.push(roman("="));
            synopsis.push(italic(v));
        }
        synopsis.push(roman("]"));
    }
    page.tp(synopsis, "");
    page.sh("DESCRIPTION")
        .text(
            "**pam_ticketgate** puts three gates in front of the logins of any PAM service (sshd, \
             login, su, sudo, ...), configured in one file, **ticketgate.toml**(5):",
        )
        .tp(
            vec![bold("Credential policy")],
            "failed-logon lockout, administrator lock, credential expiry, inactivity lock, \
             must-change at next login, trivial password and PIN rules, history (the Cisco Unified CM \
             credential-policy model; what pam_faillock, pam_pwquality and pam_pwhistory do).",
        )
        .tp(
            vec![bold("Login protect")],
            "a login is refused before any password is checked unless the user unlocked it from \
             their own device in the last minute; the next attempt uses the unlock up. The server is \
             **ticketgate-server**(8).",
        )
        .tp(
            vec![bold("Ticket gate")],
            "a privileged login must name an approved ticket of the organisation's ticket system \
             (ServiceNow, Jira, Jira Service Management, ServiceDesk Plus on-premises, MSP and Cloud, \
             or any HTTP/JSON system); the module fetches it and checks the configured conditions.",
        )
        .tp(
            vec![bold("Fleet lockout")],
            "with fleet = true in a scope, failed logons and locks are shared with every host \
             through **ticketgate-server**(8): **preauth** asks whether the user is locked \
             fleet-wide, **authfail** reports the failure, **ticket** reports a success only when \
             the fleet had failures on record (a clean login makes one request). A login is \
             refused when the local or the fleet state says locked. Events made while the server \
             is unreachable are spooled under state_dir and sent when it answers.",
        )
        .para(
            "Each gate has an offline mode for when its server cannot be reached. Which logins the \
             gates apply to is decided by the configuration's scopes: a login no scope covers is left \
             alone (PAM_IGNORE). The module provides the **auth**, **account**, **password** and \
             **session** types.",
        );
    page.sh("OPTIONS");
    for a in ARGS {
        let mut term = vec![bold(a.name)];
        if let Some(v) = a.value {
            term.push(roman("="));
            term.push(italic(v));
        }
        page.tp(term, a.doc);
    }
    page.para(
        "The phase word belongs on **auth** lines only, exactly one per line. An unknown argument \
         fails the line with PAM_SERVICE_ERR and a syslog line naming it.",
    );
    page.sh("THE STACK")
        .text(
            "In /etc/pam.d/SERVICE, in place of the distribution's common-auth (keep the service's \
             other lines, such as pam_nologin, pam_env and pam_limits):",
        )
        .example(STACK)
        .tp(
            vec![bold("account")],
            "refuses admin-, hack- and inactivity-locked accounts (PAM_PERM_DENIED), also for logins \
             that skip auth (ssh keys, cron, sudo NOPASSWD); an expired credential or one that must \
             be changed answers PAM_NEW_AUTHTOK_REQD, so login, su and sshd make the user change it. \
             The failure count is reset only when the **ticket** line succeeded in the same PAM handle.",
        )
        .tp(
            vec![bold("password")],
            "first pass: refuses a change sooner than min_change_interval; second pass: asks for \
             the new credential (or takes PAM_AUTHTOK), checks length, the trivial rules and history, \
             sets PAM_AUTHTOK for pam_unix use_authtok and records the change. PAM_AUTHTOK_ERR when \
             refused.",
        )
        .tp(
            vec![bold("session")],
            "records the session (user, service, tty, rhost, pid, TICKETGATE_TICKET, start) under \
             run_dir/sessions for **ticketgate sessions** and **ticketgate terminate**; removes it \
             on close.",
        )
        .para(
            "**fail_delay** is requested with pam_fail_delay(3) in every auth phase; give pam_unix \
             **nodelay** if it should be the only delay. PAM_SILENT suppresses every message.",
        );
    page.sh("RETURN VALUES").text(
        "Every hook maps the gate's one outcome to a PAM code in one place (an exhaustive match):",
    );
    // One entry per PAM code, with every outcome that maps to it.
    let mut codes: Vec<(String, Vec<&str>)> = Vec::new();
    for o in Outcome::ALL {
        let code = format!("{:?}", pam_code(o));
        match codes.iter_mut().find(|(c, _)| *c == code) {
            Some((_, summaries)) => summaries.push(o.summary()),
            None => codes.push((code, vec![o.summary()])),
        }
    }
    for (code, summaries) in codes {
        page.tp(vec![bold(code)], &summaries.join("; "));
    }
    page.para(
        "By phase: **preauth** answers PAM_SUCCESS, PAM_MAXTRIES (locked), PAM_AUTH_ERR (login \
         protect on), PAM_AUTHINFO_UNAVAIL (protect or fleet server unreachable, offline mode \
         deny) or PAM_SYSTEM_ERR (the fleet server refused the check); \
         **authfail** always PAM_AUTH_ERR; **ticket** PAM_SUCCESS (also for logins no scope \
         covers), PAM_AUTH_ERR (ticket rejected, counted as a failed logon), PAM_MAXTRIES or \
         PAM_AUTHINFO_UNAVAIL; **account** PAM_SUCCESS, PAM_PERM_DENIED or PAM_NEW_AUTHTOK_REQD; \
         **password** PAM_SUCCESS or PAM_AUTHTOK_ERR. Any phase answers PAM_IGNORE for a login no \
         scope covers (except **ticket**), PAM_SERVICE_ERR for a broken configuration (never \
         open) and PAM_SYSTEM_ERR when state cannot be used.",
    );
    page.sh("SSHD")
        .text(
            "sshd carries the prompts (Password:, Ticket ID:, the login-protect prompt) over \
             keyboard-interactive. In sshd_config(5):",
        )
        .example(SSHD_CONFIG)
        .para(
            "PasswordAuthentication must be off: sshd's own password method answers every PAM \
             prompt with the password, so the ticket prompt would get it. AuthenticationMethods \
             makes key-based logins pass the PAM stack after the key. sshd shows info text only \
             after authentication, so anything the user must act on is sent as a prompt. The \
             **ticket** line answers pam_setcred with success (sshd calls it in a process that did \
             not authenticate).",
        );
    page.sh("ENVIRONMENT").tp(
        vec![bold("TICKETGATE_TICKET")],
        "Set with pam_putenv(3) to the accepted ticket ID; sshd, su and login pass it to the \
         session.",
    );
    page.sh("AUDIT").text(
        "One syslog line per event (facility authpriv, ident pam_ticketgate): \
             event=NAME user=U service=S rhost=H key=value..., never a secret. A value other than \
             a plain word is double-quoted, with quotes and backslashes escaped, control \
             characters written \\xNN and other non-ASCII characters \\u{N}, so no value \
             can start a line or a field. A user name is shown only when it could be an account \
             name (1-32 letters, digits and . _ - @ $ \\, not starting with . or -); anything \
             else, such as a password typed at the user prompt, appears as \
             (invalid, N characters); when NSS knows such an account, the event adds \
             account=ENCODED, the name percent-encoded as its state file is. With **audit_file** set, each event is also one JSON \
             object per line ({\"ts\":...,\"event\":...,\"user\":...,...}). The events:",
    );
    for e in EventName::ALL {
        page.tp(vec![bold(e.as_str())], e.summary());
    }
    page.sh("FILES")
        .tp(
            vec![bold(pam_ticketgate::config::DEFAULT_PATH)],
            "The configuration (root-owned, not group- or world-writable, in directories only \
             root can change, not a symbolic link; holds no secrets).",
        )
        .tp(
            vec![bold("/etc/security/ticketgate.d/")],
            "The usual place for the secret files the configuration names (root, 0600).",
        )
        .tp(
            vec![italic("state_dir"), roman("/")],
            "Per-user state: USER.state, USER.lock, USER.last, USER.pin; breakglass.json, \
             protect.disabled, fleet-spool.jsonl (the fleet events waiting for the fleet server, \
             at most 1000) (default /var/lib/ticketgate). Root's and not writable by group or \
             others, as is every directory leading to it, or every login fails closed.",
        )
        .tp(
            vec![italic("run_dir"), roman("/")],
            "sessions/, ticket-cache/, breaker.ticket, breaker.login_protect, breaker.fleet, ticket-token \
             (default /run/ticketgate). Held to the same rule as state_dir, and so are sessions/ \
             and ticket-cache/; a ticket-cache file is read only for the user it names.",
        );
    page.sh("EXAMPLES").text(
        "Test a stack without touching /etc/pam.d: put it in a file \
        under a directory of your own and run pamtester(1) in a private mount namespace with \
        that directory bound over /etc/pam.d. See **ticketgate**(8) for the administrator's \
        commands.",
    );
    see_also(
        &mut page,
        &[
            ("ticketgate.toml", "5"),
            ("ticketgate", "8"),
            ("ticketgate-server", "8"),
            ("pam.conf", "5"),
            ("pam", "8"),
            ("sshd_config", "5"),
            ("pam_faillock", "8"),
            ("pam_unix", "8"),
        ],
    );
    page.finish()
}
