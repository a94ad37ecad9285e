//! Module arguments from the pam.d line: the phase word, `config=`, `debug`, `credential=`.
//! [`ARGS`] is both what the parser accepts and what pam_ticketgate(8) documents.

/// Which credential the service checks (`credential=password|pin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Password,
    Pin,
}

/// The `auth` phase word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPhase {
    Preauth,
    Authfail,
    Ticket,
}

/// Parsed module arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub auth_phase: Option<AuthPhase>,
    /// `commit`: the password line after the password module, which records a change.
    pub commit: bool,
    pub config: Option<String>,
    pub debug: bool,
    pub credential: Credential,
}

/// What an argument sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Phase(AuthPhase),
    Commit,
    Config,
    Debug,
    Credential,
}

/// One module argument: its name, the value it takes after `=` (if any), and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgDoc {
    pub name: &'static str,
    /// `None` for a bare word; else how the value is written (`/PATH`, `password|pin`).
    pub value: Option<&'static str>,
    pub kind: ArgKind,
    /// The argument as written on a stack line.
    pub example: &'static str,
    pub doc: &'static str,
}

/// Every argument the module accepts; the parser looks arguments up here.
pub const ARGS: &[ArgDoc] = &[
    ArgDoc {
        name: "preauth",
        value: None,
        kind: ArgKind::Phase(AuthPhase::Preauth),
        example: "preauth",
        doc: "auth, before the password module: refuse a locked account at once (PAM_MAXTRIES), \
              without asking for or checking the password; then the login-protect check, which uses \
              an unlock up.",
    },
    ArgDoc {
        name: "authfail",
        value: None,
        kind: ArgKind::Phase(AuthPhase::Authfail),
        example: "authfail",
        doc: "auth, reached only when the password was wrong: record one failed logon; at the \
              policy's failed_logon inside reset_failed_after the account is hack-locked. Always \
              PAM_AUTH_ERR.",
    },
    ArgDoc {
        name: "ticket",
        value: None,
        kind: ArgKind::Phase(AuthPhase::Ticket),
        example: "ticket",
        doc: "auth, reached only after the password was accepted: mark the handle authenticated, \
              re-check the lock and, when the scope says ticket = true, ask for a ticket, fetch it, \
              check its conditions and set TICKETGATE_TICKET. Answers PAM_SUCCESS for logins no scope \
              covers, so keep this line.",
    },
    ArgDoc {
        name: "commit",
        value: None,
        kind: ArgKind::Commit,
        example: "commit",
        doc: "password, on a line after the password module (pam_unix): record the change the \
              password line before it checked (last change, must-change cleared, history, the \
              min_change_interval clock). Reached only when the password module stored the new \
              credential; for a local account the module also sees that the shadow entry changed. \
              Without this line no change is recorded.",
    },
    ArgDoc {
        name: "config",
        value: Some("/PATH"),
        kind: ArgKind::Config,
        example: "config=/etc/security/ticketgate.toml",
        doc: "The configuration file, an absolute path (default /etc/security/ticketgate.toml).",
    },
    ArgDoc {
        name: "debug",
        value: None,
        kind: ArgKind::Debug,
        example: "debug",
        doc: "Log one syslog line per hook with its phase and outcome.",
    },
    ArgDoc {
        name: "credential",
        value: Some("password|pin"),
        kind: ArgKind::Credential,
        example: "credential=pin",
        doc: "Which credential this service checks: the scope's policy applies to passwords, its \
              pin_policy to PINs (default password).",
    },
];

