//! Audit events (docs/design.md §6): one syslog line each (authpriv, ident `pam_ticketgate`) and,
//! with `audit_file`, the same event as one JSON object per line. Never a secret.
//!
//! Every value in a log line goes through [`quote`], the one quoting function, and every user
//! name through [`user_field`] first: what a client typed can neither end a line, open a field,
//! nor (when it cannot be an account name, such as a password typed at the user prompt) appear
//! in clear. Free-text lines ([`AuditSink::error`], `debug`) quote the values they interpolate
//! from the login, and the sink escapes any control character left in a line as a backstop.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// The event names of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    AuthSuccess,
    AuthFailure,
    HackLock,
    AdminLock,
    AdminUnlock,
    AdminReset,
    ConfigError,
    TicketAccepted,
    TicketRejected,
    OfflineFallback,
    BreakglassUsed,
    BreakglassRevoked,
    TicketAbandoned,
    StateUnwritable,
    SystemError,
    ExpiredLock,
    InactiveLock,
    MustChange,
    CredentialUpdate,
    CredentialUpdateFailed,
    SessionOpen,
    SessionClose,
    SessionTerminated,
    ProtectLocked,
    ProtectUnlockUsed,
    ProtectDisabled,
    ProtectEnabled,
    FleetLock,
    FleetOffline,
    FleetSpoolDropped,
    WouldRefuse,
    AgentTask,
}

impl EventName {
    /// Every event, in the order pam_ticketgate(8) lists them.
    pub const ALL: [EventName; 32] = [
        Self::AuthSuccess,
        Self::AuthFailure,
        Self::HackLock,
        Self::AdminLock,
        Self::AdminUnlock,
        Self::AdminReset,
        Self::ExpiredLock,
        Self::InactiveLock,
        Self::MustChange,
        Self::CredentialUpdate,
        Self::CredentialUpdateFailed,
        Self::SessionOpen,
        Self::SessionClose,
        Self::SessionTerminated,
        Self::ProtectLocked,
        Self::ProtectUnlockUsed,
        Self::ProtectDisabled,
        Self::ProtectEnabled,
        Self::FleetLock,
        Self::FleetOffline,
        Self::FleetSpoolDropped,
        Self::WouldRefuse,
        Self::AgentTask,
        Self::TicketAccepted,
        Self::TicketRejected,
        Self::OfflineFallback,
        Self::BreakglassUsed,
        Self::BreakglassRevoked,
        Self::TicketAbandoned,
        Self::StateUnwritable,
        Self::ConfigError,
        Self::SystemError,
    ];

