//! A throwaway copy of this whole machine to install packages into: a private mount namespace in
//! which an overlay (this machine's `/` read-only below, a tmpfs above) is mounted, with `/proc`,
//! `/sys` and `/dev` bound in. Commands run there through `nsenter` and `chroot`, so `dpkg`,
//! `pam-auth-update` and `pamtester` change the overlay only; nothing on the host changes.
//!
//! One `sleep` process of ours holds the namespace (it ends by itself after `HOLD_SECS`);
//! dropping the root kills it by PID, and the mounts and the tmpfs go with the namespace.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// How long the namespace holder lives at most, should a test never drop its root.
const HOLD_SECS: u32 = 1800;

pub struct OverlayRoot {
    dir: tempfile::TempDir,
    holder: Child,
}

impl OverlayRoot {
    pub fn new() -> OverlayRoot {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        // /dev/log, if the host has one, is covered so that nothing logs to the host's syslog.
        let setup = format!(
            "set -e; mkdir {d}/upper {d}/root; mount -t tmpfs -o mode=0755 tgoverlay {d}/upper; \
             mkdir {d}/upper/data {d}/upper/work; \
             mount -t overlay tgoverlay -o lowerdir=/,upperdir={d}/upper/data,workdir={d}/upper/work {d}/root; \
             mount --rbind /proc {d}/root/proc; mount --rbind /sys {d}/root/sys; \
             mount --rbind /dev {d}/root/dev; \
             if [ -e /dev/log ]; then mount --bind /dev/null {d}/root/dev/log; fi; \
             echo ready; exec sleep {HOLD_SECS}"
        );
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &setup])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run unshare (util-linux; root needed): {e}"));
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let mut err = String::new();
            holder
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let _ = holder.wait();
            panic!("the overlay root could not be set up (root and overlayfs needed): {err}");
        }
        OverlayRoot { dir, holder }
    }

    /// `inside` (an absolute path in the overlay root) as the test process can reach it: through
    /// the holder's view of the mounts (`/proc/<pid>/root`).
    pub fn path(&self, inside: &str) -> PathBuf {
        let root = format!(
            "/proc/{}/root{}/root",
            self.holder.id(),
            self.dir.path().display()
        );
        PathBuf::from(root).join(inside.trim_start_matches('/'))
    }

    /// Runs `argv` chrooted in the overlay root, with `stdin` as its input.
    pub fn run(&self, argv: &[&str], stdin: &str) -> Output {
        let pid = self.holder.id().to_string();
        let root = self.dir.path().join("root");
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &pid, "-m", "chroot"])
            .arg(&root)
            .args(["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"])
            .arg("DEBIAN_FRONTEND=noninteractive")
            .args(argv);
        crate::run_with_input(&mut cmd, stdin, "nsenter (util-linux)")
    }
}

impl Default for OverlayRoot {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OverlayRoot {
    fn drop(&mut self) {
        // Our own holder, by PID: the namespace, its mounts and the tmpfs end with it.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
