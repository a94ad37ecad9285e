//! ticketgate-server(8): NAME, SYNOPSIS, OPTIONS and COMMANDS from the server's own clap
//! `Cli` (clap_mangen), its configuration keys from `config::KEYS` (tested against its parser),
//! the protocol by hand.

use clap::{Command, CommandFactory};
use clap_mangen::Man;
use roff::{bold, italic, roman};
use ticketgate_server::cli::{Cli, DEFAULT_CONFIG, EXIT_CONFIG, EXIT_CONFIG_BROKEN};
use ticketgate_server::config::KEYS;

use crate::cli_page::{commands, mangen, see_also};
use crate::page::Page;

/// The server's command line, exactly as it parses it.
pub fn server_command() -> Command {
    let mut cmd = Cli::command();
    cmd.build();
    cmd
}

/// The protocol's endpoints: method, path, what they do.
pub const ENDPOINTS: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/v1/attempt",
        "From a host's module, with Authorization: Bearer TOKEN and \
         {\"service_id\",\"user\",\"host\",\"service\",\"rhost\"}: answers 200 {\"unlocked\":true} once \
         per unlock inside unlock_window (the attempt uses it up), else {\"unlocked\":false}. A \
         missing or wrong token gets 401 and does not use the unlock. With \"dry_run\": true \
         (ticketgate test-protect) it is checked as a login's and answered \
         {\"dry_run\":true,\"unlocked\":false} without taking the unlock.",
    ),
    (
        "POST",
        "/v1/unlock",
        "From the user's device, with {\"service_id\",\"user\",\"code\"} (a TOTP code; \
         service_id optional): answers 200 {\"unlocked_until\":EPOCH_SECONDS,\"service_id\":ID}, \
         the window opened: the service ID asked for, else the enrollment's, else \"*\", a \
         wildcard window that the user's next attempt at any service ID takes (once, inside \
         unlock_window, and only from a host whose service_ids allow that service ID). A wrong \
         or used code, an unknown user or another service ID all get the same 403; after 5 \
         misses in 5 minutes 429 with Retry-After, even for a right code. \"*\" is never a \
         service ID in a request (400).",
    ),
    (
        "POST",
        "/v1/enroll",
        "From the user's device, with {\"user\",\"code\"} (the code of enroll --code): draws \
         the user's TOTP secret and answers 200 {\"otpauth_uri\",\"secret\",\"qr_svg\",\
         \"issuer\",\"account\"}; not active until confirmed. Every refusal (no code, wrong, \
         expired, dead after 5 wrong tries, already enrolled) gets the same 403; 429 as for \
         /v1/unlock.",
    ),
    (
        "POST",
        "/v1/enroll/confirm",
        "With {\"user\",\"code\",\"totp\"}: the first TOTP code of the new secret makes the \
         enrollment active (that code is used up) and deletes the enrollment code; answers 200 \
         {\"enrolled\":true,\"service_id\":ID}. A wrong totp gets 403 and counts as a wrong try.",
    ),
    (
        "POST",
        "/v1/fleet/check",
        "Fleet mode ([fleet] set; else every /v1/fleet path answers 404), with Authorization: \
         Bearer TOKEN and {\"user\",\"credential\"} (\"password\" or \"pin\"): answers 200 \
         {\"locked\": BOOL, \"reason\": \"failures\" | \"admin\" | null, \"until\": EPOCH_SECONDS \
         | null, \"failures\": N}. An admin lock covers both credentials; until is set for a failures lock \
         with an end.",
    ),
    (
        "POST",
        "/v1/fleet/failure",
        "With {\"id\", \"user\", \"credential\", \"host\", \"service\", \"rhost\", \"at\"}: counts \
         one failed login and answers as check. id is a UUID: an id seen before counts nothing \
         (kept 8 days). The event counts under the token's [[host]] name; host is only logged. at (epoch seconds) \
         beyond 60 s ahead or 7 days back is clamped and logged; older than reset_failed_after \
         it is remembered but not counted. While a failures lock is in force failures are not \
         counted and do not extend it.",
    ),
    (
        "POST",
        "/v1/fleet/success",
        "With {\"id\", \"user\", \"credential\", \"host\", \"service\", \"at\"}: answers 200 {} and \
         clears that credential's count, once per id; never a lock, and not when a failure \
         newer than at was counted.",
    ),
    (
        "POST",
        "/v1/agent/poll",
        "Host agents ([agent] set; else 404), with Authorization: Bearer TOKEN (a [[host]] \
         token; that [[host]] name is the host, the host field is only logged) and \
         {\"host\", \"results\": [{\"task_id\", \"status\": \"done\" | \"failed\" | \
         \"refused\", \"detail\"}]}: takes the results first (a result ends only a pending \
         task of that host; the first wins, others are ignored and logged), expires overdue \
         tasks, then answers 200 {\"tasks\": [{\"id\", \"kind\", \"user\", \"not_after\": \
         EPOCH_SECONDS, \"password\"}], \"interval\": SECONDS}: at most 50 of the host's \
         pending tasks whose not_after is ahead, oldest first, handed out again on every poll \
         until their result comes; password only for reset_password and verify_password. A \
         password the key does not open is never handed out: its task ends failed with \
         detail key_mismatch.",
    ),
    (
        "GET",
        "/v1/health",
        "200 {\"status\":\"ok\"}; it does not ask the store.",
    ),
    (
        "GET",
        "/",
        "The unlock page for a phone, titled with issuer: user name, code, an optional \
         service ID (?service_id=ID or #service_id=ID fixes it) and one Unlock button; at \
         /#enroll the enrollment with a code (QR code, then the first TOTP code).",
    ),
];

