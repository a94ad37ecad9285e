//! Accepted tickets, per user, under `run_dir/ticket-cache/`: the verdict cache (`[ticket]
//! cache`: reuse an accepted (user, ticket, host) without a request) and the offline `cached`
//! fallback (`[offline] cached_for`, window still open) read the same records.
//!
//! A file names the user it was written for, and only that user's lookups read it: a file
//! renamed to another user's name (by whoever could write the directory) gains nothing.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::fsutil::{self, FileError, Rule};
use crate::run_dir::{RunDir, RunDirError};

/// Records older than this are dropped on write, whatever the config says.
pub(crate) const KEEP_SECS: i64 = 7 * 86_400;
/// At most this many records per user are kept (newest first).
pub(crate) const KEEP_MAX: usize = 32;

/// One ticket accepted online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub ticket: String,
    pub host: String,
    /// When the ticket system said yes (epoch s).
    pub at: i64,
    /// End of the ticket's change window, if a `within` condition gave one.
    pub window_end: Option<i64>,
}

/// What one cache file holds: the user it is for and that user's accepted tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CacheFile {
    pub(crate) user: String,
    pub(crate) accepted: Vec<Accepted>,
}

/// Accepted tickets as the ticket gate uses them: files in production ([`TicketCache`]),
/// memory in tests.
pub trait VerdictCache {
    /// The user's records; anything unreadable or untrusted reads as none.
    fn load(&self, user: &str) -> Vec<Accepted>;
    /// Records an online acceptance (best effort: a cache that cannot be written costs a
    /// request later).
    fn record(&self, user: &str, accepted: Accepted) -> Result<(), FileError>;

    /// A record for `(ticket, host)` accepted within `max_age` seconds whose window (if any)
    /// is still open at `now`.
    fn find(
        &self,
        user: &str,
        ticket: &str,
        host: &str,
        max_age: i64,
        now: i64,
    ) -> Option<Accepted> {
        self.load(user)
            .into_iter()
            .find(|a| fresh(a, ticket, host, max_age, now))
    }
}

/// A borrowed cache is a cache (a test keeps the one it inspects).
impl<T: VerdictCache + ?Sized> VerdictCache for &T {
    fn load(&self, user: &str) -> Vec<Accepted> {
        (**self).load(user)
    }
    fn record(&self, user: &str, accepted: Accepted) -> Result<(), FileError> {
        (**self).record(user, accepted)
    }
}

/// The per-user cache files.
pub struct TicketCache {
    dir: PathBuf,
}

impl TicketCache {
    /// The cache under the (checked) `run_dir`; its `ticket-cache` directory is created and
    /// checked the same way.
    pub fn new(run_dir: &RunDir) -> Result<Self, RunDirError> {
        Ok(Self {
            dir: run_dir.subdir("ticket-cache")?,
        })
    }

    fn file(&self, user: &str) -> PathBuf {
        // Hex keeps any user name a single, harmless file name.
        let hex: String = user.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(hex)
    }
}

impl VerdictCache for TicketCache {
    /// The user's records; a file that is missing, unreadable, not root's, open to others or
    /// written for another user reads as empty (the network is asked, which can only cost time).
    fn load(&self, user: &str) -> Vec<Accepted> {
        let Ok(mut file) = fsutil::private().read(true).open(self.file(user)) else {
            return Vec::new();
        };
        let trusted = file
            .metadata()
            .is_ok_and(|m| fsutil::check_opened(&m, Rule::SECRET).is_ok());
        let mut bytes = Vec::new();
        if !trusted || file.read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        decode(&bytes, user)
    }

