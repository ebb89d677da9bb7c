//! The `grpc` classifier on tonic statuses: UNAVAILABLE with `grpc-retry-pushback-ms` is retried
//! after exactly the pushback; INVALID_ARGUMENT is final.
//!
//! ```sh
//! cargo run -p recourse-engine --example grpc --features tonic
//! ```

use std::time::Duration;

use recourse_engine::classify::grpc_key;
use recourse_engine::{Executor, Policy};
use tonic::Status;
use tonic::metadata::MetadataValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = grpc_key("/payments.v1.Charges/Create").ok_or("not a gRPC path")?;
    let exec = Executor::builder()
        .policy(&key, Policy::builtin().max_attempts(3).classifier("grpc"))
        .build()?;

    let mut attempt = 0;
    // recourse-lint: allow(dynamic-key) -- one key per gRPC method, from its constant path
    let (result, timeline) = exec
        .call_traced(&key, |_| {
            attempt += 1;
            let first = attempt == 1;
            async move {
                if first {
                    let mut s = Status::unavailable("overloaded, back off");
                    s.metadata_mut()
                        .insert("grpc-retry-pushback-ms", MetadataValue::from_static("250"));
                    Err(s)
                } else {
                    Ok("charged")
                }
            }
        })
        .await;
    println!("{key}: {:?}", result.map_err(|e| e.to_string()));
    for a in &timeline.attempts {
        let waited = a.backoff.max(Duration::ZERO);
        println!(
            "  attempt {}: {} after waiting {waited:?}",
            a.attempt, a.reason
        );
    }

    // recourse-lint: allow(dynamic-key) -- the same per-method key
    let result = exec
        .call(&key, |_| async {
            Err::<(), _>(Status::invalid_argument("no such card"))
        })
        .await;
    println!("{key}: {} (not retried)", result.unwrap_err().reason_code());
    Ok(())
}
