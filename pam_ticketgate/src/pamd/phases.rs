//! The rules for the module's lines in one effective stack: every line's arguments as the
//! module reads them, the phase words on the right types, and the order and controls that make
//! the gates work — preauth, the password module, authfail with `[default=die]`, ticket; the
//! checking password line, the password module, commit.

use std::path::Path;

use super::Severity;
use super::parse::{Action, Type};
use super::stack::{At, End, Stack};
use crate::args;

/// The phase words, recognised by their text (the module's own parser judges the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Preauth,
    Authfail,
    Ticket,
    Commit,
}

const PHASES: [(&str, Phase); 4] = [
    ("preauth", Phase::Preauth),
    ("authfail", Phase::Authfail),
    ("ticket", Phase::Ticket),
    ("commit", Phase::Commit),
];

impl Phase {
    fn word(self) -> &'static str {
        PHASES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("", |(w, _)| *w)
    }
}

/// What the `preauth` and `ticket` lines answer when they refuse a login.
const AUTH_REFUSALS: [&str; 6] = [
    "maxtries",
    "auth_err",
    "perm_denied",
    "service_err",
    "system_err",
    "authinfo_unavail",
];
/// What the `account` line answers when it refuses (locked, expired, must change, broken).
const ACCOUNT_REFUSALS: [&str; 4] = [
    "perm_denied",
    "new_authtok_reqd",
    "service_err",
    "system_err",
];
/// What the checking `password` line answers when it refuses a new password.
const PASSWORD_REFUSALS: [&str; 4] = ["authtok_err", "perm_denied", "service_err", "system_err"];

/// Findings for one service, before they are merged across services.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) items: Vec<(At, Severity, String)>,
}

impl Report {
    pub(crate) fn add(&mut self, severity: Severity, at: &At, message: String) {
        self.items.push((at.clone(), severity, message));
    }

    /// An error at the stack's entry `i` (every index reported is one the stack has).
    fn error(&mut self, stack: &Stack, i: usize, message: String) {
        if let Some(entry) = stack.entries.get(i) {
            self.add(Severity::Error, &entry.at, message);
        }
    }

    fn warn(&mut self, stack: &Stack, i: usize, message: String) {
        if let Some(entry) = stack.entries.get(i) {
            self.add(Severity::Warning, &entry.at, message);
        }
    }
}

/// Short accessors on a stack's entries by index, for messages and walks.
trait Lines {
    /// "file:line" of entry `i`, for a message that points at another line.
    fn place(&self, i: usize) -> String;
    /// The control of entry `i` as written.
    fn control(&self, i: usize) -> &str;
    /// What entry `i`'s control does with `code`.
    fn on(&self, i: usize, code: &str) -> Action;
    fn module_is(&self, i: usize, name: &str) -> bool;
    fn is_ours(&self, i: usize) -> bool;
}

impl Lines for Stack<'_> {
    fn place(&self, i: usize) -> String {
        self.entries
            .get(i)
            .map_or_else(String::new, |e| format!("{}:{}", e.at.file, e.at.line))
    }

    fn control(&self, i: usize) -> &str {
        self.entries.get(i).map_or("", |e| e.control.text.as_str())
    }

    fn on(&self, i: usize, code: &str) -> Action {
        self.entries
            .get(i)
            .map_or(Action::Bad, |e| e.control.on(code))
    }

    fn module_is(&self, i: usize, name: &str) -> bool {
        self.entries.get(i).is_some_and(|e| e.module_name() == name)
    }

    fn is_ours(&self, i: usize) -> bool {
        self.entries.get(i).is_some_and(|e| e.is_ours())
    }
}

/// The phase word of one of our lines, and its `config=`; `Err` is what the module would refuse.
fn read_args(args: &[String]) -> Result<(Option<Phase>, Option<String>), String> {
    let mut phase = None;
    let mut rest = Vec::new();
    for a in args {
        match PHASES.iter().find(|(w, _)| w == a) {
            Some((_, p)) => {
                if phase.replace(*p).is_some() {
                    return Err(format!("more than one phase word (at \"{a}\")"));
                }
            }
            None => rest.push(a.as_str()),
        }
    }
    let parsed = args::parse(rest)?;
    Ok((phase, parsed.config))
}

