//! ticketgate-server: the self-hostable login-protect server of pam_ticketgate (protocol v1, docs/design.md §5).
//!
//! The binary (`src/main.rs`) only parses the command line; everything else lives here so the
//! logic can be tested with injected time and in-memory values.

pub mod api;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod enroll_code;
pub mod fleet;
pub mod hosts;
pub mod http;
pub mod metrics;
pub mod page;
pub mod privileges;
pub mod ratelimit;
pub mod secret;
pub mod server;
pub mod store;
pub mod systemd;
pub mod tasks;
pub mod totp;
pub mod unlocks;
