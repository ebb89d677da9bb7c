//! Budgets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use recourse_engine::budget::{Budget, BudgetKind, Decision, Release, Request, TokenBucket};
use recourse_engine::clock::{Timestamp, VirtualClock};
use recourse_engine::policy::BudgetRef;
use recourse_engine::{BuildError, Error, Executor, MissingMode, Reason};

use crate::support::*;

/// Denies the attempt with this retry index.
#[derive(Debug)]
struct DenyIndex(u32);
impl Budget for DenyIndex {
    fn allow(&self, req: &Request<'_>) -> Decision {
        if req.attempt == self.0 {
            Decision::deny()
        } else {
            Decision::allow()
        }
    }
}

fn gated(name: &str) -> BudgetRef {
    BudgetRef {
        gate_first_attempt: true,
        ..BudgetRef::named(name)
    }
}

fn budget_event(attempt: u32, budget: &str, mode: &str, allowed: bool, reason: &str) -> Ev {
    Ev::Budget {
        attempt,
        kind: BudgetKind::Retry,
        budget: budget.into(),
        mode: mode.into(),
        allowed,
        reason: reason.into(),
    }
}

#[test]
fn s059_denied_second_attempt_returns_the_previous_error() {
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().max_attempts(3).budget("b"))
            .budget("b", DenyIndex(1)),
    );
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 1);
    let err = res.unwrap_err();
    // A typed denial carrying the budget, the reason and the last real error.
    assert!(
        matches!(&err, Error::BudgetDenied { budget, reason, last: Some(E(0)) } if &**budget == "b" && *reason == Reason::BUDGET_DENIED)
    );
    assert_eq!(tl.error.as_deref(), Some(err.to_string().as_str()));
    assert_eq!(tl.attempts.len(), 2);
    let denied = &tl.attempts[1];
    assert!(!denied.budget_allowed);
    assert_eq!(denied.budget_reason, Reason::BUDGET_DENIED);
    assert_eq!(denied.error, None);
    assert_eq!(denied.backoff, ms(10));
}

#[test]
fn s060_same_unobserved() {
    // The same error without observer or capture.
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().max_attempts(3).budget("b"))
            .budget("b", DenyIndex(1)),
    );
    first_attempt_runs_then_retry_is_denied(&exec, &vc);
}

#[test]
fn s061_missing_budget_denies_by_default() {
    let mut p = zero().max_attempts(2);
    p.retry.budget = gated("missing");
    let (exec, vc) = with_policy(p);
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 0);
    assert!(
        matches!(res.unwrap_err(), Error::BudgetDenied { reason, .. } if reason == Reason::BUDGET_NOT_FOUND)
    );
    assert_eq!(tl.attempts.len(), 1);
    assert!(!tl.attempts[0].budget_allowed);
    assert_eq!(tl.attempts[0].budget_reason, Reason::BUDGET_NOT_FOUND);
    // Without gate_first_attempt the first attempt runs and the retry is denied.
    let (exec, vc) = with_policy(zero().max_attempts(2).budget("missing"));
    first_attempt_runs_then_retry_is_denied(&exec, &vc);
}

#[test]
fn s062_missing_budget_unsafe_allow() {
    let mut p = zero().max_attempts(2);
    p.retry.budget = gated("missing");
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .missing_budget(MissingMode::AllowUnsafe),
    );
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 2);
    assert!(res.is_err());
    assert_eq!(tl.attempts.len(), 2);
    assert!(
        tl.attempts
            .iter()
            .all(|a| a.budget_allowed && a.budget_reason == Reason::BUDGET_NOT_FOUND)
    );
}

