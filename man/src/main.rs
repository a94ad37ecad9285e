//! `ticketgate-man OUT_DIR`: writes the man pages under OUT_DIR/man5 and OUT_DIR/man8, and the
//! shell completions under OUT_DIR/completions (laid out as below `$PREFIX/share`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: ticketgate-man OUT_DIR");
        return ExitCode::from(2);
    };
    match ticketgate_man::write_all(&PathBuf::from(dir)) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ticketgate-man: {e}");
            ExitCode::FAILURE
        }
    }
}
