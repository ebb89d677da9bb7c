//! Classifiers.

use std::fmt;

use recourse_engine::classify::{
    Always, Attempted, Auto, Canceled, Classifier, DeadlineExceeded, Http, HttpStatusError, Input,
    Kind, RetryAfter, Verdict,
};
use recourse_engine::clock::Clock;
use recourse_engine::{Error, Executor, Reason};

use crate::support::*;

fn classify(c: &dyn Classifier, result: Attempted<'_>) -> Verdict {
    let clock = Clock::tokio();
    c.classify(&Input::new(result, "test::E", &clock))
}

fn err(c: &dyn Classifier, e: &(dyn std::error::Error + 'static)) -> Verdict {
    classify(c, Attempted::Error(e))
}

fn kr(v: &Verdict) -> (Kind, &str) {
    (v.kind, v.reason.as_str())
}

/// An error that wraps another (to test the source-chain lookup).
#[derive(Debug)]
struct Wrapped(Box<dyn std::error::Error + Send + Sync>);
impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wrapped: {}", self.0)
    }
}
impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

fn status(code: u16, method: &str) -> HttpStatusError {
    HttpStatusError::new(code, method)
}

#[test]
fn s037_always_classifier_table() {
    assert_eq!(
        kr(&classify(&Always, Attempted::Value(&()))),
        (Kind::Success, "success")
    );
    assert_eq!(
        kr(&err(&Always, &Canceled)),
        (Kind::Abort, "context_canceled")
    );
    assert_eq!(
        kr(&err(&Always, &DeadlineExceeded)),
        (Kind::Retryable, "context_deadline_exceeded")
    );
    assert_eq!(
        kr(&err(&Always, &E(1))),
        (Kind::Retryable, "retryable_error")
    );
    assert_eq!(
        kr(&classify(&Always, Attempted::TimedOut)),
        (Kind::Retryable, "context_deadline_exceeded")
    );
}

#[test]
fn s038_http_success_5xx_404() {
    let h = Http::default();
    assert_eq!(
        kr(&classify(&h, Attempted::Value(&()))),
        (Kind::Success, "success")
    );
    assert_eq!(
        kr(&err(&h, &status(500, "GET"))),
        (Kind::Retryable, "http_5xx")
    );
    assert_eq!(
        kr(&err(&h, &status(500, "POST"))),
        (Kind::NonRetryable, "http_non_idempotent")
    );
    let v = err(&h, &status(404, "GET"));
    assert_eq!(kr(&v), (Kind::NonRetryable, "http_non_retryable_status"));
    assert_eq!(
        (
            v.attributes["status"].as_str(),
            v.attributes["method"].as_str()
        ),
        ("404", "GET")
    );
}

#[test]
fn s039_http_429_and_type_mismatch() {
    let h = Http::default();
    let e = status(429, "GET")
        .with_retry_after(Some(RetryAfter::Delay(std::time::Duration::from_secs(2))));
    let v = err(&h, &e);
    assert_eq!(kr(&v), (Kind::Retryable, "http_429"));
    assert_eq!(v.backoff_override, Some(std::time::Duration::from_secs(2)));
    assert_eq!(v.attributes["retry_after"], "2s");
    let v = err(&h, &E(1));
    assert_eq!(kr(&v), (Kind::NonRetryable, "classifier_type_mismatch"));
    assert_eq!(v.attributes["expected_type"], "HttpCarrier");
    assert_eq!(v.attributes["got_type"], "test::E");
}

#[test]
fn s040_http_statuses_and_methods() {
    let h = Http::default();
    let transport = |m: &str| HttpStatusError::transport(m.to_owned(), "connection reset");
    assert_eq!(
        kr(&err(&h, &transport("GET"))),
        (Kind::Retryable, "http_transport_error")
    );
    assert_eq!(
        kr(&err(&h, &transport("POST"))),
        (Kind::NonRetryable, "http_non_idempotent")
    );
    assert_eq!(
        kr(&err(&h, &status(408, "POST"))),
        (Kind::NonRetryable, "http_non_idempotent")
    );
    let v = err(&h, &status(429, "post"));
    assert_eq!(kr(&v), (Kind::NonRetryable, "http_non_idempotent"));
    assert_eq!(v.attributes["method"], "POST");
    let v = err(&h, &status(429, " get "));
    assert_eq!(kr(&v), (Kind::Retryable, "http_429"));
    assert_eq!(v.attributes["method"], "GET");
    assert_eq!(
        kr(&err(&h, &status(503, "PUT"))),
        (Kind::Retryable, "http_5xx")
    );
    // (g) Retry-After is honoured on 503 too.
    let e = status(503, "GET")
        .with_retry_after(Some(RetryAfter::Delay(std::time::Duration::from_secs(2))));
    let v = err(&h, &e);
    assert_eq!(kr(&v), (Kind::Retryable, "http_5xx"));
    assert_eq!(v.backoff_override, Some(std::time::Duration::from_secs(2)));
    for (code, m) in [(503, "CONNECT"), (503, ""), (500, "PATCH")] {
        assert_eq!(
            kr(&err(&h, &status(code, m))),
            (Kind::NonRetryable, "http_non_idempotent")
        );
    }
    assert_eq!(
        kr(&err(&h, &status(204, "GET"))),
        (Kind::Success, "success")
    );
    for code in [100, 301, 400, 425, 600] {
        assert_eq!(
            kr(&err(&h, &status(code, "GET"))),
            (Kind::NonRetryable, "http_non_retryable_status"),
            "{code}"
        );
    }
}

