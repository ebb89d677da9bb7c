//! Basic execution, backoff and jitter.

use std::time::Duration;

use recourse_engine::classify::{Classifier, HttpStatusError, Input, Kind, RetryAfter, Verdict};
use recourse_engine::policy::Jitter;
use recourse_engine::{Error, Executor, Policy, Reason};

use crate::support::*;

#[test]
fn s017_trivial_success_with_empty_configuration() {
    let (exec, vc) = vexec(Executor::builder());
    let calls = Calls::default();
    let res = run(&vc, exec.call("", fails_then(&calls, 0, ())));
    assert!(res.is_ok());
    assert_eq!(calls.get(), 1);
}

#[test]
fn s018_single_attempt() {
    let (exec, vc) = with_policy(zero().max_attempts(1));
    let calls = Calls::default();
    let err = run(&vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 1);
    assert!(matches!(err, Error::Operation { error: E(0), .. }));
}

#[test]
fn s019_attempts_exhausted_returns_the_last_error() {
    let (exec, vc) = with_policy(zero().max_attempts(3));
    let calls = Calls::default();
    let err = run(&vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 3);
    assert_eq!(
        err.operation_error(),
        Some(&E(2)),
        "the last error, unchanged"
    );
    assert_eq!(err.reason_code(), Reason::RETRYABLE_ERROR);
}

#[test]
fn s020_stop_on_success() {
    let (exec, vc) = with_policy(zero().max_attempts(5));
    let calls = Calls::default();
    let v = run(&vc, exec.call("svc.op", fails_then(&calls, 2, 42))).unwrap();
    assert_eq!((v, calls.get()), (42, 3));
}

#[test]
fn s021_default_executor_uses_the_builtin_policy() {
    // (a) no configuration at all; (b) an unknown key gets the default 3 attempts.
    let (exec, vc) = vexec(Executor::builder());
    let calls = Calls::default();
    assert!(run(&vc, exec.call("a", fails_then(&calls, 0, ()))).is_ok());
    assert_eq!(calls.get(), 1);
    let calls = Calls::default();
    let err = run(&vc, exec.call("z", always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 3);
    assert!(matches!(err, Error::Operation { .. }));
}

#[derive(Debug)]
struct AlwaysRetry;
impl Classifier for AlwaysRetry {
    fn classify(&self, _: &Input<'_>) -> Verdict {
        Verdict::new(Kind::Retryable, Reason::default())
    }
}

#[test]
fn s022_value_on_failure_is_the_same_with_or_without_an_observer() {
    // One path; the error carries no value either way.
    for observed in [false, true] {
        let mut b = Executor::builder()
            .policy("svc.op", zero().max_attempts(2).classifier("retry"))
            .classifier("retry", AlwaysRetry);
        let rec = Recording::default();
        if observed {
            b = b.observer(rec.clone());
        }
        let (exec, vc) = vexec(b);
        let calls = Calls::default();
        let err = run(&vc, exec.call("svc.op", fails_then(&calls, 0, 7))).unwrap_err();
        assert_eq!(calls.get(), 2);
        assert!(
            matches!(&err, Error::Rejected { reason } if *reason == Reason::RETRYABLE_ERROR),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "recourse: retryable_error");
    }
}

#[test]
fn s023_exact_exponential_sequence() {
    let (exec, vc) = with_policy(
        zero()
            .max_attempts(3)
            .backoff(ms(10), ms(250), 2.0)
            .jitter(Jitter::None),
    );
    let calls = Calls::default();
    let (_, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 3);
    assert_eq!(tl.backoffs(), [ms(10), ms(20)]);
    assert_eq!(
        tl.duration(),
        ms(30),
        "the sleeps happened on the virtual clock"
    );
}

#[test]
fn s024_cap_and_constant_backoff() {
    let (exec, vc) = with_policy(Policy::builtin().max_attempts(8));
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", always_fails(&Calls::default())),
    );
    assert_eq!(tl.backoffs(), [10, 20, 40, 80, 160, 250, 250].map(ms));
    let (exec, vc) = with_policy(zero().max_attempts(4).constant_backoff(ms(50)));
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", always_fails(&Calls::default())),
    );
    assert_eq!(tl.backoffs(), [ms(50); 3]);
}