#[test]
fn s063_missing_budget_fallback_allows_with_a_trace() {
    // Fallback allows and records the missing reason.
    let mut p = zero().max_attempts(2);
    p.retry.budget = gated("missing");
    let rec = Recording::default();
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .missing_budget(MissingMode::Fallback)
            .observer(rec.clone()),
    );
    let calls = Calls::default();
    let _ = run(&vc, exec.call("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 2);
    assert_eq!(
        rec.budget_events()[0],
        budget_event(0, "missing", "fallback", true, "budget_not_found")
    );
    // (b) There is always a registry (with `unlimited`): an unknown name is budget_not_found.
    let mut p = zero();
    p.retry.budget = gated("missing");
    let (exec, vc, rec) = recorded(p);
    let err = run(&vc, exec.call("svc.op", always_fails(&Calls::default()))).unwrap_err();
    assert_eq!(err.reason_code(), Reason::BUDGET_NOT_FOUND);
    assert_eq!(
        rec.budget_events(),
        [budget_event(
            0,
            "missing",
            "deny",
            false,
            "budget_not_found"
        )]
    );
}

#[derive(Debug, Default)]
struct Counting {
    checks: Arc<AtomicU32>,
    releases: Arc<AtomicU32>,
}
impl Budget for Counting {
    fn allow(&self, _: &Request<'_>) -> Decision {
        self.checks.fetch_add(1, Ordering::SeqCst);
        let r = self.releases.clone();
        Decision {
            release: Some(Release::new(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })),
            ..Decision::allow()
        }
    }
}

#[test]
fn s064_release_runs_once_per_allowed_attempt() {
    let counting = Counting::default();
    let (checks, releases) = (counting.checks.clone(), counting.releases.clone());
    let mut p = zero().max_attempts(2);
    p.retry.budget = gated("c");
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .budget("c", counting),
    );
    let calls = Calls::default();
    let v = run(&vc, exec.call("svc.op", fails_then(&calls, 1, 42))).unwrap();
    assert_eq!((v, calls.get()), (42, 2));
    assert_eq!(
        (
            checks.load(Ordering::SeqCst),
            releases.load(Ordering::SeqCst)
        ),
        (2, 2)
    );
    // (b) A release runs at most once, however it ends.
    let n = Arc::new(AtomicU32::new(0));
    let m = n.clone();
    let r = Release::new(move || {
        m.fetch_add(1, Ordering::SeqCst);
    });
    r.run();
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn release_runs_when_the_call_is_dropped_mid_attempt() {
    let counting = Counting::default();
    let releases = counting.releases.clone();
    let mut p = zero();
    p.retry.budget = gated("c");
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .budget("c", counting),
    );
    run(&vc, async {
        let call = exec.call("svc.op", |_| std::future::pending::<Result<(), E>>());
        tokio::select! { _ = call => {}, _ = exec.clock().sleep(ms(5)) => {} }
    });
    assert_eq!(releases.load(Ordering::SeqCst), 1);
}

#[test]
fn s065_budget_events() {
    // (a) unlimited gating every attempt: exactly one event.
    let mut p = zero();
    p.retry.budget = gated("unlimited");
    let (exec, vc, rec) = recorded(p);
    run(&vc, exec.call("svc.op", |_| async { Ok::<_, E>(()) })).unwrap();
    assert_eq!(
        rec.budget_events(),
        [budget_event(0, "unlimited", "standard", true, "allowed")]
    );
    // (a') a retry budget does not gate the first attempt; no event, reason not_gated.
    let (exec, vc, rec) = recorded(zero().budget("unlimited"));
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", |_| async { Ok::<_, E>(()) }),
    );
    assert!(rec.budget_events().is_empty());
    assert_eq!(tl.attempts[0].budget_reason, Reason::NOT_GATED);
    // (b) missing budget, deny mode.
    let mut p = zero();
    p.retry.budget = gated("missing_does_not_exist");
    let (exec, vc, rec) = recorded(p);
    assert!(run(&vc, exec.call("svc.op", |_| async { Ok::<_, E>(()) })).is_err());
    assert_eq!(
        rec.budget_events(),
        [budget_event(
            0,
            "missing_does_not_exist",
            "deny",
            false,
            "budget_not_found"
        )]
    );
    // (c) no budget: no events, every record `no_budget`.
    let rec = Recording::default();
    let (exec, vc) = vexec(Executor::builder().observer(rec.clone()));
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", fails_then(&Calls::default(), 2, ())),
    );
    assert!(rec.budget_events().is_empty());
    assert_eq!(tl.attempts.len(), 3);
    assert!(
        tl.attempts
            .iter()
            .all(|a| a.budget_allowed && a.budget_reason == Reason::NO_BUDGET)
    );
}

