//! The bulkhead: a cap on a key's attempts in flight, on virtual time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use proptest::prelude::*;
use recourse_engine::clock::Clock;
use recourse_engine::{AttemptInfo, Error, Executor, Policy, Reason};

use crate::support::*;

/// Counts the operation's invocations in flight and the most ever at once.
#[derive(Debug, Default)]
struct Gauge {
    now: AtomicU32,
    peak: AtomicU32,
}

/// Decrements the gauge when the attempt ends, dropped or not.
struct Held(Arc<Gauge>);
impl Drop for Held {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An operation that takes `latency` and then fails the first `fails` of its attempts
/// within each call (hedges fail or succeed with the primary of their group).
fn gauged(
    clock: &Clock,
    gauge: &Arc<Gauge>,
    latency: Duration,
    fails: u32,
) -> impl FnMut(AttemptInfo) -> std::pin::Pin<Box<dyn Future<Output = Result<u32, E>>>> + use<> {
    let (clock, gauge) = (clock.clone(), gauge.clone());
    move |info| {
        let n = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.peak.fetch_max(n, Ordering::SeqCst);
        let held = Held(gauge.clone());
        let clock = clock.clone();
        Box::pin(async move {
            clock.sleep(latency).await;
            drop(held);
            if info.attempt < fails {
                Err(E(info.attempt))
            } else {
                Ok(info.attempt)
            }
        })
    }
}

fn is_full<T: std::fmt::Debug>(r: &Result<T, Error<E>>) -> bool {
    matches!(r, Err(Error::BudgetDenied { budget, reason, .. })
        if &**budget == "bulkhead" && *reason == Reason::BULKHEAD_FULL)
}

#[test]
fn the_51st_attempt_in_flight_is_refused_and_admitted_once_one_finishes() {
    let (exec, vc) = with_policy(zero().max_attempts(1).bulkhead(50));
    let gauge = Arc::new(Gauge::default());
    let clock = exec.clock().clone();
    let results = run(&vc, async {
        let slow = (0..50).map(|_| exec.call("svc.op", gauged(&clock, &gauge, ms(100), 0)));
        let all = join_all(slow);
        let late = async {
            // Every slot is taken: the 51st fails at once, without running.
            clock.sleep(ms(10)).await;
            let refused = exec.call("svc.op", gauged(&clock, &gauge, ms(1), 0)).await;
            let refused_at = clock.now();
            // Once the first 50 are done, a slot is free again.
            clock.sleep(ms(100)).await;
            let admitted = exec.call("svc.op", gauged(&clock, &gauge, ms(1), 0)).await;
            (refused, refused_at, admitted)
        };
        futures_util::future::join(all, late).await
    });
    let (slow, (refused, refused_at, admitted)) = results;
    assert!(slow.iter().all(Result::is_ok));
    assert!(is_full(&refused), "{refused:?}");
    assert_eq!(
        refused_at.since(recourse_engine::clock::VIRTUAL_EPOCH),
        ms(10),
        "at once"
    );
    assert_eq!(admitted.unwrap(), 0);
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 50);
    assert_eq!(gauge.now.load(Ordering::SeqCst), 0);
}

#[test]
fn a_retry_over_the_cap_is_refused_like_a_budget_denial_with_the_last_error() {
    let (exec, vc) = with_policy(
        zero()
            .max_attempts(3)
            .backoff(ms(10), ms(10), 1.0)
            .bulkhead(1),
    );
    let gauge = Arc::new(Gauge::default());
    let clock = exec.clock().clone();
    let (failing, holder) = run(&vc, async {
        // A call that fails its first attempt at 5ms and wants to retry at 15ms, while
        // another call holds the only slot from 6ms to 105ms.
        let failing = exec.call_traced("svc.op", gauged(&clock, &gauge, ms(5), 9));
        let holder = async {
            clock.sleep(ms(6)).await;
            exec.call("svc.op", gauged(&clock, &gauge, ms(99), 0)).await
        };
        futures_util::future::join(failing, holder).await
    });
    assert_eq!(holder.unwrap(), 0);
    let (result, timeline) = failing;
    match result {
        Err(Error::BudgetDenied {
            budget,
            reason,
            last,
        }) => {
            assert_eq!((&*budget, reason), ("bulkhead", Reason::BULKHEAD_FULL));
            assert_eq!(last, Some(E(0)), "the previous attempt's error");
        }
        other => panic!("{other:?}"),
    }
    let refused = timeline.attempts.last().unwrap();
    assert!(!refused.budget_allowed);
    assert_eq!(refused.attributes.get("budget"), Some("bulkhead"));
    assert_eq!(refused.reason, Reason::BULKHEAD_FULL);
}

