//! Timeouts and cancellation, on virtual time.

use std::future::pending;
use std::time::Duration;

use recourse_engine::classify::{DeadlineExceeded, Kind};
use recourse_engine::{CallOptions, CancellationToken, Error, Executor, Reason};

use crate::support::*;

#[test]
fn s030_per_attempt_timeout_is_retryable() {
    let (exec, vc) = with_policy(zero().max_attempts(3).timeout_per_attempt(ms(5)));
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", hangs(&calls)));
    assert_eq!(calls.get(), 3);
    let err = res.unwrap_err();
    assert!(
        matches!(&err, Error::AttemptTimeout { reason } if *reason == Reason::CONTEXT_DEADLINE_EXCEEDED),
        "{err:?}"
    );
    assert!(tl.attempts.iter().all(|a| a.outcome == Kind::Retryable));
    assert_eq!(tl.duration(), ms(5 + 10 + 5 + 20 + 5));
}

#[test]
fn s031_overall_timeout_ends_the_loop_instead_of_sleeping() {
    // A backoff that would pass the overall deadline is not slept.
    let (exec, vc) = with_policy(zero().max_attempts(10).overall_timeout(ms(5)).backoff(
        ms(100),
        ms(250),
        2.0,
    ));
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 1);
    let err = res.unwrap_err();
    assert_eq!(err.reason_code(), Reason::BACKOFF_EXCEEDS_DEADLINE);
    assert_eq!(
        err.operation_error(),
        Some(&E(0)),
        "carries the last operation error"
    );
    assert_eq!(tl.duration(), Duration::ZERO, "returned at once");
}

#[test]
fn s032_canceled_before_the_first_attempt() {
    let rec = Recording::default();
    let (exec, vc) = vexec(Executor::builder().observer(rec.clone()));
    let token = CancellationToken::new();
    token.cancel();
    let calls = Calls::default();
    let (res, _) = run(
        &vc,
        exec.call_with(
            "svc.op",
            &CallOptions::cancel_on(token),
            always_fails(&calls),
        ),
    );
    assert_eq!(calls.get(), 0);
    assert!(matches!(res.unwrap_err(), Error::Canceled { last: None }));
    let ev = rec.events();
    assert!(matches!(ev[0], Ev::Start { .. }));
    assert!(
        matches!(&ev[1], Ev::Failure { records: 0, reason, .. } if reason == "context_canceled")
    );
    assert_eq!(ev.len(), 2);
}

#[test]
fn s033_canceled_during_sleep() {
    let (exec, vc) = with_policy(zero().max_attempts(3).backoff(ms(100), ms(250), 2.0));
    let token = CancellationToken::new();
    let calls = Calls::default();
    let opts = CallOptions::cancel_on(token.clone()).traced();
    let clock = exec.clock().clone();
    let (res, tl) = run(&vc, async {
        let call = exec.call_with("svc.op", &opts, always_fails(&calls));
        let canceller = async {
            clock.sleep(ms(50)).await;
            token.cancel();
            pending::<()>().await
        };
        tokio::select! { r = call => r, _ = canceller => unreachable!() }
    });
    assert_eq!(calls.get(), 1);
    assert!(matches!(
        res.unwrap_err(),
        Error::Canceled { last: Some(E(0)) }
    ));
    assert_eq!(
        vc.now().since(recourse_engine::clock::VIRTUAL_EPOCH),
        ms(50)
    );
    // The call ends when it was cancelled, not when its last attempt ended.
    let tl = tl.expect("traced");
    assert_eq!(tl.attempts[0].end, tl.start);
    assert_eq!(tl.duration(), ms(50));
}

#[test]
fn s034_canceled_during_an_attempt() {
    let (exec, vc, rec) = recorded(zero().max_attempts(3));
    let token = CancellationToken::new();
    let calls = Calls::default();
    let (c, t) = (calls.clone(), token.clone());
    let (res, _) = run(
        &vc,
        exec.call_with("svc.op", &CallOptions::cancel_on(token), move |_| {
            c.hit();
            t.cancel();
            pending::<Result<(), E>>()
        }),
    );
    assert_eq!(calls.get(), 1);
    assert!(matches!(res.unwrap_err(), Error::Canceled { .. }));
    let attempts: Vec<_> = rec
        .events()
        .into_iter()
        .filter(|e| matches!(e, Ev::Attempt { .. }))
        .collect();
    assert!(
        matches!(&attempts[..], [Ev::Attempt { outcome: Kind::Abort, reason, .. }] if reason == "context_canceled")
    );
    assert!(matches!(rec.events().last(), Some(Ev::Failure { .. })));
}

#[test]
fn s035_overall_timeout_while_the_operation_blocks() {
    for observed in [true, false] {
        let rec = Recording::default();
        let mut b =
            Executor::builder().policy("svc.op", zero().max_attempts(3).overall_timeout(ms(20)));
        if observed {
            b = b.observer(rec.clone());
        }
        let (exec, vc) = vexec(b);
        let calls = Calls::default();
        let res = run(&vc, exec.call("svc.op", hangs(&calls)));
        assert_eq!(calls.get(), 1);
        let err = res.unwrap_err();
        assert!(
            matches!(&err, Error::DeadlineExceeded { reason, last: None } if *reason == Reason::CONTEXT_DEADLINE_EXCEEDED)
        );
        assert_eq!(
            vc.now().since(recourse_engine::clock::VIRTUAL_EPOCH),
            ms(20)
        );
        if observed {
            let attempts: Vec<_> = rec
                .events()
                .into_iter()
                .filter(|e| matches!(e, Ev::Attempt { .. }))
                .collect();
            assert!(
                matches!(&attempts[..], [Ev::Attempt { reason, .. }] if reason == "context_deadline_exceeded")
            );
        }
    }
}

#[test]
fn s036_callers_cancellation_wins_over_the_attempt_deadline() {
    let (exec, vc) = with_policy(zero().max_attempts(3).timeout_per_attempt(ms(5)));
    let token = CancellationToken::new();
    let t = token.clone();
    let (res, _) = run(
        &vc,
        exec.call_with("svc.op", &CallOptions::cancel_on(token), move |info| {
            let last = info.attempt == 2;
            let t = t.clone();
            async move {
                if last {
                    t.cancel(); // the caller cancels just before the op reports its deadline
                    return Err::<(), _>(DeadlineExceeded);
                }
                pending().await
            }
        }),
    );
    assert!(matches!(res.unwrap_err(), Error::Canceled { .. }));
}

#[test]
fn dropping_the_call_cancels_it_and_reports_one_failure() {
    let rec = Recording::default();
    let (exec, vc) = vexec(Executor::builder().observer(rec.clone()));
    let calls = Calls::default();
    run(&vc, async {
        let call = exec.call("svc.op", hangs(&calls));
        // Give up after 1s: the call future is dropped mid-attempt.
        tokio::select! { _ = call => {}, _ = exec.clock().sleep(Duration::from_secs(1)) => {} }
    });
    let ev = rec.events();
    assert_eq!(calls.get(), 1);
    assert!(
        matches!(ev.last(), Some(Ev::Failure { reason, .. }) if reason == "context_canceled"),
        "{ev:?}"
    );
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Ev::Failure { .. } | Ev::Success { .. }))
            .count(),
        1
    );
}
