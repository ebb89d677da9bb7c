//! `recourse`: the operator command of the recourse resilience engine.

fn main() -> std::process::ExitCode {
    recourse_cli::run()
}
