//! Manual control of a key's breaker: isolate, force closed, release.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::{
    CircuitState, ControlError, Detail, Error, Executor, Key, ManualControl, Observer, Reason,
};

use crate::support::*;

/// Keeps every circuit change: (key, from, to, reason).
#[derive(Debug, Default)]
struct Changes(Mutex<Vec<(String, CircuitState, CircuitState, String)>>);

impl Observer for Changes {
    fn detail(&self) -> Detail {
        Detail::Events
    }
    fn on_circuit_change(&self, key: &Key, from: CircuitState, to: CircuitState, r: &Reason) {
        let change = (key.to_string(), from, to, r.as_str().to_owned());
        self.0.lock().unwrap().push(change);
    }
}

fn is_open<T: std::fmt::Debug>(r: &Result<T, Error<E>>) -> bool {
    matches!(r, Err(Error::CircuitOpen { state: CircuitState::Open, reason })
        if *reason == Reason::CIRCUIT_OPEN)
}

#[test]
fn an_isolated_key_rejects_every_call_until_released_breaker_or_not() {
    let changes = Arc::new(Changes::default());
    let (exec, vc) = vexec(
        Executor::builder()
            // No breaker in the policy: isolation applies all the same.
            .policy("svc.op", zero().max_attempts(2))
            .observer_arc(changes.clone()),
    );
    let handle = exec.key("svc.op");
    exec.isolate("svc.op").unwrap();
    assert_eq!(exec.manual_control("svc.op"), Some(ManualControl::Isolated));
    let calls = Calls::default();
    // By key string, by handle (whose bare path checks too), and traced.
    assert!(is_open(&run(
        &vc,
        exec.call("svc.op", fails_then(&calls, 0, 1))
    )));
    assert!(is_open(&run(&vc, handle.call(fails_then(&calls, 0, 1)))));
    let (r, timeline) = run(&vc, exec.call_traced("svc.op", fails_then(&calls, 0, 1)));
    assert!(is_open(&r));
    assert_eq!(timeline.attribute("circuit_state"), Some("isolated"));
    assert_eq!(calls.get(), 0, "nothing ran");
    // Isolating again changes nothing and reports nothing.
    exec.isolate("svc.op").unwrap();
    exec.release("svc.op").unwrap();
    assert_eq!(exec.manual_control("svc.op"), None);
    assert_eq!(run(&vc, handle.call(fails_then(&calls, 0, 1))).unwrap(), 1);
    let seen = changes.0.lock().unwrap().clone();
    let op = || "svc.op".to_owned();
    assert_eq!(
        seen,
        [
            (
                op(),
                CircuitState::Closed,
                CircuitState::Open,
                "manual_isolate".into()
            ),
            (
                op(),
                CircuitState::Open,
                CircuitState::Closed,
                "manual_release".into()
            ),
        ]
    );
}

#[test]
fn a_forced_closed_breaker_lets_calls_through_and_hears_nothing() {
    let (exec, vc) = with_policy(zero().max_attempts(1).circuit(1, Duration::from_secs(10)));
    let calls = Calls::default();
    // One failure opens the breaker.
    assert!(run(&vc, exec.call("svc.op", always_fails(&calls))).is_err());
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);
    assert!(is_open(&run(
        &vc,
        exec.call("svc.op", fails_then(&calls, 0, 1))
    )));
    // Forced closed: calls run, and failures do not reach the breaker.
    exec.force_close("svc.op").unwrap();
    assert_eq!(
        run(
            &vc,
            exec.call("svc.op", fails_then(&Calls::default(), 0, 7))
        )
        .unwrap(),
        7
    );
    assert!(run(&vc, exec.call("svc.op", always_fails(&calls))).is_err());
    // Released: the breaker is where it was, still open in its cooldown.
    exec.release("svc.op").unwrap();
    assert!(is_open(&run(
        &vc,
        exec.call("svc.op", fails_then(&calls, 0, 1))
    )));
}

#[test]
fn isolation_survives_a_policy_reload() {
    let text = |attempts: u32| {
        format!("version: 1\npolicies:\n  svc.op: {{ retry: {{ max_attempts: {attempts} }} }}\n")
    };
    let file = PolicyFile::new(&text(2));
    let (exec, vc) = vexec(Executor::builder().provider_arc(file.provider.clone()));
    let calls = Calls::default();
    assert_eq!(
        run(&vc, exec.call("svc.op", fails_then(&calls, 0, 1))).unwrap(),
        1
    );
    exec.isolate("svc.op").unwrap();
    file.rewrite(&text(3));
    assert_eq!(
        exec.policy_for("svc.op").unwrap().retry.max_attempts,
        Some(3)
    );
    assert!(is_open(&run(
        &vc,
        exec.call("svc.op", fails_then(&calls, 0, 1))
    )));
}

#[test]
fn a_key_past_max_keys_cannot_be_set_alone() {
    let vc = recourse_engine::clock::VirtualClock::new();
    let exec = Executor::builder()
        .clock(vc.clock())
        .max_keys(1)
        .build()
        .unwrap();
    exec.isolate("a.one").unwrap();
    let err = exec.isolate("b.two").unwrap_err();
    assert!(matches!(err, ControlError::SharedState { .. }));
    assert!(err.to_string().contains("b.two"), "{err}");
    // The other overflow keys are untouched.
    let calls = Calls::default();
    assert_eq!(
        run(&vc, exec.call("c.three", fails_then(&calls, 0, 1))).unwrap(),
        1
    );
}

