//! Reading the config file and checking who may have written it, and who may read secrets.
//! Both checks are `fsutil`'s (the one checker): the file and every directory leading to it.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::ConfigError;
use crate::fsutil::{self, Problem, Refused, Rule};
use crate::secret::Secret;

/// Larger files are refused: a config is a few KiB, and we read it on every login.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// What identifies one version of the file: device, inode, size, modification and change
/// times to the nanosecond. Any edit, replacement, chmod or chown changes it.
pub type Version = (u64, u64, u64, i64, i64, i64, i64);

/// The file, opened and checked: every directory leading to it root-owned and not writable by
/// group or others (a sticky one, as `/tmp`, only with root's entries below it); the file
/// itself opened `O_NOFOLLOW | O_NONBLOCK` (a symbolic link is refused, a FIFO cannot hang the
/// login) and checked on its descriptor: a root-owned regular file that neither group nor
/// others can write, not over 1 MiB.
pub struct Trusted {
    file: File,
    pub version: Version,
}

impl Trusted {
    #[cfg(test)]
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        Self::open_with(path, false)
    }

    /// [`open`](Self::open); with `dirs_checked`, the directories leading to `path` passed
    /// their checks earlier in this login and only the file itself is checked again.
    pub fn open_with(path: &Path, dirs_checked: bool) -> Result<Self, ConfigError> {
        let opened = if dirs_checked {
            fsutil::reopen_with_metadata(path, Rule::CONFIG)
        } else {
            fsutil::open_with_metadata(path, Rule::CONFIG)
        };
        let (file, meta) = opened.map_err(|refused| match refused {
            Refused {
                at: None,
                problem: Problem::Io(source),
            } => ConfigError::Io {
                path: path.to_path_buf(),
                source,
            },
            other => ConfigError::Unsafe {
                path: path.to_path_buf(),
                problem: other.to_string(),
            },
        })?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::Unsafe {
                path: path.to_path_buf(),
                problem: format!("{} bytes, larger than the 1 MiB limit", meta.len()),
            });
        }
        let version = (
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        );
        Ok(Self { file, version })
    }

    pub fn text(mut self, path: &Path) -> Result<String, ConfigError> {
        let mut text = String::new();
        self.file
            .read_to_string(&mut text)
            .map_err(|source| ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(text)
    }
}

/// Reads a `*_file` secret through the one reader the module, the CLI and the server share
/// (`fs_trust::read_secret_text`): a root-owned regular file (not a symbolic link) with no
/// access for group or others, in directories only root can change; the secret is its first
/// line without surrounding white space, and must not be empty.
pub fn read_secret_file(config: &Path, key: &str, file: &Path) -> Result<Secret, ConfigError> {
    fsutil::read_secret_text(file, Rule::SECRET)
        .map(|text| Secret::new(text.to_string()))
        .map_err(|e| ConfigError::Secret {
            path: config.to_path_buf(),
            key: key.to_string(),
            file: file.to_path_buf(),
            problem: e.to_string(),
        })
}

/// Checks a public file the config names (`ca_file`): root-owned, not writable by group or
/// others, in directories only root can change (a link there is followed and its target
/// checked: `update-ca-certificates` installs links).
pub fn check_public_file(config: &Path, key: &str, file: &Path) -> Result<(), ConfigError> {
    fsutil::check_file(file, Rule::PUBLIC).map_err(|refused| ConfigError::File {
        path: config.to_path_buf(),
        key: key.to_string(),
        file: file.to_path_buf(),
        problem: refused.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_trusted(path: &Path) -> Result<String, ConfigError> {
        Trusted::open(path)?.text(path)
    }
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, mode: u32, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn group_or_world_writable_config_is_refused() {
        crate::test_support::needs_root!("group_or_world_writable_config_is_refused");
        let d = tempfile::tempdir().unwrap();
        for mode in [0o664, 0o646, 0o666] {
            let p = write(d.path(), "c.toml", mode, "version = 1");
            let msg = read_trusted(&p).unwrap_err().to_string();
            assert!(msg.contains("chmod go-w"), "{mode:o}: {msg}");
        }
        let p = write(d.path(), "ok.toml", 0o644, "version = 1");
        assert_eq!(read_trusted(&p).unwrap(), "version = 1");
    }

    #[test]
    fn config_not_owned_by_root_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "c.toml", 0o644, "version = 1");
        std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
        let msg = read_trusted(&p).unwrap_err().to_string();
        assert!(msg.contains("owned by uid 65534"), "{msg}");
    }

    #[test]
    fn secret_readable_by_others_is_refused() {
        crate::test_support::needs_root!("secret_readable_by_others_is_refused");
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("c.toml");
        let s = write(d.path(), "s", 0o640, "x");
        let msg = read_secret_file(&cfg, "ticket.secret_file", &s)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("ticket.secret_file") && msg.contains("chmod 600"),
            "{msg}"
        );
        let s = write(d.path(), "s2", 0o600, "  x \nsecond line\n");
        let secret = read_secret_file(&cfg, "ticket.secret_file", &s).unwrap();
        assert_eq!(secret.expose(), "x", "the first line, trimmed");
        let empty = write(d.path(), "s3", 0o600, "\nx\n");
        let msg = read_secret_file(&cfg, "k", &empty).unwrap_err().to_string();
        assert!(msg.contains("first line is empty"), "{msg}");
        let missing = read_secret_file(&cfg, "k", &d.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("cannot open"));
    }

    /// Issue 12 (item 5): a config in a directory others can write could be swapped (for a
    /// symbolic link to another root-owned config without the ticket gate, or a FIFO that
    /// hangs every login). The directories leading to it are now checked as `StrictModes` does.
    #[test]
    fn config_in_a_directory_others_can_write_is_refused_issue_12() {
        crate::test_support::needs_root!(
            "config_in_a_directory_others_can_write_is_refused_issue_12"
        );
        let d = tempfile::tempdir().unwrap();
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let p = write(&open, "c.toml", 0o644, "version = 1");
        let msg = read_trusted(&p).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("{}: mode 0777", open.display())) && msg.contains("chmod go-w"),
            "{msg}"
        );
        // The same directory with the sticky bit (as /tmp) and a root-owned entry passes.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(read_trusted(&p).unwrap(), "version = 1");
    }

    #[test]
    fn symlinked_config_is_refused_issue_12() {
        crate::test_support::needs_root!("symlinked_config_is_refused_issue_12");
        let d = tempfile::tempdir().unwrap();
        let other = write(d.path(), "other.toml", 0o644, "version = 1");
        let link = d.path().join("c.toml");
        std::os::unix::fs::symlink(&other, &link).unwrap();
        let msg = read_trusted(&link).unwrap_err().to_string();
        assert!(msg.contains("symbolic link"), "{msg}");
    }

    #[test]
    fn fifo_config_is_refused_at_once_issue_12() {
        crate::test_support::needs_root!("fifo_config_is_refused_at_once_issue_12");
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("c.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let started = std::time::Instant::now();
        let msg = read_trusted(&fifo).unwrap_err().to_string();
        assert!(msg.contains("is a FIFO, not a regular file"), "{msg}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
