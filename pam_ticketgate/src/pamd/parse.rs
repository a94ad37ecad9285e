//! One `/etc/pam.d` file read the way libpam reads it: `\` continues a line, `#` starts a
//! comment, `[...]` groups a control (or an argument) with spaces, `-TYPE` is TYPE, and
//! `@include FILE` / `TYPE include|substack FILE` name other files.

/// The four PAM management groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Type {
    Auth,
    Account,
    Password,
    Session,
}

impl Type {
    pub(crate) const ALL: [Type; 4] = [Type::Auth, Type::Account, Type::Password, Type::Session];

    pub(crate) fn word(self) -> &'static str {
        match self {
            Type::Auth => "auth",
            Type::Account => "account",
            Type::Password => "password",
            Type::Session => "session",
        }
    }

    fn parse(word: &str) -> Option<Type> {
        let word = word.strip_prefix('-').unwrap_or(word);
        Type::ALL
            .into_iter()
            .find(|t| t.word().eq_ignore_ascii_case(word))
    }
}

/// What libpam does with one return code of a module (`man pam.conf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Ignore,
    Ok,
    Done,
    Bad,
    Die,
    Reset,
    /// Skip this many following modules. libpam does not record the code as the stack's
    /// result, so a failure mapped to a jump is ignored.
    Jump(usize),
}

impl Action {
    fn parse(word: &str) -> Option<Action> {
        Some(match word {
            "ignore" => Action::Ignore,
            "ok" => Action::Ok,
            "done" => Action::Done,
            "bad" => Action::Bad,
            "die" => Action::Die,
            "reset" => Action::Reset,
            n => Action::Jump(n.parse().ok().filter(|n| *n > 0)?),
        })
    }

    /// A failure code with this action still fails the stack (it is not ignored, reset or
    /// jumped over).
    pub(crate) fn keeps_failure(self) -> bool {
        matches!(self, Action::Ok | Action::Done | Action::Bad | Action::Die)
    }
}

/// The return codes a control can name (libpam's `_pam_token_returns`).
const CODES: [&str; 33] = [
    "success",
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "new_authtok_reqd",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "ignore",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
    "conv_again",
    "incomplete",
    "default",
];

/// A line's control: `required`, `requisite`, `sufficient`, `optional` or `[code=action ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Control {
    /// As written, for messages.
    pub(crate) text: String,
    actions: Vec<(String, Action)>,
    default: Action,
}

impl Control {
    pub(crate) fn parse(text: &str) -> Result<Control, String> {
        let (pairs, default) = match text {
            "required" => ("success=ok new_authtok_reqd=ok ignore=ignore", Action::Bad),
            "requisite" => ("success=ok new_authtok_reqd=ok ignore=ignore", Action::Die),
            "sufficient" => ("success=done new_authtok_reqd=done", Action::Ignore),
            "optional" => ("success=ok new_authtok_reqd=ok", Action::Ignore),
            _ => match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                Some(inner) => (inner, Action::Bad),
                None => return Err(format!("unknown control \"{text}\"")),
            },
        };
        let mut control = Control {
            text: text.to_string(),
            actions: Vec::new(),
            default,
        };
        for pair in pairs.split_whitespace() {
            let (code, action) = pair
                .split_once('=')
                .and_then(|(c, a)| Some((c, Action::parse(a)?)))
                .filter(|(c, _)| CODES.contains(c))
                .ok_or_else(|| format!("cannot read \"{pair}\" in the control {text}"))?;
            if code == "default" {
                control.default = action;
            } else {
                control.actions.push((code.to_string(), action));
            }
        }
        Ok(control)
    }

    /// What libpam does when the module returns `code` (a name from the control syntax).
    pub(crate) fn on(&self, code: &str) -> Action {
        self.actions
            .iter()
            .rev()
            .find(|(c, _)| c == code)
            .map_or(self.default, |(_, a)| *a)
    }
}

/// One line of a file, after joining continuations and dropping comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Where it starts (1-based).
    pub(crate) number: usize,
    pub(crate) kind: LineKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// `@include FILE`: every type of FILE.
    IncludeAll(String),
    /// `TYPE include FILE` (`substack: false`) or `TYPE substack FILE`.
    Include {
        ty: Type,
        file: String,
        substack: bool,
    },
    Module {
        ty: Type,
        control: Control,
        module: String,
        args: Vec<String>,
    },
    /// A line libpam cannot use; libpam fails the stacks it is in.
    Broken(String),
}

/// The lines of one file.
pub(crate) fn parse_file(text: &str) -> Vec<Line> {
    logical_lines(text)
        .into_iter()
        .filter_map(|(number, body)| {
            let words = tokens(&body);
            let first = words.first()?;
            Some(Line {
                number,
                kind: parse_line(first, words.get(1..).unwrap_or_default()),
            })
        })
        .collect()
}

