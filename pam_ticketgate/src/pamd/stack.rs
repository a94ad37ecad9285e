//! A service's effective stack of one type: its own lines with `@include`, `include` and
//! `substack` files put in place, and how libpam moves through it for a given return code.

use std::collections::BTreeMap;
use std::path::Path;

use super::parse::{Action, Control, Line, LineKind, Type};

/// libpam's limit on nested includes and substacks (`PAM_SUBSTACK_MAX_LEVEL`).
const MAX_DEPTH: usize = 16;

/// Where a line is: the file's name in the directory and its line number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct At {
    pub(crate) file: String,
    pub(crate) line: usize,
}

/// One module line of the effective stack.
#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    pub(crate) at: At,
    pub(crate) control: &'a Control,
    pub(crate) module: &'a str,
    pub(crate) args: &'a [String],
    /// For each substack this entry is in, outermost first: the index one past its last entry
    /// (`done` and jumps end there). Empty at the top level.
    pub(crate) substacks: Vec<usize>,
}

impl Entry<'_> {
    /// The module's file name (`pam_unix.so` of `/lib/.../pam_unix.so`).
    pub(crate) fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(self.module)
    }

    /// This line loads pam_ticketgate (any path ending in `pam_ticketgate.so`).
    pub(crate) fn is_ours(&self) -> bool {
        self.module.ends_with("pam_ticketgate.so")
    }
}

/// What went wrong while putting a stack together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) at: At,
    pub(crate) message: String,
    /// libpam cannot use the line, so the service's logins fail (not just a doubt).
    pub(crate) fatal: bool,
}

/// The effective stack of one type.
#[derive(Debug, Default)]
pub(crate) struct Stack<'a> {
    pub(crate) entries: Vec<Entry<'a>>,
    /// Broken lines and includes that could not be followed, found on the way.
    pub(crate) problems: Vec<Problem>,
}

/// How the walk through a stack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Stopped where the caller asked (`stop` returned true for this index).
    Stopped(usize),
    /// The login fails at this entry (`die`, or `done` with a failure).
    Refused(usize),
    /// The stack ends here with success (`done` at the top level): later lines are skipped.
    Accepted(usize),
    /// A jump at this entry goes past the end of its (sub)stack; libpam fails the login.
    BadJump(usize),
    /// Ran off the end of the stack.
    Fell,
}

/// Puts one stack together, file by file.
struct Builder<'a, 'd> {
    dir: &'d Path,
    files: &'a BTreeMap<String, Vec<Line>>,
    ty: Type,
    stack: Stack<'a>,
}

impl<'a> Builder<'a, '_> {
    fn problem(&mut self, at: Option<At>, message: String, fatal: bool) {
        if let Some(at) = at {
            self.stack.problems.push(Problem { at, message, fatal });
        }
    }

    /// Adds the lines of type `ty` of the file `raw_name` (as a line names it), included
    /// `depth` deep from `from`, inside `level` substacks.
    fn add(&mut self, raw_name: &str, depth: usize, level: usize, from: Option<At>) {
        // libpam opens a relative name in the directory and an absolute path as it is.
        let name = match Path::new(raw_name).strip_prefix(self.dir) {
            Ok(inside) => inside.to_str().unwrap_or(raw_name),
            Err(_) if raw_name.starts_with('/') => {
                let message = format!(
                    "includes {raw_name}, outside {}: not followed, so this stack is checked \
                     without it",
                    self.dir.display()
                );
                return self.problem(from, message, false);
            }
            Err(_) => raw_name,
        };
        let Some(lines) = self.files.get(name) else {
            let message = format!(
                "includes \"{raw_name}\", which is not in {}: libpam fails logins through this \
                 stack",
                self.dir.display()
            );
            return self.problem(from, message, true);
        };
        if depth > MAX_DEPTH {
            let message =
                format!("includes nested more than {MAX_DEPTH} deep (a loop?): libpam refuses it");
            return self.problem(from, message, true);
        }
        for line in lines {
            let at = At {
                file: name.to_string(),
                line: line.number,
            };
            match &line.kind {
                LineKind::IncludeAll(file) => self.add(file, depth + 1, level, Some(at)),
                LineKind::Include { ty, file, substack } if *ty == self.ty => {
                    let start = self.stack.entries.len();
                    let inner = if *substack { level + 1 } else { level };
                    self.add(file, depth + 1, inner, Some(at));
                    if *substack {
                        let end = self.stack.entries.len();
                        for e in self.stack.entries.get_mut(start..end).unwrap_or_default() {
                            if let Some(slot) = e.substacks.get_mut(level) {
                                *slot = end;
                            }
                        }
                    }
                }
                LineKind::Module {
                    ty,
                    control,
                    module,
                    args,
                } if *ty == self.ty => self.stack.entries.push(Entry {
                    at,
                    control,
                    module,
                    args,
                    // Filled in as each substack closes.
                    substacks: vec![usize::MAX; level],
                }),
                LineKind::Broken(message) => self.problem(
                    Some(at),
                    format!(
                        "{message}: libpam keeps it as a line that always fails, so logins \
                         through this stack fail"
                    ),
                    true,
                ),
                LineKind::Include { .. } | LineKind::Module { .. } => {}
            }
        }
    }
}

impl<'a> Stack<'a> {
    /// `service`'s stack of type `ty`, from the parsed files of the directory `dir`.
    pub(crate) fn of(
        dir: &Path,
        files: &'a BTreeMap<String, Vec<Line>>,
        service: &str,
        ty: Type,
    ) -> Self {
        let mut builder = Builder {
            dir,
            files,
            ty,
            stack: Stack::default(),
        };
        builder.add(service, 0, 0, None);
        builder.stack
    }

    /// One past the last entry of the (sub)stack entry `i` is in.
    fn level_end(&self, i: usize) -> usize {
        self.entries
            .get(i)
            .and_then(|e| e.substacks.last().copied())
            .unwrap_or(self.entries.len())
    }

    /// Walks from entry `from`, each entry returning `code(index)`, until `stop(index)` holds or
    /// the walk ends. Jumps only go forward, so every walk ends.
    pub(crate) fn walk(
        &self,
        from: usize,
        code: impl Fn(usize) -> &'static str,
        stop: impl Fn(usize) -> bool,
    ) -> End {
        let mut i = from;
        loop {
            if stop(i) {
                return End::Stopped(i);
            }
            let Some(entry) = self.entries.get(i) else {
                return End::Fell;
            };
            let code = code(i);
            i = match entry.control.on(code) {
                Action::Ok | Action::Ignore | Action::Bad | Action::Reset => i + 1,
                Action::Die => return End::Refused(i),
                Action::Done if code != "success" => return End::Refused(i),
                Action::Done if entry.substacks.is_empty() => return End::Accepted(i),
                Action::Done => self.level_end(i),
                Action::Jump(n) => match self.jump(i, n) {
                    Some(to) => to,
                    None => return End::BadJump(i),
                },
            };
        }
    }

    /// The entry a jump of `n` modules from `i` lands on: a whole substack counts as one module,
    /// and a jump cannot leave the substack it starts in.
    fn jump(&self, i: usize, n: usize) -> Option<usize> {
        let level = self.entries.get(i)?.substacks.len();
        let end = self.level_end(i);
        let mut to = i + 1;
        for _ in 0..n {
            if to >= end {
                return None;
            }
            // A deeper substack is one module: go to its end.
            to = match self.entries.get(to)?.substacks.get(level) {
                Some(substack_end) => *substack_end,
                None => to + 1,
            };
        }
        Some(to)
    }
}
