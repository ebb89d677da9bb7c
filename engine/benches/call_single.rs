//! Call-path benchmarks beside their peers (tower, backon, failsafe), in the same criterion
//! groups so every run prints the ratios on the same machine at the same moment. Everything
//! runs inside one current-thread tokio runtime (`to_async`), and every library awaits the
//! same non-inlined operation (`common`).

#![allow(missing_docs)]

mod common;

use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ConstantBuilder, Retryable};
use common::{Attempts, Op, RetryNow, fail, ok, runtime};
use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::futures::CircuitBreaker as _;
use recourse_engine::budget::TokenBucket;
use recourse_engine::classify::{Attempted, Classifier, Input, Kind};
use recourse_engine::clock::Clock;
use recourse_engine::policy::CircuitWindow;
use recourse_engine::{
    AttemptInfo, AttemptRecord, CallEnd, Detail, Executor, Key, Observer, Policy, Timeline, key,
};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::{Service, ServiceBuilder, ServiceExt};

/// tower's retry policy with a retry budget, as a production tower stack has it: a success
/// deposits, a retry withdraws, up to `left` retries.
#[derive(Clone)]
struct Budgeted {
    left: usize,
    budget: Arc<TpsBudget>,
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Budgeted {
    type Future = Ready<()>;
    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                self.budget.deposit();
                None
            }
            Err(_) if self.left > 0 && self.budget.withdraw() => {
                self.left -= 1;
                Some(ready(()))
            }
            Err(_) => None,
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Counts the start, the attempts and the end of every call: told every event, but no
/// timeline.
#[derive(Debug, Default)]
struct Counter(AtomicU64);
impl Observer for Counter {
    fn detail(&self) -> Detail {
        Detail::Events
    }
    fn on_start(&self, _: &Key, _: &Policy) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn on_attempt(&self, _: &Key, _: &AttemptRecord) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn on_end(&self, _: &Key, _: &CallEnd) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A call an observer sees, written by hand: two clock reads and the three hooks, each
/// handed the record it is given (`end` is a real call's, as only the engine makes one), around
/// the operation. Nothing else: no policy, classification or tally.
async fn observed_by_hand(
    observer: &dyn Observer,
    clock: &Clock,
    key: &Key,
    policy: &Policy,
    end: &CallEnd,
) -> u64 {
    let (observer, clock) = (black_box(observer), black_box(clock));
    let start = clock.now();
    observer.on_start(key, policy);
    let value = ok(AttemptInfo::default()).await.unwrap();
    let stop = clock.now();
    let mut record = AttemptRecord::default();
    (record.start, record.end, record.outcome) = (start, stop, Kind::Success);
    observer.on_attempt(key, &record);
    let mut end = end.clone();
    end.times = end.times.map(|mut times| {
        (times.start, times.end) = (start, stop);
        times
    });
    observer.on_end(key, &end);
    value
}

/// Counts calls, told how each ended and nothing more (as a metrics counter would be).
#[derive(Debug, Default)]
struct Calls(AtomicU64);
impl Observer for Calls {
    fn detail(&self) -> Detail {
        Detail::Counts
    }
    fn on_end(&self, _: &Key, _: &CallEnd) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A call an observer told counts only sees, written by hand: the operation, then the end
/// hook handed the end of a first-try success (`end`, a real call's). Nothing else.
async fn counted_by_hand(observer: &dyn Observer, key: &Key, end: &CallEnd) -> u64 {
    let observer = black_box(observer);
    let value = ok(AttemptInfo::default()).await.unwrap();
    observer.on_end(key, &end.clone());
    value
}

/// Keeps the last call's end.
#[derive(Debug)]
struct LastEnd(std::sync::Mutex<Option<CallEnd>>, Detail);
impl Observer for LastEnd {
    fn detail(&self) -> Detail {
        self.1
    }
    fn on_end(&self, _: &Key, end: &CallEnd) {
        *self.0.lock().unwrap() = Some(end.clone());
    }
}

/// The end of a first-try success as an observer at `detail` is told it. A `CallEnd` is only
/// made by the engine: the hand-written floors reuse one from a real call.
fn end_of_a_call(rt: &tokio::runtime::Runtime, detail: Detail) -> CallEnd {
    let seen = Arc::new(LastEnd(Default::default(), detail));
    let exec = Executor::builder()
        .policy("payments.Charge", Policy::builtin())
        .observer_arc(seen.clone())
        .build()
        .unwrap();
    rt.block_on(exec.key("payments.Charge").call(ok)).unwrap();
    seen.0.lock().unwrap().clone().expect("the call ended")
}

/// Counts every call it is handed the timeline of.
#[derive(Debug, Default)]
struct TimelineCounter(AtomicU64);
impl Observer for TimelineCounter {
    fn on_success(&self, _: &Key, t: &Timeline) {
        self.0.fetch_add(t.attempts.len() as u64, Ordering::Relaxed);
    }
}

fn single_success(c: &mut Criterion) {
    let rt = runtime();
    let exec = Executor::builder()
        .policy("payments.Charge", Policy::builtin())
        .build()
        .unwrap();
    let handle = exec.key("payments.Charge");
    let svc = tower::retry::Retry::new(Attempts(2), tower::service_fn(|_: u64| Op::succeed()));
    let mut g = c.benchmark_group("single_success");
    g.bench_function("plain_await", |b| {
        b.to_async(&rt)
            .iter(|| async { ok(AttemptInfo::default()).await.unwrap() })
    });
    g.bench_function("recourse_handle", |b| {
        b.to_async(&rt)
            .iter(|| async { handle.call(ok).await.unwrap() })
    });
    g.bench_function("recourse_string_key", |b| {
        b.to_async(&rt)
            .iter(|| async { exec.call("payments.Charge", ok).await.unwrap() })
    });
    g.bench_function("recourse_key_macro", |b| {
        b.to_async(&rt)
            .iter(|| async { exec.call(key!("payments.Charge"), ok).await.unwrap() })
    });
    g.bench_function("tower_retry", |b| {
        b.to_async(&rt).iter(|| async {
            let mut s = svc.clone();
            s.ready().await.unwrap().call(1).await.unwrap()
        })
    });
    g.bench_function("backon", |b| {
        b.to_async(&rt).iter(|| async {
            Op::succeed
                .retry(
                    ConstantBuilder::default()
                        .with_delay(Duration::ZERO)
                        .with_max_times(2),
                )
                .sleep(|_| async {})
                .await
                .unwrap()
        })
    });
    production_shape(&mut g, &rt);
    g.finish();
}

/// The call most users meet: three attempts, a per-attempt and an overall timeout, and a
/// token-bucket retry budget, beside the tower stack that does the same (an outer timeout,
/// retry with a retry budget, an inner timeout). A first success never takes the bare path.
fn production_shape(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
) {
    let handle = Executor::builder()
        .policy(
            "payments.Charge",
            Policy::builtin()
                .timeout_per_attempt(Duration::from_secs(1))
                .overall_timeout(Duration::from_secs(3))
                .budget("retries"),
        )
        .budget("retries", TokenBucket::new(100, 10.0))
        .build()
        .unwrap()
        .key("payments.Charge");
    let stack = {
        let _runtime = rt.enter();
        ServiceBuilder::new()
            .timeout(Duration::from_secs(3))
            .retry(Budgeted {
                left: 2,
                budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.1)),
            })
            .timeout(Duration::from_secs(1))
            .service_fn(|_: u64| Op::succeed())
    };
    g.bench_function("recourse_handle_timeouts_budget", |b| {
        b.to_async(rt)
            .iter(|| async { handle.call(ok).await.unwrap() })
    });
    g.bench_function("tower_timeouts_budget", |b| {
        b.to_async(rt).iter(|| async {
            let mut s = stack.clone();
            s.ready().await.unwrap().call(1).await.unwrap()
        })
    });
}

fn three_attempts_fail(c: &mut Criterion) {
    let rt = runtime();
    let exec = Executor::builder()
        .policy("payments.Charge", Policy::builtin().classifier("now"))
        .classifier("now", RetryNow)
        .build()
        .unwrap();
    let handle = exec.key("payments.Charge");
    // The same with timeouts around the attempts: the call loop makes them, as it does for
    // the failures of a production-shaped call.
    let timed = Executor::builder()
        .policy(
            "payments.Charge",
            Policy::builtin()
                .classifier("now")
                .timeout_per_attempt(Duration::from_secs(1))
                .overall_timeout(Duration::from_secs(3)),
        )
        .classifier("now", RetryNow)
        .build()
        .unwrap()
        .key("payments.Charge");
    let svc = tower::retry::Retry::new(Attempts(2), tower::service_fn(|_: u64| Op::reset()));
    let mut g = c.benchmark_group("three_attempts_fail");
    g.bench_function("hand_loop", |b| {
        b.to_async(&rt).iter(|| async {
            let mut last = None;
            for _ in 0..3 {
                match fail(AttemptInfo::default()).await {
                    Ok(v) => return Ok(v),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap())
        })
    });
    // The floor of a classified retry: the hand loop above, each error classified through
    // the public `Classifier` trait (a `dyn` call returning a `Verdict`), and nothing else.
    let classifier: &dyn Classifier = &RetryNow;
    let clock = Clock::tokio();
    g.bench_function("hand_loop_classified", |b| {
        b.to_async(&rt).iter(|| async {
            let mut last = None;
            for _ in 0..3 {
                match fail(AttemptInfo::default()).await {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        let input = Input::new(Attempted::Error(&e), "io::Error", &clock);
                        let verdict = black_box(classifier).classify(&input);
                        if verdict.kind != Kind::Retryable {
                            return Err(e);
                        }
                        last = Some(e);
                    }
                }
            }
            Err(last.unwrap())
        })
    });
    g.bench_function("recourse_handle", |b| {
        b.to_async(&rt)
            .iter(|| async { handle.call(fail).await.unwrap_err() })
    });
    g.bench_function("recourse_string_key", |b| {
        b.to_async(&rt)
            .iter(|| async { exec.call("payments.Charge", fail).await.unwrap_err() })
    });
    g.bench_function("recourse_handle_timeouts", |b| {
        b.to_async(&rt)
            .iter(|| async { timed.call(fail).await.unwrap_err() })
    });
    g.bench_function("tower_retry", |b| {
        b.to_async(&rt).iter(|| async {
            let mut s = svc.clone();
            s.ready().await.unwrap().call(1).await.unwrap_err()
        })
    });
    g.bench_function("backon", |b| {
        b.to_async(&rt).iter(|| async {
            Op::reset
                .retry(
                    ConstantBuilder::default()
                        .with_delay(Duration::ZERO)
                        .with_max_times(2),
                )
                .sleep(|_| async {})
                .await
                .unwrap_err()
        })
    });
    g.finish();
}

fn instrumented(c: &mut Criterion) {
    let rt = runtime();
    let plain = Executor::builder()
        .policy("payments.Charge", Policy::builtin())
        .build()
        .unwrap();
    let observed = Executor::builder()
        .policy("payments.Charge", Policy::builtin())
        .observer(Counter::default())
        .build()
        .unwrap();
    let counted = Executor::builder()
        .policy("payments.Charge", Policy::builtin())
        .observer(Calls::default())
        .build()
        .unwrap();
    let reader = Executor::builder()
        .policy("payments.Charge", Policy::builtin())
        .observer(TimelineCounter::default())
        .build()
        .unwrap();
    let (plain, observed, counted, reader) = (
        plain.key("payments.Charge"),
        observed.key("payments.Charge"),
        counted.key("payments.Charge"),
        reader.key("payments.Charge"),
    );
    let mut g = c.benchmark_group("single_success_instrumented");
    g.bench_function("recourse_timeline", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(plain.call_traced(ok).await.1.attempts.len()) })
    });
    // The same on the cheap-to-read TSC clock (the engine's `tsc` feature): a timeline's
    // two clock reads are most of what it costs.
    #[cfg(feature = "tsc")]
    {
        let tsc = Executor::builder()
            .policy("payments.Charge", Policy::builtin())
            .clock(Clock::tsc())
            .build()
            .unwrap()
            .key("payments.Charge");
        g.bench_function("recourse_timeline_tsc", |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(tsc.call_traced(ok).await.1.attempts.len()) })
        });
        let observed_tsc = Executor::builder()
            .policy("payments.Charge", Policy::builtin())
            .observer(Counter::default())
            .clock(Clock::tsc())
            .build()
            .unwrap()
            .key("payments.Charge");
        g.bench_function("recourse_events_observer_tsc", |b| {
            b.to_async(&rt)
                .iter(|| async { observed_tsc.call(ok).await.unwrap() })
        });
    }
    // The floor of a call an observer sees: what the hooks' contract alone costs, written by
    // hand around the same operation (`observed_by_hand`).
    let counter: Arc<dyn Observer> = Arc::new(Counter::default());
    let (key, policy) = (Key::parse("payments.Charge"), Policy::builtin());
    let end = end_of_a_call(&rt, Detail::Events);
    let tokio_clock = Clock::tokio();
    g.bench_function("hand_observed", |b| {
        b.to_async(&rt)
            .iter(|| observed_by_hand(&*counter, &tokio_clock, &key, &policy, &end))
    });
    #[cfg(feature = "tsc")]
    {
        let tsc = Clock::tsc();
        g.bench_function("hand_observed_tsc", |b| {
            b.to_async(&rt)
                .iter(|| observed_by_hand(&*counter, &tsc, &key, &policy, &end))
        });
    }
    g.bench_function("recourse_events_observer", |b| {
        b.to_async(&rt)
            .iter(|| async { observed.call(ok).await.unwrap() })
    });
    // An observer told counts only, and its floor: the end hook alone, by hand.
    let calls: Arc<dyn Observer> = Arc::new(Calls::default());
    let first_try = end_of_a_call(&rt, Detail::Counts);
    g.bench_function("hand_counted", |b| {
        b.to_async(&rt)
            .iter(|| counted_by_hand(&*calls, &key, &first_try))
    });
    g.bench_function("recourse_counting_observer", |b| {
        b.to_async(&rt)
            .iter(|| async { counted.call(ok).await.unwrap() })
    });
    g.bench_function("recourse_timeline_observer", |b| {
        b.to_async(&rt)
            .iter(|| async { reader.call(ok).await.unwrap() })
    });
    g.finish();
}