    /// When the event is logged and its own fields, for the man page.
    pub fn summary(self) -> &'static str {
        match self {
            Self::AuthSuccess => "a login passed the auth and account phases",
            Self::AuthFailure => {
                "a failed logon was recorded (failures=N), or a login was refused before the \
                 password (reason=hack_lock|admin_lock|inactive_lock|locked|corrupt_state|unknown_user)"
            }
            Self::HackLock => "failed logons reached the policy's limit (failures, until, policy)",
            Self::AdminLock => "ticketgate lock (by)",
            Self::AdminUnlock => "ticketgate unlock (by)",
            Self::AdminReset => "ticketgate reset (by)",
            Self::ExpiredLock => "the credential has expired: it must be changed to go on",
            Self::InactiveLock => "no successful login for inactive_after: the account is locked",
            Self::MustChange => {
                "the credential must be changed (ticketgate must-change, or at login)"
            }
            Self::CredentialUpdate => "a new password or PIN was accepted",
            Self::CredentialUpdateFailed => "a new password or PIN was refused (rule)",
            Self::SessionOpen => "a session was recorded (tty, pid, ticket)",
            Self::SessionClose => "a session ended",
            Self::SessionTerminated => {
                "ticketgate terminate signalled a session (pid, tty, signal)"
            }
            Self::ProtectLocked => {
                "login protect refused a login before the password (service_id, waited, reason)"
            }
            Self::ProtectUnlockUsed => "an unlock from the user's device let a login on",
            Self::ProtectDisabled => "ticketgate protect disable (by)",
            Self::ProtectEnabled => "ticketgate protect enable (by)",
            Self::FleetLock => {
                "the fleet server says the user is locked fleet-wide: preauth refuses the login, or \
                 a failure reported by authfail reached the fleet's limit (phase, reason, until, \
                 failures)"
            }
            Self::FleetOffline => {
                "the fleet server is unreachable; logged once per login (phase, mode, result, \
                 reason, url)"
            }
            Self::FleetSpoolDropped => {
                "the fleet spool was full: its oldest event was dropped unsent (kind, id, at)"
            }
            Self::WouldRefuse => {
                "a scope in mode = \"report\" would have refused the login or change; nothing was \
                 refused (gate = lockout|account|password|protect|ticket|fleet, reason, phase)"
            }
            Self::AgentTask => {
                "ticketgate-agent ran or refused a task the server queued for this host (task_id, \
                 kind, status = done|failed|refused, detail); never the password"
            }
            Self::TicketAccepted => "a ticket was accepted (system, ticket, source, conditions)",
            Self::TicketRejected => {
                "a ticket was refused (system, ticket, reason, detail or conditions); it counts as a \
                 failed logon"
            }
            Self::OfflineFallback => {
                "a server was unreachable and an offline mode decided (gate, mode, result or ticket, \
                 detail)"
            }
            Self::BreakglassUsed => "a break-glass code was used (ticket, remaining)",
            Self::BreakglassRevoked => "every break-glass code was made unusable (revoked, by)",
            Self::TicketAbandoned => {
                "the client gave no answer at the ticket prompt after a correct password; it \
                 counts as a failed logon"
            }
            Self::StateUnwritable => {
                "the user's state cannot be written (full or read-only state_dir, a planted link, \
                 a name that cannot be stored); the login is refused unless state_unwritable = \
                 \"allow\" (error, policy)"
            }
            Self::ConfigError => {
                "the configuration, a module argument or a secret file is unusable (error)"
            }
            Self::SystemError => {
                "something the gate needed could not be used: a state or run file, a directory, \
                 NSS, a spool, a cache (error); the login fails closed or goes on as its mode says"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthSuccess => "auth_success",
            Self::AuthFailure => "auth_failure",
            Self::HackLock => "hack_lock",
            Self::AdminLock => "admin_lock",
            Self::AdminUnlock => "admin_unlock",
            Self::AdminReset => "admin_reset",
            Self::ConfigError => "config_error",
            Self::TicketAccepted => "ticket_accepted",
            Self::TicketRejected => "ticket_rejected",
            Self::OfflineFallback => "offline_fallback",
            Self::BreakglassUsed => "breakglass_used",
            Self::BreakglassRevoked => "breakglass_revoked",
            Self::TicketAbandoned => "ticket_abandoned",
            Self::StateUnwritable => "state_unwritable",
            Self::SystemError => "system_error",
            Self::ExpiredLock => "expired_lock",
            Self::InactiveLock => "inactive_lock",
            Self::MustChange => "must_change",
            Self::CredentialUpdate => "credential_update",
            Self::CredentialUpdateFailed => "credential_update_failed",
            Self::SessionOpen => "session_open",
            Self::SessionClose => "session_close",
            Self::SessionTerminated => "session_terminated",
            Self::ProtectLocked => "protect_locked",
            Self::ProtectUnlockUsed => "protect_unlock_used",
            Self::ProtectDisabled => "protect_disabled",
            Self::ProtectEnabled => "protect_enabled",
            Self::FleetLock => "fleet_lock",
            Self::FleetOffline => "fleet_offline",
            Self::FleetSpoolDropped => "fleet_spool_dropped",
            Self::WouldRefuse => "would_refuse",
            Self::AgentTask => "agent_task",
        }
    }