#[test]
fn s066_the_first_attempt_is_budgeted_only_when_asked() {
    // An empty retry budget never blocks first calls...
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().budget("empty"))
            .budget("empty", TokenBucket::new(0, 0.0)),
    );
    let calls = Calls::default();
    let err = run(&vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    assert_eq!(
        calls.get(),
        1,
        "the first attempt ran; its retry was denied"
    );
    assert!(matches!(err, Error::BudgetDenied { reason, .. } if reason == Reason::BUDGET_DENIED));
    // ... unless the reference says gate_first_attempt.
    let mut p = zero();
    p.retry.budget = gated("empty");
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .budget("empty", TokenBucket::new(0, 0.0)),
    );
    let calls = Calls::default();
    let err = run(&vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 0);
    assert!(matches!(err, Error::BudgetDenied { last: None, .. }));
}

const T0: Timestamp = Timestamp::from_nanos(1_000_000_000_000);

fn ask(b: &TokenBucket, cost: u32, now: Timestamp) -> bool {
    let key = recourse_engine::Key::parse("k.k");
    let mut request = Request::retry(&key, now);
    request.cost = cost;
    b.allow(&request).allowed
}

#[test]
fn s067_token_bucket_capacity_and_edge_cases() {
    let b = TokenBucket::new(2, 0.0);
    assert_eq!(
        [ask(&b, 0, T0), ask(&b, 0, T0), ask(&b, 0, T0)],
        [true, true, false]
    );
    assert!(!ask(&TokenBucket::new(3, 0.0), 5, T0));
    assert!(!ask(&TokenBucket::new(0, 0.0), 1, T0));
    assert!(!ask(&TokenBucket::new(1, f64::NAN), 2, T0));
}

#[test]
fn s068_token_bucket_refill_on_the_executor_clock() {
    let b = TokenBucket::new(1, 100.0);
    assert!(ask(&b, 1, T0));
    assert!(!ask(&b, 1, T0));
    assert!(ask(&b, 1, T0.plus(ms(15))));
}

#[test]
fn s069_token_bucket_concurrency_admits_exactly_the_capacity() {
    let b = Arc::new(TokenBucket::new(1000, 0.0));
    let workers: Vec<_> = (0..10)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || (0..200).filter(|_| ask(&b, 1, T0)).count())
        })
        .collect();
    let allowed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(allowed, 1000);
}

#[test]
fn s070_budget_registry_validation() {
    let e = Executor::builder()
        .budget("", TokenBucket::new(1, 0.0))
        .build()
        .unwrap_err();
    assert_eq!(e, BuildError::EmptyBudgetName);
    assert_eq!(e.to_string(), "budget name cannot be empty");
    let e = Executor::builder()
        .budget("   ", TokenBucket::new(1, 0.0))
        .build()
        .unwrap_err();
    assert_eq!(e, BuildError::EmptyBudgetName);
    let mut p = zero();
    p.retry.budget = gated("sp");
    let (exec, vc) = vexec(
        Executor::builder()
            .budget(" sp ", TokenBucket::new(1, 0.0))
            .policy("svc.op", p),
    );
    assert!(
        run(&vc, exec.call("svc.op", |_| async { Ok::<_, E>(()) })).is_ok(),
        "` sp ` is found as `sp`"
    );
}

/// The first attempt runs (not gated) and fails; the retry is denied, and the
/// error carries that first failure.
fn first_attempt_runs_then_retry_is_denied(exec: &Executor, vc: &VirtualClock) {
    let calls = Calls::default();
    let err = run(vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 1);
    assert!(matches!(
        err,
        Error::BudgetDenied {
            last: Some(E(0)),
            ..
        }
    ));
}
