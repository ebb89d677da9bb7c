//! Budgets that learn from outcomes: which attempts each budget hears of, and the throttle
//! (gRPC retry throttling) on virtual time through the executor.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::budget::{AttemptOutcome, Budget, Decision, Request, Throttle};
use recourse_engine::classify::Kind;
use recourse_engine::policy::BudgetRef;
use recourse_engine::{Error, Executor, Policy};

use crate::support::*;

/// Allows everything and keeps every outcome it hears: (attempt, hedge index, kind).
#[derive(Debug, Default)]
struct Ears(Mutex<Vec<(u32, u32, Kind)>>);

impl Budget for Ears {
    fn allow(&self, _: &Request<'_>) -> Decision {
        Decision::allow()
    }
    fn record_outcome(&self, o: &AttemptOutcome<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((o.attempt, o.hedge_index, o.kind));
    }
}

fn named(name: &str) -> BudgetRef {
    BudgetRef {
        name: name.into(),
        ..BudgetRef::default()
    }
}

#[test]
fn the_retry_budget_hears_every_primary_attempt_the_first_included() {
    let ears = Arc::new(Ears::default());
    let (exec, vc) = vexec(
        Executor::builder()
            .policy(
                "svc.op",
                zero()
                    .max_attempts(3)
                    .backoff(ms(10), ms(10), 1.0)
                    .budget("ears"),
            )
            .budget_arc("ears", ears.clone()),
    );
    let calls = Calls::default();
    assert_eq!(
        run(&vc, exec.call("svc.op", fails_then(&calls, 2, 7))).unwrap(),
        7
    );
    // A first success on a call nobody records: heard too (the loop skips classifying it).
    assert_eq!(
        run(
            &vc,
            exec.call("svc.op", fails_then(&Calls::default(), 0, 8))
        )
        .unwrap(),
        8
    );
    let heard = ears.0.lock().unwrap().clone();
    assert_eq!(
        heard,
        [
            (0, 0, Kind::Retryable),
            (1, 0, Kind::Retryable),
            (2, 0, Kind::Success),
            (0, 0, Kind::Success),
        ]
    );
}

#[test]
fn a_hedge_budget_hears_its_hedges_and_the_retry_budget_the_primary() {
    let (retries, hedges) = (Arc::new(Ears::default()), Arc::new(Ears::default()));
    let mut policy = zero().max_attempts(1).hedging(1, ms(10)).budget("retries");
    policy.hedge.budget = named("hedges");
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", policy)
            .budget_arc("retries", retries.clone())
            .budget_arc("hedges", hedges.clone()),
    );
    // The primary hangs 50ms and fails; the hedge, launched at 10ms, succeeds at once.
    let clock = exec.clock().clone();
    let calls = Calls::default();
    let c = calls.clone();
    let result = run(
        &vc,
        exec.call("svc.op", move |info| {
            c.hit();
            let clock = clock.clone();
            async move {
                if info.is_hedge {
                    Ok(1)
                } else {
                    clock.sleep(ms(50)).await;
                    Err(E(0))
                }
            }
        }),
    );
    assert_eq!(result.unwrap(), 1);
    assert_eq!(*hedges.0.lock().unwrap(), [(0, 1, Kind::Success)]);
    // The primary lost and was cancelled: no verdict, nothing heard.
    assert!(retries.0.lock().unwrap().is_empty());
}

/// A policy retrying up to 3 times at once under the throttle called `throttle`.
fn throttled() -> Policy {
    zero()
        .max_attempts(3)
        .backoff(Duration::ZERO, Duration::ZERO, 1.0)
        .budget("throttle")
}