impl Credential {
    /// The words `credential=` takes.
    pub const WORDS: [(&'static str, Credential); 2] =
        [("password", Credential::Password), ("pin", Credential::Pin)];
}

/// Parses the arguments; an unknown one is an error naming it (the stack line is then broken).
pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Args, String> {
    let mut out = Args {
        auth_phase: None,
        commit: false,
        config: None,
        debug: false,
        credential: Credential::Password,
    };
    for arg in args {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        let doc = ARGS
            .iter()
            .find(|d| d.name == name && d.value.is_some() == value.is_some())
            .ok_or_else(|| format!("unknown module argument \"{arg}\""))?;
        let value = value.unwrap_or_default();
        match doc.kind {
            ArgKind::Phase(p) => {
                if out.auth_phase.replace(p).is_some() {
                    return Err(format!("more than one phase word (at \"{arg}\")"));
                }
            }
            ArgKind::Commit => out.commit = true,
            ArgKind::Debug => out.debug = true,
            ArgKind::Config => {
                if !value.starts_with('/') {
                    return Err(format!("config={value}: must be an absolute path"));
                }
                out.config = Some(value.to_string());
            }
            ArgKind::Credential => {
                out.credential = Credential::WORDS
                    .iter()
                    .find(|(w, _)| *w == value)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| format!("credential={value}: must be password or pin"))?;
            }
        }
    }
    if out.commit && out.auth_phase.is_some() {
        return Err("commit belongs on a password line, without preauth/authfail/ticket".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_line_arguments_parse() {
        let a = parse(["preauth", "config=/etc/t.toml", "debug", "credential=pin"]).unwrap();
        assert_eq!(a.auth_phase, Some(AuthPhase::Preauth));
        assert_eq!(a.config.as_deref(), Some("/etc/t.toml"));
        assert!(a.debug);
        assert_eq!(a.credential, Credential::Pin);
        assert_eq!(parse([]).unwrap().auth_phase, None);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse(["preauht"]).unwrap_err().contains("preauht"));
        assert!(
            parse(["preauth", "authfail"])
                .unwrap_err()
                .contains("more than one")
        );
        assert!(parse(["config=rel.toml"]).unwrap_err().contains("absolute"));
        assert!(parse(["ticket", "commit"]).unwrap_err().contains("commit"));
        assert!(parse(["credential=otp"]).unwrap_err().contains("otp"));
        // A bare word that needs a value, and a value on a bare word, are unknown.
        for bad in [
            "config",
            "credential",
            "debug=1",
            "preauth=yes",
            "Debug",
            "",
        ] {
            assert!(
                parse([bad])
                    .unwrap_err()
                    .contains("unknown module argument"),
                "{bad}"
            );
        }
    }

    /// Each documented argument parses into what it says it sets.
    #[test]
    fn every_documented_argument_parses_to_its_kind() {
        let blank = parse([]).unwrap();
        for d in ARGS {
            let a = parse([d.example]).unwrap_or_else(|e| panic!("{}: {e}", d.example));
            assert_ne!(a, blank, "{} changes nothing", d.example);
            let name = d.example.split('=').next().unwrap();
            assert_eq!(name, d.name);
            assert_eq!(d.example.contains('='), d.value.is_some(), "{}", d.name);
            match d.kind {
                ArgKind::Phase(p) => assert_eq!(a.auth_phase, Some(p)),
                ArgKind::Commit => assert!(a.commit),
                ArgKind::Config => {
                    assert_eq!(a.config.as_deref(), d.example.strip_prefix("config="))
                }
                ArgKind::Debug => assert!(a.debug),
                ArgKind::Credential => assert_eq!(a.credential, Credential::Pin),
            }
        }
    }

    /// The parser has no path besides the table: every kind is documented exactly once, and the
    /// value forms the man page shows are the ones accepted.
    #[test]
    fn the_table_covers_every_kind_once() {
        macro_rules! every_kind {
            ($($k:ident $(($p:ident))?),* $(,)?) => {{
                // Exhaustive on purpose (no `_` arm): a new kind does not compile until it is
                // listed here, and then this test fails until ARGS documents it.
                fn _exhaustive(k: ArgKind) {
                    match k {
                        $(ArgKind::$k $((AuthPhase::$p))? => {})*
                    }
                }
                vec![$(ArgKind::$k $((AuthPhase::$p))?),*]
            }};
        }
        let every = every_kind!(
            Phase(Preauth),
            Phase(Authfail),
            Phase(Ticket),
            Commit,
            Config,
            Debug,
            Credential
        );
        for k in &every {
            assert_eq!(ARGS.iter().filter(|d| d.kind == *k).count(), 1, "{k:?}");
        }
        assert_eq!(ARGS.len(), every.len());
        let credential = ARGS.iter().find(|d| d.kind == ArgKind::Credential).unwrap();
        let words: Vec<&str> = Credential::WORDS.iter().map(|(w, _)| *w).collect();
        assert_eq!(credential.value, Some(words.join("|").as_str()));
        for w in words {
            parse([format!("credential={w}").as_str()]).unwrap();
        }
    }
}
