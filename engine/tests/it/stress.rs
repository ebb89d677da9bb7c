//! Stress (issue 3): 100,000 calls with random latencies, failures, hedges and cancellations on
//! a multi-threaded runtime, real time. No call may hang (each is awaited under a generous
//! timeout that must never fire), and the breaker never wedges: once the dependency recovers a
//! probe gets through and it closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use recourse_engine::{CircuitState, Executor, Policy};

use crate::support::*;

fn rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_calls_never_hang_and_the_breaker_never_wedges() {
    let exec = Executor::builder()
        .policy(
            "stress.Hedged",
            Policy::new()
                .max_attempts(3)
                .backoff(ms(1), ms(2), 2.0)
                .hedging(1, ms(10))
                .timeout_per_attempt(ms(30)),
        )
        .policy(
            "stress.Breaker",
            Policy::new()
                .max_attempts(2)
                .backoff(ms(1), ms(1), 1.0)
                .circuit(3, ms(100)),
        )
        .policy(
            "stress.Plain",
            Policy::new()
                .max_attempts(2)
                .backoff(ms(1), ms(1), 1.0)
                .overall_timeout(ms(50)),
        )
        .observer(Recording::default())
        .build()
        .unwrap();
    let healthy = Arc::new(AtomicBool::new(false));
    let hung = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..500u64)
        .map(|w| {
            let (exec, healthy, hung, finished) = (
                exec.clone(),
                healthy.clone(),
                hung.clone(),
                finished.clone(),
            );
            tokio::spawn(async move {
                let mut seed = w * 0x9E37_79B9 + 1;
                for _ in 0..200 {
                    let r = rand(&mut seed);
                    let key = ["stress.Hedged", "stress.Breaker", "stress.Plain"][(r % 3) as usize];
                    let healthy = healthy.clone();
                    let call = exec.call(key, move |_| {
                        let mut s = r | 1;
                        let r = rand(&mut s);
                        let healthy = healthy.load(Ordering::Relaxed);
                        async move {
                            match r % 8 {
                                0 => tokio::time::sleep(Duration::from_millis(r % 3)).await,
                                1 => tokio::time::sleep(Duration::from_millis(15)).await,
                                _ => tokio::task::yield_now().await,
                            }
                            if healthy || !r.is_multiple_of(3) {
                                Ok(r)
                            } else {
                                Err(E(r as u32))
                            }
                        }
                    });
                    if r.is_multiple_of(11) {
                        // A caller that gives up early: the call is dropped mid-flight.
                        let _ = tokio::time::timeout(Duration::from_micros(r % 2000), call).await;
                    } else if tokio::time::timeout(Duration::from_secs(20), call)
                        .await
                        .is_err()
                    {
                        hung.fetch_add(1, Ordering::Relaxed);
                    }
                    finished.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(finished.load(Ordering::Relaxed), 100_000);
    assert_eq!(hung.load(Ordering::Relaxed), 0, "calls hung");

    // Open the breaker, then let the dependency recover: a probe must get through.
    for _ in 0..10 {
        let _ = exec
            .call("stress.Breaker", |_| async { Err::<(), _>(E(0)) })
            .await;
    }
    assert_ne!(exec.circuit_state("stress.Breaker"), CircuitState::Closed);
    healthy.store(true, Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while exec.circuit_state("stress.Breaker") != CircuitState::Closed {
        assert!(tokio::time::Instant::now() < deadline, "the breaker wedged");
        let _ = exec
            .call("stress.Breaker", |_| async { Ok::<_, E>(()) })
            .await;
        tokio::time::sleep(ms(10)).await;
    }
}
