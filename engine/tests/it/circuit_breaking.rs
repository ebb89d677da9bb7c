//! Circuit breaking through the executor, on virtual time. The breaker's own state machine (s085, s090, s091) is unit-tested in
//! `src/circuit/breaker.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::classify::Canceled;
use recourse_engine::clock::Clock;
use recourse_engine::{
    CallOptions, CancellationToken, CircuitState, Error, Executor, Key, Observer, Policy, Reason,
};

use crate::support::*;

fn breaker(threshold: u32, cooldown: Duration) -> Policy {
    zero().max_attempts(1).circuit(threshold, cooldown)
}

type Op = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, E>>>>;

fn ok_after(
    clock: &Clock,
    calls: &Calls,
    latency: Duration,
) -> impl FnMut(recourse_engine::AttemptInfo) -> Op + use<> {
    let (clock, calls) = (clock.clone(), calls.clone());
    move |_| {
        calls.hit();
        let clock = clock.clone();
        Box::pin(async move {
            clock.sleep(latency).await;
            Ok(1)
        })
    }
}

/// Records circuit transitions.
#[derive(Debug, Default, Clone)]
struct Transitions(Arc<Mutex<Vec<(CircuitState, CircuitState, String)>>>);
impl Observer for Transitions {
    fn on_circuit_change(&self, _: &Key, from: CircuitState, to: CircuitState, reason: &Reason) {
        self.0.lock().unwrap().push((from, to, reason.to_string()));
    }
}

#[test]
fn s086_the_executor_opens_rejects_probes_closes() {
    let transitions = Transitions::default();
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", breaker(2, ms(100)))
            .observer(transitions.clone()),
    );
    let calls = Calls::default();
    let _ = run(&vc, exec.call("svc.op", always_fails(&calls)));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    let _ = run(&vc, exec.call("svc.op", always_fails(&calls)));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
    let before = vc.now();
    let err = run(&vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 2, "the third call did not run the operation");
    assert!(
        matches!(&err, Error::CircuitOpen { state: CircuitState::Open, reason } if *reason == Reason::CIRCUIT_OPEN)
    );
    assert_eq!(err.to_string(), "recourse: circuit open: circuit_open");
    assert_eq!(vc.now(), before, "rejected at once");
    vc.advance(ms(150));
    assert!(
        run(
            &vc,
            exec.call("svc.op", ok_after(exec.clock(), &calls, ms(1)))
        )
        .is_ok()
    );
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    assert!(
        run(
            &vc,
            exec.call("svc.op", ok_after(exec.clock(), &calls, ms(1)))
        )
        .is_ok()
    );
    let t: Vec<_> = transitions
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(f, t, r)| (*f, *t, r.clone()))
        .collect();
    assert_eq!(
        t,
        [
            (
                CircuitState::Closed,
                CircuitState::Open,
                "consecutive_failures".into()
            ),
            (
                CircuitState::Open,
                CircuitState::HalfOpen,
                "cooldown_elapsed".into()
            ),
            (
                CircuitState::HalfOpen,
                CircuitState::Closed,
                "probe_succeeded".into()
            ),
        ]
    );
}

#[test]
fn s087_half_open_disables_hedging() {
    let (exec, vc) = with_policy(breaker(1, ms(100)).hedging(2, ms(1)));
    let _ = run(&vc, exec.call("svc.op", always_fails(&Calls::default())));
    vc.advance(ms(150));
    let calls = Calls::default();
    let clock = exec.clock().clone();
    let c = calls.clone();
    let res = run(
        &vc,
        exec.call("svc.op", move |_| {
            c.hit();
            let clock = clock.clone();
            async move {
                clock.sleep(ms(20)).await;
                Err::<(), _>(E(1))
            }
        }),
    );
    assert!(res.is_err());
    assert_eq!(calls.get(), 1, "the probe ran alone");
}

#[test]
fn s088_rejection_details() {
    // (a) a second call while the probe is in flight.
    let (exec, vc) = with_policy(breaker(1, ms(100)));
    let _ = run(&vc, exec.call("svc.op", always_fails(&Calls::default())));
    vc.advance(ms(150));
    let calls = Calls::default();
    let (probe, second) = run(&vc, async {
        let probe = exec.call("svc.op", ok_after(exec.clock(), &calls, ms(50)));
        let second = async {
            exec.clock().sleep(ms(10)).await;
            exec.call("svc.op", ok_after(exec.clock(), &calls, ms(1)))
                .await
        };
        tokio::join!(probe, second)
    });
    assert!(probe.is_ok());
    let err = second.unwrap_err();
    assert!(
        matches!(&err, Error::CircuitOpen { state: CircuitState::HalfOpen, reason } if *reason == Reason::CIRCUIT_HALF_OPEN_PROBE_LIMIT)
    );
    assert_eq!(
        err.to_string(),
        "recourse: circuit half-open: circuit_half_open_probe_limit"
    );
    assert_eq!(calls.get(), 1);
    // (b) open, observed and traced.
    let (exec, vc, rec) = recorded(breaker(1, ms(100)));
    let _ = run(&vc, exec.call("svc.op", always_fails(&Calls::default())));
    let (res, tl) = run(
        &vc,
        exec.call_traced("svc.op", always_fails(&Calls::default())),
    );
    assert!(matches!(res, Err(Error::CircuitOpen { .. })));
    assert!(tl.attempts.is_empty());
    assert_eq!(tl.attribute("circuit_state"), Some("open"));
    let ev = rec.events();
    assert!(matches!(
        &ev[ev.len() - 2..],
        [Ev::Start { .. }, Ev::Failure { records: 0, .. }]
    ));
}