pub(crate) fn render() -> String {
    let cmd = server_command();
    let man = Man::new(cmd.clone());
    let mut page = Page::new("TICKETGATE-SERVER", "8");
    page.raw(&mangen(|w| man.render_name_section(w)));
    crate::cli_page::synopsis(&mut page, &cmd);
    page.sh("DESCRIPTION")
        .text(
            "**ticketgate-server** is the self-hostable login-protect server of \
             **pam_ticketgate**(8) (protocol v1). Users enroll a TOTP secret (RFC 6238: SHA-1, 30 s, \
             6 digits, any authenticator app) and unlock from their phone; the next login attempt \
             on a protected host asks the server, which answers unlocked once inside unlock_window.",
        )
        .para(
            "With store = \"sqlite\" (the default) enrollments and each user's last accepted TOTP \
             step live in SQLite (data_dir/enrollments.sqlite3), committed before an unlock is \
             answered, so a code never works twice, also across restarts. Open unlock windows and \
             wrong-code counters live only in memory: a restart drops them (fail closed).",
        )
        .para(
            "With store = \"postgres\" every piece of shared state (enrollments, used steps, \
             unlock windows, wrong-code counters, and with [fleet] the fleet's failure counts, \
             locks and event ids) lives in PostgreSQL, each change one atomic statement, so any \
             number of replicas behind a load balancer act as one server: an unlock is consumed \
             exactly once, a code used on one replica is refused on the others, the wrong-code \
             limit holds across them, and failures reported to any replica add up to one fleet \
             count whose lock holds on all (an event id replayed to another replica counts \
             nothing). The tables are created and migrated on start. Unlock windows are in an \
             UNLOGGED table: a database crash drops them (fail closed). While the database cannot \
             be reached, /v1/attempt, /v1/unlock and /v1/fleet/* answer 503, which a module treats \
             as unreachable. The connection string is read from postgres_url_file (under systemd \
             the credential db_NAME); the database's credentials stay on the server, hosts never \
             hold them.",
        )
        .para(
            "enroll prints the new secret in the administrator's terminal. enroll --code prints a \
             one-time enrollment code instead (12 characters from 23456789ABCDEFGHJKLMNPQRSTUVWXYZ): \
             the user redeems it on the unlock page (/#enroll), the server draws the secret there, \
             and the enrollment is active once the user types the app's first code. Only the \
             code's SHA-256 is stored, with its expiry (--ttl) and wrong tries (dead after 5); a \
             new code replaces a pending one, revoke kills it, list shows it, store copy moves it. \
             Until it expires the code is a bearer secret: whoever holds it can enroll as the user.",
        )
        .para(
            "SIGTERM stops accepting connections and lets open requests finish for up to 10 s.",
        )
        .para(
            "Under systemd (the shipped unit, Type=notify) serve sends READY=1 to $NOTIFY_SOCKET \
             (a path, or @ and an abstract name) once it listens and every file was accepted, \
             and STOPPING=1 when SIGTERM or SIGINT starts the stop; without NOTIFY_SOCKET it \
             sends nothing. It runs as the system user _ticketgate-server with no capability. \
             The other commands, run as root, first become the user and group owning data_dir \
             when that is not root, so the files they write stay the server's.",
        );
    page.raw(&mangen(|w| man.render_options_section(w)));
    page.sh("COMMANDS");
    commands(&mut page, &cmd);
    page.sh("CONFIGURATION").text(&format!(
        "TOML, default {DEFAULT_CONFIG}; it must not be writable by group or others. It, the \
         token files, the TLS files and data_dir are checked with the module's own rule: owned \
         by root (or the server's user), and every directory leading to them not writable by \
         group or others (a sticky one only with root's entries below it). Relative paths are \
         taken from the file's directory. Keys:"
    ));
    page.para(&format!(
        "A key naming a file (token_file, tls_key, tls_cert, postgres_url_file, task_key_file) takes a path or \
         {prefix}NAME: the systemd credential NAME, read from ${var}/NAME. The unit runs the \
         server as the system user _ticketgate-server and loads every file of \
         /etc/ticketgate-server/hosts, /etc/ticketgate-server/tls and /etc/ticketgate-server/db \
         (root only) as the credentials hosts_FILE, tls_FILE and db_FILE, so \
         /etc/ticketgate-server/hosts/web01.token is {prefix}hosts_web01.token and \
         /etc/ticketgate-server/db/postgres.url is {prefix}db_postgres.url. A credential is \
         trusted as systemd makes it: mode 0400, owned by the server's user, or root's with an \
         ACL that lets only that user read it. A server started by hand has no {var}: name paths \
         then. The other commands, run by hand as root, read {prefix}db_NAME from \
         /etc/ticketgate-server/db/NAME, so they reach the replicas' database.",
        prefix = ticketgate_server::credentials::PREFIX,
        var = ticketgate_server::credentials::DIRECTORY_VAR,
    ));
    for k in KEYS.iter().filter(|k| k.table.is_empty()) {
        page.tp(
            vec![bold(k.key)],
            &format!("{} Default: {}.", k.doc, k.default),
        );
    }
    page.para("One [[host]] table per host whose module may call /v1/attempt:");
    for k in KEYS.iter().filter(|k| k.table == "host") {
        page.tp(
            vec![roman("[[host]] "), bold(k.key)],
            &format!("{} Default: {}.", k.doc, k.default),
        );
    }
    page.para(
        "The [fleet] table turns on fleet lockout (/v1/fleet/*, lock, unlock, reset, status): \
         failures of one user and credential reported by any host add up, and the lock they \
         reach refuses that user on every host. Keys:",
    );
    for k in KEYS.iter().filter(|k| k.table == "fleet") {
        page.tp(
            vec![roman("[fleet] "), bold(k.key)],
            &format!("{} Default: {}.", k.doc, k.default),
        );
    }
    page.para(
        "The [agent] table turns on host agents (POST /v1/agent/poll, task add, task list): \
         ticketgate-agent on each host polls with its [[host]] token and runs the tasks queued \
         for it. A queued password is stored encrypted (ChaCha20-Poly1305, a random nonce per \
         task, the task's id and host bound to it) under task_key_file's key and deleted in the \
         statement that ends its task (a result, or expiry). Tasks live in \
         data_dir/tasks.sqlite3, or with store = \"postgres\" in the table \
         ticketgate_agent_task. Keys:",
    );
    for k in KEYS.iter().filter(|k| k.table == "agent") {
        page.tp(
            vec![roman("[agent] "), bold(k.key)],
            &format!("{} Default: {}.", k.doc, k.default),
        );
    }
    page.example(
        "listen = \"[::]:8443\"\n\
         data_dir = \"/var/lib/ticketgate-server\"\n\
         unlock_window = \"60s\"\n\
         tls_cert = \"credential:tls_fullchain.pem\"\n\
         tls_key = \"credential:tls_privkey.pem\"\n\
         \n\
         [fleet]\n\
         failed_logon = 5\n\
         reset_failed_after = \"15m\"\n\
         lockout_duration = \"30m\"\n\
         \n\
         [agent]\n\
         task_key_file = \"credential:task_key\"\n\
         \n\
         [[host]]\n\
         name = \"web01\"\n\
         token_file = \"credential:hosts_web01.token\"\n\
         service_ids = [\"web-prod-01\"]",
    );
    page.para(
        "The same token goes into the host's [login_protect] secret_file (see \
         **ticketgate.toml**(5)). To add a host, write its token to \
         /etc/ticketgate-server/hosts/NAME.token (root, mode 0600), add its [[host]] table and \
         run systemctl restart ticketgate-server: systemd loads credentials when the service \
         starts.",
    );
    page.sh("PROTOCOL").text(
        "JSON over HTTPS (plain HTTP without tls_cert and tls_key). Bad JSON gets 400, a body \
         over 16 KiB 413, a wrong method 405, an unknown path 404; every answer but the page is \
         JSON, errors as {\"error\":\"...\"}. A store that cannot be reached gets 503.",
    );
    for (method, path, doc) in ENDPOINTS {
        page.tp(vec![bold(*method), roman(" "), bold(*path)], doc);
    }
    page.sh("LOGGING").text(
        "One line per event on standard error (the journal under systemd): ts=... event=attempt \
         host_token=NAME service_id=... user=... host=... service=... rhost=... unlocked=true or false; \
         also unlock (service_id=\"*\" for a wildcard window), unlock_refused (reason= wrong_code, \
         code_already_used, not_enrolled, wrong_service_id or rate_limited), enroll_code_issued \
         (enroll --code, on its standard error), enroll_code_redeemed, enroll_code_confirmed, \
         enroll_code_refused (stage= redeem or confirm; reason= no_code, expired, \
         too_many_tries, wrong_code, not_redeemed, wrong_totp, already_enrolled or \
         rate_limited), attempt_refused (reason= wrong_token, no_token or \
         foreign_service_id), bad_request, listening, warning (reason=host_without_service_ids \
         names each host that may use any service ID), shutdown, error (reason=store_unavailable \
         or store_deadline when the store cannot be reached). Fleet mode adds \
         fleet_check, fleet_failure (outcome= counted, replayed, too_old or while_locked; \
         at_clamped_from= when at was clamped), fleet_success (outcome= cleared, kept or \
         replayed), fleet_lock (reason=failures with the host_token that reached the limit; \
         reason=admin with the operator), fleet_unlock and fleet_reset (operator=: SUDO_USER, \
         else the invoking uid's name), fleet_refused (reason= wrong_token or no_token) \
         and fleet_prune. Host agents add task_added (task_id, host, user, kind, operator; \
         from task add), task_result (task_id, host, user, kind, status, detail), \
         task_result_ignored (reason= not_pending_for_host or repeated_in_request), \
         task_expired, task_key_mismatch, agent_refused (reason= wrong_token, no_token or \
         no_agent_config) and agent_poll (host_token, host, peer, results, tasks) for a poll \
         that carried results or got tasks; an idle poll leaves no line (it is counted in \
         ticketgate_agent_polls_total on /metrics). Tokens, secrets, codes, enrollment codes, \
         passwords and the connection string are never logged.",
    );
    page.sh("EXIT STATUS")
        .tp(
            vec![bold("0")],
            "Success; serve: stopped by SIGTERM or SIGINT.",
        )
        .tp(
            vec![bold("1")],
            "Failure (a user not enrolled, the store unusable; serve: PostgreSQL unreachable at \
             start, so systemd starts it again).",
        )
        .tp(
            vec![bold("2")],
            "Usage error (also a user name with spaces).",
        )
        .tp(
            vec![bold(EXIT_CONFIG_BROKEN.to_string())],
            "lock, unlock, reset, status: the configuration is refused, or has no [fleet]; \
             task add, task list: refused, or no [agent].",
        )
        .tp(
            vec![bold(EXIT_CONFIG.to_string())],
            "The configuration or a file it names is refused (EX_CONFIG): an unknown key, wrong \
             type or out-of-range value, a file or a directory leading to one writable by \
             others, no [[host]], a token or key file that is unreadable, not root's, open to \
             others, a certificate others can write, a token under 16 characters, a \
             credential named while $CREDENTIALS_DIRECTORY is unset or missing from it, an \
             [agent] task_key_file that is missing, not 32 bytes, or open to others, a \
             postgres_url_file refused by the token rule or with sslmode=disable to a host that \
             is not loopback, or a database schema newer than the server. \
             The systemd unit does not restart on it.",
        );
    page.sh("EXAMPLES").example(&format!(
        "# ticketgate-server --config {DEFAULT_CONFIG} enroll --service-id web-prod-01 alice\n\
         # ticketgate-server --config {DEFAULT_CONFIG} enroll --code --ttl 1h bob\n\
         # ticketgate-server --config {DEFAULT_CONFIG} list\n\
         # ticketgate-server --config {DEFAULT_CONFIG} lock mallory\n\
         # ticketgate-server --config {DEFAULT_CONFIG} status --json\n\
         # ticketgate-server --config {DEFAULT_CONFIG} store copy --from sqlite --to postgres\n\
         # ticketgate-server --config {DEFAULT_CONFIG} task add --host web01 reset-password --generate alice\n\
         # ticketgate-server --config {DEFAULT_CONFIG} task list --host web01\n\
         # systemctl enable --now ticketgate-server"
    ));
    page.sh("FILES")
        .tp(vec![bold(DEFAULT_CONFIG)], "The configuration.")
        .tp(
            vec![
                bold("/etc/ticketgate-server/hosts/"),
                roman(", "),
                bold("/etc/ticketgate-server/tls/"),
                roman(", "),
                bold("/etc/ticketgate-server/db/"),
            ],
            "Host tokens, the TLS certificate and key, and the PostgreSQL connection string \
             (root, 0700; files 0600), loaded by the unit as the credentials hosts_FILE, \
             tls_FILE and db_FILE.",
        )
        .tp(
            vec![italic("data_dir"), roman("/enrollments.sqlite3")],
            "Enrollments (mode 0600, WAL), with store = \"sqlite\".",
        )
        .tp(
            vec![italic("data_dir"), roman("/fleet.sqlite3")],
            "Fleet counts, locks and the event ids seen (mode 0600, WAL), with [fleet] and \
             store = \"sqlite\"; with store = \"postgres\" they are in the database's \
             ticketgate_fleet_* tables, shared by every replica.",
        )
        .tp(
            vec![italic("data_dir"), roman("/tasks.sqlite3")],
            "The host agents' tasks (mode 0600, WAL), with [agent] and store = \"sqlite\".",
        )
        .tp(
            vec![bold("/etc/ticketgate-server/task.key")],
            "The [agent] task key (root, 0600), loaded by the unit's \
             LoadCredential=task_key line (commented out until [agent] is used).",
        );
    see_also(
        &mut page,
        &[
            ("pam_ticketgate", "8"),
            ("ticketgate.toml", "5"),
            ("ticketgate", "8"),
        ],
    );
    page.finish()
}