#[test]
fn a_throttle_stops_retries_in_a_burst_of_failures_and_lets_them_back_on_recovery() {
    let throttle = Arc::new(Throttle::new(10.0, 0.5));
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", throttled())
            .budget_arc("throttle", throttle.clone()),
    );
    // A dependency that fails everything: each call's first attempt always runs, and its
    // retries run while tokens > 5.
    let calls = Calls::default();
    let mut denied = 0;
    for _ in 0..4 {
        match run(&vc, exec.call("svc.op", always_fails(&calls))) {
            Err(Error::BudgetDenied { .. }) => denied += 1,
            Err(Error::Operation { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // Call 1: 3 failures (10 -> 7). Call 2: 2 failures (-> 5), then denied. Calls 3 and 4:
    // their first attempts fail (-> 4 -> 3), retries denied.
    assert_eq!(calls.get(), 3 + 2 + 1 + 1);
    assert_eq!(denied, 3);
    assert_eq!(throttle.tokens(), 3.0);
    // Recovery: successes give half a token each. A failure takes its token before its
    // retry is decided (as in gRPC), so the retry runs once a failure leaves more than 5:
    // seven successes (3 -> 6.5), then the failure (-> 5.5) is retried and succeeds (-> 6).
    let ok = Calls::default();
    for _ in 0..6 {
        run(&vc, exec.call("svc.op", fails_then(&ok, 0, ()))).unwrap();
    }
    let early = Calls::default();
    let r = run(&vc, exec.call("svc.op", fails_then(&early, 1, ())));
    assert!(
        matches!(r, Err(Error::BudgetDenied { .. })),
        "6 - 1 is not over 5"
    );
    assert_eq!(throttle.tokens(), 5.0);
    for _ in 0..3 {
        run(&vc, exec.call("svc.op", fails_then(&ok, 0, ()))).unwrap();
    }
    assert_eq!(throttle.tokens(), 6.5);
    let again = Calls::default();
    run(&vc, exec.call("svc.op", fails_then(&again, 1, ()))).unwrap();
    assert_eq!(again.get(), 2, "the failure was retried");
    assert_eq!(throttle.tokens(), 6.0);
}

#[test]
fn a_throttle_ignores_failures_the_classifier_will_not_retry() {
    let throttle = Arc::new(Throttle::new(10.0, 0.5));
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", throttled().classifier("http"))
            .budget_arc("throttle", throttle.clone()),
    );
    for _ in 0..20 {
        let r = run(
            &vc,
            exec.call("svc.op", |_| async {
                Err::<(), _>(recourse_engine::classify::HttpStatusError::new(404, "GET"))
            }),
        );
        assert_eq!(
            r.unwrap_err().reason_code().as_str(),
            "http_non_retryable_status"
        );
    }
    assert_eq!(
        throttle.tokens(),
        10.0,
        "a 404 is the request's fault, not the server's"
    );
}

#[test]
fn a_throttle_declared_in_a_policy_file_keeps_its_tokens_across_a_reload() {
    let text = |max: u32| {
        format!(
            "version: 1\nbudgets:\n  grpc: {{ kind: throttle, max_tokens: {max}, token_ratio: 0.1 }}\n\
             policies:\n  svc.op: {{ retry: {{ max_attempts: 2, initial_backoff: 1ms, budget: {{ name: grpc }} }} }}\n"
        )
    };
    let file = PolicyFile::new(&text(4));
    let (exec, vc) = vexec(Executor::builder().provider_arc(file.provider.clone()));
    // Call 1 fails twice (4 -> 2); call 2's first attempt fails (2 -> 1) and its retry is
    // denied (1 is not over 2).
    let calls = Calls::default();
    let _ = run(&vc, exec.call("svc.op", always_fails(&calls)));
    let _ = run(&vc, exec.call("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 3);
    // A reload that raises max_tokens keeps the tokens held (1), so retries stay throttled.
    file.rewrite(&text(100));
    let _ = run(&vc, exec.call("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 4, "still throttled after the reload");
}

/// Keeps the `now` of every request it is asked, and says whether it reads the clock.
#[derive(Debug)]
struct Stamps(bool, Mutex<Vec<recourse_engine::clock::Timestamp>>);

impl Budget for Stamps {
    fn allow(&self, req: &Request<'_>) -> Decision {
        self.1.lock().unwrap().push(req.now);
        Decision::allow()
    }
    fn record_first_attempt(&self, req: &Request<'_>) {
        self.1.lock().unwrap().push(req.now);
    }
    fn reads_clock(&self) -> bool {
        self.0
    }
}

#[test]
fn a_budget_that_reads_no_clock_spares_its_calls_the_reading() {
    for reads in [true, false] {
        let stamps = Arc::new(Stamps(reads, Mutex::default()));
        let (exec, vc) = vexec(
            Executor::builder()
                .policy("svc.op", zero().max_attempts(3).budget("stamps"))
                .budget_arc("stamps", stamps.clone()),
        );
        vc.advance(Duration::from_secs(5));
        let start = vc.now();
        let calls = Calls::default();
        assert_eq!(
            run(&vc, exec.call("svc.op", fails_then(&calls, 1, 7))).unwrap(),
            7
        );
        let seen = stamps.1.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "the first attempt and the retry");
        let epoch = recourse_engine::clock::Timestamp::EPOCH;
        if reads {
            // The first attempt when the call starts, the retry after its backoff.
            assert!(seen[0] == start && seen[1] > seen[0], "{seen:?}");
        } else {
            assert!(seen.iter().all(|t| *t == epoch), "{seen:?}");
        }
    }
    assert!(!Throttle::new(10.0, 0.1).reads_clock());
}
