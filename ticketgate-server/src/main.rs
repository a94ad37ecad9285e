//! The `ticketgate-server` binary: all the work is in the library's `cli` module.

fn main() -> std::process::ExitCode {
    ticketgate_server::cli::main()
}