/// Whether a phase word belongs on a line of this type; `Err` says why not.
fn phase_fits(ty: Type, phase: Option<Phase>) -> Result<(), String> {
    match (ty, phase) {
        (Type::Auth, None) => Err("an auth line needs a phase word (preauth, authfail or \
                                   ticket); without one the module answers PAM_SERVICE_ERR"
            .into()),
        (Type::Auth, Some(Phase::Commit)) => Err("commit belongs on a password line after the \
                                                  password module; on an auth line the module \
                                                  answers PAM_SERVICE_ERR"
            .into()),
        (Type::Password, Some(p @ (Phase::Preauth | Phase::Authfail | Phase::Ticket))) => {
            Err(format!(
                "{} belongs on an auth line; on a password line the module answers \
                 PAM_SERVICE_ERR",
                p.word()
            ))
        }
        (Type::Account | Type::Session, Some(p)) => Err(format!(
            "{} has no meaning on a {} line: the module answers PAM_SERVICE_ERR; write the line \
             without a phase word",
            p.word(),
            ty.word()
        )),
        _ => Ok(()),
    }
}

/// What a line of ours that the module refuses breaks.
fn consequence(ty: Type, stack: &Stack, i: usize) -> String {
    if stack.on(i, "service_err").keeps_failure() {
        match ty {
            Type::Auth | Type::Account => "every login through this stack fails",
            Type::Password => "every password change through this stack fails",
            Type::Session => "every session through this stack fails to open",
        }
        .to_string()
    } else {
        format!(
            "the line does nothing (\"{}\" ignores the error)",
            stack.control(i)
        )
    }
}

/// Checks the module's lines in `stack` (of type `ty`).
pub(crate) fn check(ty: Type, stack: &Stack, config: &Path, report: &mut Report) {
    let mut ours = Vec::new();
    let mut readable = true;
    for (i, entry) in stack
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.is_ours())
    {
        let (phase, cfg) = match read_args(entry.args) {
            Ok(read) => read,
            Err(problem) => {
                readable = false;
                let fails = consequence(ty, stack, i);
                report.error(
                    stack,
                    i,
                    format!("{problem}: the module refuses the line (PAM_SERVICE_ERR), so {fails}"),
                );
                continue;
            }
        };
        if let Err(problem) = phase_fits(ty, phase) {
            readable = false;
            let fails = consequence(ty, stack, i);
            report.error(stack, i, format!("{problem}, so {fails}"));
            continue;
        }
        if let Some(c) = cfg.filter(|c| Path::new(c) != config) {
            report.warn(
                stack,
                i,
                format!(
                    "the line reads config={c}, not {} checked here: run ticketgate check-config \
                     {c} as well",
                    config.display()
                ),
            );
        }
        ours.push((i, phase));
    }
    // Order is judged only when the module accepts every line of ours: the first mistake to fix
    // is the line itself.
    if ours.is_empty() || !readable {
        return;
    }
    match ty {
        Type::Auth => auth(stack, &ours, report),
        Type::Account => {
            twice(stack, &ours, "the account line", "checked twice", report);
            account(stack, &ours, report);
        }
        Type::Password => password(stack, &ours, report),
        Type::Session => twice(stack, &ours, "the session line", "recorded twice", report),
    }
}

/// A warning for each line of ours after the first: harmless, but not what was meant (a line
/// added by hand beside an enabled pam-auth-update profile).
fn twice(s: &Stack, ours: &[(usize, Option<Phase>)], what: &str, done: &str, report: &mut Report) {
    if let [(first, _), rest @ ..] = ours {
        for (i, _) in rest {
            report.warn(
                s,
                *i,
                format!(
                    "{what} again (first at {}): each login is {done}; keep one",
                    s.place(*first)
                ),
            );
        }
    }
}

