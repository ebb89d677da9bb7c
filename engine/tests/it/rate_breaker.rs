//! The failure-rate and slow-call breaker through the executor, on virtual time. The window
//! and the rule are unit-tested in `src/circuit/window.rs` and `src/circuit/rates.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::clock::{Clock, VirtualClock};
use recourse_engine::policy::CircuitWindow;
use recourse_engine::{AttemptInfo, CircuitState, Error, Executor, Key, Observer, Policy, Reason};

use crate::support::*;

/// Records why the breaker changed state.
#[derive(Debug, Default, Clone)]
struct Transitions(Arc<Mutex<Vec<(CircuitState, String)>>>);
impl Observer for Transitions {
    fn on_circuit_change(&self, _: &Key, _: CircuitState, to: CircuitState, reason: &Reason) {
        self.0.lock().unwrap().push((to, reason.to_string()));
    }
}

impl Transitions {
    fn get(&self) -> Vec<(CircuitState, String)> {
        self.0.lock().unwrap().clone()
    }
}

fn observed(policy: Policy) -> (Executor, VirtualClock, Transitions) {
    let t = Transitions::default();
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", policy)
            .observer(t.clone()),
    );
    (exec, vc, t)
}

type Op = std::pin::Pin<Box<dyn Future<Output = Result<(), E>>>>;

/// One attempt that takes `latency`, then fails or succeeds.
fn call(clock: &Clock, latency: Duration, fail: bool) -> impl FnMut(AttemptInfo) -> Op + use<> {
    let clock = clock.clone();
    move |_| {
        let clock = clock.clone();
        Box::pin(async move {
            clock.sleep(latency).await;
            if fail { Err(E(0)) } else { Ok(()) }
        })
    }
}

fn rate(rate: f64, window: CircuitWindow, min_calls: u32) -> Policy {
    zero()
        .max_attempts(1)
        .failure_rate_circuit(rate, window, min_calls, ms(1000))
}

/// Runs calls that fail one in two, `n` of them, each after the last.
fn alternate(exec: &Executor, vc: &VirtualClock, n: u32) -> Vec<Result<(), Error<E>>> {
    (0..n)
        .map(|i| {
            run(
                vc,
                exec.call("svc.op", call(exec.clock(), ms(1), i % 2 == 1)),
            )
        })
        .collect()
}

#[test]
fn a_failure_rate_breaker_opens_at_half_where_a_consecutive_one_never_does() {
    // One failure in two, at high traffic: a consecutive breaker is reset by every success.
    let (exec, vc, seen) = observed(zero().max_attempts(1).circuit(2, ms(1000)));
    let results = alternate(&exec, &vc, 1000);
    assert!(
        results
            .iter()
            .all(|r| !matches!(r, Err(Error::CircuitOpen { .. })))
    );
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    assert!(seen.get().is_empty());

    let (exec, vc, seen) = observed(rate(0.5, CircuitWindow::Calls(100), 20));
    let results = alternate(&exec, &vc, 1000);
    // It opens on the 20th call (10 failures in 20) and rejects the rest of the cooldown.
    let first_rejected = results
        .iter()
        .position(|r| matches!(r, Err(Error::CircuitOpen { .. })))
        .expect("the breaker opened");
    assert_eq!(first_rejected, 20);
    assert_eq!(
        seen.get()[0],
        (CircuitState::Open, "failure_rate".to_owned())
    );
}

#[test]
fn no_decision_before_the_window_holds_min_calls() {
    let (exec, vc, seen) = observed(rate(0.5, CircuitWindow::Calls(100), 20));
    for _ in 0..19 {
        let _ = run(&vc, exec.call("svc.op", call(exec.clock(), ms(1), true)));
    }
    assert_eq!(
        exec.circuit_state("svc.op"),
        CircuitState::Closed,
        "19 of 20"
    );
    let _ = run(&vc, exec.call("svc.op", call(exec.clock(), ms(1), true)));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
    assert_eq!(seen.get().len(), 1);
}

#[test]
fn slow_calls_open_the_breaker_on_their_rate() {
    let mut policy = zero().max_attempts(1).slow_calls(ms(800), 0.8);
    policy.circuit.window = Some(CircuitWindow::Calls(10));
    policy.circuit.min_calls = Some(10);
    policy.circuit.cooldown = Some(ms(1000));
    let (exec, vc, seen) = observed(policy);
    let clock = exec.clock().clone();
    // Successes, but 7 of 10 slow: under 80%. Just under the slow-call duration is fast.
    for i in 0..10 {
        let latency = if i < 3 { ms(799) } else { ms(800) };
        assert!(run(&vc, exec.call("svc.op", call(&clock, latency, false))).is_ok());
    }
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    // The window moves on: the oldest fast call leaves, a slow one comes in: 8 of 10.
    assert!(run(&vc, exec.call("svc.op", call(&clock, ms(900), false))).is_ok());
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
    assert_eq!(
        seen.get(),
        vec![(CircuitState::Open, "slow_call_rate".to_owned())]
    );
}

