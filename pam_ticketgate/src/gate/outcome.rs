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

impl Outcome {
    /// Every outcome, in the order pam_ticketgate(8) lists them.
    pub const ALL: [Outcome; 12] = [
        Self::NotCovered,
        Self::Allowed,
        Self::Locked,
        Self::AccountLocked,
        Self::AuthFailed,
        Self::ProtectLocked,
        Self::NewAuthtokRequired,
        Self::CredentialRefused,
        Self::Unavailable,
        Self::UnprivilegedDenied,
        Self::ConfigBroken,
        Self::SystemError,
    ];

    /// When a gate decides this, for the man page.
    pub fn summary(self) -> &'static str {
        match self {
            Self::NotCovered => "no scope covers the login",
            Self::Allowed => "the checks passed",
            Self::Locked => "auth: the account is locked (or its state record is corrupt)",
            Self::AccountLocked => "account: admin lock, hack lock or inactivity lock",
            Self::AuthFailed => "a failed logon was recorded (authfail, a rejected ticket)",
            Self::ProtectLocked => {
                "login protect is on, or its server refused the check (not a failed logon)"
            }
            Self::NewAuthtokRequired => "account: the credential has expired or must be changed",
            Self::CredentialRefused => "password: the new credential was refused",
            Self::Unavailable => "a server is unreachable and the offline mode says deny",
            Self::UnprivilegedDenied => "a caller that is not root, with unprivileged = \"deny\"",
            Self::ConfigBroken => "broken configuration, bad module argument, unusable secret file",
            Self::SystemError => "the state directory or NSS is unusable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_outcome_once() {
        macro_rules! every_outcome {
            ($($v:ident),* $(,)?) => {{
                // Exhaustive on purpose (no `_` arm): a new outcome does not compile until it is
                // listed here, and then this test fails until ALL lists it too.
                fn _exhaustive(o: Outcome) {
                    match o {
                        $(Outcome::$v => {})*
                    }
                }
                vec![$(Outcome::$v),*]
            }};
        }
        let every = every_outcome!(
            NotCovered,
            Allowed,
            Locked,
            AccountLocked,
            AuthFailed,
            UnprivilegedDenied,
            ConfigBroken,
            SystemError,
            Unavailable,
            NewAuthtokRequired,
            CredentialRefused,
            ProtectLocked,
        );
        assert_eq!(every.len(), Outcome::ALL.len());
        for o in every {
            assert!(Outcome::ALL.contains(&o), "{o:?} is missing from ALL");
        }
    }
}
