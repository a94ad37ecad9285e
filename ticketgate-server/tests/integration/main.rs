//! Integration tests: the real `ticketgate-server` binary on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // Tests drive the real server against the real clock (TOTP codes for this minute).
    clippy::disallowed_methods
)]

mod browser;
mod cli;
mod fleet;
mod harness;
mod metrics;
mod pg;
mod postgres;
mod protocol;
mod systemd;
mod tls;
