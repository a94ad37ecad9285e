//! `/etc/pam.d` as the module sees it: for every service whose stack loads `pam_ticketgate.so`,
//! the phase lines, their controls and their order, each mistake named by file and line. A pure
//! function of the files' texts, so `ticketgate check-config` and the tests share it.

mod parse;
mod phases;
mod stack;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use parse::Type;
use stack::{At, Stack};

/// Where `ticketgate check-config` looks unless told otherwise.
pub const DEFAULT_DIR: &str = "/etc/pam.d";

/// How serious a finding is: errors break logins or a gate, warnings deserve a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One mistake (or doubt) in a stack, at a file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The file in the checked directory the finding is about.
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
    /// The services whose stacks show it, when the file is also included by others.
    pub services: Vec<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {severity}: {}",
            self.file.display(),
            self.line,
            self.message
        )?;
        let own = self.file.file_name().and_then(|n| n.to_str());
        if self.services.iter().any(|s| Some(s.as_str()) != own) {
            write!(f, " (in the stack of {})", self.services.join(", "))?;
        }
        Ok(())
    }
}

/// The directory could not be read.
#[derive(Debug)]
pub enum PamdError {
    /// The directory cannot be listed.
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// A file in it cannot be read.
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for PamdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PamdError::Dir { dir, source } => write!(f, "{}: {source}", dir.display()),
            PamdError::File { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for PamdError {}

/// Names in a pam.d directory that are not services: hidden files and the copies editors and
/// dpkg leave behind.
fn is_service_name(name: &str) -> bool {
    !name.starts_with('.')
        && !name.ends_with('~')
        && ![".dpkg-", ".ucf-", ".pam-old", ".bak", ".orig", ".swp"]
            .iter()
            .any(|s| name.contains(s))
}

/// Every regular file of `dir` (name → text), following symbolic links as libpam does. Files
/// that are not services (see [`check`]) are read too: a service may include them.
pub fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>, PamdError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PamdError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|source| PamdError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| PamdError::File { path, source })?;
        files.insert(name, String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(files)
}

/// The outcome of checking a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The services whose stacks load the module (directly or through an include).
    pub services: Vec<String>,
    /// Sorted by file and line, each once.
    pub findings: Vec<Finding>,
}

impl Checked {
    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Checks every service in `files` (name → text of the files of `dir`) whose stack loads the
/// module; hidden files and editor or dpkg leftovers (`~`, `.dpkg-old`, ...) are not services.
/// `config` is the configuration being checked alongside: a line naming another one with
/// `config=` is a warning.
pub fn check(dir: &Path, files: &BTreeMap<String, String>, config: &Path) -> Checked {
    let parsed: BTreeMap<String, Vec<parse::Line>> = files
        .iter()
        .map(|(name, text)| (name.clone(), parse::parse_file(text)))
        .collect();
    let mut found: BTreeMap<(At, Severity, String), BTreeSet<String>> = BTreeMap::new();
    let mut services = Vec::new();
    for service in parsed.keys().filter(|n| is_service_name(n)) {
        let stacks: Vec<(Type, Stack)> = Type::ALL
            .into_iter()
            .map(|ty| (ty, Stack::of(dir, &parsed, service, ty)))
            .collect();
        if !stacks
            .iter()
            .any(|(_, s)| s.entries.iter().any(|e| e.is_ours()))
        {
            continue;
        }
        services.push(service.clone());
        let mut report = phases::Report::default();
        for (ty, stack) in &stacks {
            for p in &stack.problems {
                let severity = if p.fatal {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                report.add(severity, &p.at, p.message.clone());
            }
            phases::check(*ty, stack, config, &mut report);
        }
        for (at, severity, message) in report.items {
            found
                .entry((at, severity, message))
                .or_default()
                .insert(service.clone());
        }
    }
    let findings = found
        .into_iter()
        .map(|((at, severity, message), services)| Finding {
            severity,
            file: dir.join(&at.file),
            line: at.line,
            message,
            services: services.into_iter().collect(),
        })
        .collect();
    Checked { services, findings }
}
