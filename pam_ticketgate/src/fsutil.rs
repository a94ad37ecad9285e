//! The module's own files, opened one way everywhere: created 0600, never through a symbolic
//! link, not inherited by child processes; replaced atomically; locked across processes. And
//! the one check of who may have written a file or directory the module or the CLI trusts
//! (the `fs-trust` crate, shared with ticketgate-server; its docs state the rule).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

pub use fs_trust::{
    Owner, Problem, Refused, Rule, check_dir, check_dir_entry, check_file, check_opened,
    open as open_trusted, open_with_metadata, read_secret_text, reopen_with_metadata,
};

/// Why one of the module's own small files (the verdict cache, the break-glass codes) could not
/// be used.
#[derive(Debug)]
pub enum FileError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// Not root's, open to others, or not a regular file.
    Refused {
        path: PathBuf,
        problem: Problem,
    },
    /// It holds what this module never writes.
    Corrupt {
        path: PathBuf,
        detail: String,
    },
}

impl FileError {
    /// An I/O error on `path`.
    pub fn io(path: &Path) -> impl Fn(io::Error) -> FileError + '_ {
        move |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Refused { path, problem } => write!(f, "{}: refused: {problem}", path.display()),
            Self::Corrupt { path, detail } => write!(f, "{}: corrupt: {detail}", path.display()),
        }
    }
}

impl std::error::Error for FileError {}

/// Options for a private file: mode 0600 when created, `O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK`
/// (a FIFO in a file's place cannot make the open wait; for a regular file the flag changes
/// nothing). The caller adds read / write / create / truncate / append.
pub fn private() -> OpenOptions {
    let mut options = OpenOptions::new();
    options
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK);
    options
}

/// Replaces `path` with `bytes` by writing a temporary file beside it and renaming it over:
/// readers see the old or the new content, never a mix. `durable` also fsyncs the file and its
/// directory (for state a crash must not lose; it costs a disk flush).
pub fn replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let written = private()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            if durable { f.sync_all() } else { Ok(()) }
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    match (durable, path.parent()) {
        (true, Some(dir)) => File::open(dir).and_then(|d| d.sync_all()),
        _ => Ok(()),
    }
}

/// Opens (creating, never truncating) `path` for reading and writing and takes an exclusive
/// `flock` on it, waiting for other processes; released when the guard is dropped.
pub fn lock(path: &Path) -> io::Result<Flock<File>> {
    let file = private()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| io::Error::from(errno))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replace_writes_a_private_file_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        replace(&p, b"one", true).unwrap();
        replace(&p, b"two", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_fifo_in_a_files_place_never_makes_an_open_wait() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("f");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Without O_NONBLOCK, opening a FIFO nobody has open blocks forever.
        assert!(private().append(true).open(&fifo).is_err());
        let read = private().read(true).open(&fifo).unwrap();
        assert!(check_opened(&read.metadata().unwrap(), Rule::SECRET).is_err());
    }

    #[test]
    fn symlinks_are_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(private().write(true).open(&link).is_err());
        assert!(lock(&link).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
