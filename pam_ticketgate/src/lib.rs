//! pam_ticketgate: a PAM module with three gates — credential policy, login protect, ticket gate.
//! The crate is the core: `pam_ticketgate_module/` turns [`hooks::TicketGate`] into the cdylib
//! libpam loads, and the `ticketgate` CLI reuses the rest.
#![deny(unsafe_op_in_unsafe_fn)]
// Every unsafe block lives in `ffi` (the one allowance), each with its SAFETY line.
#![deny(unsafe_code)]

/// The package version, for `ticketgate --version` and the man pages (both build from this).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod admin;
pub mod args;
pub mod audit;
pub mod config;
pub mod directory;
mod ffi;
pub mod fleet;
pub mod fsutil;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod gate;
pub mod hash;
pub mod hooks;
pub mod lifecycle;
pub mod lockout;
pub mod net;
pub mod offline;
pub mod pamd;
pub mod protect;
pub mod rules;
pub mod run_dir;
pub mod run_files;
pub mod scope;
pub mod secret;
pub mod session;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod ticket;
pub mod timefmt;
pub mod user;
