//! Who may have written a file or directory. pam_ticketgate trusts a file only when nobody but
//! root (or, for `ticketgate-server`, its own user) can have written it or anything on the
//! way to it. The PAM module, the `ticketgate` CLI and `ticketgate-server` check every file
//! they trust here, so there is one rule, worded once:
//!
//! - Every directory from `/` down to the file is owned by root and not writable by group or
//!   others (OpenSSH's `StrictModes`). A directory others may write passes only with the sticky
//!   bit (as `/tmp`), and then the entry below it must be root's: nobody else can rename,
//!   remove or replace a root-owned entry in a sticky directory.
//! - A symbolic link on the way lies in a directory checked so far, so only root can have made
//!   it; its target is checked the same way (at most [`MAX_LINKS`] links). A link as the last
//!   component is refused unless the rule follows links (CA bundles and certificates are links
//!   on Debian; configs and secrets are named directly).
//! - The file itself is opened `O_NOFOLLOW | O_NONBLOCK` and checked on its descriptor: a
//!   regular file (a FIFO planted in its place cannot hang the caller), owned by root, not
//!   writable by group or others, and for a secret not readable by them either (a secret systemd
//!   hands a service as a credential may instead carry an ACL letting that one user read it).
//! - A directory the caller keeps its own files in (`state_dir`, `run_dir` and those below it)
//!   is checked on the way as above and itself: no symbolic link, owned by root, not writable by
//!   group or others (no sticky exception).
#![forbid(unsafe_code)]

mod acl;
mod secret;
pub use secret::{MAX_SECRET_BYTES, SecretError, read_secret, read_secret_text};

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{File, FileType, Metadata, OpenOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// The most symbolic links followed while checking one path (Linux's own limit).
pub const MAX_LINKS: usize = 40;

/// Who may own a trusted file and the directories leading to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Root only: everything the PAM module and the `ticketgate` CLI trust.
    Root,
    /// Root or this uid (a server that runs as its own user and owns its files).
    RootOr(u32),
}

impl Owner {
    fn allows(self, uid: u32) -> bool {
        match self {
            Owner::Root => uid == 0,
            Owner::RootOr(me) => uid == 0 || uid == me,
        }
    }
}

/// What group and others may do with the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read it, not write it (configuration, CA files, certificates).
    Read,
    /// Nothing (secrets, keys, tokens, state).
    None,
    /// Nothing, except read access a POSIX ACL grants this one user: systemd's credentials on
    /// a filesystem with ACLs are root's, mode 0400 plus `user:SERVICE:r` (seen as 0440). Only
    /// [`open`] and the functions built on it read the ACL; [`check_opened`] refuses as `None`.
    NoneButAclReaderIs(u32),
}

/// Whether a symbolic link as the last component is followed (links on the way always are,
/// when they lie in a checked directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Refuse,
    Follow,
}

/// The rule one kind of file is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub owner: Owner,
    pub access: Access,
    pub links: Links,
}

impl Rule {
    /// A configuration file: root-owned, others may read, never through a symbolic link.
    pub const CONFIG: Rule = Rule {
        owner: Owner::Root,
        access: Access::Read,
        links: Links::Refuse,
    };
    /// A public trust root or certificate: root-owned, others may read; a symbolic link in a
    /// checked directory is followed (`update-ca-certificates` and certbot install links).
    pub const PUBLIC: Rule = Rule {
        owner: Owner::Root,
        access: Access::Read,
        links: Links::Follow,
    };
    /// A secret: root-owned, no access for group or others, never through a symbolic link.
    pub const SECRET: Rule = Rule {
        owner: Owner::Root,
        access: Access::None,
        links: Links::Refuse,
    };

    /// This rule, also accepting files and directories owned by `uid`.
    pub const fn owned_by_root_or(self, uid: u32) -> Rule {
        Rule {
            owner: Owner::RootOr(uid),
            ..self
        }
    }

    /// This rule, also accepting a file whose only other reader is `uid`, through an ACL
    /// ([`Access::NoneButAclReaderIs`]); for a secret systemd hands over as a credential.
    pub const fn acl_reader_may_be(self, uid: u32) -> Rule {
        Rule {
            access: Access::NoneButAclReaderIs(uid),
            ..self
        }
    }

    /// This rule, following a symbolic link as the last component.
    pub const fn following_links(self) -> Rule {
        Rule {
            links: Links::Follow,
            ..self
        }
    }
}

