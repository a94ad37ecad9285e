//! Integration tests: the real `ticketgate-server` binary on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // Tests drive the real server against the real clock (TOTP codes for this minute).
    clippy::disallowed_methods
)]

/// Each test of a module that takes a backend, once per store.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(crate::harness::Backend::Sqlite);
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(crate::harness::Backend::Postgres);
            })*
        }
    };
}

mod agent;
mod browser;
mod cli;
mod fleet;
mod fleet_replicas;
mod harness;
mod metrics;
// The throwaway PostgreSQL cluster: one copy, in the tests crate's library, shared with the
// module's end-to-end tests.
#[path = "../../../tests/src/pg.rs"]
mod pg;
mod postgres;
mod protocol;
mod self_service;
mod systemd;
mod tls;
