//! The PAM module libpam loads: the six `pam_sm_*` entry points over
//! [`core_lib::hooks::TicketGate`], and nothing else.
//!
//! A crate of its own because Cargo never LTO-links a crate that is both a cdylib and an rlib:
//! with the hooks here and the core (`pam_ticketgate`) a plain rlib, the release profile's LTO
//! reaches the whole module and drops what the hooks never call.
#![deny(unsafe_code)]

use core_lib::hooks::TicketGate;

pam::pam_hooks!(TicketGate);
