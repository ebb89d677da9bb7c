//! A first look at recourse: a flaky simulated payment service called through a retry policy,
//! on virtual time (instant and the same on every run). Each call prints as one line: its
//! outcome, and each attempt with the wait before it.
//!
//! Run it with `cargo run --release -p recourse-engine --example quickstart`.

use std::time::Duration;

use recourse_engine::budget::Ratio;
use recourse_engine::classify::{HttpStatusError, RetryAfter};
use recourse_engine::clock::VirtualClock;
use recourse_engine::policy::Jitter;
use recourse_engine::{Executor, Policy, Timeline};

/// A deterministic "random" dependency: call `n`, attempt `a` behaves according to a hash.
fn dependency(n: u64, attempt: u32) -> (Duration, Result<&'static str, HttpStatusError>) {
    let h = (n * 7919 + u64::from(attempt) * 104_729).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let latency = Duration::from_millis(5 + h % 60);
    let result = match h % 20 {
        0..=9 => Ok("charged"),
        10..=13 => Err(HttpStatusError::new(503, "PUT")),
        14 | 15 => Err(HttpStatusError::new(429, "PUT")
            .with_retry_after(Some(RetryAfter::Delay(Duration::from_millis(250))))),
        16 => {
            return (
                Duration::from_secs(5),
                Err(HttpStatusError::new(504, "PUT")),
            );
        } // hangs: the attempt times out
        17 => Err(HttpStatusError::new(409, "PUT")),
        _ => Err(HttpStatusError::transport(
            "PUT",
            "connection reset by peer",
        )),
    };
    (latency, result)
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1e3)
}

fn line(n: u64, tl: &Timeline) -> String {
    let mut s = format!(
        "call {n:>2}  {:<7} {:<26} {:>8}  ",
        tl.outcome.as_str(),
        tl.reason.as_str(),
        ms(tl.duration())
    );
    for a in &tl.attempts {
        if !a.backoff.is_zero() {
            s.push_str(&format!("--{}--> ", ms(a.backoff)));
        }
        let status = a.attributes.get("status").unwrap_or("-");
        s.push_str(&format!(
            "[#{} {status} {} {}] ",
            a.attempt,
            a.reason,
            ms(a.end.since(a.start))
        ));
    }
    s
}

fn main() {
    let vc = VirtualClock::new();
    let exec = Executor::builder()
        .clock(vc.clock())
        .seed(42)
        .budget(
            "payments-20pc",
            Ratio::new(0.2, 1.0, Duration::from_secs(10)),
        )
        .policy(
            "payments.Charge",
            Policy::builtin()
                .id("charge-v1")
                .max_attempts(4)
                .backoff(Duration::from_millis(20), Duration::from_secs(1), 2.0)
                .jitter(Jitter::Full)
                .timeout_per_attempt(Duration::from_millis(300))
                .overall_timeout(Duration::from_secs(2))
                .classifier("http")
                .budget("payments-20pc"),
        )
        .build()
        .expect("a valid executor");
    let charge = exec.key("payments.Charge");
    let clock = exec.clock().clone();

    println!("payments.Charge: 4 attempts, 20ms..1s full jitter, 300ms per attempt, 2s overall,");
    println!("http classifier, 20% retry budget. [#attempt status reason latency], --backoff-->\n");
    for n in 0..16u64 {
        let clock = clock.clone();
        let (_, tl) = vc.block_on(charge.call_traced(move |info| {
            let clock = clock.clone();
            async move {
                let (latency, result) = dependency(n, info.attempt);
                clock.sleep(latency).await;
                result
            }
        }));
        println!("{}", line(n, &tl));
    }
    println!("\nOne call as the live stream and `recourse policy simulate` print it (JSON):");
    let (_, tl) =
        vc.block_on(charge.call_traced(|info| async move { dependency(3, info.attempt).1 }));
    println!(
        "{}",
        serde_json::to_string_pretty(&tl).expect("timelines serialize")
    );
}