#[test]
fn a_hedge_over_the_cap_is_skipped_and_the_group_goes_on() {
    let (exec, vc) = with_policy(zero().max_attempts(1).hedging(2, ms(10)).bulkhead(2));
    let gauge = Arc::new(Gauge::default());
    let clock = exec.clock().clone();
    let (result, timeline) = run(
        &vc,
        exec.call_traced("svc.op", gauged(&clock, &gauge, ms(50), 0)),
    );
    assert_eq!(result.unwrap(), 0);
    // The primary and one hedge ran; the second hedge found no slot and was recorded.
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 2);
    let refused: Vec<_> = timeline
        .attempts
        .iter()
        .filter(|a| a.reason == Reason::BULKHEAD_FULL)
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(refused[0].is_hedge && !refused[0].budget_allowed);
}

#[test]
fn a_bulkhead_spends_no_budget_on_an_attempt_it_refuses() {
    let (exec, vc) = vexec(
        Executor::builder()
            .policy(
                "svc.op",
                zero()
                    .max_attempts(1)
                    .bulkhead(1)
                    .budget("b")
                    .gate_first_attempt(),
            )
            .budget("b", recourse_engine::budget::TokenBucket::new(5, 0.0)),
    );
    let gauge = Arc::new(Gauge::default());
    let clock = exec.clock().clone();
    run(&vc, async {
        let calls = (0..4).map(|_| exec.call("svc.op", gauged(&clock, &gauge, ms(10), 0)));
        let results = join_all(calls).await;
        assert_eq!(results.iter().filter(|r| is_full(r)).count(), 3);
    });
    assert_eq!(
        exec.budget_level("b"),
        Some(4.0),
        "one token, for the one admitted"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Concurrent calls with random latencies, failures, retries and hedges: the operation
    /// never has more attempts in flight than the bulkhead allows, and every slot is given
    /// back.
    #[test]
    fn never_more_attempts_in_flight_than_the_cap(
        cap in 1u32..5,
        hedges in 0u32..3,
        calls in proptest::collection::vec((1u64..40, 0u32..3, 0u64..30), 1..24),
    ) {
        let mut policy = zero().max_attempts(3).backoff(ms(1), ms(5), 2.0).bulkhead(cap);
        if hedges > 0 {
            policy = policy.hedging(hedges, ms(3));
        }
        let (exec, vc) = with_policy(policy);
        let gauge = Arc::new(Gauge::default());
        let clock = exec.clock().clone();
        run(&vc, async {
            let all = calls.iter().map(|&(latency, fails, delay)| {
                let (exec, clock, gauge) = (&exec, clock.clone(), gauge.clone());
                async move {
                    clock.sleep(ms(delay)).await;
                    let _ = exec.call("svc.op", gauged(&clock, &gauge, ms(latency), fails)).await;
                }
            });
            join_all(all).await;
        });
        prop_assert!(gauge.peak.load(Ordering::SeqCst) <= cap);
        prop_assert_eq!(gauge.now.load(Ordering::SeqCst), 0);
        // Every slot came back: a lone call runs.
        let gauge2 = Arc::new(Gauge::default());
        let lone = run(&vc, exec.call("svc.op", gauged(&clock, &gauge2, ms(1), 0)));
        prop_assert!(lone.is_ok());
    }
}

/// The policy builder, for the test above.
trait GateFirst {
    fn gate_first_attempt(self) -> Policy;
}

impl GateFirst for Policy {
    fn gate_first_attempt(mut self) -> Policy {
        self.retry.budget.gate_first_attempt = true;
        self
    }
}