/// The entries of ours with `phase`, in stack order.
fn with(ours: &[(usize, Option<Phase>)], phase: Option<Phase>) -> Vec<usize> {
    ours.iter()
        .filter(|(_, p)| *p == phase)
        .map(|(i, _)| *i)
        .collect()
}

/// Reports each line after the first of `lines` as a duplicate; true if there was one.
fn duplicates(stack: &Stack, lines: &[usize], what: &str, why: &str, report: &mut Report) -> bool {
    let [first, rest @ ..] = lines else {
        return false;
    };
    for i in rest {
        report.error(
            stack,
            *i,
            format!(
                "{what} again (first at {}): {why}; keep one",
                stack.place(*first)
            ),
        );
    }
    !rest.is_empty()
}

/// The auth stack: preauth, the password module(s), authfail, ticket — in that order, with
/// controls that make a right password reach ticket and a wrong one reach authfail.
fn auth(s: &Stack, ours: &[(usize, Option<Phase>)], report: &mut Report) {
    let (pre, fail, ticket) = (
        with(ours, Some(Phase::Preauth)),
        with(ours, Some(Phase::Authfail)),
        with(ours, Some(Phase::Ticket)),
    );
    let mut dup = duplicates(
        s,
        &pre,
        "preauth",
        "the second asks login protect again after the first used the unlock up",
        report,
    );
    dup |= duplicates(
        s,
        &fail,
        "authfail",
        "a wrong password would count twice",
        report,
    );
    dup |= duplicates(
        s,
        &ticket,
        "ticket",
        "the ticket would be asked for twice",
        report,
    );
    if dup {
        return;
    }
    let first = ours.first().map_or(0, |(i, _)| *i);
    let (Some(&p), Some(&a), Some(&t)) = (pre.first(), fail.first(), ticket.first()) else {
        if pre.is_empty() {
            report.error(
                s,
                first,
                "no preauth line before the password module: a locked account is still asked \
                 for its password, and login protect is never checked"
                    .into(),
            );
        }
        if fail.is_empty() {
            report.error(
                s,
                pre.first().copied().unwrap_or(first),
                "no authfail line ([default=die] pam_ticketgate.so authfail) after the password \
                 module: wrong passwords are never counted, so no account is ever locked for them"
                    .into(),
            );
        }
        if ticket.is_empty() {
            report.error(
                s,
                fail.first().copied().unwrap_or(first),
                "no ticket line after authfail: the ticket gate never runs, and a successful \
                 login never resets the failure count"
                    .into(),
            );
        }
        return;
    };
    if a < p {
        report.error(
            s,
            a,
            format!(
                "authfail comes before preauth ({}): the order is preauth, the password module, \
                 authfail, ticket",
                s.place(p)
            ),
        );
        return;
    }
    if t < a {
        report.error(
            s,
            t,
            format!(
                "ticket comes before authfail ({}): it belongs after the password module and \
                 authfail, reached only by a right password",
                s.place(a)
            ),
        );
        return;
    }
    auth_controls(s, p, a, t, report);

    let between: Vec<usize> = (p + 1..a).filter(|i| !s.is_ours(*i)).collect();
    let Some(&last) = between.last() else {
        report.error(
            s,
            a,
            format!(
                "nothing between preauth ({}) and authfail: the password module (such as \
                 [success=1 default=ignore] pam_unix.so) belongs there",
                s.place(p)
            ),
        );
        return;
    };
    // A password module's success jumps over authfail; modules that only go on (pam_nologin,
    // pam_faildelay) are not password modules.
    let modules: Vec<usize> = between
        .iter()
        .copied()
        .filter(|i| matches!(s.on(*i, "success"), Action::Jump(_)))
        .collect();
    let Some(&first_module) = modules.first() else {
        report.error(
            s,
            last,
            format!(
                "no module between preauth and authfail ({}) jumps over authfail when the \
                 password is right (such as [success=1 default=ignore] pam_unix.so): a right \
                 password goes on to authfail, so every login fails and counts as a failure",
                s.place(a)
            ),
        );
        return;
    };
    match s.on(p, "success") {
        Action::Ok | Action::Ignore => {}
        Action::Jump(_) => {
            if let End::Stopped(to) = s.walk(p, |_| "success", |i| i > p)
                && to > first_module
            {
                report.error(
                    s,
                    p,
                    format!(
                        "preauth's success jumps over the password module ({}): the password \
                         is never checked",
                        s.place(first_module)
                    ),
                );
            }
        }
        _ => report.error(
            s,
            p,
            format!(
                "preauth is \"{}\": its success does not go on to the password module",
                s.control(p)
            ),
        ),
    }
    for &k in &modules {
        right_password(s, (p, a, t), &modules, k, report);
    }
    // A wrong password: every password module fails (and pam_deny), the rest go on.
    let code = |i: usize| {
        if modules.contains(&i) || s.module_is(i, "pam_deny.so") {
            "auth_err"
        } else {
            "success"
        }
    };
    match s.walk(p, code, |i| i >= a) {
        End::Stopped(i) if i == a => {}
        End::Stopped(_) | End::Fell => report.error(
            s,
            last,
            format!(
                "a wrong password jumps over authfail ({}): failed logons are never counted",
                s.place(a)
            ),
        ),
        End::Refused(j) => report.error(
            s,
            j,
            format!(
                "a wrong password ends the stack here (\"{}\") before authfail ({}): failed \
                 logons are never counted, so no account is ever locked for them; use \
                 [success=N default=ignore]",
                s.control(j),
                s.place(a)
            ),
        ),
        // Reported by the right-password walk, which passes the same line.
        End::Accepted(_) => {}
        End::BadJump(j) => bad_jump(s, j, report),
    }
}