    /// Records an online acceptance (best effort: a cache that cannot be written costs a request later).
    ///
    /// Written in place under an exclusive lock, not by temp file + rename: on ext4 a rename
    /// over an existing file forces a flush (milliseconds on a busy disk, on every login). A
    /// reader that catches a half-written file sees no records, which only costs a request.
    fn record(&self, user: &str, accepted: Accepted) -> Result<(), FileError> {
        let path = self.file(user);
        let err = FileError::io(&path);
        let mut file = fsutil::lock(&path).map_err(&err)?;
        let meta = file.metadata().map_err(&err)?;
        fsutil::check_opened(&meta, Rule::SECRET).map_err(|problem| FileError::Refused {
            path: path.clone(),
            problem,
        })?;
        let mut old = Vec::new();
        file.read_to_end(&mut old).map_err(&err)?;
        let all = CacheFile {
            user: user.to_string(),
            accepted: merged(&old, user, accepted),
        };
        let text = serde_json::to_vec(&all).map_err(|e| err(std::io::Error::other(e)))?;
        file.write_all_at(&text, 0).map_err(&err)?;
        let len = u64::try_from(text.len()).unwrap_or(u64::MAX);
        if u64::try_from(old.len()).unwrap_or(0) > len {
            file.set_len(len).map_err(&err)?;
        }
        Ok(())
    }
}

/// A cache file's records for `user`; a file written for anyone else, or anything that is
/// not a cache file, reads as none.
pub(crate) fn decode(bytes: &[u8], user: &str) -> Vec<Accepted> {
    match serde_json::from_slice::<CacheFile>(bytes) {
        Ok(f) if f.user == user => f.accepted,
        _ => Vec::new(),
    }
}

/// `a` is for `(ticket, host)`, was accepted within `max_age` seconds of `now` and its window
/// (if any) is still open.
pub(crate) fn fresh(a: &Accepted, ticket: &str, host: &str, max_age: i64, now: i64) -> bool {
    a.ticket == ticket
        && a.host == host
        && a.at <= now
        && now.checked_sub(a.at).is_some_and(|age| age < max_age)
        && a.window_end.is_none_or(|end| now <= end)
}

