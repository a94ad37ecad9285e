//! Integration tests: the real `ticketgate-protectd` binary on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod browser;
mod cli;
mod harness;
mod protocol;
mod tls;
