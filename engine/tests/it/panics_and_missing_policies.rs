//! Panics, and a missing or failing policy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use recourse_engine::budget::{Budget, Decision, Request};
use recourse_engine::classify::{Classifier, Input, Verdict};
use recourse_engine::policy::{BudgetRef, PolicySource};
use recourse_engine::provider::{Provider, ProviderError, ProviderFailure};
use recourse_engine::{Component, Error, Executor, Key, MissingMode, Policy, Reason};

use crate::support::*;

#[derive(Debug)]
struct PanickingProvider;
impl Provider for PanickingProvider {
    fn policy(&self, _: &Key) -> Result<Policy, ProviderFailure> {
        panic!("provider exploded")
    }
}

#[derive(Debug)]
struct PanickingBudget;
impl Budget for PanickingBudget {
    fn allow(&self, _: &Request<'_>) -> Decision {
        panic!("budget exploded")
    }
}

#[derive(Debug)]
struct PanickingClassifier;
impl Classifier for PanickingClassifier {
    fn classify(&self, _: &Input<'_>) -> Verdict {
        panic!("classifier exploded")
    }
}

fn gated(name: &str) -> BudgetRef {
    BudgetRef {
        gate_first_attempt: true,
        ..BudgetRef::named(name)
    }
}

#[test]
fn s049_provider_and_budget_panics_recovered() {
    let (exec, vc) = vexec(
        Executor::builder()
            .provider(PanickingProvider)
            .recover_panics(true),
    );
    let calls = Calls::default();
    let err = run(&vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 0);
    // The reference wraps it in its no-policy error; recourse says what it was.
    assert!(
        matches!(&err, Error::Panicked { component: Component::PolicyProvider, message } if message == "provider exploded"),
        "{err:?}"
    );
    assert_eq!(err.reason_code(), Reason::PANIC_IN_PROVIDER);

    let rec = Recording::default();
    let mut p = zero();
    p.retry.budget = gated("boom");
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .budget("boom", PanickingBudget)
            .recover_panics(true)
            .observer(rec.clone()),
    );
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 0);
    let err = res.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Panicked {
                component: Component::Budget,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.reason_code(), Reason::PANIC_IN_BUDGET);
    assert_eq!(
        rec.budget_events(),
        [Ev::Budget {
            attempt: 0,
            kind: recourse_engine::budget::BudgetKind::Retry,
            budget: "boom".into(),
            mode: "standard".into(),
            allowed: false,
            reason: "panic_in_budget".into()
        }]
    );
    assert_eq!(tl.attempts.len(), 1);
    assert!(!tl.attempts[0].budget_allowed);
}

#[test]
fn s050_classifier_panic_recovered_unobserved() {
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().max_attempts(2).classifier("boom"))
            .classifier("boom", PanickingClassifier)
            .recover_panics(true),
    );
    let calls = Calls::default();
    let err = run(&vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 1);
    assert!(matches!(
        err,
        Error::Panicked {
            component: Component::Classifier,
            ..
        }
    ));
}

#[test]
fn s051_classifier_panic_recovered_observed() {
    // The same error with or without an observer; the record says panic_in_classifier.
    let rec = Recording::default();
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().max_attempts(2).classifier("boom"))
            .classifier("boom", PanickingClassifier)
            .recover_panics(true)
            .observer(rec.clone()),
    );
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", fails_then(&calls, 0, ())));
    assert_eq!(calls.get(), 1);
    assert!(matches!(
        res.unwrap_err(),
        Error::Panicked {
            component: Component::Classifier,
            ..
        }
    ));
    assert_eq!(tl.attempts[0].reason, Reason::PANIC_IN_CLASSIFIER);
}

#[test]
fn operation_panics_unwind_to_the_caller() {
    // Attempts are polled by the calling task, so a panic is the caller's panic.
    let (exec, vc) = vexec(Executor::builder());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(
            &vc,
            exec.call("svc.op", |_| async {
                panic!("op exploded") as Result<(), E>
            }),
        )
    }));
    assert!(caught.is_err());
}

/// Returns exactly the configured pair.
#[derive(Debug)]
struct Stub(Option<Policy>, Option<ProviderError>, Arc<AtomicU32>);
impl Stub {
    fn new(policy: Option<Policy>, error: Option<ProviderError>) -> Stub {
        Stub(policy, error, Arc::default())
    }
}
impl Provider for Stub {
    fn policy(&self, _: &Key) -> Result<Policy, ProviderFailure> {
        self.2.fetch_add(1, Ordering::SeqCst);
        match &self.1 {
            None => Ok(self.0.clone().unwrap_or_else(Policy::new)),
            Some(e) => Err(ProviderFailure {
                error: e.clone(),
                fallback: self.0.clone().map(Box::new),
            }),
        }
    }
}

fn calls_with(
    provider: Stub,
    mode: MissingMode,
) -> (u32, Result<(), Error<E>>, recourse_engine::Timeline) {
    let (exec, vc) = vexec(Executor::builder().provider(provider).missing_policy(mode));
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    (calls.get(), res, tl)
}

#[test]
fn s052_provider_error_allow_runs_once() {
    let (n, _, tl) = calls_with(
        Stub::new(None, Some(ProviderError::Unavailable)),
        MissingMode::Allow,
    );
    assert_eq!(n, 1);
    assert_eq!(
        tl.attribute("policy_error"),
        Some("recourse: policy provider unavailable")
    );
}

