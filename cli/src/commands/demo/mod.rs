//! `recourse demo`: a simulated flaky service with export on, started inside the binary and
//! tailed live (the TUI, or lines with `--no-tui`).

pub(crate) mod service;

use std::sync::Arc;

use recourse_engine::export::{Endpoint, ExportConfig, ExportServer};
use recourse_engine::{Executor, PolicySet};

use crate::args::{DemoArgs, TailArgs, TailEvent, TailOutput};
use crate::exit::Status;
use crate::tail::Spec;
use recourse_engine::export::wire::CallFilter;
use service::{Counting, Tally};

/// Runs the demo on its own runtime.
pub(crate) fn run(args: &DemoArgs, color: bool, max_file_size: u64) -> Status {
    crate::exit::block_on(demo(args, color, max_file_size))
}

async fn demo(args: &DemoArgs, color: bool, max_file_size: u64) -> Status {
    let set = match PolicySet::from_str(service::POLICIES, "demo/policies.yaml") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: the demo's policies do not load: {e}");
            return Status::Usage;
        }
    };
    let tally = Arc::new(Tally::default());
    let build = |config: ExportConfig| {
        Executor::builder()
            .policy_set(set.clone())
            .observer(Counting(tally.clone()))
            // A tail that connects late still sees the last failures.
            // An operator may try `recourse breaker isolate` on it.
            .export(
                config
                    .max_rate(2_000, 2_000)
                    .backfill(500)
                    .allow_control(true),
            )
            .build()
    };
    let exec = match build(ExportConfig::new("recourse-demo")) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return Status::Usage;
        }
    };
    // The usual socket directory, so `recourse tail` in another terminal finds the demo too; a
    // private temporary one when that is not writable.
    let fallback = tempfile::tempdir().ok();
    let (exec, server) = match ExportServer::start(&exec).await {
        Ok(s) => (exec, s),
        Err(first) => {
            let Some(dir) = fallback.as_ref() else {
                eprintln!("error: {first}");
                return Status::Usage;
            };
            let config =
                ExportConfig::new("recourse-demo").socket_path(dir.path().join("demo.sock"));
            let exec = match build(config) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Status::Usage;
                }
            };
            match ExportServer::start(&exec).await {
                Ok(s) => (exec, s),
                Err(e) => {
                    eprintln!("error: cannot start the demo's export: {e}");
                    return Status::Usage;
                }
            }
        }
    };
    let Some(Endpoint::Unix(path)) = server.endpoints().first().cloned() else {
        eprintln!("error: the demo has no socket");
        return Status::Usage;
    };
    eprintln!(
        "demo: a simulated service is exporting on {}\n      (`recourse tail` in another terminal finds it too;\n      `recourse breaker isolate inventory.Get --target {}` takes a key out of service)",
        path.display(),
        path.display()
    );
    tokio::spawn(service::drive(exec.clone(), seed()));
    let tail = TailArgs {
        targets: Vec::new(),
        keys: Vec::new(),
        output: Some(if args.no_tui {
            TailOutput::Text
        } else {
            TailOutput::Tui
        }),
        events: vec![TailEvent::Call, TailEvent::Circuit],
        record: None,
        replay: None,
        speed: 1.0,
        duration: args.duration,
        max_rate: None,
        calls: CallFilter::All,
        list: false,
        token: None,
        wait: false,
        targets_file: None,
        max_file_size,
    };
    let status = crate::commands::tail::tail(tail, color, vec![Spec::Unix(path)]).await;
    server.shutdown().await;
    if args.no_tui {
        eprintln!("{}", tally.summary());
    }
    match status {
        Status::Interrupted | Status::Ok => Status::Ok,
        other => other,
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64)
}
