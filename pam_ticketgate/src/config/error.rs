//! What can be wrong with a configuration, worded for the administrator who must fix it.

use std::fmt;
use std::path::PathBuf;

/// A configuration problem; every variant names the file and, where it can, the key and line.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be opened or read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not root-owned, or others may write it.
    Unsafe { path: PathBuf, problem: String },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A key's value is out of range, inconsistent, or refers to something undefined.
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
    /// A `*_file` secret is missing, not root-owned, or readable by others.
    Secret {
        path: PathBuf,
        key: String,
        file: PathBuf,
        problem: String,
    },
    /// Another file the config names (`ca_file`) is not root-owned, is writable by group or
    /// others, or lies where others could replace it.
    File {
        path: PathBuf,
        key: String,
        file: PathBuf,
        problem: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => {
                write!(f, "config {}: cannot read: {source}", path.display())
            }
            Self::Unsafe { path, problem } => {
                write!(f, "config {}: refused: {problem}", path.display())
            }
            Self::Syntax {
                path,
                line,
                message,
            } => {
                write!(f, "config {}: ", path.display())?;
                if let Some(line) = line {
                    write!(f, "line {line}: ")?;
                }
                write!(f, "{message}")
            }
            Self::Invalid {
                path,
                line,
                key,
                message,
            } => {
                write!(f, "config {}: ", path.display())?;
                if let Some(line) = line {
                    write!(f, "line {line}: ")?;
                }
                write!(f, "{key}: {message}")
            }
            Self::Secret {
                path,
                key,
                file,
                problem,
            } => {
                write!(
                    f,
                    "config {}: {key}: secret file {}: {problem}",
                    path.display(),
                    file.display()
                )
            }
            Self::File {
                path,
                key,
                file,
                problem,
            } => {
                write!(
                    f,
                    "config {}: {key}: {}: refused: {problem}",
                    path.display(),
                    file.display()
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