/// A whole call through a closed breaker, beside failsafe's breaker around the same
/// operation.
fn breaker_closed(c: &mut Criterion) {
    let rt = runtime();
    let handle = Executor::builder()
        .policy(
            "payments.Charge",
            Policy::builtin().circuit(5, Duration::from_secs(10)),
        )
        .build()
        .unwrap()
        .key("payments.Charge");
    // The same breaker opening on a failure rate over the last 100 calls, and over the last
    // 30 seconds (a clock read per call to place it in its bucket).
    let rated = |window, clock| {
        Executor::builder()
            .clock(clock)
            .policy(
                "payments.Charge",
                Policy::builtin().failure_rate_circuit(0.5, window, 20, Duration::from_secs(10)),
            )
            .build()
            .unwrap()
            .key("payments.Charge")
    };
    let by_count = rated(CircuitWindow::Calls(100), Clock::tokio());
    let by_time = rated(CircuitWindow::Time(Duration::from_secs(30)), Clock::tokio());
    let breaker = failsafe::Config::new().build();
    // The first breaker's call seen by an observer that counts calls (told counts only), then
    // by one told every event: the call runs in the loop, which reads the clock only for the
    // second.
    let seen = |observer: Arc<dyn Observer>| {
        Executor::builder()
            .policy(
                "payments.Charge",
                Policy::builtin().circuit(5, Duration::from_secs(10)),
            )
            .observer_arc(observer)
            .build()
            .unwrap()
            .key("payments.Charge")
    };
    let counted = seen(Arc::new(Calls::default()));
    let observed = seen(Arc::new(Counter::default()));
    let mut g = c.benchmark_group("breaker_closed_call");
    g.bench_function("recourse_handle", |b| {
        b.to_async(&rt)
            .iter(|| async { handle.call(ok).await.unwrap() })
    });
    g.bench_function("recourse_counting_observer", |b| {
        b.to_async(&rt)
            .iter(|| async { counted.call(ok).await.unwrap() })
    });
    g.bench_function("recourse_events_observer", |b| {
        b.to_async(&rt)
            .iter(|| async { observed.call(ok).await.unwrap() })
    });
    g.bench_function("recourse_handle_failure_rate", |b| {
        b.to_async(&rt)
            .iter(|| async { by_count.call(ok).await.unwrap() })
    });
    g.bench_function("recourse_handle_failure_rate_time", |b| {
        b.to_async(&rt)
            .iter(|| async { by_time.call(ok).await.unwrap() })
    });
    // A time window on the cheap-to-read TSC clock (the engine's `tsc` feature).
    #[cfg(feature = "tsc")]
    {
        let by_time_tsc = rated(CircuitWindow::Time(Duration::from_secs(30)), Clock::tsc());
        g.bench_function("recourse_handle_failure_rate_time_tsc", |b| {
            b.to_async(&rt)
                .iter(|| async { by_time_tsc.call(ok).await.unwrap() })
        });
    }
    g.bench_function("failsafe", |b| {
        b.to_async(&rt)
            .iter(|| async { breaker.call(Op::succeed()).await.unwrap() })
    });
    g.finish();
}