#[test]
fn s025_jitter_bounds() {
    for seed_run in 0..50u64 {
        for jitter in [Jitter::Full, Jitter::Equal] {
            let vc = recourse_engine::clock::VirtualClock::new();
            let exec = Executor::builder()
                .policy(
                    "svc.op",
                    zero()
                        .max_attempts(3)
                        .backoff(ms(10), ms(250), 2.0)
                        .jitter(jitter),
                )
                .clock(vc.clock())
                .seed(seed_run)
                .build()
                .unwrap();
            let (_, tl) = run(
                &vc,
                exec.call_traced("svc.op", always_fails(&Calls::default())),
            );
            let b = tl.backoffs();
            assert_eq!(b.len(), 2);
            let (lo0, lo1) = if jitter == Jitter::Full {
                (ms(0), ms(0))
            } else {
                (ms(5), ms(10))
            };
            assert!(b[0] >= lo0 && b[0] <= ms(10), "{jitter:?} {b:?}");
            assert!(b[1] >= lo1 && b[1] <= ms(20), "{jitter:?} {b:?}");
        }
    }
}

#[test]
fn decorrelated_jitter_draws_each_wait_from_the_one_before() {
    let policy = zero()
        .max_attempts(8)
        .backoff(ms(100), ms(1000), 2.0)
        .jitter(Jitter::Decorrelated);
    let mut seen_cap = false;
    for seed in 0..50u64 {
        let waits = || {
            let (exec, vc) = seeded(Executor::builder().policy("svc.op", policy.clone()), seed);
            let calls = Calls::default();
            run(&vc, exec.call_traced("svc.op", always_fails(&calls)))
                .1
                .backoffs()
        };
        let (waits, again) = (waits(), waits());
        assert_eq!(waits.len(), 7);
        let mut previous = ms(100);
        for w in &waits {
            // In [initial, 3 × the previous wait), capped at max_backoff; the multiplier (2)
            // plays no part.
            assert!(
                *w >= ms(100) && *w < previous * 3 && *w <= ms(1000),
                "{waits:?}"
            );
            previous = *w;
        }
        seen_cap |= waits.contains(&ms(1000));
        assert_eq!(again, waits, "the same seed, the same waits");
    }
    assert!(seen_cap, "some run reaches max_backoff");
}

#[test]
fn decorrelated_jitter_keeps_its_base_across_a_server_wait() {
    // A 429 asking for 5s, then plain failures: the server's wait is used as it is, and the
    // next computed wait is drawn from [100ms, 300ms), as if the server had not spoken.
    for seed in 0..20u64 {
        let (exec, vc) = seeded(
            Executor::builder().policy(
                "svc.op",
                zero()
                    .max_attempts(3)
                    .backoff(ms(100), ms(10_000), 2.0)
                    .jitter(Jitter::Decorrelated)
                    .classifier("http"),
            ),
            seed,
        );
        let calls = Calls::default();
        let c = calls.clone();
        let (_, tl) = run(
            &vc,
            exec.call_traced("svc.op", move |_| {
                let n = c.hit();
                async move {
                    Err::<(), _>(if n == 0 {
                        http_429(Duration::from_secs(5))
                    } else {
                        HttpStatusError::new(503, "GET")
                    })
                }
            }),
        );
        let waits = tl.backoffs();
        assert_eq!(waits[0], Duration::from_secs(5));
        assert!(waits[1] >= ms(100) && waits[1] < ms(300), "{waits:?}");
    }
}

fn http_429(retry_after: Duration) -> HttpStatusError {
    HttpStatusError::new(429, "GET").with_retry_after(Some(RetryAfter::Delay(retry_after)))
}

#[test]
fn s026_retry_after_overrides_jitter() {
    let (exec, vc) = with_policy(
        zero()
            .max_attempts(2)
            .jitter(Jitter::Full)
            .classifier("http"),
    );
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", |_| async { Err::<(), _>(http_429(ms(200))) }),
    );
    assert_eq!(tl.backoffs(), [ms(200)]);
    assert_eq!(tl.attempts[0].attributes["retry_after"], "200ms");
}

