//! Policy keys: parsing, and how an executor finds a key's state.

use recourse_engine::{CircuitState, Executor, Key, Reason, key};

use crate::support::*;

fn parts(s: &str) -> (String, String, String) {
    let k = Key::parse(s);
    (k.namespace().to_owned(), k.name().to_owned(), k.to_string())
}

fn p(ns: &str, name: &str, display: &str) -> (String, String, String) {
    (ns.into(), name.into(), display.into())
}

#[test]
fn s001_ordinary_forms() {
    assert_eq!(
        parts("service.method"),
        p("service", "method", "service.method")
    );
    assert_eq!(parts("method"), p("", "method", "method"));
    assert_eq!(
        parts(" service.method "),
        p("service", "method", "service.method")
    );
}

#[test]
fn s002_degenerate_inputs() {
    assert_eq!(parts("service."), p("", "service.", "service."));
    assert_eq!(parts(""), p("", "", ""));
    assert_eq!(parts("   "), p("", "", ""));
    assert!(Key::parse("   ").is_empty());
}

#[test]
fn s003_dot_handling() {
    assert_eq!(parts("a.b.c"), p("a", "b.c", "a.b.c"));
    assert_eq!(parts("a..b"), p("a", ".b", "a..b"));
    assert_eq!(parts(".b"), p("", "b", "b"));
    assert_eq!(parts(" a . b "), p("a", "b", "a.b"));
    assert_eq!(parts("."), p("", ".", "."));
    assert_eq!(parts(" . "), p("", ".", "."));
    assert_eq!(parts(".."), p("", ".", "."));
}

#[test]
fn keys_compare_by_value_whatever_their_storage() {
    let k = key!("payments.Charge");
    assert_eq!(k, Key::parse(" payments . Charge "));
    assert_eq!(k, Key::new("payments", "Charge"));
    assert_ne!(
        Key::new("", "payments.Charge"),
        k,
        "both parts take part in equality"
    );
}

/// A `key!` key's state is found by the text's address after the first call; it is still the
/// key's one state, under the key's current policy.
#[test]
fn a_key_macro_call_shares_the_key_state_and_follows_reloads() {
    let provider = Reloadable::new(zero().max_attempts(1).circuit(3, ms(100)));
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    let fails = Calls::default();
    // Failures by string and by `key!` land on one breaker.
    let _ = run(&vc, exec.call("svc.op", always_fails(&fails)));
    let _ = run(&vc, exec.call(key!("svc.op"), always_fails(&fails)));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Closed);
    let _ = run(&vc, exec.call(key!("svc.op"), always_fails(&fails)));
    assert_eq!(exec.circuit_state("svc.op"), CircuitState::Open);

    // A reload reaches calls by `key!`: one attempt, timed out.
    provider.set(zero().max_attempts(1).timeout_per_attempt(ms(10)));
    let hung = Calls::default();
    let err = run(&vc, exec.call(key!("svc.op"), hangs(&hung))).unwrap_err();
    assert_eq!(err.reason_code(), Reason::CONTEXT_DEADLINE_EXCEEDED);
    assert_eq!(hung.get(), 1);
}

#[test]
fn each_executor_keeps_its_own_state_for_one_key_macro_key() {
    let policy = zero().max_attempts(1).circuit(1, ms(100));
    let (a, vc) = vexec(Executor::builder().default_policy(policy.clone()));
    let (b, _) = vexec(Executor::builder().default_policy(policy));
    let calls = Calls::default();
    let _ = run(&vc, a.call(key!("svc.shared"), always_fails(&calls)));
    let _ = run(&vc, b.call(key!("svc.shared"), fails_then(&calls, 0, ())));
    assert_eq!(a.circuit_state("svc.shared"), CircuitState::Open);
    assert_eq!(b.circuit_state("svc.shared"), CircuitState::Closed);
}

#[test]
fn a_key_macro_key_past_max_keys_is_an_overflow_key() {
    let (exec, vc) = vexec(
        Executor::builder()
            .default_policy(zero().max_attempts(1))
            .max_keys(1),
    );
    let ok = Calls::default();
    run(&vc, exec.call("svc.first", fails_then(&ok, 0, ()))).unwrap();
    for _ in 0..3 {
        run(&vc, exec.call(key!("svc.late"), fails_then(&ok, 0, ()))).unwrap();
    }
    assert_eq!(
        exec.overflow_calls(),
        3,
        "every call past the cap is counted"
    );
}

/// A call future that is made and dropped unpolled (a `select!` branch never taken) adds no
/// key and counts no call: the key is added when its first call is first polled.
#[test]
fn a_call_never_polled_adds_no_key() {
    let (exec, vc) = vexec(
        Executor::builder()
            .default_policy(zero().max_attempts(1))
            .max_keys(1),
    );
    let ok = Calls::default();
    drop(exec.call("svc.never", fails_then(&ok, 0, ())));
    drop(exec.call(key!("svc.never_static"), fails_then(&ok, 0, ())));
    assert_eq!(ok.get(), 0, "no attempt ran");
    // The one key the cap allows is still free, and nothing counted as past it.
    run(&vc, exec.call("svc.first", fails_then(&ok, 0, ()))).unwrap();
    assert_eq!(exec.overflow_calls(), 0);
    drop(exec.call("svc.past", fails_then(&ok, 0, ())));
    assert_eq!(
        exec.overflow_calls(),
        0,
        "an unpolled call past the cap counts nothing"
    );
    run(&vc, exec.call("svc.past", fails_then(&ok, 0, ()))).unwrap();
    assert_eq!(exec.overflow_calls(), 1);
}
