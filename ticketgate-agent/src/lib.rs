//! ticketgate-agent: the host side of central password reset and verify. It only pulls: every
//! `[agent] interval` it asks the server (`POST /v1/agent/poll`) for the tasks queued for this
//! host, runs those its allowlist permits, and reports each result in the next request.
#![deny(unsafe_code)]

pub mod backoff;
pub mod chpasswd;
pub mod cli;
// The one allowance: libcrypt's crypt_rn through `extern "C"`.
pub mod crypt;
pub mod log;
pub mod poll;
pub mod ran;
pub mod tasks;
pub mod wire;