/// What is wrong with one file or directory.
#[derive(Debug)]
pub enum Problem {
    /// It cannot be looked at or opened.
    Io(std::io::Error),
    /// A symbolic link where none is accepted.
    Symlink,
    /// Not a regular file; what it is instead.
    NotAFile(&'static str),
    /// Not a directory; what it is instead.
    NotADirectory(&'static str),
    /// Owned by this uid, which the rule does not accept.
    Owner(u32),
    /// The mode (given) lets group or others write it.
    Writable(u32),
    /// The mode (given) lets group or others read it (a secret).
    Readable(u32),
    /// Owned by this uid and lying in a directory others may write: only root's entries are
    /// safe from being replaced there.
    InSharedDir(u32),
    /// More than [`MAX_LINKS`] symbolic links on the way (a loop).
    TooManyLinks,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io(e) => write!(f, "cannot open: {e}"),
            Problem::Symlink => f.write_str("is a symbolic link (refused: name the file itself)"),
            Problem::NotAFile(kind) => write!(f, "is {kind}, not a regular file"),
            Problem::NotADirectory(kind) => write!(f, "is {kind}, not a directory"),
            Problem::Owner(uid) => {
                write!(
                    f,
                    "owned by uid {uid}, must be owned by root; run chown root"
                )
            }
            Problem::Writable(mode) => write!(
                f,
                "mode {mode:04o} lets group or others write it; run chmod go-w"
            ),
            Problem::Readable(mode) => write!(
                f,
                "mode {mode:04o} lets group or others read it; run chmod 600"
            ),
            Problem::InSharedDir(uid) => write!(
                f,
                "owned by uid {uid} in a directory others can write; only root's entries are \
                 trusted there"
            ),
            Problem::TooManyLinks => write!(f, "more than {MAX_LINKS} symbolic links on the way"),
        }
    }
}

/// A refusal: the problem, and where it is when that is not the file itself (a directory or
/// link on the way, or the target of a followed link).
#[derive(Debug)]
pub struct Refused {
    pub at: Option<PathBuf>,
    pub problem: Problem,
}

