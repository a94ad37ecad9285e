//! Loopback emulators of the ticket systems, answering with the vendors' documented JSON bodies,
//! headers, error envelopes and quirks: ServiceNow (Table API), Jira Cloud / Data Center and Jira
//! Service Management (approvals), ServiceDesk Plus on-premises / MSP / Cloud (with Zoho OAuth),
//! and a generic HTTP/JSON system; plus the hostile behaviours of [`server::Mode`] and a TLS
//! server with a certificate of its own ([`tls`]).
#![allow(clippy::indexing_slicing)]

pub mod http;
pub mod jira;
pub mod sdp;
pub mod server;
pub mod servicenow;
pub mod tls;

pub use server::{Answer, Mode, Request, Server};

/// Standard base64, to check `Authorization: Basic` headers.
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}