#[test]
fn s053_provider_error_deny() {
    let (n, res, _) = calls_with(
        Stub::new(None, Some(ProviderError::Unavailable)),
        MissingMode::Deny,
    );
    assert_eq!(n, 0);
    let err = res.unwrap_err();
    assert!(matches!(
        &err,
        Error::NoPolicy { source, .. } if matches!(**source, ProviderError::Unavailable)
    ));
    assert_eq!(err.reason_code(), Reason::NO_POLICY);
    assert!(err.to_string().contains("policy provider unavailable"));
}

#[test]
fn s054_fallback_prefers_the_returned_policy() {
    let (n, _, _) = calls_with(
        Stub::new(
            Some(zero().max_attempts(5)),
            Some(ProviderError::Unavailable),
        ),
        MissingMode::Fallback,
    );
    assert_eq!(n, 5);
}

#[test]
fn s055_fallback_and_allow_unsafe_without_a_usable_policy() {
    assert_eq!(
        calls_with(
            Stub::new(Some(zero()), Some(ProviderError::Unavailable)),
            MissingMode::Fallback
        )
        .0,
        3
    );
    assert_eq!(
        calls_with(
            Stub::new(
                Some(zero().max_attempts(5)),
                Some(ProviderError::Unavailable)
            ),
            MissingMode::AllowUnsafe
        )
        .0,
        5
    );
    assert_eq!(
        calls_with(
            Stub::new(Some(zero()), Some(ProviderError::Unavailable)),
            MissingMode::AllowUnsafe
        )
        .0,
        3
    );
}

#[test]
fn s056_invalid_policy_from_the_provider_per_mode() {
    // An invalid policy reaches the engine as a provider error (it cannot be built); allow_unsafe
    // Uses the built-in default rather than an all-zero policy.
    let invalid = || {
        Stub::new(
            Some(zero().max_attempts(5)),
            Some(ProviderError::Invalid("retry.jitter=\"bogus\"".into())),
        )
    };
    let (n, res, _) = calls_with(invalid(), MissingMode::Deny);
    assert_eq!(n, 0);
    assert!(matches!(
        res.unwrap_err(),
        Error::NoPolicy { source, .. } if matches!(*source, ProviderError::Invalid(_))
    ));
    for (mode, expected) in [
        (MissingMode::Allow, 1),
        (MissingMode::Fallback, 5),
        (MissingMode::AllowUnsafe, 5),
    ] {
        let (n, _, tl) = calls_with(invalid(), mode);
        assert_eq!(n, expected, "{mode:?}");
        assert_eq!(
            tl.attribute("policy_error"),
            Some("recourse: invalid policy: retry.jitter=\"bogus\"")
        );
    }
}

#[test]
fn s057_unknown_key_with_a_static_provider_gets_the_default() {
    let (exec, vc) = vexec(Executor::builder().missing_policy(MissingMode::Deny));
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("nobody.Knows", always_fails(&calls)));
    assert_eq!(calls.get(), 3);
    assert!(matches!(res.unwrap_err(), Error::Operation { .. }));
    assert_eq!(tl.attribute("policy_source"), Some("default"));
}

#[test]
fn s058_static_policies_via_the_builder() {
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("test.static", zero().max_attempts(5).classifier("custom"))
            .missing_policy(MissingMode::Deny),
    );
    let v = run(&vc, exec.call("test.static", |_| async { Ok::<_, E>(1) })).unwrap();
    assert_eq!(v, 1);
    let p = exec.policy_for("test.static").unwrap();
    assert_eq!(p.retry.max_attempts, Some(5));
    assert_eq!(p.meta.source, PolicySource::Static);
}

#[test]
fn s098_source_labels() {
    // (b) key configured, (c) only a default, (d) empty, (e) circuit-only default (a real policy).
    let exec = Executor::builder()
        .policy("svc.op", zero().max_attempts(4))
        .build()
        .unwrap();
    assert_eq!(
        exec.policy_for("svc.op").unwrap().meta.source,
        PolicySource::Static
    );
    let exec = Executor::builder()
        .default_policy(zero().max_attempts(7))
        .build()
        .unwrap();
    let p = exec.policy_for("any.key").unwrap();
    assert_eq!(
        (p.meta.source, p.retry.max_attempts),
        (PolicySource::Static, Some(7))
    );
    let p = Executor::new().policy_for("any.key").unwrap();
    assert_eq!(
        (p.meta.source, p.retry.max_attempts),
        (PolicySource::Default, Some(3))
    );
    let exec = Executor::builder()
        .default_policy(zero().circuit(3, ms(500)))
        .build()
        .unwrap();
    let p = exec.policy_for("any.key").unwrap();
    assert_eq!(p.meta.source, PolicySource::Static);
    assert!(p.circuit.enabled);
}

#[test]
fn namespace_defaults_cover_keys_without_their_own_entry() {
    let exec = Executor::builder()
        .policy("payments.*", zero().max_attempts(2))
        .policy("payments.Charge", zero().max_attempts(4))
        .build()
        .unwrap();
    assert_eq!(
        exec.policy_for("payments.Charge")
            .unwrap()
            .retry
            .max_attempts,
        Some(4)
    );
    assert_eq!(
        exec.policy_for("payments.Refund")
            .unwrap()
            .retry
            .max_attempts,
        Some(2)
    );
    assert_eq!(
        exec.policy_for("inventory.Get").unwrap().retry.max_attempts,
        Some(3)
    );
}

#[test]
fn the_provider_is_asked_once_per_key_not_per_call() {
    // Resolution is cached per key (until the provider's generation changes).
    let stub = Stub::new(Some(zero().max_attempts(2)), None);
    let asked = stub.2.clone();
    let rec = Recording::default();
    let (exec, vc) = vexec(Executor::builder().provider(stub).observer(rec));
    for _ in 0..5 {
        let _ = run(&vc, exec.call("svc.op", |_| async { Ok::<_, E>(()) }));
    }
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}
