//! `recourse`: the operator command of the recourse resilience engine. The binary is a thin
//! `main` over this library; [`run`] is the whole command. Nothing here is a stable API: the
//! command line, its files and its outputs are (docs/).

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

mod args;
mod commands;
mod diag;
mod examples;
mod exit;
mod format;
mod input;
mod output;
mod replay;
mod simulate;
mod tail;
mod terminal;
mod tui;
mod validate;

#[doc(hidden)]
pub mod fuzzing;

/// Parses the command line and runs the command; the process's exit status.
pub fn run() -> ExitCode {
    let cli = args::Cli::parse();
    let color = output::color_enabled(cli.color);
    let status = match cli.command {
        None => {
            // `recourse` alone prints the help, like `git`.
            let _ = args::Cli::command().print_help();
            exit::Status::Usage
        }
        Some(args::Command::Lint(a)) => commands::lint::run(&a, color, cli.max_file_size),
        Some(args::Command::Policy(p)) => commands::policy::run(p, color, cli.max_file_size),
        Some(args::Command::Tail(a)) => commands::tail::run(
            args::TailArgs {
                max_file_size: cli.max_file_size,
                ..a
            },
            color,
        ),
        Some(args::Command::Demo(a)) => commands::demo::run(&a, color, cli.max_file_size),
        Some(args::Command::Breaker(b)) => commands::breaker::run(b),
        Some(args::Command::Schema { which }) => commands::schema::run(which),
        Some(args::Command::Completions { shell }) => commands::completions::run(shell),
    };
    status.into()
}
