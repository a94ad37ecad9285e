//! Account facts through NSS: who a user is, their groups, and whether /etc/passwd or a directory knows them.
//!
//! The common path is cheap: [`lookup_user`] is one `getpwnam_r`; groups ([`group_names`]) and
//! the local-vs-directory check ([`source`], [`is_local_user`]) run only when asked. [`facts`]
//! gathers all three for the `nss-helper` binary and for diagnostics.

#![forbid(unsafe_code)]

mod account;
mod error;
mod facts;
mod gecos;
mod local;

pub use account::{Account, group_names, lookup_user};
pub use error::NssError;
pub use facts::{AccountFacts, facts};
pub use gecos::Gecos;
pub use local::{Source, is_local_user, is_local_user_in, source};

#[cfg(test)]
mod testutil;
