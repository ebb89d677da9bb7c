//! `recourse completions <shell>`: the shell completion script on stdout.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Cli;
use crate::exit::Status;

/// Prints the completion script for `shell`.
pub(crate) fn run(shell: Shell) -> Status {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "recourse", &mut std::io::stdout());
    Status::Ok
}
