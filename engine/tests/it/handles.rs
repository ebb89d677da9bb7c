//! Calls through a key handle. When nothing surrounds the attempts (no clock, budget,
//! breaker or hedge, and nobody records the call) the handle polls them bare; these tests
//! hold it to the call loop's behaviour wherever that shortcut could show.

use std::future::{Future, ready};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use recourse_engine::{AttemptInfo, Error, Executor, Policy, Reason};

use crate::support::*;

/// A bare-eligible policy: attempts and backoff only.
fn plain(attempts: u32) -> Policy {
    zero().max_attempts(attempts).id("plain-v1")
}

/// An operation that records the `AttemptInfo` of every invocation and fails the first
/// `fails` of them.
fn noting(
    seen: &Arc<Mutex<Vec<AttemptInfo>>>,
    fails: u32,
) -> impl FnMut(AttemptInfo) -> std::future::Ready<Result<u32, E>> + use<> {
    let seen = seen.clone();
    move |info| {
        let mut seen = seen.lock().unwrap();
        seen.push(info);
        let n = seen.len() as u32 - 1;
        ready(if n < fails { Err(E(n)) } else { Ok(n) })
    }
}

#[test]
fn a_handle_call_invokes_nothing_until_polled() {
    let (exec, _vc) = with_policy(plain(3));
    let handle = exec.key("svc.op");
    let calls = Calls::default();
    let call = handle.call(always_fails(&calls));
    drop(call);
    assert_eq!(
        calls.get(),
        0,
        "creating and dropping the future ran no attempt"
    );
}

#[test]
fn a_first_success_through_a_handle_is_attempt_zero_under_the_policy_id() {
    let (exec, vc) = with_policy(plain(3));
    let handle = exec.key("svc.op");
    let seen = Arc::default();
    assert_eq!(run(&vc, handle.call(noting(&seen, 0))).unwrap(), 0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].attempt, 0);
    assert_eq!(
        seen[0].policy_id.and_then(|id| id.name()).as_deref(),
        Some("plain-v1")
    );
    assert_eq!(seen[0].deadline, None);
}

#[test]
fn a_failed_first_attempt_through_a_handle_is_retried_as_any_other() {
    let (exec, vc) = with_policy(plain(4));
    let handle = exec.key("svc.op");
    let seen = Arc::default();
    assert_eq!(run(&vc, handle.call(noting(&seen, 2))).unwrap(), 2);
    let attempts: Vec<u32> = seen.lock().unwrap().iter().map(|i| i.attempt).collect();
    assert_eq!(attempts, [0, 1, 2]);

    let seen = Arc::default();
    let err = run(&vc, handle.call(noting(&seen, u32::MAX))).unwrap_err();
    assert_eq!(err.reason_code(), Reason::RETRYABLE_ERROR);
    assert!(
        matches!(err, Error::Operation { error: E(3), .. }),
        "the last attempt's error is returned: {err:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "max_attempts bounds the call"
    );
}

#[test]
fn a_handle_call_keeps_the_policy_it_started_with() {
    let provider = Reloadable::new(plain(3));
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    let handle = exec.key("svc.op");
    let calls = Calls::default();
    let reload = || provider.set(zero().max_attempts(1).timeout_per_attempt(ms(10)));

    // The policy changes while the first attempt is in flight: the call goes on with the
    // three attempts it started with.
    let mut reloaded = false;
    let op = |_: AttemptInfo| {
        let n = calls.hit();
        if !reloaded {
            reloaded = true;
            reload();
        }
        ready(if n < 2 { Err(E(n)) } else { Ok(n) })
    };
    assert_eq!(run(&vc, handle.call(op)).unwrap(), 2);
    assert_eq!(calls.get(), 3);

    // The next call runs under the new policy: one attempt, timed out.
    let hung = Calls::default();
    let err = run(&vc, handle.call(hangs(&hung))).unwrap_err();
    assert_eq!(err.reason_code(), Reason::CONTEXT_DEADLINE_EXCEEDED);
    assert_eq!(hung.get(), 1);
}

#[test]
fn a_pending_first_attempt_is_polled_again_when_woken() {
    let (exec, _vc) = with_policy(plain(2));
    let handle = exec.key("svc.op");
    let (tx, rx) = tokio::sync::oneshot::channel::<Result<u32, E>>();
    let mut rx = Some(rx);
    let mut call = pin!(handle.call(move |_| {
        let rx = rx.take().expect("one attempt");
        async move { rx.await.expect("sent") }
    }));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert!(call.as_mut().poll(&mut cx).is_pending());
    tx.send(Ok(7)).unwrap();
    assert!(matches!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(7))));
}

#[test]
fn an_observer_sees_every_attempt_of_a_handle_call() {
    let (exec, vc, rec) = recorded(plain(3));
    let handle = exec.key("svc.op");
    let calls = Calls::default();
    assert!(run(&vc, handle.call(fails_then(&calls, 1, ()))).is_ok());
    let attempts: Vec<u32> = rec
        .events()
        .iter()
        .filter_map(|e| match e {
            Ev::Attempt { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [0, 1]);
    assert!(matches!(rec.events()[0], Ev::Start { .. }));
    assert!(matches!(
        rec.events().last(),
        Some(Ev::Success { records: 2 })
    ));
}

/// Retries its first error and panics on the second; every value is a plain success, so a
/// handle runs its calls bare.
#[derive(Debug, Default)]
struct PanicsOnSecondError(std::sync::atomic::AtomicU32);

impl recourse_engine::classify::Classifier for PanicsOnSecondError {
    fn classify(
        &self,
        input: &recourse_engine::classify::Input<'_>,
    ) -> recourse_engine::classify::Verdict {
        use recourse_engine::classify::{Attempted, Kind, Verdict};
        if let Attempted::Value(_) = input.result {
            return Verdict::success();
        }
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2 == 1 {
            panic!("classifier exploded");
        }
        Verdict::new(Kind::Retryable, Reason::RETRYABLE_ERROR)
    }

    fn values_succeed(&self) -> bool {
        true
    }
}

#[test]
fn a_classifier_panic_on_a_retry_through_a_handle_ends_the_call_as_in_the_loop() {
    // The bare path classifies its retries too; with `recover_panics`, a panic there ends the
    // call as the call loop ends it: after the same attempts, with the same error.
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", plain(3).classifier("flaky"))
            .classifier("flaky", PanicsOnSecondError::default())
            .recover_panics(true),
    );
    let calls = Calls::default();
    let bare = run(&vc, exec.key("svc.op").call(always_fails(&calls))).unwrap_err();
    assert_eq!(calls.get(), 2, "the second error's panic ends the call");
    let traced = Calls::default();
    let (looped, timeline) = run(&vc, exec.call_traced("svc.op", always_fails(&traced)));
    assert_eq!(traced.get(), 2);
    assert_eq!(timeline.attempts[1].reason, Reason::PANIC_IN_CLASSIFIER);
    for err in [bare, looped.unwrap_err()] {
        assert!(
            matches!(
                err,
                Error::Panicked {
                    component: recourse_engine::Component::Classifier,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
