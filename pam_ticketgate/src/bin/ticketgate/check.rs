//! `ticketgate check-config [PATH] [--pam-dir DIR] [--json]`: the configuration as the module
//! reads it, what looks wrong about it on this host, and every PAM stack in DIR that loads the
//! module.

use std::path::Path;

use serde_json::json;

use pam_ticketgate::config::Config;
use pam_ticketgate::config::warnings::{ThisHost, Warning, warnings};
use pam_ticketgate::pamd::{self, Finding, Severity};

use crate::error::CliError;

/// What one check found, before it is shown as text or JSON.
#[derive(Default)]
struct Report {
    /// Scopes in a configuration that passed (`None`: it did not).
    scopes: Option<usize>,
    secrets_checked: bool,
    config_errors: Vec<String>,
    warnings: Vec<Warning>,
    /// Services whose stacks load the module.
    services: Vec<String>,
    findings: Vec<Finding>,
    pam_errors: Vec<String>,
}

impl Report {
    fn errors(&self) -> usize {
        self.config_errors.len()
            + self.pam_errors.len()
            + self
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count()
    }
}

fn check(path: &Path, pam_dir: &Path) -> Report {
    let mut report = Report::default();
    match Config::load(path) {
        Ok(config) => {
            report.secrets_checked = nix::unistd::geteuid().is_root();
            let files = config.check_public_files().and_then(|()| {
                if report.secrets_checked {
                    config.check_secrets()
                } else {
                    Ok(())
                }
            });
            report.warnings = warnings(&config, &ThisHost);
            match files {
                Ok(()) => report.scopes = Some(config.scopes.len()),
                Err(e) => report.config_errors.push(e.to_string()),
            }
        }
        Err(e) => report.config_errors.push(e.to_string()),
    }
    match pamd::read_dir(pam_dir) {
        Ok(files) => {
            let checked = pamd::check(pam_dir, &files, path);
            report.services = checked.services;
            report.findings = checked.findings;
        }
        Err(e) => report.pam_errors.push(e.to_string()),
    }
    report
}

fn print_text(report: &Report, path: &Path, pam_dir: &Path) {
    if !report.secrets_checked && report.scopes.is_some() {
        println!("note: not root, secret files were not checked");
    }
    for w in &report.warnings {
        println!("{w}");
    }
    for e in report.config_errors.iter() {
        eprintln!("ticketgate: {e}");
    }
    if let Some(n) = report.scopes {
        println!("{}: OK ({n} scope(s))", path.display());
    }
    for f in &report.findings {
        println!("{f}");
    }
    for e in &report.pam_errors {
        eprintln!("ticketgate: {e}");
    }
    let pam_errors = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    if report.pam_errors.is_empty() {
        if report.services.is_empty() {
            println!(
                "note: no stack in {} loads pam_ticketgate.so yet",
                pam_dir.display()
            );
        } else if !pam_errors {
            println!(
                "{}: OK ({} load pam_ticketgate.so)",
                pam_dir.display(),
                report.services.join(", ")
            );
        }
    }
}

fn print_json(report: &Report, path: &Path, pam_dir: &Path) {
    let findings: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "severity": match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                "file": f.file.display().to_string(),
                "line": f.line,
                "message": f.message,
                "services": f.services,
            })
        })
        .collect();
    let warnings: Vec<_> = report
        .warnings
        .iter()
        .map(|w| json!({"key": w.key, "message": w.message}))
        .collect();
    crate::json::print(&json!({
        "config": {
            "path": path.display().to_string(),
            "ok": report.config_errors.is_empty(),
            "scopes": report.scopes,
            "secrets_checked": report.secrets_checked,
            "errors": report.config_errors,
            "warnings": warnings,
        },
        "pam": {
            "dir": pam_dir.display().to_string(),
            "services": report.services,
            "findings": findings,
            "errors": report.pam_errors,
        },
        "errors": report.errors(),
    }));
}

/// Prints every error and warning (as text, or one JSON object); `Err` (exit 4) when there was
/// an error.
pub fn check_config(path: &Path, pam_dir: &Path, json: bool) -> Result<(), CliError> {
    let report = check(path, pam_dir);
    if json {
        print_json(&report, path, pam_dir);
    } else {
        print_text(&report, path, pam_dir);
    }
    match report.errors() {
        0 => Ok(()),
        1 => Err(CliError::ConfigBroken("1 error".into())),
        n => Err(CliError::ConfigBroken(format!("{n} errors"))),
    }
}
