//! Reading the config file and checking who may have written it, and who may read secrets.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::ConfigError;

/// Larger files are refused: a config is a few KiB, and we read it on every login.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// What identifies one version of the file: device, inode, size, modification and change
/// times to the nanosecond. Any edit, replacement, chmod or chown changes it.
pub type Version = (u64, u64, u64, i64, i64, i64, i64);

/// The file, opened and checked on its descriptor: a root-owned regular file that neither group
/// nor others can write, not over 1 MiB.
pub struct Trusted {
    file: File,
    pub version: Version,
}

impl Trusted {
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        let unsafe_file = |problem: String| ConfigError::Unsafe {
            path: path.to_path_buf(),
            problem,
        };
        if !meta.is_file() {
            return Err(unsafe_file("not a regular file".into()));
        }
        if meta.uid() != 0 {
            return Err(unsafe_file(format!(
                "owned by uid {}, must be owned by root",
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(unsafe_file(format!(
                "mode {:04o} lets group or others write it; run chmod go-w",
                meta.mode() & 0o7777
            )));
        }
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(unsafe_file(format!(
                "{} bytes, larger than the 1 MiB limit",
                meta.len()
            )));
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

/// Checks a `*_file` secret: exists, regular, root-owned, no access for group or others.
pub fn check_secret_file(config: &Path, key: &str, file: &Path) -> Result<(), ConfigError> {
    let err = |problem: String| ConfigError::Secret {
        path: config.to_path_buf(),
        key: key.to_string(),
        file: file.to_path_buf(),
        problem,
    };
    let meta = std::fs::symlink_metadata(file).map_err(|e| err(format!("cannot stat: {e}")))?;
    if !meta.is_file() {
        return Err(err("not a regular file (symbolic links are refused)".into()));
    }
    if meta.uid() != 0 {
        return Err(err(format!(
            "owned by uid {}, must be owned by root",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(err(format!(
            "mode {:04o} lets group or others read it; run chmod 600",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
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
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("c.toml");
        let s = write(d.path(), "s", 0o640, "x");
        let msg = check_secret_file(&cfg, "ticket.secret_file", &s)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("ticket.secret_file") && msg.contains("chmod 600"),
            "{msg}"
        );
        let s = write(d.path(), "s2", 0o600, "x");
        check_secret_file(&cfg, "ticket.secret_file", &s).unwrap();
        let missing = check_secret_file(&cfg, "k", &d.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("cannot stat"));
    }
}
