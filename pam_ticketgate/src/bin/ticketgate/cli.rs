//! The command line of `ticketgate`, and nothing else: clap, std and pam_ticketgate only, so the
//! man page generator (`man/`) includes this very file and ticketgate(8) cannot drift from it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// `ticketgate [--config PATH] COMMAND`. (Plain comments on these types: a doc comment would
// become clap's long help and change `--help`.)
#[derive(Parser)]
#[command(
    name = "ticketgate",
    version = pam_ticketgate::VERSION,
    about = "Administer pam_ticketgate: account locks, failure counts, configuration"
)]
pub struct Cli {
    /// Configuration file
    #[arg(long, global = true, value_name = "FILE", default_value = pam_ticketgate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show whether USER (or every user with state) is locked, why, until when, and recent logins; with USER in a fleet = true scope, the fleet's state too (exit 3 if its server is unreachable)
    Status {
        user: Option<String>,
        /// Only the users locked now (by an administrator, failed logons, inactivity, a corrupt record)
        #[arg(long, conflicts_with = "user")]
        locked: bool,
        /// One JSON object per user (an array without USER), times as RFC 3339 UTC; with USER, a "fleet" object (null outside fleet scopes)
        #[arg(long)]
        json: bool,
    },
    /// Forget USER's failed logons and lift a lock caused by them (an admin lock stays) [root]
    Reset { user: String },
    /// Lock USER until `ticketgate unlock` (admin lock) [root]
    Lock { user: String },
    /// Lift every lock on USER (admin, failed logons, inactivity) and forget its failed logons [root]
    Unlock { user: String },
    /// Make USER change the credential at the next login (--pin: the PIN) [root]
    MustChange {
        user: String,
        /// The PIN (credential=pin services) instead of the password
        #[arg(long)]
        pin: bool,
    },
    /// List the open sessions on this host (of USER): user, pid, service, tty, rhost, ticket, start
    Sessions {
        user: Option<String>,
        /// A JSON array of sessions, times as RFC 3339 UTC
        #[arg(long)]
        json: bool,
    },
    /// End USER's sessions on this host: SIGHUP and SIGTERM, then SIGKILL after --grace seconds [root]
    Terminate {
        user: String,
        /// Seconds between SIGHUP+SIGTERM and SIGKILL
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        grace: u64,
    },
    /// Dry run of the ticket gate: fetch ID and print each condition with the value seen (logs no one in)
    TestTicket {
        /// The user logging in, as the conditions and the `{user}` placeholders see them
        #[arg(long)]
        user: String,
        /// The host name the conditions see (default: this host)
        #[arg(long)]
        host: Option<String>,
        id: String,
        /// One JSON object: the ticket, each condition with the value seen, the verdict
        #[arg(long)]
        json: bool,
    },
    /// Break-glass codes for the offline `breakglass` ticket fallback
    Breakglass {
        #[command(subcommand)]
        action: BreakglassAction,
    },
    /// Summarise the would_refuse events of mode = "report" scopes in the audit file, per gate, user and service (count, first and last time, reasons); exits 4 without an audit_file
    Report {
        /// How far back to look: a duration such as 90m, 24h or 7d
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        since: String,
        /// One JSON object: since, until, events, unreadable_lines and the groups, times as RFC 3339 UTC
        #[arg(long)]
        json: bool,
    },
    /// Check a configuration file (default: --config) and every PAM stack in --pam-dir that loads the module; exits 4 on an error (warnings alone exit 0)
    CheckConfig {
        path: Option<PathBuf>,
        /// The PAM service directory whose stacks are checked (@include, include and substack files are read from it)
        #[arg(long, value_name = "DIR", default_value = pam_ticketgate::pamd::DEFAULT_DIR)]
        pam_dir: PathBuf,
        /// One JSON object: the configuration's errors and warnings, the stacks' findings
        #[arg(long)]
        json: bool,
    },
    /// Check login protect from this host without using an unlock up: the config, the host
    /// token, reachability and TLS, the server's answer to a dry-run attempt for USER [root]
    TestProtect {
        user: String,
        /// The service ID to ask about (default: [login_protect] service_id)
        #[arg(long, value_name = "ID")]
        service_id: Option<String>,
    },
    /// Switch login protect off (`disable`: no check is made) or back on, on this host [root]
    Protect {
        #[arg(value_parser = ["enable", "disable"])]
        action: String,
    },
    /// Offline PIN for `[offline] login_protect = "hybrid"`
    OfflinePin {
        #[command(subcommand)]
        action: OfflinePinAction,
    },
}

#[derive(Subcommand)]
pub enum OfflinePinAction {
    /// Read USER's offline PIN twice (terminal or stdin), check the PIN rules, store its hash [root]
    Set { user: String },
    /// Remove USER's offline PIN (hybrid mode then refuses USER while the server is unreachable) [root]
    Remove { user: String },
}

#[derive(Subcommand)]
pub enum BreakglassAction {
    /// Replace every break-glass code with N new ones and show them once [root]
    Generate { n: usize },
    /// Show how many codes are left unused and when each was made and used (never a code) [root]
    List {
        /// A JSON array, one object per code (created, used), times as RFC 3339 UTC
        #[arg(long)]
        json: bool,
    },
    /// Make every break-glass code unusable [root]
    Revoke,
}