/// The controls of preauth (`p`), authfail (`a`) and ticket (`t`).
fn auth_controls(s: &Stack, p: usize, a: usize, t: usize, report: &mut Report) {
    if let Some(code) = AUTH_REFUSALS
        .into_iter()
        .find(|c| !matches!(s.on(p, c), Action::Die | Action::Done))
    {
        let why = if s.on(p, code) == Action::Bad {
            "when it refuses a locked account the stack goes on, so the password is still asked \
             and checked"
        } else {
            "its refusal is ignored, so locked accounts and login protect are not enforced \
             before the password"
        };
        report.error(
            s,
            p,
            format!("preauth is \"{}\": {why}; use requisite", s.control(p)),
        );
    }
    if matches!(s.on(p, "ignore"), Action::Bad | Action::Die) {
        report.error(
            s,
            p,
            format!(
                "preauth is \"{}\": its PAM_IGNORE (a login no scope covers) fails the login; \
                 use requisite",
                s.control(p)
            ),
        );
    }
    if s.on(a, "auth_err") != Action::Die {
        report.error(
            s,
            a,
            format!(
                "authfail is \"{}\": it must end the stack ([default=die]), or the stack goes on \
                 after a wrong password",
                s.control(a)
            ),
        );
    }
    if let Some(code) = AUTH_REFUSALS
        .into_iter()
        .find(|c| !s.on(t, c).keeps_failure())
    {
        report.error(
            s,
            t,
            format!(
                "ticket is \"{}\": its refusal ({code}) is ignored, so a login goes on without \
                 an accepted ticket; use requisite",
                s.control(t)
            ),
        );
    }
}

