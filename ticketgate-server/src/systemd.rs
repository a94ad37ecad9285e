//! systemd's readiness protocol (`Type=notify`): `READY=1` once the server listens and
//! `STOPPING=1` when a signal starts the graceful stop, sent as one datagram to
//! `$NOTIFY_SOCKET`. Without that variable nothing is sent and nothing changes.

use crate::audit::{Event, Sink};
use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::SystemTime;

/// The variable systemd sets to the socket that takes the notifications.
pub const NOTIFY_SOCKET_VAR: &str = "NOTIFY_SOCKET";
/// Sent once the port is bound and every check passed.
pub const READY: &str = "READY=1";
/// Sent when SIGTERM or SIGINT starts the graceful stop.
pub const STOPPING: &str = "STOPPING=1";

/// The socket address a `$NOTIFY_SOCKET` value names: an absolute path, or an abstract name
/// after `@` (systemd uses those in containers and with `PrivateNetwork=`).
pub fn address(value: &OsStr) -> io::Result<SocketAddr> {
    match value.as_bytes().split_first() {
        Some((b'@', name)) => SocketAddr::from_abstract_name(name),
        Some((b'/', _)) => SocketAddr::from_pathname(value),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{NOTIFY_SOCKET_VAR}={} is neither an absolute path nor @ and an abstract name",
                value.to_string_lossy()
            ),
        )),
    }
}

/// Sends `state` (such as [`READY`]) to the socket `value` names.
pub fn notify_to(value: &OsStr, state: &str) -> io::Result<()> {
    let addr = address(value)?;
    let socket = UnixDatagram::unbound()?;
    let sent = socket.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "the notification was cut short",
        ));
    }
    Ok(())
}

/// Sends `state` to `$NOTIFY_SOCKET`; `Ok(false)` when the variable is unset or empty.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET_VAR) {
        Some(value) if !value.is_empty() => notify_to(&value, state).map(|()| true),
        _ => Ok(false),
    }
}

/// [`notify`], saying in one log line when a notification systemd waits for could not be sent
/// (with `Type=notify` it then stops the service after `TimeoutStartSec=`).
pub fn notify_or_log(state: &str, log: &dyn Sink, now: SystemTime) {
    if let Err(e) = notify(state) {
        Event::new("warning", now)
            .field("reason", "notify_failed")
            .field("state", state)
            .field("detail", &e.to_string())
            .emit(log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn received(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn a_path_socket_receives_the_state() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), READY).unwrap();
        assert_eq!(received(&socket), "READY=1");
    }

    #[test]
    fn an_abstract_socket_receives_the_state() {
        let name = format!("ticketgate-server-test-{}", std::process::id());
        let socket =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        notify_to(OsStr::new(&format!("@{name}")), STOPPING).unwrap();
        assert_eq!(received(&socket), "STOPPING=1");
    }

    #[test]
    fn a_relative_or_vsock_address_is_refused() {
        for bad in ["notify", "", "vsock:2:1234"] {
            let e = address(OsStr::new(bad)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn nobody_listening_is_an_error_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("gone");
        assert!(notify_to(path.as_os_str(), READY).is_err());
    }

    /// The unit waits for READY=1, runs as its own user and loads its secrets as credentials.
    #[test]
    fn the_unit_is_type_notify_as_its_own_user() {
        let unit = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../conf/ticketgate-server.service"
        ))
        .unwrap();
        let lines: Vec<&str> = unit.lines().collect();
        for want in [
            "Type=notify",
            "User=_ticketgate-server",
            "Group=_ticketgate-server",
            "StateDirectory=ticketgate-server",
            "CapabilityBoundingSet=",
            "AmbientCapabilities=",
            "NoNewPrivileges=yes",
        ] {
            assert!(lines.contains(&want), "the unit lacks {want}");
        }
        assert!(lines.iter().any(|l| l.starts_with("LoadCredential=")));
    }
}
