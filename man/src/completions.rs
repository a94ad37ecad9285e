//! Shell completions for `ticketgate`, `ticketgate-server` and `ticketgate-agent` (bash, zsh, fish), generated from
//! the same clap definitions as their man pages, so a new verb or option completes as soon as it
//! exists.

use clap_complete::{Generator, Shell};

/// One completion script: where it goes below the output directory (the path below
/// `$PREFIX/share` it is installed to), and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `bash-completion/completions/ticketgate` and so on.
    pub path: String,
    pub source: Vec<u8>,
}

/// The directory below `share/` each shell reads its vendor completions from (Debian's layout;
/// bash-completion loads `completions/<command>` on first use).
fn dir_and_file(shell: Shell, program: &str) -> Option<String> {
    let file = shell.file_name(program);
    match shell {
        Shell::Bash => Some(format!("bash-completion/completions/{program}")),
        Shell::Zsh => Some(format!("zsh/vendor-completions/{file}")),
        Shell::Fish => Some(format!("fish/vendor_completions.d/{file}")),
        _ => None,
    }
}

/// Every script: three shells for each of the three programs.
pub fn completions() -> Vec<Completion> {
    let mut out = Vec::new();
    for (program, command) in [
        ("ticketgate", crate::ticketgate_command()),
        ("ticketgate-server", crate::server_command()),
        ("ticketgate-agent", crate::agent_command()),
    ] {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let Some(path) = dir_and_file(shell, program) else {
                continue;
            };
            let mut command = command.clone();
            let mut source = Vec::new();
            clap_complete::generate(shell, &mut command, program, &mut source);
            out.push(Completion { path, source });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn every_verb_of_both_programs_is_completed_in_every_shell() {
        let all = completions();
        assert_eq!(all.len(), 9);
        for (program, command) in [
            ("ticketgate", crate::ticketgate_command()),
            ("ticketgate-server", crate::server_command()),
        ] {
            let verbs: Vec<String> = command
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            assert!(verbs.len() >= 4, "{program}: {verbs:?}");
            let scripts: Vec<&Completion> = all
                .iter()
                .filter(|c| c.path.contains(program) && !c.path.contains(&format!("{program}-")))
                .collect();
            assert_eq!(
                scripts.len(),
                3,
                "{program}: {:?}",
                all.iter().map(|c| &c.path).collect::<Vec<_>>()
            );
            for script in scripts {
                let text = String::from_utf8(script.source.clone()).unwrap();
                for verb in &verbs {
                    assert!(text.contains(verb.as_str()), "{}: no {verb}", script.path);
                }
            }
        }
    }

    #[test]
    fn the_agents_options_are_completed_in_every_shell() {
        let scripts: Vec<Completion> = completions()
            .into_iter()
            .filter(|c| c.path.contains("ticketgate-agent"))
            .collect();
        assert_eq!(scripts.len(), 3);
        for script in scripts {
            let text = String::from_utf8(script.source).unwrap();
            for option in ["config", "once"] {
                assert!(text.contains(option), "{}: no --{option}", script.path);
            }
        }
    }
}
