//! Why a command failed: printed as one line `ticketgate: ...` on standard error, with an exit
//! status a script can tell apart: 1 refused or rejected, 2 usage, 3 server unreachable,
//! 4 configuration broken (0 is success; clap exits 2 on its own usage errors).

use std::fmt;

use pam_ticketgate::config::ConfigError;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// The command changes state or reads secrets, and the caller is not root.
    NeedsRoot(&'static str),
    /// A user name that cannot be an account (`"{name}": why`).
    BadName { name: String, why: String },
    /// A bad option value clap cannot check (a `--since` that is no duration).
    Usage(String),
    /// NSS does not know the user.
    UnknownUser(String),
    /// The command ran and the answer is no: a rejected ticket, a refused or mistyped PIN,
    /// errors found by check-config, no PIN typed.
    Refused(String),
    /// The configuration, or a file it names, is refused.
    Config(ConfigError),
    /// check-config found errors (each printed already).
    ConfigBroken(String),
    /// The ticket system (or another server) could not be reached.
    Unreachable(String),
    /// Something the command needed failed: state, the directory, run files, a server, input.
    Failed(Box<dyn std::error::Error>),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeedsRoot(what) => write!(f, "{what}"),
            Self::BadName { name, why } => write!(f, "{name:?}: {why}"),
            Self::UnknownUser(name) => write!(f, "{name}: no such user"),
            Self::Refused(why) | Self::Usage(why) => write!(f, "{why}"),
            Self::Config(e) => write!(f, "{e}"),
            Self::ConfigBroken(why) | Self::Unreachable(why) => write!(f, "{why}"),
            Self::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl CliError {
    /// The exit status: 1 refused or rejected, 2 usage, 3 unreachable, 4 configuration broken.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::BadName { .. } | Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
            Self::Config(_) | Self::ConfigBroken(_) => 4,
            Self::Failed(e) => match e.downcast_ref::<pam_ticketgate::ticket::TicketError>() {
                Some(pam_ticketgate::ticket::TicketError::Unreachable(_)) => 3,
                _ => match e.downcast_ref::<pam_ticketgate::net::NetError>() {
                    Some(n) if n.is_unreachable() => 3,
                    _ => 1,
                },
            },
            Self::NeedsRoot(_) | Self::UnknownUser(_) | Self::Refused(_) => 1,
        }
    }
}

impl From<pam_ticketgate::admin::AdminError> for CliError {
    fn from(e: pam_ticketgate::admin::AdminError) -> Self {
        use pam_ticketgate::admin::AdminError as A;
        match e {
            A::UnknownUser(name) => Self::UnknownUser(name),
            A::BadName { name, why } => Self::BadName { name, why },
            A::Directory(e) => Self::Failed(Box::new(e)),
            A::Store(e) => Self::Failed(Box::new(e)),
            A::RunDir(e) => Self::Failed(Box::new(e)),
            A::Session(e) => Self::Failed(Box::new(e)),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// Errors of the library's parts a command uses, each kept as itself.
macro_rules! failed_from {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                Self::Failed(Box::new(e))
            }
        })*
    };
}

failed_from!(
    pam_ticketgate::store::StoreError,
    pam_ticketgate::directory::DirectoryError,
    pam_ticketgate::ticket::breakglass::BreakglassError,
    pam_ticketgate::run_dir::RunDirError,
    pam_ticketgate::session::SessionError,
    pam_ticketgate::protect::pin::PinError,
    pam_ticketgate::ticket::TicketError,
    pam_ticketgate::net::NetError,
    std::io::Error,
    nix::Error,
);