#[test]
fn s041_http_extra_retryable_set() {
    let h = Http::default().with_extra_retryable([425, 302]);
    assert_eq!(
        kr(&err(&h, &status(425, "GET"))),
        (Kind::Retryable, "http_425")
    );
    assert_eq!(
        kr(&err(&h, &status(302, "GET"))),
        (Kind::Retryable, "http_302")
    );
    assert_eq!(
        kr(&err(&h, &status(409, "GET"))),
        (Kind::NonRetryable, "http_non_retryable_status")
    );
}

#[test]
fn s042_context_errors_and_idempotency() {
    let h = Http::default();
    let cancelled = HttpStatusError::transport("POST", Canceled);
    assert_eq!(kr(&err(&h, &cancelled)), (Kind::Abort, "context_canceled"));
    // A POST that hit a deadline may have been applied: never retried.
    let timed_out = HttpStatusError::transport("POST", DeadlineExceeded);
    assert_eq!(
        kr(&err(&h, &timed_out)),
        (Kind::NonRetryable, "http_non_idempotent")
    );
    let timed_out_get = HttpStatusError::transport("GET", DeadlineExceeded);
    assert_eq!(
        kr(&err(&h, &timed_out_get)),
        (Kind::Retryable, "context_deadline_exceeded")
    );
}

#[test]
fn a_post_with_an_idempotency_key_is_retried_like_a_get() {
    // The carrier says the request may be resent (an `Idempotency-Key` header): its method
    // no longer decides.
    let h = Http::default();
    let keyed = |e: HttpStatusError| e.idempotent(true);
    assert_eq!(
        kr(&err(&h, &keyed(status(503, "POST")))),
        (Kind::Retryable, "http_5xx")
    );
    assert_eq!(
        kr(&err(
            &h,
            &keyed(HttpStatusError::transport("POST", DeadlineExceeded))
        )),
        (Kind::Retryable, "context_deadline_exceeded")
    );
    assert_eq!(
        kr(&err(
            &h,
            &keyed(HttpStatusError::transport("PATCH", "reset"))
        )),
        (Kind::Retryable, "http_transport_error")
    );
    // Still not for statuses that are final for anyone.
    assert_eq!(
        kr(&err(&h, &keyed(status(400, "POST")))),
        (Kind::NonRetryable, "http_non_retryable_status")
    );
    // And a carrier can say the opposite of its method.
    assert_eq!(
        kr(&err(&h, &status(503, "GET").idempotent(false))),
        (Kind::NonRetryable, "http_non_idempotent")
    );
    // `auto` reads the same carrier.
    assert_eq!(
        kr(&err(&Auto::default(), &keyed(status(503, "POST")))),
        (Kind::Retryable, "http_5xx")
    );
}

#[test]
fn s043_auto_classifier_dispatch() {
    let a = Auto::default();
    assert_eq!(err(&a, &status(404, "GET")).kind, Kind::NonRetryable);
    assert_eq!(kr(&err(&a, &E(1))), (Kind::Retryable, "retryable_error"));
    // A wrapped HTTP error is found through the source chain.
    let wrapped = Wrapped(Box::new(status(404, "GET")));
    assert_eq!(
        kr(&err(&a, &wrapped)),
        (Kind::NonRetryable, "http_non_retryable_status")
    );
    assert_eq!(
        kr(&err(&Http::default(), &wrapped)),
        (Kind::NonRetryable, "http_non_retryable_status")
    );
}

#[test]
fn s044_executor_with_the_http_classifier() {
    let (exec, vc) = with_policy(zero().max_attempts(3).classifier("http"));
    let calls = Calls::default();
    let c = calls.clone();
    let (res, tl) = run(
        &vc,
        exec.call_traced("svc.op", move |_| {
            c.hit();
            async { Err::<(), _>(status(500, "GET")) }
        }),
    );
    assert!(res.is_err());
    assert_eq!((calls.get(), tl.attempts.len()), (3, 3));
    assert_eq!(tl.attempts[0].outcome, Kind::Retryable);
    let (exec, vc) = with_policy(zero().max_attempts(5).classifier("http"));
    let calls = Calls::default();
    let c = calls.clone();
    let res = run(
        &vc,
        exec.call("svc.op", move |_| {
            c.hit();
            async { Err::<(), _>(status(404, "GET")) }
        }),
    );
    assert!(res.is_err());
    assert_eq!(calls.get(), 1);
}