impl Refused {
    fn at(path: &Path, problem: Problem) -> Refused {
        Refused {
            at: Some(path.to_path_buf()),
            problem,
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some(p) => write!(f, "{}: {}", p.display(), self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

impl std::error::Error for Refused {}

/// Opens `path` for reading once it and every directory leading to it pass `rule`. The
/// descriptor is non-blocking (harmless for a regular file, which is all it can be).
pub fn open(path: &Path, rule: Rule) -> Result<File, Refused> {
    open_with_metadata(path, rule).map(|(file, _)| file)
}

/// [`open`], also returning the metadata it checked (read from the descriptor), so a caller
/// that needs the size or times asks the kernel once.
pub fn open_with_metadata(path: &Path, rule: Rule) -> Result<(File, Metadata), Refused> {
    let real = walk(path, rule.owner, rule.links == Links::Follow)?;
    open_checked_file(path, real, rule)
}

/// [`open_with_metadata`] for a file whose directories the caller checked a moment ago (an
/// earlier line of the same login): only the file itself is opened and checked, on its
/// descriptor. Those directories were root's and not writable by others then, so only root can
/// have changed them since. A rule that follows links walks the path all the same.
pub fn reopen_with_metadata(path: &Path, rule: Rule) -> Result<(File, Metadata), Refused> {
    if rule.links == Links::Follow {
        return open_with_metadata(path, rule);
    }
    open_checked_file(path, absolute(path), rule)
}

/// Opens `real` (the path `path` resolves to) without following a link or waiting, and checks
/// the descriptor against `rule`.
fn open_checked_file(path: &Path, real: PathBuf, rule: Rule) -> Result<(File, Metadata), Refused> {
    let here = |problem| Refused {
        at: (real != absolute(path)).then(|| real.clone()),
        problem,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&real)
        .map_err(|e| {
            here(if e.raw_os_error() == Some(libc::ELOOP) {
                Problem::Symlink
            } else {
                Problem::Io(e)
            })
        })?;
    let meta = file.metadata().map_err(|e| here(Problem::Io(e)))?;
    match check_opened(&meta, rule) {
        // Group "read" is the ACL's mask: fine when the ACL names only the allowed reader.
        Err(Problem::Readable(mode))
            if matches!(rule.access, Access::NoneButAclReaderIs(uid)
                if mode & 0o037 == 0 && acl::only_owner_and(&file, uid)) => {}
        checked => checked.map_err(here)?,
    }
    Ok((file, meta))
}

/// Checks `path` as [`open`] does, without keeping it open.
pub fn check_file(path: &Path, rule: Rule) -> Result<(), Refused> {
    open(path, rule).map(drop)
}

/// Checks a file the caller opened itself (`O_NOFOLLOW`), on its descriptor's metadata:
/// regular, an accepted owner, not writable (and unless [`Access::Read`] not readable) by group
/// or others. Directories on the way are the caller's to check ([`check_dir`]).
pub fn check_opened(meta: &Metadata, rule: Rule) -> Result<(), Problem> {
    let file_type = meta.file_type();
    if !file_type.is_file() {
        return Err(if file_type.is_symlink() {
            Problem::Symlink
        } else {
            Problem::NotAFile(kind(file_type))
        });
    }
    if !rule.owner.allows(meta.uid()) {
        return Err(Problem::Owner(meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Problem::Writable(mode));
    }
    if rule.access != Access::Read && mode & 0o077 != 0 {
        return Err(Problem::Readable(mode));
    }
    Ok(())
}

/// Checks a directory the caller keeps its own files in: the directories leading to it, and
/// the directory itself (see [`check_dir_entry`]).
pub fn check_dir(path: &Path, owner: Owner) -> Result<(), Refused> {
    let real = walk(path, owner, false)?;
    check_dir_entry(&real, owner).map_err(|problem| Refused {
        at: (real != absolute(path)).then(|| real.clone()),
        problem,
    })
}

/// Checks one directory whose parent was checked already (a directory below a checked
/// `run_dir`): not a symbolic link, a directory, an accepted owner, not writable by group or
/// others.
pub fn check_dir_entry(path: &Path, owner: Owner) -> Result<(), Problem> {
    let meta = std::fs::symlink_metadata(path).map_err(Problem::Io)?;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return Err(Problem::Symlink);
    }
    if !file_type.is_dir() {
        return Err(Problem::NotADirectory(kind(file_type)));
    }
    if !owner.allows(meta.uid()) {
        return Err(Problem::Owner(meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Problem::Writable(mode));
    }
    Ok(())
}

/// Checks every directory leading to `path` and returns the path to open: links on the way
/// resolved, and the last component's link too when `follow_last`. The last component itself
/// is left to the caller (it may not exist yet, and it is checked on its descriptor).
fn walk(path: &Path, owner: Owner, follow_last: bool) -> Result<PathBuf, Refused> {
    let root = Path::new("/");
    let root_meta =
        || std::fs::symlink_metadata(root).map_err(|e| Refused::at(root, Problem::Io(e)));
    let mut dir = root.to_path_buf();
    let mut dir_meta = root_meta()?;
    check_on_the_way(&dir_meta, owner).map_err(|p| Refused::at(root, p))?;
    let mut pending = components(&absolute(path));
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            dir.pop();
            dir_meta =
                std::fs::symlink_metadata(&dir).map_err(|e| Refused::at(&dir, Problem::Io(e)))?;
            continue;
        }
        let next = dir.join(&name);
        let last = pending.is_empty();
        if last && !follow_last {
            // The caller checks the last component itself (on its descriptor, or with
            // check_dir_entry): one stat fewer on every login.
            return Ok(next);
        }
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(m) => m,
            // A missing file is the caller's to report (its open says so).
            Err(_) if last => return Ok(next),
            Err(e) => return Err(Refused::at(&next, Problem::Io(e))),
        };
        let is_link = meta.file_type().is_symlink();
        if last && !(is_link && follow_last) {
            return Ok(next);
        }
        if shared(&dir_meta) && !owner.allows(meta.uid()) {
            return Err(Refused::at(&next, Problem::InSharedDir(meta.uid())));
        }
        if is_link {
            links += 1;
            if links > MAX_LINKS {
                return Err(Refused::at(&next, Problem::TooManyLinks));
            }
            let target =
                std::fs::read_link(&next).map_err(|e| Refused::at(&next, Problem::Io(e)))?;
            if target.is_absolute() {
                dir = root.to_path_buf();
                dir_meta = root_meta()?;
            }
            let mut resolved = components(&target);
            resolved.extend(pending);
            pending = resolved;
            continue;
        }
        if !meta.file_type().is_dir() {
            return Err(Refused::at(
                &next,
                Problem::NotADirectory(kind(meta.file_type())),
            ));
        }
        check_on_the_way(&meta, owner).map_err(|p| Refused::at(&next, p))?;
        dir = next;
        dir_meta = meta;
    }
    Ok(dir)
}

/// A directory on the way: an accepted owner; not writable by group or others unless sticky.
fn check_on_the_way(meta: &Metadata, owner: Owner) -> Result<(), Problem> {
    if !owner.allows(meta.uid()) {
        return Err(Problem::Owner(meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(Problem::Writable(mode));
    }
    Ok(())
}

/// Group or others may write the directory (it passed [`check_on_the_way`], so it is sticky).
fn shared(meta: &Metadata) -> bool {
    meta.mode() & 0o022 != 0
}

/// `path` made absolute against the working directory (not resolved: the walk does that).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn kind(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "an unknown kind of file"
    }
}

#[cfg(test)]
mod tests;
