//! Exit statuses, the same for every command (README.md lists them).

use std::process::ExitCode;

/// What the process exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// 0: clean.
    Ok,
    /// 1: findings at error level, invalid input, failed expectations.
    Findings,
    /// 2: usage or I/O error (for `tail`: no target reachable).
    Usage,
    /// 130: interrupted (Ctrl-c, SIGTERM).
    Interrupted,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(match s {
            Status::Ok => 0,
            Status::Findings => 1,
            Status::Usage => 2,
            Status::Interrupted => 130,
        })
    }
}

/// Runs `fut` on a two-worker runtime (the commands that do I/O: `tail`, `demo`).
pub(crate) fn block_on(fut: impl std::future::Future<Output = Status>) -> Status {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let status = rt.block_on(fut);
            // Followers and the demo's load never end by themselves.
            rt.shutdown_background();
            status
        }
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            Status::Usage
        }
    }
}
