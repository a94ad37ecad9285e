//! The one result type every gate returns; the PAM glue maps it to a return code in one match.

/// What the gate decided. Each variant has exactly one PAM code (see `hooks::pam_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No scope covers this login, or the module has nothing to say: `PAM_IGNORE`.
    NotCovered,
    /// Checks passed; the stack goes on: `PAM_SUCCESS`.
    Allowed,
    /// Refused before the password (locked, corrupt state): `PAM_MAXTRIES`.
    Locked,
    /// The account phase refuses a locked account: `PAM_PERM_DENIED`.
    AccountLocked,
    /// A failed logon was recorded: `PAM_AUTH_ERR`.
    AuthFailed,
    /// A non-root caller and `unprivileged = "deny"`: `PAM_PERM_DENIED`.
    UnprivilegedDenied,
    /// The configuration is broken or asks for something this build cannot do: `PAM_SERVICE_ERR`.
    ConfigBroken,
    /// State or the directory could not be read or written: `PAM_SYSTEM_ERR`.
    SystemError,
    /// A server the login needs is unreachable and the offline fallback says deny:
    /// `PAM_AUTHINFO_UNAVAIL`.
    Unavailable,
    /// Expired or must-change: the user must change the credential to go on: `PAM_NEW_AUTHTOK_REQD`.
    NewAuthtokRequired,
    /// A new credential was refused (rules, history, interval, mismatch): `PAM_AUTHTOK_ERR`.
    CredentialRefused,
    /// Login protect is on (or its server refused the check): refused before the password,
    /// not a failed logon: `PAM_AUTH_ERR`.
    ProtectLocked,
}