#[test]
fn s027_override_capped_by_max_retry_after() {
    // Capped by retry.max_retry_after (default 30s), not by max_backoff (250ms).
    let (exec, vc) = with_policy(zero().max_attempts(2).classifier("http"));
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", |_| async {
            Err::<(), _>(http_429(Duration::from_secs(60)))
        }),
    );
    assert_eq!(tl.backoffs(), [Duration::from_secs(30)]);
    let mut p = zero().max_attempts(2).classifier("http");
    p.retry.max_retry_after = Some(Duration::from_secs(5));
    let (exec, vc) = with_policy(p);
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", |_| async {
            Err::<(), _>(http_429(Duration::from_secs(60)))
        }),
    );
    assert_eq!(tl.backoffs(), [Duration::from_secs(5)]);
}

#[test]
fn a_server_wait_past_the_deadline_stops_the_call_even_when_the_cap_would_fit() {
    // The server asks for 60s; the cap (30s) would fit before the 40s deadline, but the
    // server said it will not be ready by then: the call stops at once, without a retry.
    let (exec, vc) = with_policy(
        zero()
            .max_attempts(3)
            .overall_timeout(Duration::from_secs(40))
            .classifier("http"),
    );
    let calls = Calls::default();
    let (result, tl) = run(
        &vc,
        exec.call_traced("svc.op", |_| {
            calls.hit();
            async { Err::<(), _>(http_429(Duration::from_secs(60))) }
        }),
    );
    assert_eq!(calls.get(), 1);
    assert_eq!(
        result.unwrap_err().reason_code(),
        Reason::RETRY_AFTER_EXCEEDS_DEADLINE
    );
    assert_eq!(tl.attempts.len(), 1);
    // A wait that ends before the deadline is kept.
    let (exec, vc) = with_policy(
        zero()
            .max_attempts(2)
            .overall_timeout(Duration::from_secs(40))
            .classifier("http"),
    );
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", |_| async {
            Err::<(), _>(http_429(Duration::from_secs(20)))
        }),
    );
    assert_eq!(tl.backoffs(), [Duration::from_secs(20)]);
}

#[test]
fn s028_backoff_advances_under_override() {
    let (exec, vc) = with_policy(zero().max_attempts(3).classifier("http"));
    let calls = Calls::default();
    let c = calls.clone();
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", move |_| {
            let n = c.hit();
            async move {
                Err::<(), _>(if n == 0 {
                    http_429(ms(100))
                } else {
                    HttpStatusError::new(500, "GET")
                })
            }
        }),
    );
    assert_eq!(tl.backoffs(), [ms(100), ms(20)]);
    let record_backoffs: Vec<_> = tl.attempts.iter().map(|a| a.backoff).collect();
    assert_eq!(record_backoffs, [ms(0), ms(100), ms(20)]);
}

#[derive(Debug)]
struct AlwaysAbort;
impl Classifier for AlwaysAbort {
    fn classify(&self, _: &Input<'_>) -> Verdict {
        Verdict::new(Kind::Abort, Reason::default())
    }
}

#[test]
fn s029_abort_does_not_sleep() {
    let (exec, vc) = vexec(
        Executor::builder()
            .policy(
                "svc.op",
                zero()
                    .max_attempts(3)
                    .backoff(ms(10), ms(250), 2.0)
                    .classifier("abort"),
            )
            .classifier("abort", AlwaysAbort),
    );
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 1);
    assert_eq!(res.unwrap_err().reason_code(), Reason::ABORT);
    assert!(tl.backoffs().is_empty());
    assert_eq!(tl.duration(), Duration::ZERO);
}

/// A request that cannot be replayed runs once, without hedges, and says so in its timeline.
#[test]
fn a_single_attempt_call_never_retries_or_hedges() {
    let (exec, vc) = with_policy(zero().max_attempts(5).hedging(2, ms(1)));
    let calls = Calls::default();
    let options = recourse_engine::CallOptions::default()
        .single_attempt()
        .traced();
    let (r, tl) = run(
        &vc,
        exec.call_with("svc.op", &options, always_fails(&calls)),
    );
    assert!(r.is_err());
    assert_eq!(calls.get(), 1);
    let tl = tl.unwrap();
    assert_eq!(tl.attempts.len(), 1);
    assert_eq!(tl.attribute("replayable"), Some("false"));
}
