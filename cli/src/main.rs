//! `recourse`: the operator command of the recourse resilience engine.

use std::process::ExitCode;

use clap::Parser;

mod args;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match cli.command {
        None => {
            use clap::CommandFactory;
            // `recourse` alone prints the help, like `git`.
            let _ = args::Cli::command().print_help();
            ExitCode::from(2)
        }
    }
}
