//! A service that exports its calls for `recourse tail`.
//!
//! ```sh
//! cargo run -p recourse-engine --example exporting_service --features export
//! # in another terminal:
//! cargo run -p recourse-cli -- tail --key 'orders.*'
//! ```

use std::time::Duration;

use recourse_engine::classify::HttpStatusError;
use recourse_engine::export::{ExportConfig, ExportServer};
use recourse_engine::{Executor, Policy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exec = Executor::builder()
        .policy(
            "orders.Create",
            Policy::builtin().max_attempts(3).backoff(
                Duration::from_millis(20),
                Duration::from_millis(200),
                2.0,
            ),
        )
        .policy("orders.Get", Policy::builtin().max_attempts(2))
        // Error texts stay in the process unless you opt in with `.include_errors(true)`.
        .export(ExportConfig::new("orders"))
        .build()?;
    let server = ExportServer::start(&exec).await?;
    eprintln!("exporting on {}", server.endpoints()[0]);
    eprintln!("try: recourse tail --key 'orders.*'   (Ctrl-c stops this service)");

    let mut every = tokio::time::interval(Duration::from_millis(50));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = every.tick() => {}
        }
        n += 1;
        let key = if n.is_multiple_of(3) {
            "orders.Create"
        } else {
            "orders.Get"
        };
        let exec = exec.clone();
        tokio::spawn(async move {
            let mut attempt_no = 0;
            let _ = exec
                .call(key, |_| {
                    attempt_no += 1;
                    // One call in five fails its first attempt with a 503.
                    let fail = n.is_multiple_of(5) && attempt_no == 1;
                    async move {
                        tokio::time::sleep(Duration::from_millis(5 + n % 20)).await;
                        if fail {
                            Err(HttpStatusError::new(503, "GET"))
                        } else {
                            Ok(())
                        }
                    }
                })
                .await;
        });
    }
    server.shutdown().await;
    Ok(())
}
