//! Hedging hot paths beside tower's hedge middleware and hdrhistogram, in the same groups:
//! a hedged call whose primary answers before the hedge delay; recording a latency sample;
//! reading a percentile. Every library awaits the same non-inlined operation (`common`).

#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{Op, ok, runtime};
use criterion::{Criterion, criterion_group, criterion_main};
use recourse_engine::clock::Timestamp;
use recourse_engine::hedge::LatencyTracker;
use recourse_engine::{Executor, Policy};
use tower::Service;

#[derive(Clone)]
struct CloneAll;
impl tower::hedge::Policy<u64> for CloneAll {
    fn clone_request(&self, req: &u64) -> Option<u64> {
        Some(*req)
    }
    fn can_retry(&self, _: &u64) -> bool {
        true
    }
}

fn hedged_call(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let exec = Executor::builder()
        .policy(
            "search.Query",
            Policy::builtin().hedging(1, Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let handle = exec.key("search.Query");
    let p99 = Executor::builder()
        .policy(
            "search.Query",
            Policy::builtin()
                .hedging(1, Duration::from_millis(50))
                .hedge_trigger("p99"),
        )
        .build()
        .unwrap()
        .key("search.Query");
    let svc = std::cell::RefCell::new(tower::hedge::Hedge::new_with_mock_latencies(
        tower::service_fn(|_: u64| Op::succeed()),
        CloneAll,
        10,
        0.99,
        Duration::from_secs(10),
        &[50; 100],
    ));
    let mut g = c.benchmark_group("hedged_call_primary_wins");
    g.bench_function("recourse_fixed_delay", |b| {
        b.to_async(&rt)
            .iter(|| async { handle.call(ok).await.unwrap() })
    });
    g.bench_function("recourse_p99", |b| {
        b.to_async(&rt)
            .iter(|| async { p99.call(ok).await.unwrap() })
    });
    g.bench_function("tower_hedge", |b| {
        b.to_async(&rt).iter(|| async {
            std::future::poll_fn(|cx| svc.borrow_mut().poll_ready(cx))
                .await
                .unwrap();
            let fut = svc.borrow_mut().call(1);
            fut.await.unwrap()
        })
    });
    g.finish();
}

fn tracker(c: &mut Criterion) {
    let t = LatencyTracker::new();
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
    let now = Timestamp::from_nanos(1_000_000_000_000);
    let mut g = c.benchmark_group("latency_record");
    let mut n = 0u64;
    g.bench_function("recourse_tracker", |b| {
        b.iter(|| {
            n = n.wrapping_add(7919);
            t.record(Duration::from_micros(black_box(n % 100_000)));
        })
    });
    g.bench_function("hdrhistogram", |b| {
        b.iter(|| {
            n = n.wrapping_add(7919);
            h.record(black_box(n % 100_000 + 1)).unwrap();
        })
    });
    g.finish();
    let mut g = c.benchmark_group("latency_percentile_read");
    g.bench_function("recourse_tracker_p99", |b| {
        b.iter(|| black_box(t.snapshot(now, 20).p99))
    });
    g.bench_function("hdrhistogram_p99", |b| {
        b.iter(|| black_box(h.value_at_quantile(0.99)))
    });
    g.finish();
}

criterion_group!(benches, hedged_call, tracker);
criterion_main!(benches);