fn parse_line(first: &str, rest: &[String]) -> LineKind {
    if first == "@include" {
        return match rest {
            [file] => LineKind::IncludeAll(file.clone()),
            _ => LineKind::Broken("@include takes one file name".into()),
        };
    }
    let Some(ty) = Type::parse(first) else {
        return LineKind::Broken(format!("unknown module type \"{first}\""));
    };
    let [control, module, args @ ..] = rest else {
        return LineKind::Broken(format!("a {} line needs a control and a module", ty.word()));
    };
    if control == "include" || control == "substack" {
        return LineKind::Include {
            ty,
            file: module.clone(),
            substack: control == "substack",
        };
    }
    match Control::parse(control) {
        Ok(control) => LineKind::Module {
            ty,
            control,
            module: module.clone(),
            args: args.to_vec(),
        },
        Err(e) => LineKind::Broken(e),
    }
}

/// Lines joined at a trailing `\`, comments (from `#`) removed, blank lines dropped; each with
/// the number of its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (continued, piece) = match raw.strip_suffix('\\') {
            Some(p) => (true, p),
            None => (false, raw),
        };
        let piece = piece.split('#').next().unwrap_or_default();
        let (start, mut body) = pending.take().unwrap_or((i + 1, String::new()));
        body.push(' ');
        body.push_str(piece);
        if continued {
            pending = Some((start, body));
        } else if !body.trim().is_empty() {
            out.push((start, body));
        }
    }
    if let Some((start, body)) = pending.filter(|(_, b)| !b.trim().is_empty()) {
        out.push((start, body));
    }
    out
}

/// Words split at white space, except inside `[...]` (where `\]` is a literal `]`).
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '[' {
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&']') => {
                        word.push(']');
                        chars.next();
                    }
                    ']' => {
                        word.push(']');
                        break;
                    }
                    c if c.is_whitespace() => {
                        // One space between the words inside, as libpam reads them.
                        if !word.ends_with(' ') {
                            word.push(' ');
                        }
                    }
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_read_as_libpam_reads_them() {
        let required = Control::parse("required").unwrap();
        assert_eq!(required.on("success"), Action::Ok);
        assert_eq!(required.on("ignore"), Action::Ignore);
        assert_eq!(required.on("auth_err"), Action::Bad);
        let requisite = Control::parse("requisite").unwrap();
        assert_eq!(requisite.on("maxtries"), Action::Die);
        let sufficient = Control::parse("sufficient").unwrap();
        assert_eq!(sufficient.on("success"), Action::Done);
        assert_eq!(sufficient.on("auth_err"), Action::Ignore);
        let optional = Control::parse("optional").unwrap();
        assert_eq!(optional.on("perm_denied"), Action::Ignore);
        let jump = Control::parse("[success=2 default=ignore]").unwrap();
        assert_eq!(jump.on("success"), Action::Jump(2));
        assert_eq!(jump.on("auth_err"), Action::Ignore);
        let die = Control::parse("[default=die]").unwrap();
        assert_eq!(die.on("auth_err"), Action::Die);
        assert_eq!(
            die.on("ignore"),
            Action::Die,
            "PAM_IGNORE is a code like any other"
        );
        let unset = Control::parse("[success=ok]").unwrap();
        assert_eq!(
            unset.on("auth_err"),
            Action::Bad,
            "libpam's default without default="
        );
        for bad in [
            "requird",
            "[succes=ok]",
            "[success=0]",
            "[success=maybe]",
            "[success]",
        ] {
            assert!(Control::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_comments_continuations_and_brackets() {
        let text = "# comment\n\
                    auth [success=1 default=ignore]  pam_unix.so nullok # trailing\n\
                    \n\
                    -session optional pam_systemd.so\n\
                    password requisite pam_x.so a \\\n   b\n\
                    @include common-account\n\
                    auth substack system-auth\n\
                    Account include common-account\n\
                    auht requisite pam_x.so\n\
                    session [success=ok\tdefault=bad] pam_y.so [arg with spaces]\n";
        let lines = parse_file(text);
        let kinds: Vec<(usize, LineKind)> = lines.into_iter().map(|l| (l.number, l.kind)).collect();
        assert_eq!(
            kinds[0],
            (
                2,
                LineKind::Module {
                    ty: Type::Auth,
                    control: Control::parse("[success=1 default=ignore]").unwrap(),
                    module: "pam_unix.so".into(),
                    args: vec!["nullok".into()],
                }
            )
        );
        assert!(matches!(
            &kinds[1],
            (
                4,
                LineKind::Module {
                    ty: Type::Session,
                    ..
                }
            )
        ));
        assert!(
            matches!(&kinds[2], (5, LineKind::Module { ty: Type::Password, args, .. }) if args == &["a", "b"])
        );
        assert_eq!(kinds[3], (7, LineKind::IncludeAll("common-account".into())));
        assert_eq!(
            kinds[4],
            (
                8,
                LineKind::Include {
                    ty: Type::Auth,
                    file: "system-auth".into(),
                    substack: true
                }
            )
        );
        assert!(matches!(
            &kinds[5],
            (
                9,
                LineKind::Include {
                    ty: Type::Account,
                    substack: false,
                    ..
                }
            )
        ));
        assert!(matches!(&kinds[6], (10, LineKind::Broken(m)) if m.contains("auht")));
        assert!(
            matches!(&kinds[7], (11, LineKind::Module { control, args, .. })
                if control.on("auth_err") == Action::Bad && args == &["[arg with spaces]"])
        );
        assert_eq!(kinds.len(), 8);
    }
}