/// A right password for module `k`: it succeeds, the other password modules and pam_deny fail,
/// everything else succeeds; the walk from preauth must reach the ticket line.
fn right_password(
    s: &Stack,
    (p, a, t): (usize, usize, usize),
    modules: &[usize],
    k: usize,
    report: &mut Report,
) {
    let code = |i: usize| {
        if i == k {
            "success"
        } else if modules.contains(&i) || s.module_is(i, "pam_deny.so") {
            "auth_err"
        } else {
            "success"
        }
    };
    match s.walk(p, code, |i| i == a || i >= t) {
        End::Stopped(i) if i == t => {}
        End::Stopped(i) if i == a => report.error(
            s,
            k,
            format!(
                "a right password here goes on to authfail ({}): every login fails and counts as \
                 a failure; its success must jump over authfail",
                s.place(a)
            ),
        ),
        End::Stopped(_) | End::Fell => report.error(
            s,
            k,
            format!(
                "a right password here jumps over the ticket line ({}): the ticket gate is \
                 skipped and the failure count never reset",
                s.place(t)
            ),
        ),
        End::Refused(j) if s.module_is(j, "pam_deny.so") => report.error(
            s,
            k,
            format!(
                "a right password here lands on pam_deny.so ({}): every login fails; the success \
                 jump is too short",
                s.place(j)
            ),
        ),
        End::Refused(j) => report.error(
            s,
            k,
            format!(
                "a right password here is refused at {} (\"{}\"): every login fails",
                s.place(j),
                s.control(j)
            ),
        ),
        End::Accepted(j) => report.error(
            s,
            j,
            format!(
                "\"{}\" ends the stack here with success, before the ticket line ({}): the \
                 ticket gate is skipped and the failure count never reset",
                s.control(j),
                s.place(t)
            ),
        ),
        End::BadJump(j) => bad_jump(s, j, report),
    }
}

fn bad_jump(s: &Stack, j: usize, report: &mut Report) {
    report.error(
        s,
        j,
        format!(
            "\"{}\" jumps past the end of the stack: libpam fails the login",
            s.control(j)
        ),
    );
}

/// The account line must not ignore its refusals (locks, expiry, must-change).
fn account(s: &Stack, ours: &[(usize, Option<Phase>)], report: &mut Report) {
    for &(i, _) in ours {
        if let Some(code) = ACCOUNT_REFUSALS
            .into_iter()
            .find(|code| !s.on(i, code).keeps_failure())
        {
            report.error(
                s,
                i,
                format!(
                    "the account line is \"{}\": its refusal ({code}: a locked, expired or \
                     must-change account) is ignored; use required",
                    s.control(i)
                ),
            );
        }
        if matches!(s.on(i, "ignore"), Action::Bad | Action::Die) {
            report.error(
                s,
                i,
                format!(
                    "the account line is \"{}\": its PAM_IGNORE (a login no scope covers) fails \
                     the login; use required",
                    s.control(i)
                ),
            );
        }
    }
}