#[test]
fn s045_missing_classifier_falls_back_and_annotates() {
    let (exec, vc) = with_policy(zero().max_attempts(2).classifier("does_not_exist"));
    let calls = Calls::default();
    let (_, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 2);
    assert_eq!(
        tl.attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [0, 1]
    );
    for a in &tl.attempts {
        assert_eq!(a.attributes["classifier_not_found"], "true");
        assert_eq!(a.attributes["classifier_name"], "does_not_exist");
        assert_eq!(a.attributes["classifier_fallback"], "default");
    }
}

/// A success under the stand-in classifier is annotated too, though a traced call's first
/// attempt runs bare under such a policy (the default classifier takes every value as a
/// success).
#[test]
fn a_traced_success_under_the_stand_in_classifier_is_annotated() {
    let (exec, vc) = with_policy(zero().max_attempts(2).classifier("does_not_exist"));
    // A first call compiles the key's policy: calls by key then find it at hand.
    assert!(run(&vc, exec.call("svc.op", |_| async { Ok::<_, E>(()) })).is_ok());
    for (result, tl) in [
        run(
            &vc,
            exec.call_traced("svc.op", |_| async { Ok::<_, E>(()) }),
        ),
        run(
            &vc,
            exec.key("svc.op").call_traced(|_| async { Ok::<_, E>(()) }),
        ),
    ] {
        assert!(result.is_ok());
        let [a] = &tl.attempts[..] else {
            panic!("one attempt: {:?}", tl.attempts)
        };
        assert_eq!(a.outcome, Kind::Success);
        assert_eq!(a.attributes["classifier_not_found"], "true");
        assert_eq!(a.attributes["classifier_name"], "does_not_exist");
        assert_eq!(a.attributes["classifier_fallback"], "default");
    }
}

#[test]
fn s046_missing_classifier_in_deny_mode() {
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().classifier("does_not_exist"))
            .missing_classifier(recourse_engine::MissingMode::Deny),
    );
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 0);
    let err = res.unwrap_err();
    assert!(matches!(&err, Error::NoClassifier { name } if name == "does_not_exist"));
    assert_eq!(
        err.to_string(),
        "recourse: classifier not found: does_not_exist"
    );
    assert!(tl.attempts.is_empty());
    assert_eq!(
        tl.attribute("classifier_error"),
        Some("classifier_not_found")
    );
    assert_eq!(tl.attribute("classifier_name"), Some("does_not_exist"));
}

#[derive(Debug)]
struct Fixed(Vec<Verdict>, std::sync::atomic::AtomicUsize);
impl Fixed {
    fn new(v: Vec<Verdict>) -> Fixed {
        Fixed(v, Default::default())
    }
}
impl Classifier for Fixed {
    fn classify(&self, _: &Input<'_>) -> Verdict {
        let i = self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0[i.min(self.0.len() - 1)].clone()
    }
}

fn exec_with(c: Fixed, attempts: u32) -> (Executor, recourse_engine::clock::VirtualClock) {
    vexec(
        Executor::builder()
            .policy("svc.op", zero().max_attempts(attempts).classifier("fixed"))
            .classifier("fixed", c),
    )
}

#[test]
fn s047_synthetic_terminal_errors() {
    let (exec, vc) = exec_with(Fixed::new(vec![Verdict::default()]), 2);
    let calls = Calls::default();
    let err = run(&vc, exec.call("svc.op", fails_then(&calls, 0, ()))).unwrap_err();
    assert_eq!(calls.get(), 1);
    assert_eq!(err.to_string(), "recourse: unknown_outcome");
    let (exec, vc) = exec_with(
        Fixed::new(vec![Verdict::new(Kind::NonRetryable, Reason::default())]),
        2,
    );
    let calls = Calls::default();
    let err = run(&vc, exec.call("svc.op", fails_then(&calls, 0, ()))).unwrap_err();
    assert_eq!(calls.get(), 1);
    assert_eq!(err.to_string(), "recourse: non_retryable_error");
}

#[test]
fn s048_success_despite_an_error_and_default_reasons() {
    // (a) A Success verdict on an error ends the call (and counts as success), but a Rust
    // Result has no value to return: the error comes back with reason `success`.
    let (exec, vc) = exec_with(Fixed::new(vec![Verdict::success()]), 3);
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert_eq!(calls.get(), 1);
    assert!(
        matches!(res, Err(Error::Operation { error: E(0), ref reason }) if *reason == Reason::SUCCESS)
    );
    assert_eq!(tl.outcome, recourse_engine::observe::CallOutcome::Success);
    // (b)
    let (exec, vc) = exec_with(
        Fixed::new(vec![
            Verdict::new(Kind::Retryable, Reason::default()),
            Verdict::new(Kind::Abort, Reason::default()),
        ]),
        3,
    );
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", always_fails(&Calls::default())),
    );
    let reasons: Vec<_> = tl.attempts.iter().map(|a| a.reason.to_string()).collect();
    assert_eq!(reasons, ["retryable_error", "abort"]);
}
