//! A closed breaker's admission and success record, beside recloser and failsafe, and what
//! recording a call into a rate breaker's window costs, alone and with a second thread.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use std::sync::atomic::{AtomicBool, Ordering};

use recourse_engine::circuit::{Admission, Breaker, Sample, Window};
use recourse_engine::clock::Clock;
use recourse_engine::policy::CircuitWindow;

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
    // Recording one success into a breaker's window: the last 100 calls, or 30 seconds.
    let by_count = Window::new(CircuitWindow::Calls(100));
    let by_time = Window::new(CircuitWindow::Time(Duration::from_secs(30)));
    let ok = Sample::default();
    g.bench_function("recourse_window_record_count", |b| {
        b.iter(|| by_count.record(black_box(ok), || clock.now()))
    });
    g.bench_function("recourse_window_record_time", |b| {
        b.iter(|| by_time.record(black_box(ok), || clock.now()))
    });
    // The same, while a second thread records into the same window (both cores busy): what
    // sharing one window costs. One sample in ten fails, so the totals word changes too.
    g.bench_function("recourse_window_record_count_contended", |b| {
        contended(b, &by_count, &clock)
    });
    g.bench_function("recourse_window_record_time_contended", |b| {
        contended(b, &by_time, &clock)
    });
    g.bench_function("recloser_call", |b| {
        b.iter(|| black_box(recloser.call(|| Ok::<u64, ()>(black_box(1))).is_ok()))
    });
    g.bench_function("failsafe_call", |b| {
        b.iter(|| black_box(failsafe.call(|| Ok::<u64, ()>(black_box(1))).is_ok()))
    });
    g.finish();
}

/// Records successes into `window` while a second thread records into it too.
fn contended(b: &mut criterion::Bencher<'_>, window: &Window, clock: &Clock) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_add(1);
                let failed = i.is_multiple_of(10);
                window.record(
                    Sample {
                        failed,
                        slow: false,
                    },
                    || clock.now(),
                );
            }
        });
        b.iter(|| window.record(black_box(Sample::default()), || clock.now()));
        stop.store(true, Ordering::Relaxed);
    });
}

criterion_group!(benches, closed);
criterion_main!(benches);
