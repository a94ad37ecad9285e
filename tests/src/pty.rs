//! A pseudo-terminal for driving interactive programs (the ssh client, `su`, `login`) the way a
//! person at a terminal does: the child runs in its own session with the pty as its controlling
//! terminal (so it prompts on `/dev/tty` and turns echo off for passwords, as for a person); the
//! test reads until a prompt appears — every wait bounded — answers, and keeps the whole
//! transcript for assertions and failure messages.
//!
//! Rust rather than Python's pexpect: one toolchain, nothing more to install, and `nix` is
//! already the module's way to the system.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::sandbox::Sandbox;

/// How long any one wait (a prompt, the end of the output, the exit) may take.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Pty {
    master: File,
    child: Child,
    transcript: String,
    /// Where the next `expect` starts looking.
    cursor: usize,
    eof: bool,
}

impl Pty {
    /// Starts `cmd` on a new pty (its stdin, stdout, stderr and controlling terminal).
    pub fn spawn(mut cmd: Command) -> Pty {
        let pty = nix::pty::openpty(None, None).unwrap();
        // The master stays with the test: children must not inherit it.
        fcntl(&pty.master, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).unwrap();
        let slave = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: runs in the forked child before exec; setsid and ioctl are async-signal-safe
        // and touch no memory of the parent. TIOCSCTTY makes the pty on fd 0 the controlling
        // terminal of the new session.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        // Dropping `cmd` closes the test's copies of the slave, so EOF arrives when the child's go.
        drop(cmd);
        Pty {
            master: File::from(pty.master),
            child,
            transcript: String::new(),
            cursor: 0,
            eof: false,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the child wrote so far.
    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    /// Reads what is available, waiting at most until `until`. False when nothing more can come
    /// (EOF) or the deadline passed.
    fn fill(&mut self, until: Instant) -> bool {
        if self.eof {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return true,
            Err(e) => panic!("poll on the pty: {e}"),
        }
        let mut buf = [0u8; 4096];
        match self.master.read(&mut buf) {
            // EIO: every slave descriptor is closed (the child and its children are gone).
            Ok(0) => self.eof = true,
            Err(e) if e.raw_os_error() == Some(libc::EIO) => self.eof = true,
            Ok(n) => self
                .transcript
                .push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read from the pty: {e}"),
        }
        !self.eof
    }

    /// Waits for the first of `needles` to appear after the previous match; its index, or None
    /// when the output ended or `DEADLINE` passed without any.
    pub fn find_any(&mut self, needles: &[&str]) -> Option<usize> {
        let until = Instant::now() + DEADLINE;
        loop {
            let rest = &self.transcript[self.cursor..];
            let first = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| rest.find(n).map(|at| (at, i, n.len())))
                .min();
            if let Some((at, i, len)) = first {
                self.cursor += at + len;
                return Some(i);
            }
            if !self.fill(until) {
                return None;
            }
        }
    }

    /// Waits for `needle`; panics with the transcript when it does not come.
    pub fn expect(&mut self, needle: &str) {
        if self.find_any(&[needle]).is_none() {
            panic!(
                "{needle:?} did not appear within {DEADLINE:?}; transcript:\n{}",
                self.transcript
            );
        }
    }

    /// Types `text` (a line needs its "\n": the pty turns it into Enter).
    pub fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
    }

    /// Reads to the end of the output and waits for the child; panics if either takes longer
    /// than `DEADLINE`.
    pub fn finish(&mut self) -> ExitStatus {
        let until = Instant::now() + DEADLINE;
        while self.fill(until) {}
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the child (pid {}) did not end within {DEADLINE:?}; transcript:\n{}",
            self.child.id(),
            self.transcript
        );
    }
}

impl Drop for Pty {
    /// A child still running when the test ends (or fails) is killed: only this one, by its pid.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `argv` inside `s`'s sandbox with what an interactive login needs beyond it: the host's
/// `/dev/pts` (a pty must have a name there: `login` and `su` look it up), a real `/dev/null`
/// and `/dev/tty`, and private tmpfs `/run` (with sshd's privilege-separation dir `/run/sshd`)
/// and `/var/log` (utmp, wtmp, lastlog), so nothing on the host changes. Two namespaces: the
/// outer one makes the host's `/dev` reachable under the sandbox dir before the sandbox's own
/// `/dev` hides it.
pub fn sandboxed(s: &Sandbox, argv: &[&str]) -> Command {
    let host = s.path("hostdev");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::create_dir_all(s.path("dev/pts")).unwrap();
    let h = host.display();
    let inner = format!(
        "mount --bind {h}/pts /dev/pts && mount --bind {h}/null /dev/null && \
         mount --bind {h}/tty /dev/tty && \
         mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && \
         mount -t tmpfs -o mode=755 tmpfs /var/log && exec \"$@\""
    );
    let mut args = vec!["sh", "-c", &inner, "sh"];
    args.extend_from_slice(argv);
    let sandbox = s.command(&args);
    let mut outer = Command::new("unshare");
    outer
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!("mount --rbind /dev {h} && exec \"$@\""))
        .arg("sh")
        .arg(sandbox.get_program())
        .args(sandbox.get_args());
    outer
}
