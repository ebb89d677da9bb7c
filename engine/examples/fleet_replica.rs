//! One replica of a service whose retry budget is shared by the fleet through Redis. Start a
//! few, each in its own terminal, against one Redis, and watch them share one budget of 100
//! retries (plus 10 a second) while their dependency fails every other call.
//!
//! ```sh
//! redis-server --port 6379 &
//! export RECOURSE_REDIS_URL=redis://127.0.0.1:6379
//! cargo run -p recourse-engine --example fleet_replica --features redis,export
//! # in another terminal:
//! cargo run -p recourse-cli -- tail --key 'checkout.*'
//! ```
//!
//! Each replica prints, every second, the retries it asked for and those the fleet's budget let
//! through. Stop Redis and, three sync intervals later, each replica spends from its share of
//! the budget (`tail` says `fleet store unreachable`); start it again and they rejoin.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use recourse_engine::classify::HttpStatusError;
use recourse_engine::export::{ExportConfig, ExportServer};
use recourse_engine::{Executor, PolicySet};

const POLICIES: &str = r#"{"version": 1,
  "budgets": {"retries": {"kind": "token_bucket", "capacity": 100,
                          "refill_per_second": 10, "scope": "fleet"}},
  "policies": {"checkout.Quote": {"retry": {"max_attempts": 3, "initial_backoff": "20ms",
                                          "budget": {"name": "retries"}}}}}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("RECOURSE_REDIS_URL").is_none() {
        eprintln!("RECOURSE_REDIS_URL is not set: the budget spends from its local fallback");
    }
    // The fleet store comes from RECOURSE_REDIS_URL; the export's service name, `checkout`,
    // is the name the replicas share the budget under.
    let exec = Executor::builder()
        .policy_set(PolicySet::from_str(POLICIES, "checkout.json")?)
        .export(ExportConfig::new("checkout"))
        .build()?;
    let server = ExportServer::start(&exec).await?;
    eprintln!("exporting on {}", server.endpoints()[0]);

    let (asked, admitted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut every = tokio::time::interval(Duration::from_millis(20));
    let mut report = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = report.tick() => {
                let (a, b) = (asked.swap(0, Ordering::Relaxed), admitted.swap(0, Ordering::Relaxed));
                eprintln!("retries asked {a:4}, admitted {b:4}; fleet budget {:?}", exec.budget_level("retries"));
                continue;
            }
            _ = every.tick() => {}
        }
        n += 1;
        let (exec, asked, admitted) = (exec.clone(), asked.clone(), admitted.clone());
        tokio::spawn(async move {
            let mut attempts = 0u64;
            let result = exec
                .call("checkout.Quote", |_| {
                    attempts += 1;
                    // Every other call fails all its attempts: an outage of half the fleet
                    // behind the dependency.
                    let fail = n.is_multiple_of(2);
                    async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        if fail {
                            Err(HttpStatusError::new(503, "GET"))
                        } else {
                            Ok(())
                        }
                    }
                })
                .await;
            admitted.fetch_add(attempts - 1, Ordering::Relaxed);
            // A call that could not retry for want of budget asked for one retry more.
            let denied = matches!(&result, Err(e) if e.reason_code().as_str() == "budget_denied");
            asked.fetch_add(attempts - 1 + u64::from(denied), Ordering::Relaxed);
        });
    }
    server.shutdown().await;
    Ok(())
}