    fn severity(self) -> syslog::Severity {
        match self {
            Self::AuthSuccess | Self::AdminUnlock | Self::AdminReset | Self::CredentialUpdate => {
                syslog::Severity::LOG_INFO
            }
            Self::ExpiredLock | Self::MustChange | Self::CredentialUpdateFailed => {
                syslog::Severity::LOG_NOTICE
            }
            Self::InactiveLock | Self::SessionTerminated => syslog::Severity::LOG_WARNING,
            Self::SessionOpen | Self::SessionClose => syslog::Severity::LOG_INFO,
            Self::AuthFailure | Self::AdminLock => syslog::Severity::LOG_NOTICE,
            Self::HackLock => syslog::Severity::LOG_WARNING,
            Self::ConfigError | Self::StateUnwritable | Self::SystemError => {
                syslog::Severity::LOG_ERR
            }
            Self::TicketAbandoned => syslog::Severity::LOG_NOTICE,
            Self::TicketAccepted => syslog::Severity::LOG_INFO,
            Self::TicketRejected => syslog::Severity::LOG_NOTICE,
            // Logins let on without the ticket system's word are loud.
            Self::OfflineFallback | Self::BreakglassUsed => syslog::Severity::LOG_WARNING,
            Self::ProtectUnlockUsed | Self::ProtectEnabled => syslog::Severity::LOG_INFO,
            Self::ProtectLocked | Self::BreakglassRevoked => syslog::Severity::LOG_NOTICE,
            Self::ProtectDisabled => syslog::Severity::LOG_WARNING,
            Self::FleetLock | Self::FleetOffline | Self::FleetSpoolDropped => {
                syslog::Severity::LOG_WARNING
            }
            Self::WouldRefuse | Self::AgentTask => syslog::Severity::LOG_NOTICE,
        }
    }
}

/// One event: who, where, and event-specific fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: EventName,
    pub user: String,
    pub service: String,
    pub rhost: String,
    pub fields: Vec<(&'static str, String)>,
}

impl Event {
    /// An event about `user` (kept as [`user_field`] shows it: a name that cannot be an
    /// account name is never stored in clear, so neither line shows it).
    pub fn new(name: EventName, user: &str, service: &str, rhost: &str) -> Self {
        Self {
            name,
            user: user_field(user),
            service: service.into(),
            rhost: rhost.into(),
            fields: Vec::new(),
        }
    }

    pub fn with(mut self, key: &'static str, value: impl ToString) -> Self {
        self.fields.push((key, value.to_string()));
        self
    }

    /// `event=<name> user=<u> service=<s> rhost=<h> k=v ...`, values quoted when needed.
    pub fn syslog_line(&self) -> String {
        let mut line = format!("event={}", self.name.as_str());
        let base = [
            ("user", &self.user),
            ("service", &self.service),
            ("rhost", &self.rhost),
        ];
        for (k, v) in base
            .into_iter()
            .chain(self.fields.iter().map(|(k, v)| (*k, v)))
        {
            line.push(' ');
            line.push_str(k);
            line.push('=');
            line.push_str(&quote(v));
        }
        line
    }

    /// `{"ts":…,"event":…,"user":…,"service":…,"rhost":…,…}`: `ts` in RFC 3339 UTC
    /// (`2026-12-02T11:00:36Z`), the fields of [`NUMBER_FIELDS`] as JSON numbers (an `until`
    /// only an administrator ends is `null`), every other field a string.
    pub fn json_line(&self, ts: i64) -> String {
        let mut map = serde_json::Map::new();
        map.insert("ts".into(), crate::timefmt::rfc3339(ts).into());
        map.insert("event".into(), self.name.as_str().into());
        map.insert("user".into(), self.user.clone().into());
        map.insert("service".into(), self.service.clone().into());
        map.insert("rhost".into(), self.rhost.clone().into());
        for (k, v) in &self.fields {
            map.insert((*k).into(), json_value(k, v));
        }
        serde_json::Value::Object(map).to_string()
    }
}

/// The fields that are counts, durations in seconds, epochs or ids: JSON numbers in the audit
/// file (syslog lines show every value as text).
pub const NUMBER_FIELDS: [&str; 9] = [
    "failures",
    "until",
    "expired_at",
    "last_activity",
    "seconds",
    "remaining",
    "revoked",
    "pid",
    "uid",
];

