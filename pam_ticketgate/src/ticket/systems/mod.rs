//! Each ticket system's documented REST API, one file per system: the request for one ticket,
//! and the built-in checks no configuration can switch off — the vendor's envelope says success,
//! exactly one record, the record's own number/key/display_id is the ID typed, and it is not
//! closed or cancelled.

pub mod common;
pub mod http;
pub mod jira;
pub mod sdp;
pub mod servicenow;

#[cfg(test)]
pub(crate) mod tests;
