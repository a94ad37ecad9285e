//! Setting a password through the system's `chpasswd`: `USER:PASSWORD\n` on its standard
//! input (never its arguments or environment, which `/proc` shows to every user), from a
//! buffer that is zeroed when dropped. chpasswd writes the shadow file the distribution's way
//! (its own locking, its hash method; on Debian through PAM, `/etc/pam.d/chpasswd`).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use pam_ticketgate::secret::Secret;

/// How long chpasswd may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Sets `user`'s password to `password`, or says why not (never with the password in it).
pub fn set(user: &str, password: &Secret) -> Result<(), String> {
    if user.contains([':', '\n', '\r', '\0']) || password.expose().contains(['\n', '\r', '\0']) {
        return Err("a user or password chpasswd cannot take".into());
    }
    let mut input = Zeroizing::new(String::with_capacity(
        user.len() + password.expose().len() + 2,
    ));
    input.push_str(user);
    input.push(':');
    input.push_str(password.expose());
    input.push('\n');
    let mut child = Command::new("chpasswd")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("chpasswd could not be started: {e}"))?;
    let wrote = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(input.as_bytes()),
        None => Err(std::io::Error::other("no standard input")),
    };
    drop(input);
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "chpasswd did not finish within {} s",
                    DEADLINE.as_secs()
                ));
            }
            Err(e) => return Err(format!("chpasswd: {e}")),
        }
    };
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.by_ref().take(4096).read_to_string(&mut err);
    }
    if let Err(e) = wrote {
        return Err(format!("chpasswd did not take the input: {e}"));
    }
    if status.success() {
        return Ok(());
    }
    let first = err
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    Err(format!(
        "chpasswd failed ({status}){}{first}",
        if first.is_empty() { "" } else { ": " }
    ))
}
