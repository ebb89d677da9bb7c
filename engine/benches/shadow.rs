//! What a shadow policy costs a call: the same production-shaped policy (3 attempts, a
//! per-attempt timeout, the `now` classifier) with and without a shadow (5 attempts, a tighter
//! timeout, a breaker), for a call that succeeds at once and one that retries once; and a
//! traced call without a shadow, since a shadowed call is recorded to be judged. In one group,
//! one runtime, one operation.

#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use recourse_engine::{AttemptInfo, Executor, Policy};

use common::{Op, RetryNow, ok, runtime};

fn live() -> Policy {
    Policy::new()
        .max_attempts(3)
        .backoff(Duration::ZERO, Duration::ZERO, 1.0)
        .timeout_per_attempt(Duration::from_secs(1))
        .classifier("now")
}

fn shadow() -> Policy {
    Policy::new()
        .id("candidate")
        .max_attempts(5)
        .timeout_per_attempt(Duration::from_millis(300))
        .circuit(1_000_000, Duration::from_secs(10))
}

/// Fails the first attempt, succeeds the retry.
fn fail_once(a: AttemptInfo) -> Op {
    if a.attempt == 0 {
        Op::reset()
    } else {
        Op::succeed()
    }
}

fn executor(policy: Policy) -> Executor {
    Executor::builder()
        .classifier("now", RetryNow)
        .policy("svc.op", policy)
        .build()
        .unwrap()
}

fn shadow_overhead(c: &mut Criterion) {
    let rt = runtime();
    let plain = executor(live());
    let shadowed = executor(live().shadow(shadow()));
    let mut g = c.benchmark_group("shadow");
    g.bench_function("live_only", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(plain.call("svc.op", ok).await.is_ok()) })
    });
    g.bench_function("live_traced", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(plain.call_traced("svc.op", ok).await.0.is_ok()) })
    });
    g.bench_function("with_shadow", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(shadowed.call("svc.op", ok).await.is_ok()) })
    });
    g.bench_function("live_only_retry", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(plain.call("svc.op", fail_once).await.is_ok()) })
    });
    g.bench_function("with_shadow_retry", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(shadowed.call("svc.op", fail_once).await.is_ok()) })
    });
    g.finish();
}

criterion_group!(benches, shadow_overhead);
criterion_main!(benches);
