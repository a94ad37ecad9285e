//! `ticketgate check-config [PATH] [--pam-dir DIR]`: the configuration as the module reads it,
//! what looks wrong about it on this host, and every PAM stack in DIR that loads the module.

use std::path::Path;

use pam_ticketgate::config::Config;
use pam_ticketgate::config::warnings::{ThisHost, warnings};
use pam_ticketgate::pamd;

use crate::error::CliError;

/// Prints every error and warning; `Err` (exit 1) when there was an error.
pub fn check_config(path: &Path, pam_dir: &Path) -> Result<(), CliError> {
    let mut errors = 0;
    match Config::load(path) {
        Ok(config) => {
            let secrets = config
                .check_public_files()
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    if nix::unistd::geteuid().is_root() {
                        config.check_secrets().map_err(|e| e.to_string())
                    } else {
                        println!("note: not root, secret files were not checked");
                        Ok(())
                    }
                });
            for w in warnings(&config, &ThisHost) {
                println!("{w}");
            }
            match secrets {
                Ok(()) => println!("{}: OK ({} scope(s))", path.display(), config.scopes.len()),
                Err(e) => {
                    eprintln!("ticketgate: {e}");
                    errors += 1;
                }
            }
        }
        Err(e) => {
            eprintln!("ticketgate: {e}");
            errors += 1;
        }
    }
    match pamd::read_dir(pam_dir) {
        Ok(files) => {
            let checked = pamd::check(pam_dir, &files, path);
            for f in &checked.findings {
                println!("{f}");
            }
            errors += checked.errors();
            if checked.services.is_empty() {
                println!(
                    "note: no stack in {} loads pam_ticketgate.so yet",
                    pam_dir.display()
                );
            } else if checked.errors() == 0 {
                println!(
                    "{}: OK ({} load pam_ticketgate.so)",
                    pam_dir.display(),
                    checked.services.join(", ")
                );
            }
        }
        Err(e) => {
            eprintln!("ticketgate: {e}");
            errors += 1;
        }
    }
    match errors {
        0 => Ok(()),
        1 => Err(CliError::ConfigBroken("1 error".into())),
        n => Err(CliError::ConfigBroken(format!("{n} errors"))),
    }
}
