//! Module arguments from the pam.d line: the phase word, `config=`, `debug`, `credential=`.

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
    pub config: Option<String>,
    pub debug: bool,
    pub credential: Credential,
}

/// Parses the arguments; an unknown one is an error naming it (the stack line is then broken).
pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Args, String> {
    let mut out = Args {
        auth_phase: None,
        config: None,
        debug: false,
        credential: Credential::Password,
    };
    for arg in args {
        let phase = match arg {
            "preauth" => Some(AuthPhase::Preauth),
            "authfail" => Some(AuthPhase::Authfail),
            "ticket" => Some(AuthPhase::Ticket),
            _ => None,
        };
        if let Some(p) = phase {
            if out.auth_phase.replace(p).is_some() {
                return Err(format!("more than one phase word (at \"{arg}\")"));
            }
        } else if arg == "debug" {
            out.debug = true;
        } else if let Some(path) = arg.strip_prefix("config=") {
            if !path.starts_with('/') {
                return Err(format!("config={path}: must be an absolute path"));
            }
            out.config = Some(path.to_string());
        } else if let Some(c) = arg.strip_prefix("credential=") {
            out.credential = match c {
                "password" => Credential::Password,
                "pin" => Credential::Pin,
                _ => return Err(format!("credential={c}: must be password or pin")),
            };
        } else {
            return Err(format!("unknown module argument \"{arg}\""));
        }
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
        assert!(parse(["credential=otp"]).unwrap_err().contains("otp"));
    }
}
