//! The vocabulary `ticketgate-agent` (through the module's core, which reads `[agent] tasks`)
//! and `ticketgate-server` (its task queue) share on `POST /v1/agent/poll`: one definition, so
//! the two sides cannot drift apart. No dependencies; the server does not link the module's core.

/// A kind of task the server can queue for a host's agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskKind {
    /// Set the password (carries one).
    ResetPassword,
    /// Compare a password with the shadow hash (carries one).
    VerifyPassword,
    /// `ticketgate lock`.
    Lock,
    /// `ticketgate unlock`.
    Unlock,
    /// `ticketgate must-change`.
    MustChange,
    /// `ticketgate terminate`.
    Terminate,
}

impl TaskKind {
    /// Every kind, in the order the docs list them (the agent's default allowlist).
    pub const ALL: [TaskKind; 6] = [
        Self::ResetPassword,
        Self::VerifyPassword,
        Self::Lock,
        Self::Unlock,
        Self::MustChange,
        Self::Terminate,
    ];

    /// The word on the wire, in the server's store and in `[agent] tasks`: `reset_password`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResetPassword => "reset_password",
            Self::VerifyPassword => "verify_password",
            Self::Lock => "lock",
            Self::Unlock => "unlock",
            Self::MustChange => "must_change",
            Self::Terminate => "terminate",
        }
    }

    /// The kind `word` names.
    pub fn from_word(word: &str) -> Option<TaskKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// Whether a task of this kind carries a password.
    pub fn carries_password(self) -> bool {
        matches!(self, Self::ResetPassword | Self::VerifyPassword)
    }
}

#[cfg(test)]
mod tests {
    use super::TaskKind;

    #[test]
    fn every_word_names_its_kind_and_only_the_password_tasks_carry_one() {
        for kind in TaskKind::ALL {
            assert_eq!(TaskKind::from_word(kind.as_str()), Some(kind));
        }
        assert_eq!(TaskKind::from_word("reboot"), None);
        assert_eq!(TaskKind::from_word("Lock"), None);
        let carrying: Vec<TaskKind> = TaskKind::ALL
            .into_iter()
            .filter(|k| k.carries_password())
            .collect();
        assert_eq!(
            carrying,
            [TaskKind::ResetPassword, TaskKind::VerifyPassword]
        );
    }
}