#[test]
fn a_handle_on_the_bare_path_is_isolated_too() {
    // No observer, no timeout, no budget: a handle's calls run their first attempt bare,
    // which never reads the manual setting; isolation turns that path off.
    let (exec, vc) = with_policy(zero().max_attempts(2));
    let calls = Calls::default();
    assert_eq!(
        run(&vc, exec.call("svc.op", fails_then(&calls, 0, 1))).unwrap(),
        1
    );
    let handle = exec.key("svc.op"); // holds the compiled policy
    assert_eq!(run(&vc, handle.call(fails_then(&calls, 0, 2))).unwrap(), 2);
    exec.isolate("svc.op").unwrap();
    assert!(is_open(&run(&vc, handle.call(fails_then(&calls, 0, 3)))));
    assert!(is_open(&run(
        &vc,
        exec.call("svc.op", fails_then(&calls, 0, 3))
    )));
    assert_eq!(calls.get(), 2, "nothing ran while isolated");
    exec.release("svc.op").unwrap();
    assert_eq!(run(&vc, handle.call(fails_then(&calls, 0, 4))).unwrap(), 4);
    // Forced closed keeps the bare path off too, and calls run.
    exec.force_close("svc.op").unwrap();
    assert_eq!(run(&vc, handle.call(fails_then(&calls, 0, 5))).unwrap(), 5);
}

/// Serves one policy, and holds the second of two concurrent look-ups until the first
/// caller has made its key handle: two compilations of the same generation, the first
/// published and taken by a handle before the second is.
#[derive(Debug)]
struct RacedCompile {
    entered: std::sync::atomic::AtomicU32,
    first_handle_made: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl recourse_engine::provider::Provider for RacedCompile {
    fn policy(
        &self,
        _: &Key,
    ) -> Result<recourse_engine::Policy, recourse_engine::provider::ProviderFailure> {
        use std::sync::atomic::Ordering::SeqCst;
        // Bounded waits: were look-ups ever made one at a time, this fails, not hangs.
        let patience = std::time::Duration::from_secs(5);
        let n = self.entered.fetch_add(1, SeqCst);
        let since = std::time::Instant::now();
        while n < 2 && self.entered.load(SeqCst) < 2 && since.elapsed() < patience {
            std::thread::yield_now();
        }
        if n == 1 {
            let _ = self
                .first_handle_made
                .lock()
                .unwrap()
                .recv_timeout(patience);
        }
        Ok(zero().max_attempts(2))
    }
}

#[test]
fn isolation_reaches_a_handle_made_while_another_call_compiled_the_same_policy() {
    // Two handles made at once under a provider that can change: each compiles the key's
    // policy. The handle made first must not keep a copy that the key no longer caches,
    // or isolating the key would not reach its bare path.
    let (tx, rx) = std::sync::mpsc::channel();
    let provider = Arc::new(RacedCompile {
        entered: Default::default(),
        first_handle_made: Mutex::new(rx),
    });
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider));
    let handles = std::thread::scope(|s| {
        let made = [0, 1].map(|_| {
            let tx = tx.clone();
            let exec = &exec;
            s.spawn(move || {
                let handle = exec.key("svc.op");
                let _ = tx.send(());
                handle
            })
        });
        made.map(|t| t.join().unwrap())
    });
    exec.isolate("svc.op").unwrap();
    let calls = Calls::default();
    for handle in &handles {
        assert!(is_open(&run(&vc, handle.call(fails_then(&calls, 0, 1)))));
    }
    assert_eq!(calls.get(), 0, "nothing ran while isolated");
}

/// A provider whose generation is set by hand, as one whose generation hashes its content is
/// after a rollback: the same value again.
#[derive(Debug)]
struct Generations(std::sync::atomic::AtomicU64);

impl recourse_engine::provider::Provider for Generations {
    fn policy(
        &self,
        _: &Key,
    ) -> Result<recourse_engine::Policy, recourse_engine::provider::ProviderFailure> {
        Ok(zero().max_attempts(2))
    }
    fn generation(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn a_handle_made_before_a_rollback_still_sees_an_isolation() {
    let provider = Arc::new(Generations(1.into()));
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    let handle = exec.key("svc.op");
    let calls = Calls::default();
    assert_eq!(run(&vc, handle.call(fails_then(&calls, 0, 1))).unwrap(), 1);
    // A new generation, called by key, then the key isolated under it.
    provider.0.store(2, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        run(&vc, exec.call("svc.op", fails_then(&calls, 0, 1))).unwrap(),
        1
    );
    exec.isolate("svc.op").unwrap();
    // The provider comes back to the generation the handle was made under.
    provider.0.store(1, std::sync::atomic::Ordering::SeqCst);
    assert!(is_open(&run(&vc, handle.call(fails_then(&calls, 0, 1)))));
    assert!(is_open(&run(
        &vc,
        exec.call("svc.op", fails_then(&calls, 0, 1))
    )));
    assert_eq!(calls.get(), 2, "nothing ran while isolated");
}