#[test]
fn a_slow_probe_opens_the_breaker_again_and_a_fast_one_closes_it_on_a_fresh_window() {
    let (exec, vc, seen) =
        observed(rate(0.5, CircuitWindow::Calls(10), 4).slow_calls(ms(500), 1.0));
    let clock = exec.clock().clone();
    for _ in 0..4 {
        let _ = run(&vc, exec.call("svc.op", call(&clock, ms(1), true)));
    }
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
    vc.advance(ms(1000));
    // The probe succeeds, slowly: no evidence that the slowness is over.
    assert!(run(&vc, exec.call("svc.op", call(&clock, ms(600), false))).is_ok());
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
    vc.advance(ms(1000));
    assert!(run(&vc, exec.call("svc.op", call(&clock, ms(1), false))).is_ok());
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    // The window was emptied when it opened: three failures are under min_calls.
    for _ in 0..3 {
        let _ = run(&vc, exec.call("svc.op", call(&clock, ms(1), true)));
    }
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    let reasons: Vec<String> = seen.get().into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        reasons,
        [
            "failure_rate",
            "cooldown_elapsed",
            "probe_failed",
            "cooldown_elapsed",
            "probe_succeeded"
        ]
    );
}

#[test]
fn a_time_window_forgets_failures_older_than_its_span() {
    let (exec, vc, _) = observed(rate(0.5, CircuitWindow::Time(Duration::from_secs(10)), 4));
    let clock = exec.clock().clone();
    for _ in 0..3 {
        let _ = run(&vc, exec.call("svc.op", call(&clock, ms(1), true)));
    }
    // Eleven seconds later those three are out of the window.
    vc.advance(Duration::from_secs(11));
    for _ in 0..3 {
        assert!(run(&vc, exec.call("svc.op", call(&clock, ms(1), false))).is_ok());
    }
    let _ = run(&vc, exec.call("svc.op", call(&clock, ms(1), true)));
    assert_eq!(
        exec.circuit_state("svc.op"),
        CircuitState::Closed,
        "1 failure in 4 calls"
    );
    let _ = run(&vc, exec.call("svc.op", call(&clock, ms(1), true)));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed, "2 in 5");
    let _ = run(&vc, exec.call("svc.op", call(&clock, ms(1), true)));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open, "3 in 6");
}

#[test]
fn consecutive_failures_still_open_a_rate_breaker_that_sets_a_threshold() {
    let mut policy = rate(0.9, CircuitWindow::Calls(100), 50);
    policy.circuit.threshold = Some(3);
    let (exec, vc, seen) = observed(policy);
    for _ in 0..3 {
        let _ = run(&vc, exec.call("svc.op", call(exec.clock(), ms(1), true)));
    }
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
    assert_eq!(seen.get()[0].1, "consecutive_failures");
}

#[test]
fn a_reload_that_keeps_the_window_keeps_the_calls_seen() {
    let provider = Reloadable::new(rate(0.5, CircuitWindow::Calls(100), 20));
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    for _ in 0..19 {
        let _ = run(&vc, exec.call("svc.op", call(exec.clock(), ms(1), true)));
    }
    // Only the threshold changes: the 19 failures stay in the window.
    provider.set(rate(0.6, CircuitWindow::Calls(100), 20));
    let _ = run(&vc, exec.call("svc.op", call(exec.clock(), ms(1), true)));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
}

#[test]
fn a_call_that_ends_while_the_breaker_is_open_is_not_held_against_it_once_closed() {
    let (exec, vc, _) = observed(rate(0.5, CircuitWindow::Calls(10), 4));
    let clock = exec.clock().clone();
    let (slow, fast) = run(&vc, async {
        // A call admitted while closed that fails only after the breaker has opened.
        let slow = exec.call("svc.op", call(&clock, ms(500), true));
        let fast = async {
            for _ in 0..4 {
                let _ = exec.call("svc.op", call(&clock, ms(1), true)).await;
            }
            exec.circuit_state("svc.op")
        };
        futures_util::future::join(slow, fast).await
    });
    assert!(slow.is_err());
    assert_eq!(fast, CircuitState::Open);
    vc.advance(ms(1000));
    assert!(run(&vc, exec.call("svc.op", call(&clock, ms(1), false))).is_ok());
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    // Three failures on a fresh window are under min_calls; the late one is not among them.
    for _ in 0..3 {
        let _ = run(&vc, exec.call("svc.op", call(&clock, ms(1), true)));
    }
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    assert_eq!(exec.circuit_window("svc.op").map(|c| c.calls), Some(3));
}