fn json_value(key: &str, text: &str) -> serde_json::Value {
    if !NUMBER_FIELDS.contains(&key) {
        return text.into();
    }
    match text.parse::<i64>() {
        Ok(n) => n.into(),
        // `until=admin`: the lock has no end an epoch could say.
        Err(_) if key == "until" && text == "admin" => serde_json::Value::Null,
        Err(_) => text.into(),
    }
}

/// Reads a value [`quote`] wrote back: its inverse, for the tests and the `log_quote` fuzz
/// target (never needed to write a line).
#[cfg(any(test, feature = "fuzzing"))]
pub fn unquote(q: &str) -> Option<String> {
    let Some(inner) = q.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Some(q.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
            }
            'u' => {
                let rest: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let hex = rest.strip_prefix('{')?;
                out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Longest user name logged in clear (glibc's and shadow's `UT_NAMESIZE`; `useradd` refuses
/// longer names).
pub const MAX_LOGGED_NAME: usize = 32;

/// The one quoting function for log lines. A plain word (printable ASCII other than space, `"`,
/// `=` and `\`) stays as it is; anything else is put in double quotes with `"` and `\`
/// escaped, ASCII control characters written `\xNN` and every other non-ASCII character
/// `\u{N}`. The result is printable ASCII, so a value can neither end the line nor open a
/// field, and it reads back to the value exactly (see `unquote` in the tests and the
/// `log_quote` fuzz target).
pub fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '=' | '\\'));
    if plain {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => escape_char(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// `c` as it may appear in a log line: printable ASCII as is, other ASCII as `\xNN`, anything
/// else as `\u{N}`.
fn escape_char(out: &mut String, c: char) {
    if c == ' ' || c.is_ascii_graphic() {
        out.push(c);
    } else if c.is_ascii() {
        out.push_str(&format!("\\x{:02x}", u32::from(c)));
    } else {
        out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
    }
}

/// A whole free-text line made safe for syslog: every character [`quote`] would escape inside
/// quotes (controls, non-ASCII) escaped the same way; nothing else touched. A backstop under
/// the call sites' own quoting: no message can become two lines.
pub fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        escape_char(&mut out, c);
    }
    out
}

/// True when `name` could be an account name and may be logged in clear: 1 to
/// [`MAX_LOGGED_NAME`] characters, each a letter, a digit or one of `. _ - @ $ \`, not
/// starting with `.` or `-` (as `useradd` wants). A password typed at the user prompt, or a name
/// carrying spaces, quotes or control characters, is not.
pub fn is_loggable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name.chars().count() <= MAX_LOGGED_NAME
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '$' | '\\'))
}

/// A user name as it may appear in a log or audit line: the name when [`is_loggable_name`],
/// else `(invalid, N characters)`. The module's own placeholders (`(unknown)` and an earlier
/// `(invalid, N characters)`) pass unchanged, so applying it twice changes nothing.
pub fn user_field(name: &str) -> String {
    if is_loggable_name(name) || name == "(unknown)" || is_invalid_marker(name) {
        name.to_string()
    } else {
        format!("(invalid, {} characters)", name.chars().count())
    }
}

