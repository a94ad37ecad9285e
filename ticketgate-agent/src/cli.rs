//! The command line of `ticketgate-agent`, and nothing else: clap, std and pam_ticketgate only,
//! so the man page generator (`man/`) includes this very file.

use std::path::PathBuf;

use clap::Parser;

// `ticketgate-agent [--config PATH] [--once]`. (Plain comments: a doc comment would become
// clap's long help.)
#[derive(Parser)]
#[command(
    name = "ticketgate-agent",
    version = pam_ticketgate::VERSION,
    about = "Host agent: poll ticketgate-server for the tasks queued for this host (password reset and verify, lock, unlock, must-change, terminate), run them and report the results"
)]
pub struct Cli {
    /// Configuration file (its [agent] table)
    #[arg(long, value_name = "FILE", default_value = pam_ticketgate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Poll once, run the tasks handed out, report their results at once, and exit (0 ok, 1 refused or a bad answer, 3 server unreachable, 4 configuration broken)
    #[arg(long)]
    pub once: bool,
}