#[test]
fn s089_what_counts_as_a_failure() {
    // (a) failures count per call, not per attempt.
    let (exec, vc) = with_policy(zero().max_attempts(3).circuit(2, ms(100)));
    let calls = Calls::default();
    let _ = run(&vc, exec.call("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 3);
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    // (b) an abort (cancellation) is not the dependency's fault.
    let (exec, vc) = with_policy(breaker(1, ms(100)));
    let _ = run(
        &vc,
        exec.call("svc.op", |_| async { Err::<(), _>(Canceled) }),
    );
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    // (c) an overall-timeout expiry counts.
    let (exec, vc) = with_policy(breaker(1, ms(100)).overall_timeout(ms(20)));
    let _ = run(
        &vc,
        exec.call("svc.op", |_| std::future::pending::<Result<(), E>>()),
    );
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
}

#[test]
fn s090_an_aborted_probe_never_wedges_the_breaker() {
    // The probe's op cancels the caller; the slot is freed and a later call can probe.
    // (The reference's 20ms cooldown normalizes to the 100ms floor.)
    let (exec, vc) = with_policy(breaker(1, ms(100)));
    let _ = run(&vc, exec.call("svc.op", always_fails(&Calls::default())));
    vc.advance(ms(130));
    let token = CancellationToken::new();
    let t = token.clone();
    let (res, _) = run(
        &vc,
        exec.call_with("svc.op", &CallOptions::cancel_on(token), move |_| {
            t.cancel();
            async { Err::<(), _>(Canceled) }
        }),
    );
    assert!(matches!(res, Err(Error::Canceled { .. })), "{res:?}");
    vc.advance(ms(50));
    let calls = Calls::default();
    assert!(
        run(
            &vc,
            exec.call("svc.op", ok_after(exec.clock(), &calls, ms(1)))
        )
        .is_ok()
    );
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    // A probe dropped mid-attempt frees the slot too.
    let _ = run(&vc, exec.call("svc.op", always_fails(&Calls::default())));
    vc.advance(ms(130));
    run(&vc, async {
        let probe = exec.call("svc.op", |_| std::future::pending::<Result<(), E>>());
        tokio::select! { _ = probe => {}, _ = exec.clock().sleep(ms(5)) => {} }
    });
    assert!(
        run(
            &vc,
            exec.call("svc.op", ok_after(exec.clock(), &calls, ms(1)))
        )
        .is_ok()
    );
}

#[test]
fn the_breaker_follows_policy_changes_of_its_key() {
    let provider = Reloadable::new(breaker(5, ms(100)));
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    let _ = run(&vc, exec.call("svc.op", always_fails(&Calls::default())));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    provider.set(breaker(2, ms(100)));
    let _ = run(&vc, exec.call("svc.op", always_fails(&Calls::default())));
    assert_eq!(
        exec.circuit_state("svc.op"),
        CircuitState::Open,
        "the second failure meets the new threshold"
    );
}

#[test]
fn keys_past_max_keys_share_an_overflow_state_and_are_counted() {
    let (exec, vc) = vexec(
        Executor::builder()
            .default_policy(breaker(3, ms(100)))
            .max_keys(4),
    );
    for i in 0..10 {
        let _ = run(
            &vc,
            exec.call(&format!("user.{i}"), always_fails(&Calls::default())),
        );
    }
    assert!(exec.overflow_calls() > 0);
    assert_eq!(
        exec.circuit_state("user.9"),
        CircuitState::Open,
        "overflow keys share one breaker"
    );
    assert_eq!(
        exec.circuit_state("user.0"),
        CircuitState::Closed,
        "cached keys keep their own"
    );
}

/// Counts the policies a provider is asked for.
#[derive(Debug, Default)]
struct Asked(std::sync::atomic::AtomicU32);

impl recourse_engine::provider::Provider for Asked {
    fn policy(
        &self,
        _: &recourse_engine::Key,
    ) -> Result<Policy, recourse_engine::provider::ProviderFailure> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(zero().max_attempts(1))
    }
}

/// Past `max_keys`, every call once resolved and compiled its key's policy again (with a
/// policy set, a serde round trip per call): a key called again keeps its compiled policy.
#[test]
fn a_key_past_max_keys_called_again_is_not_resolved_again() {
    let asked = std::sync::Arc::new(Asked::default());
    let (exec, vc) = vexec(Executor::builder().provider_arc(asked.clone()).max_keys(2));
    for key in ["a.One", "a.Two"] {
        let _ = run(&vc, exec.call(key, fails_then(&Calls::default(), 0, ())));
    }
    for _ in 0..100 {
        for key in ["b.Past", "b.Beyond"] {
            let _ = run(&vc, exec.call(key, fails_then(&Calls::default(), 0, ())));
        }
    }
    assert_eq!(exec.overflow_calls(), 200);
    let asked = asked.0.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(asked, 4, "each key resolved once, past max_keys too");
}