/// `(invalid, N characters)` with N a number, as [`user_field`] writes it.
fn is_invalid_marker(name: &str) -> bool {
    name.strip_prefix("(invalid, ")
        .and_then(|rest| rest.strip_suffix(" characters)"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A user name ready to interpolate into a free-text line: [`user_field`], then [`quote`].
pub fn quoted_user(name: &str) -> String {
    quote(&user_field(name))
}

/// Where events and error lines go.
pub trait AuditSink {
    fn event(&self, event: &Event, now: i64);
    /// One line saying what is wrong (config, state, directory): syslog at `err`.
    fn error(&self, message: &str);
}

/// A borrowed sink is a sink (tests keep their [`MemAudit`] and hand the gate a reference).
impl<A: AuditSink + ?Sized> AuditSink for &A {
    fn event(&self, event: &Event, now: i64) {
        (**self).event(event, now);
    }
    fn error(&self, message: &str) {
        (**self).error(message);
    }
}

/// Who and where an error happened, for [`SystemAudit::for_login`].
struct LoginContext {
    user: String,
    service: String,
    rhost: String,
    now: i64,
}

/// The real sink: syslog, plus the JSON audit file when configured.
pub struct SystemAudit {
    audit_file: Option<PathBuf>,
    socket: &'static str,
    login: Option<LoginContext>,
}

impl SystemAudit {
    pub fn new(audit_file: Option<PathBuf>) -> Self {
        Self {
            audit_file,
            socket: "/dev/log",
            login: None,
        }
    }

    /// The sink of one login: its [`AuditSink::error`] lines become `system_error` events
    /// naming the user, service and rhost (at `now`), in syslog and the audit file alike.
    pub fn for_login(
        audit_file: Option<PathBuf>,
        user: &str,
        service: &str,
        rhost: &str,
        now: i64,
    ) -> Self {
        Self {
            login: Some(LoginContext {
                user: user.to_owned(),
                service: service.to_owned(),
                rhost: rhost.to_owned(),
                now,
            }),
            ..Self::new(audit_file)
        }
    }

    /// A `debug` line (module argument `debug`), at syslog level debug.
    pub fn debug(message: &str) {
        Self::new(None).syslog(syslog::Severity::LOG_DEBUG, message);
    }

    fn syslog(&self, severity: syslog::Severity, message: &str) {
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_AUTHPRIV,
            hostname: None,
            process: "pam_ticketgate".into(),
            pid: std::process::id(),
        };
        let message = one_line(message);
        let message = message.as_str();
        // No syslog daemon is not a reason to refuse a login; the JSON file still records events.
        if let Ok(mut logger) = syslog::unix_custom(formatter, self.socket) {
            // A wedged syslog daemon (full socket queue) must not freeze logins: never block.
            let _ = match &logger.backend {
                syslog::LoggerBackend::Unix(sock) => sock.set_nonblocking(true),
                syslog::LoggerBackend::UnixStream(sock) => sock.get_ref().set_nonblocking(true),
                _ => Ok(()),
            };
            let _ = match severity {
                syslog::Severity::LOG_ERR => logger.err(message),
                syslog::Severity::LOG_WARNING => logger.warning(message),
                syslog::Severity::LOG_NOTICE => logger.notice(message),
                syslog::Severity::LOG_DEBUG => logger.debug(message),
                _ => logger.info(message),
            };
        }
    }
}

impl AuditSink for SystemAudit {
    fn event(&self, event: &Event, now: i64) {
        self.syslog(event.name.severity(), &event.syslog_line());
        if let Some(path) = &self.audit_file {
            let mut line = event.json_line(now);
            line.push('\n');
            let written = crate::fsutil::private()
                .append(true)
                .create(true)
                .open(path)
                .and_then(|mut f| {
                    // A FIFO or device in the file's place gets no audit line (and no wait).
                    if !f.metadata()?.is_file() {
                        return Err(std::io::Error::other("not a regular file"));
                    }
                    f.write_all(line.as_bytes())
                });
            if let Err(e) = written {
                self.syslog(
                    syslog::Severity::LOG_ERR,
                    &format!("audit_file {}: {e}", path.display()),
                );
            }
        }
    }

    fn error(&self, message: &str) {
        match &self.login {
            Some(l) => self.event(
                &Event::new(EventName::SystemError, &l.user, &l.service, &l.rhost)
                    .with("error", message),
                l.now,
            ),
            None => self.syslog(syslog::Severity::LOG_ERR, message),
        }
    }
}

/// Collects events in memory, for tests.
#[derive(Default)]
pub struct MemAudit {
    pub events: Mutex<Vec<Event>>,
    pub errors: Mutex<Vec<String>>,
}

impl MemAudit {
    pub fn names(&self) -> Vec<&'static str> {
        self.events
            .lock()
            .map(|e| e.iter().map(|e| e.name.as_str()).collect())
            .unwrap_or_default()
    }
}

impl AuditSink for MemAudit {
    fn event(&self, event: &Event, _now: i64) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event.clone());
        }
    }

    fn error(&self, message: &str) {
        if let Ok(mut e) = self.errors.lock() {
            e.push(message.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_event_once() {
        macro_rules! every_event {
            ($($v:ident),* $(,)?) => {{
                // Exhaustive on purpose (no `_` arm): a new event does not compile until it is
                // listed here, and then this test fails until ALL lists it too.
                fn _exhaustive(e: EventName) {
                    match e {
                        $(EventName::$v => {})*
                    }
                }
                vec![$(EventName::$v),*]
            }};
        }
        let every = every_event!(
            AuthSuccess,
            AuthFailure,
            HackLock,
            AdminLock,
            AdminUnlock,
            AdminReset,
            ExpiredLock,
            InactiveLock,
            MustChange,
            CredentialUpdate,
            CredentialUpdateFailed,
            SessionOpen,
            SessionClose,
            SessionTerminated,
            ProtectLocked,
            ProtectUnlockUsed,
            ProtectDisabled,
            ProtectEnabled,
            FleetLock,
            FleetOffline,
            FleetSpoolDropped,
            WouldRefuse,
            AgentTask,
            TicketAccepted,
            TicketRejected,
            OfflineFallback,
            BreakglassUsed,
            BreakglassRevoked,
            TicketAbandoned,
            StateUnwritable,
            ConfigError,
            SystemError,
        );
        assert_eq!(every.len(), EventName::ALL.len());
        for e in every {
            assert!(EventName::ALL.contains(&e), "{e:?} is missing from ALL");
        }
        let names: std::collections::BTreeSet<&str> =
            EventName::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), EventName::ALL.len(), "two events share a name");
        assert!(EventName::ALL.iter().all(|e| !e.summary().is_empty()));
    }

    #[test]
    fn hostile_values_cannot_forge_fields_or_lines() {
        let e = Event::new(
            EventName::AuthFailure,
            "evil user=root",
            "sshd",
            "x\nevent=admin_unlock",
        );
        let line = e.syslog_line();
        assert_eq!(
            line,
            "event=auth_failure user=\"(invalid, 14 characters)\" service=sshd rhost=\"x\\x0aevent=admin_unlock\""
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn quote_is_printable_ascii_and_reads_back() {
        for v in [
            "alice",
            "",
            "a b",
            "x\nevent=admin_unlock user=root",
            "q\"uote\\",
            "j\u{fc}rgen",
            "bidi\u{202e}txet",
            "line\u{2028}sep",
            "nul\0",
            "\u{7f}del",
        ] {
            let q = quote(v);
            assert!(q.chars().all(|c| c == ' ' || c.is_ascii_graphic()), "{q}");
            assert_eq!(unquote(&q).as_deref(), Some(v), "{q}");
        }
        assert_eq!(quote("j\u{fc}rgen"), "\"j\\u{fc}rgen\"");
        assert_eq!(one_line("a\nb\u{2028}c"), "a\\x0ab\\u{2028}c");
    }

    /// Issue 12 (item 7): a user name that cannot be an account name (a password typed at the
    /// user prompt, a name carrying a newline and a forged event) never appears in clear.
    #[test]
    fn user_names_that_cannot_be_account_names_are_logged_as_invalid_issue_12() {
        for ok in [
            "alice",
            "svc_web-01.x",
            "alice@corp.example",
            "CORP\\alice",
            "j\u{fc}rgen",
            "machine$",
            &"a".repeat(MAX_LOGGED_NAME),
        ] {
            assert_eq!(user_field(ok), ok, "{ok}");
        }
        for (bad, n) in [
            ("y\nevent=admin_unlock user=root", 30),
            ("Tr0ub4dor&3-horse", 17),
            ("correct horse battery staple", 28),
            ("-rf", 3),
            (".hidden", 7),
            ("", 0),
            (&"a".repeat(MAX_LOGGED_NAME + 1), MAX_LOGGED_NAME + 1),
        ] {
            let shown = user_field(bad);
            assert_eq!(shown, format!("(invalid, {n} characters)"), "{bad:?}");
            assert_eq!(user_field(&shown), shown, "idempotent");
        }
        assert_eq!(user_field("(unknown)"), "(unknown)");
        let e = Event::new(EventName::ConfigError, "p@ss word!", "sshd", "");
        assert_eq!(e.user, "(invalid, 10 characters)");
        assert!(!e.syslog_line().contains("word"));
        assert!(!e.json_line(1).contains("word"));
    }

    #[test]
    fn json_line_has_the_contract_keys() {
        let e = Event::new(EventName::HackLock, "alice", "su", "").with("failures", 3);
        let v: serde_json::Value = serde_json::from_str(&e.json_line(1_796_209_236)).unwrap();
        assert_eq!(v["ts"], "2026-12-02T11:00:36Z");
        assert_eq!(v["event"], "hack_lock");
        assert_eq!(v["user"], "alice");
        assert_eq!(v["rhost"], "");
        assert_eq!(v["failures"], 3);
    }

    /// Issue 16 (item 4): counts and epochs are JSON numbers, an administrator-only lock's
    /// `until` is null, text stays text even when it looks like a number.
    #[test]
    fn counts_and_epochs_are_numbers_and_text_stays_text_issue_16() {
        let e = Event::new(EventName::HackLock, "alice", "su", "")
            .with("until", 1_796_209_236)
            .with("pid", 4242)
            .with("ticket", "12345");
        let v: serde_json::Value = serde_json::from_str(&e.json_line(0)).unwrap();
        assert_eq!(v["ts"], "1970-01-01T00:00:00Z");
        assert_eq!(v["until"], 1_796_209_236);
        assert_eq!(v["pid"], 4242);
        assert_eq!(v["ticket"], "12345");
        let admin = Event::new(EventName::HackLock, "alice", "su", "").with("until", "admin");
        let v: serde_json::Value = serde_json::from_str(&admin.json_line(0)).unwrap();
        assert!(v["until"].is_null(), "{v}");
        assert!(admin.syslog_line().contains("until=admin"));
    }

    /// Issue 16 (item 4): an error during a login is an event like any other: `event=`, the
    /// user, the service, in syslog and the audit file.
    #[test]
    fn a_login_error_is_a_system_error_event_naming_user_and_service_issue_16() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("a.jsonl");
        let sink = SystemAudit::for_login(Some(file.clone()), "alice", "sshd", "192.0.2.7", 0);
        sink.error("state_dir /var/lib/ticketgate: Permission denied");
        let line = std::fs::read_to_string(&file).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["event"], "system_error");
        assert_eq!(v["user"], "alice");
        assert_eq!(v["service"], "sshd");
        assert_eq!(
            v["error"],
            "state_dir /var/lib/ticketgate: Permission denied"
        );
    }

    #[test]
    fn a_syslog_daemon_that_stops_reading_never_blocks_the_module() {
        // Regression: send() on a full /dev/log queue blocked, and with it the login.
        let d = tempfile::tempdir().unwrap();
        let path: &'static str = Box::leak(
            d.path()
                .join("log")
                .to_str()
                .unwrap()
                .to_string()
                .into_boxed_str(),
        );
        let daemon = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        let sink = SystemAudit {
            audit_file: Some(d.path().join("a.jsonl")),
            socket: path,
            login: None,
        };
        for _ in 0..200 {
            sink.event(&Event::new(EventName::AuthFailure, "alice", "sshd", ""), 1);
        }
        let mut buf = [0u8; 1024];
        assert!(
            daemon.recv(&mut buf).unwrap() > 0,
            "the first lines did arrive"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("a.jsonl"))
                .unwrap()
                .lines()
                .count(),
            200
        );
    }

    #[test]
    fn audit_file_gets_one_json_object_per_event() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("audit.jsonl");
        let sink = SystemAudit::new(Some(path.clone()));
        sink.event(
            &Event::new(EventName::AdminLock, "bob", "ticketgate", ""),
            1,
        );
        sink.event(
            &Event::new(EventName::AdminUnlock, "bob", "ticketgate", ""),
            2,
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["event"], "admin_unlock");
    }
}
