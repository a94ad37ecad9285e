//! pam_ticketgate: a PAM module with three gates — credential policy, login protect, ticket gate.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod config;