/// Calls by key string to keys that have a state of their own, and to keys past `max_keys`
/// (which share the overflow slots), under a policy set as a file provider serves it.
fn past_max_keys(c: &mut Criterion) {
    let rt = runtime();
    let set = recourse_engine::PolicySet::from_str(
        r#"{"version": 1, "policies": {"svc.*": {"retry": {"max_attempts": 3}}}}"#,
        "p.json",
    )
    .unwrap();
    let exec = Executor::builder()
        .policy_set(set)
        .max_keys(64)
        .build()
        .unwrap();
    let keys = |prefix: &str| {
        (0..16)
            .map(|i| format!("svc.{prefix}{i}"))
            .collect::<Vec<_>>()
    };
    let (under, past) = (keys("k"), keys("o"));
    rt.block_on(async {
        for key in &under {
            exec.call(key, ok).await.unwrap();
        }
        for i in 0..64 {
            exec.call(&format!("svc.fill{i}"), ok).await.unwrap();
        }
    });
    // Round robin over 16 keys each.
    let next = std::cell::Cell::new(0usize);
    let pick = |keys: &'static [String]| {
        let i = next.get();
        next.set(i + 1);
        keys[i % keys.len()].as_str()
    };
    let (under, past): (&'static [String], &'static [String]) = (under.leak(), past.leak());
    let exec = &exec;
    let mut g = c.benchmark_group("max_keys");
    g.bench_function("under", |b| {
        b.to_async(&rt).iter(|| {
            let key = pick(under);
            async move { exec.call(key, ok).await.unwrap() }
        })
    });
    g.bench_function("past", |b| {
        b.to_async(&rt).iter(|| {
            let key = pick(past);
            async move { exec.call(key, ok).await.unwrap() }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    single_success,
    three_attempts_fail,
    instrumented,
    breaker_closed,
    past_max_keys
);
criterion_main!(benches);
