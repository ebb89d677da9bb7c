//! Token bucket decisions, single-threaded and with two threads contending, beside governor's
//! rate limiter (a check of its token bucket) and tower's retry budget (deposit + withdraw)
//! in the same group. With the engine's `tsc` feature, also on `Clock::tsc`. Beside them, the
//! throttle (gRPC retry throttling): a decision and the outcomes it learns from.

#![allow(missing_docs)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use recourse_engine::Key;
use recourse_engine::budget::{AttemptOutcome, Budget, Request, Throttle, TokenBucket};
use recourse_engine::classify::Kind;
use recourse_engine::clock::{Clock, Timestamp};
use tower::retry::budget::{Budget as _, TpsBudget};

fn request<'a>(key: &'a Key, clock: &Clock) -> Request<'a> {
    Request::retry(key, clock.now())
}

fn token_bucket(c: &mut Criterion) {
    let key = Key::parse("payments.Charge");
    let clock = Clock::tokio();
    // Large enough never to run dry, so every decision does the full CAS path.
    let bucket = Arc::new(TokenBucket::new(u64::MAX / 4_000_000_000, 1e9));
    let tps = Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.5));
    // governor's bucket, equally large: every check takes its full path.
    let governor = RateLimiter::direct(Quota::per_second(NonZeroU32::MAX));
    let mut g = c.benchmark_group("budget_token_bucket");
    g.bench_function("recourse_single_thread", |b| {
        b.iter(|| black_box(bucket.allow(&request(&key, &clock)).allowed))
    });
    // What the decision above spends reading the clock (a gated attempt reads it once).
    g.bench_function("clock_read_alone", |b| b.iter(|| black_box(clock.now())));
    #[cfg(feature = "tsc")]
    {
        // The same decision on the time-stamp counter (the engine's `tsc` feature).
        let tsc = Clock::tsc();
        g.bench_function("recourse_single_thread_tsc", |b| {
            b.iter(|| black_box(bucket.allow(&request(&key, &tsc)).allowed))
        });
        g.bench_function("clock_read_tsc", |b| b.iter(|| black_box(tsc.now())));
    }
    // The throttle's whole share of a retry: the failure it hears (a CAS), the decision on
    // the retry (a load) and the retry's success (a CAS), with the request built as the gate
    // builds it for a budget that reads no clock (no clock read: tokens follow outcomes). One
    // token short of full, so neither bound cuts an update short.
    let throttle = Throttle::new(1000.0, 1.0);
    throttle.record_outcome(&AttemptOutcome::new(&key, 0, Kind::Retryable));
    let (failed, succeeded) = (
        AttemptOutcome::new(&key, 0, Kind::Retryable),
        AttemptOutcome::new(&key, 1, Kind::Success),
    );
    g.bench_function("recourse_throttle_single_thread", |b| {
        b.iter(|| {
            throttle.record_outcome(&failed);
            let allowed = throttle
                .allow(&Request::retry(&key, Timestamp::EPOCH))
                .allowed;
            throttle.record_outcome(&succeeded);
            black_box(allowed)
        })
    });
    g.bench_function("governor_single_thread", |b| {
        b.iter(|| black_box(governor.check().is_ok()))
    });
    g.bench_function("tower_tps_budget_single_thread", |b| {
        b.iter(|| {
            tps.deposit();
            black_box(tps.withdraw())
        })
    });
    g.bench_function("recourse_two_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(3));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (bucket, barrier, clock) = (bucket.clone(), barrier.clone(), clock.clone());
                    std::thread::spawn(move || {
                        let key = Key::parse("payments.Charge");
                        barrier.wait();
                        for _ in 0..iters / 2 {
                            black_box(bucket.allow(&request(&key, &clock)).allowed);
                        }
                    })
                })
                .collect();
            barrier.wait();
            let start = Instant::now();
            workers.into_iter().for_each(|w| w.join().unwrap());
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, token_bucket);
criterion_main!(benches);
