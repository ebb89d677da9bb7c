//! A closed breaker's admission and success record, beside recloser and failsafe.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use recourse_engine::circuit::{Admission, Breaker};
use recourse_engine::clock::Clock;

fn closed(c: &mut Criterion) {
    let breaker = Breaker::new();
    let clock = Clock::tokio();
    let recloser = recloser::Recloser::default();
    let failsafe = failsafe::Config::new().build();
    let mut g = c.benchmark_group("circuit_closed_check");
    g.bench_function("recourse_admit_and_record", |b| {
        b.iter(|| {
            let (a, _) = breaker.admit(|| clock.now(), Duration::from_secs(10));
            if let Admission::Closed = a {
                breaker.record_success();
            }
            black_box(a);
        })
    });
    g.bench_function("recloser_call", |b| {
        b.iter(|| black_box(recloser.call(|| Ok::<u64, ()>(black_box(1))).is_ok()))
    });
    g.bench_function("failsafe_call", |b| {
        b.iter(|| black_box(failsafe.call(|| Ok::<u64, ()>(black_box(1))).is_ok()))
    });
    g.finish();
}

criterion_group!(benches, closed);
criterion_main!(benches);