/// The password stack: the checking line, the password module(s), commit — a stored change
/// reaches commit, a failed one does not.
fn password(s: &Stack, ours: &[(usize, Option<Phase>)], report: &mut Report) {
    let (checks, commits) = (with(ours, None), with(ours, Some(Phase::Commit)));
    if duplicates(
        s,
        &checks,
        "the checking password line",
        "the new password would be checked twice",
        report,
    ) {
        return;
    }
    if let [first, rest @ ..] = commits.as_slice() {
        for i in rest {
            report.warn(
                s,
                *i,
                format!(
                    "commit again (first at {}): only the first records the change; keep one",
                    s.place(*first)
                ),
            );
        }
    }
    let Some(&k) = checks.first() else {
        if let Some(c) = commits.first() {
            report.error(
                s,
                *c,
                "commit without the checking line (password requisite pam_ticketgate.so, before \
                 the password module): no change is checked, so none is recorded"
                    .into(),
            );
        }
        return;
    };
    if !password_controls(s, k, report) {
        return;
    }
    let storing = |i: usize| {
        !s.is_ours(i) && !s.module_is(i, "pam_deny.so") && !s.module_is(i, "pam_permit.so")
    };
    let commit = commits.iter().copied().find(|c| *c > k);
    let modules: Vec<usize> = (k + 1..commit.unwrap_or(s.entries.len()))
        .filter(|i| storing(*i))
        .collect();
    let Some(&last) = modules.last() else {
        let later = (k + 1..s.entries.len()).find(|i| storing(*i));
        match (commit, later) {
            (Some(c), Some(m)) => report.error(
                s,
                c,
                format!(
                    "commit comes before the password module ({}): put it after, where it runs \
                     once the change is stored",
                    s.place(m)
                ),
            ),
            _ => report.error(
                s,
                k,
                "no password module after this line: the new password is checked but never \
                 stored (add pam_unix.so use_authtok)"
                    .into(),
            ),
        }
        return;
    };
    let Some(c) = commit else {
        let message = match commits.first() {
            Some(before) => format!(
                "the commit line ({}) comes before the checking line: it belongs after the \
                 password module, so changes are never recorded (must-change stays set; \
                 history, expiry and min_change_interval do not move)",
                s.place(*before)
            ),
            None => "no \"password optional pam_ticketgate.so commit\" line after the password \
                     module: changes are never recorded (must-change stays set; history, expiry \
                     and min_change_interval do not move)"
                .into(),
        };
        report.error(s, last, message);
        return;
    };
    // A change that is stored: every module succeeds but pam_deny.
    let stored = |i: usize| {
        if s.module_is(i, "pam_deny.so") {
            "authtok_err"
        } else {
            "success"
        }
    };
    match s.walk(k, stored, |i| i >= c) {
        End::Stopped(i) if i == c => {}
        End::Stopped(_) | End::Fell => report.error(
            s,
            last,
            format!(
                "a stored change jumps over commit ({}): it is never recorded",
                s.place(c)
            ),
        ),
        End::Refused(j) if s.module_is(j, "pam_deny.so") => report.error(
            s,
            last,
            format!(
                "a stored change lands on pam_deny.so ({}): every change fails; the success jump \
                 is too short",
                s.place(j)
            ),
        ),
        End::Refused(j) => report.error(
            s,
            j,
            format!(
                "a change is refused here (\"{}\") even when every module succeeds",
                s.control(j)
            ),
        ),
        End::Accepted(j) => report.error(
            s,
            j,
            format!(
                "\"{}\" ends the stack here with success, before commit ({}): changes are never \
                 recorded",
                s.control(j),
                s.place(c)
            ),
        ),
        End::BadJump(j) => bad_jump(s, j, report),
    }
    // A change that fails: every module but pam_permit (and the checking line) fails; commit
    // must not be reached.
    let failed = |i: usize| {
        if i == k || s.module_is(i, "pam_permit.so") {
            "success"
        } else {
            "authtok_err"
        }
    };
    if s.walk(k, failed, |i| i >= c) == End::Stopped(c) {
        report.error(
            s,
            last,
            format!(
                "a failed change here still reaches commit ({}): use requisite (or \
                 [success=1 default=ignore] before pam_deny.so), so only a stored change is \
                 recorded",
                s.place(c)
            ),
        );
    }
}

/// The checking password line's control; false when its success never reaches the next line.
fn password_controls(s: &Stack, k: usize, report: &mut Report) -> bool {
    if let Some(code) = PASSWORD_REFUSALS
        .into_iter()
        .find(|code| !s.on(k, code).keeps_failure())
    {
        report.error(
            s,
            k,
            format!(
                "the checking password line is \"{}\": its refusal ({code}) is ignored, so a \
                 password the rules refuse is stored anyway; use requisite",
                s.control(k)
            ),
        );
    }
    if matches!(s.on(k, "ignore"), Action::Bad | Action::Die) {
        report.error(
            s,
            k,
            format!(
                "the checking password line is \"{}\": its PAM_IGNORE fails the change; use \
                 requisite",
                s.control(k)
            ),
        );
    }
    if matches!(s.on(k, "success"), Action::Ok | Action::Ignore) {
        return true;
    }
    report.error(
        s,
        k,
        format!(
            "the checking password line is \"{}\": its success must go on to the password \
             module; use requisite",
            s.control(k)
        ),
    );
    false
}
