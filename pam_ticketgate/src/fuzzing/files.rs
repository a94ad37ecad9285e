//! `run_files`: the module's own small files under `run_dir` and `state_dir` that are not the
//! state record. A selector line (`ticket-cache`, `token-cache`, `session`, `breakglass`),
//! then the file's bytes.
//!
//! - ticket cache: a file yields records for at most one user (the one it names); a record
//!   counts as fresh exactly when it is for that ticket and host, was accepted no later than
//!   now and less than `max_age` ago, and its window is open — at any clock, computed here
//!   without overflow; merging keeps at most 32, newest first, no twin;
//! - token cache: a token handed out is still valid and fits an HTTP header (printable ASCII,
//!   as a freshly refreshed token must be);
//! - session records and break-glass codes: what decodes re-encodes to the same value;
//! - `phc`: a PHC string as stored for break-glass codes, offline PINs and the credential
//!   history, checked against a secret: within libFuzzer's time and memory limits whatever its
//!   parameters say.

use super::{NOWS, first_line};
use crate::secret::Secret;
use crate::ticket::cache::{self, Accepted};
use crate::ticket::{breakglass, token};

pub fn run_files(data: &[u8]) -> bool {
    let (kind, bytes) = first_line(data);
    match kind {
        "ticket-cache" => ticket_cache(bytes),
        "token-cache" => token_cache(bytes),
        "session" => crate::session::decode(bytes).is_some_and(|r| {
            let again = serde_json::to_vec(&r).ok();
            assert_eq!(again.and_then(|b| crate::session::decode(&b)), Some(r));
            true
        }),
        "breakglass" => breakglass::decode(bytes).is_ok_and(|codes| {
            let again = serde_json::to_vec_pretty(&codes).ok();
            let back = again.and_then(|b| breakglass::decode(&b).ok());
            assert_eq!(back, Some(codes));
            true
        }),
        "phc" => {
            let phc = String::from_utf8_lossy(bytes);
            let parsed = argon2::password_hash::PasswordHash::new(phc.trim()).is_ok();
            let matched = crate::hash::verify(&Secret::new("hunter2".into()), phc.trim());
            assert!(parsed || !matched, "an unparsable hash matched");
            parsed
        }
        _ => false,
    }
}

const MAX_AGES: [i64; 5] = [0, 120, 8 * 3600, i64::MAX, -1];

/// The user the ticket-cache seeds are written for, and one they are not.
const USER: &str = "alice";
const OTHER: &str = "bob";

fn ticket_cache(bytes: &[u8]) -> bool {
    let records = cache::decode(bytes, USER);
    assert!(
        records.is_empty() || cache::decode(bytes, OTHER).is_empty(),
        "one cache file read as two users' records"
    );
    for a in &records {
        for now in NOWS {
            for max_age in MAX_AGES {
                let fresh = cache::fresh(a, &a.ticket, &a.host, max_age, now);
                let (at, n) = (i128::from(a.at), i128::from(now));
                let want = at <= n
                    && n - at < i128::from(max_age)
                    && a.window_end.is_none_or(|end| now <= end);
                assert_eq!(fresh, want, "at {} now {now} max_age {max_age}", a.at);
                let other = format!("{}x", a.ticket);
                assert!(!cache::fresh(a, &other, &a.host, max_age, now));
            }
        }
    }
    for now in NOWS {
        let new = Accepted {
            ticket: "CHG0000001".into(),
            host: "db01".into(),
            at: now,
            window_end: None,
        };
        let all = cache::merged(bytes, USER, new.clone());
        assert!(all.len() <= cache::KEEP_MAX);
        assert_eq!(all.first(), Some(&new));
        let twins = all
            .iter()
            .filter(|a| a.ticket == new.ticket && a.host == new.host)
            .count();
        assert_eq!(twins, 1);
        for a in all.iter().skip(1) {
            let age = i128::from(now) - i128::from(a.at);
            assert!(
                age < i128::from(cache::KEEP_SECS),
                "kept a record {age} s old"
            );
        }
        let file = cache::CacheFile {
            user: USER.into(),
            accepted: all.clone(),
        };
        let text = serde_json::to_vec(&file).unwrap_or_default();
        assert_eq!(cache::decode(&text, USER), all);
        assert!(cache::decode(&text, OTHER).is_empty());
    }
    !records.is_empty()
}

fn token_cache(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut accepted = false;
    for now in NOWS {
        if let Some(t) = token::parse_cached(text, now) {
            accepted = true;
            let t = t.expose();
            assert!(
                !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()),
                "cached token {t:?} cannot go into a header"
            );
            let until = text
                .trim()
                .split_once(' ')
                .and_then(|(u, _)| u.parse::<i64>().ok());
            assert!(until.is_some_and(|u| now < u));
        }
    }
    accepted
}
