//! Exit statuses, the same for every command (README.md lists them), and what ends a command:
//! the runtime it runs on, signals, its deadline.

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

/// Prints `e` as an error; the usage status.
pub(crate) fn fail(e: &str) -> Status {
    eprintln!("error: {e}");
    Status::Usage
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

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Ctrl-c, SIGTERM or SIGHUP.
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let hup = signal(SignalKind::hangup());
        if let (Ok(mut term), Ok(mut hup)) = (term, hup) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