/// `user`'s records in the file with `accepted` first: its older twin and records past
/// [`KEEP_SECS`] dropped, at most [`KEEP_MAX`] kept.
pub(crate) fn merged(old: &[u8], user: &str, accepted: Accepted) -> Vec<Accepted> {
    let now = accepted.at;
    let mut all = decode(old, user);
    all.retain(|a| {
        !(a.ticket == accepted.ticket && a.host == accepted.host)
            && now.checked_sub(a.at).is_some_and(|age| age < KEEP_SECS)
    });
    all.insert(0, accepted);
    all.truncate(KEEP_MAX);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn cache(dir: &Path) -> TicketCache {
        TicketCache::new(&RunDir::open(dir).unwrap()).unwrap()
    }

    fn acc(ticket: &str, at: i64, window_end: Option<i64>) -> Accepted {
        Accepted {
            ticket: ticket.into(),
            host: "db01".into(),
            at,
            window_end,
        }
    }

    #[test]
    fn finds_only_fresh_records_for_the_same_ticket_and_host_with_an_open_window() {
        crate::test_support::needs_root!(
            "finds_only_fresh_records_for_the_same_ticket_and_host_with_an_open_window"
        );
        let d = tempfile::tempdir().unwrap();
        let c = cache(d.path());
        c.record("alice", acc("CHG0000001", 1000, Some(5000)))
            .unwrap();
        assert!(c.find("alice", "CHG0000001", "db01", 120, 1100).is_some());
        assert!(
            c.find("alice", "CHG0000001", "db01", 120, 1120).is_none(),
            "too old"
        );
        assert!(c.find("alice", "CHG0000002", "db01", 120, 1100).is_none());
        assert!(c.find("alice", "CHG0000001", "web01", 120, 1100).is_none());
        assert!(c.find("bob", "CHG0000001", "db01", 120, 1100).is_none());
        assert!(
            c.find("alice", "CHG0000001", "db01", 10_000, 5001)
                .is_none(),
            "window closed"
        );
        assert!(
            c.find("alice", "CHG0000001", "db01", 120, 999).is_none(),
            "from the future"
        );
    }

    #[test]
    fn a_file_others_can_write_is_ignored() {
        crate::test_support::needs_root!("a_file_others_can_write_is_ignored");
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let c = cache(d.path());
        c.record("alice", acc("T1", 1, None)).unwrap();
        let f = c.file("alice");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(c.load("alice").is_empty());
    }

    #[test]
    fn rerecording_replaces_and_the_list_stays_bounded() {
        crate::test_support::needs_root!("rerecording_replaces_and_the_list_stays_bounded");
        let d = tempfile::tempdir().unwrap();
        let c = cache(d.path());
        for i in 0..40 {
            c.record("alice", acc(&format!("T{i}"), 100 + i, None))
                .unwrap();
        }
        c.record("alice", acc("T39", 500, None)).unwrap();
        let all = c.load("alice");
        assert_eq!(all.len(), KEEP_MAX);
        assert_eq!(all[0].at, 500);
        assert_eq!(all.iter().filter(|a| a.ticket == "T39").count(), 1);
    }

    /// Issue 7 (fuzzing, run_files): `now - at` overflowed for a record stamped near
    /// `i64::MIN`. In a release build it wrapped to a negative age, so such a record counted as
    /// fresh for ever: the verdict cache and the offline `cached` fallback accepted its ticket.
    #[test]
    fn a_record_stamped_at_the_dawn_of_time_is_never_fresh_issue_7() {
        let a = acc("CHG0000001", i64::MIN, None);
        assert!(!fresh(&a, "CHG0000001", "db01", 8 * 3600, 1_795_339_199));
        assert!(!fresh(&a, "CHG0000001", "db01", i64::MAX, 1_795_339_199));
        let file = |accepted| {
            serde_json::to_vec(&CacheFile {
                user: "alice".into(),
                accepted,
            })
            .unwrap()
        };
        let old = file(vec![a]);
        let all = merged(&old, "alice", acc("CHG0000002", 1_795_339_199, None));
        assert_eq!(all.len(), 1, "the unreadable stamp is dropped");
        let future = file(vec![acc("T", i64::MAX, None)]);
        assert_eq!(merged(&future, "alice", acc("U", i64::MIN, None)).len(), 1);
    }

    /// Issue 12 (item 4): whoever could write run_dir renamed alice's cache file to bob's
    /// name and bob's login reused alice's accepted ticket. The file names its user now.
    #[test]
    fn a_cache_file_renamed_to_another_user_is_not_accepted_issue_12() {
        crate::test_support::needs_root!(
            "a_cache_file_renamed_to_another_user_is_not_accepted_issue_12"
        );
        let d = tempfile::tempdir().unwrap();
        let c = cache(d.path());
        c.record("alice", acc("CHG0000001", 1000, None)).unwrap();
        fs::rename(c.file("alice"), c.file("bob")).unwrap();
        assert!(c.find("bob", "CHG0000001", "db01", 120, 1001).is_none());
        assert!(c.load("bob").is_empty());
        // Recording for bob starts his own list: alice's records are not carried over.
        c.record("bob", acc("CHG0000002", 1002, None)).unwrap();
        let bobs = c.load("bob");
        assert_eq!(bobs.len(), 1);
        assert_eq!(bobs[0].ticket, "CHG0000002");
    }

    #[test]
    fn a_cache_file_not_roots_is_ignored_issue_12() {
        crate::test_support::needs_root!("a_cache_file_not_roots_is_ignored_issue_12");
        let d = tempfile::tempdir().unwrap();
        let c = cache(d.path());
        c.record("alice", acc("T1", 1, None)).unwrap();
        std::os::unix::fs::chown(c.file("alice"), Some(65534), None).unwrap();
        assert!(c.load("alice").is_empty());
        assert!(c.record("alice", acc("T2", 2, None)).is_err());
    }
}
