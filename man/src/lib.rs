//! The man pages, generated from the code they describe: the CLIs' clap definitions, the
//! config key table (`pam_ticketgate::config::keys`), the module argument table
//! (`pam_ticketgate::args::ARGS`), the audit events and the outcome → PAM code mapping.

mod agent_page;
mod cli_page;
mod completions;
mod config_page;
mod module_page;
mod page;
mod server_page;

use std::path::{Path, PathBuf};

pub use agent_page::agent_command;
pub use cli_page::ticketgate_command;
pub use completions::{Completion, completions};
pub use module_page::{SSHD_CONFIG, STACK};
pub use server_page::{ENDPOINTS, server_command};

/// One generated page: where it goes below the output directory, and its roff source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManPage {
    /// `man8/pam_ticketgate.8` and so on.
    pub path: &'static str,
    pub source: String,
}

/// Every page.
pub fn pages() -> Vec<ManPage> {
    vec![
        ManPage {
            path: "man8/pam_ticketgate.8",
            source: module_page::render(),
        },
        ManPage {
            path: "man8/ticketgate.8",
            source: cli_page::render(),
        },
        ManPage {
            path: "man5/ticketgate.toml.5",
            source: config_page::render(),
        },
        ManPage {
            path: "man8/ticketgate-server.8",
            source: server_page::render(),
        },
        ManPage {
            path: "man8/ticketgate-agent.8",
            source: agent_page::render(),
        },
    ]
}

/// Writes every page below `dir` (creating `man5/`, `man8/`) and every shell completion below
/// `dir/completions/` (as below `$PREFIX/share`); returns the files written.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let files = pages()
        .into_iter()
        .map(|p| (PathBuf::from(p.path), p.source.into_bytes()))
        .chain(
            completions()
                .into_iter()
                .map(|c| (Path::new("completions").join(c.path), c.source)),
        );
    for (relative, source) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, source)?;
        written.push(path);
    }
    Ok(written)
}

/// The `.TH` source field every page carries.
fn source() -> String {
    format!("pam_ticketgate {}", pam_ticketgate::VERSION)
}

/// The `.TH` manual field.
const MANUAL: &str = "pam_ticketgate";
