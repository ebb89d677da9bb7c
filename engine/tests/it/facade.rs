//! The facade. The process-wide executor is set once for this test
//! binary; the "never initialised" default is in `tests/facade_default.rs` (its own process).

use std::sync::OnceLock;

use recourse_engine::{Executor, Policy, call, call_traced, global, init};

use crate::support::*;

fn setup() -> &'static Executor {
    static EXEC: OnceLock<Executor> = OnceLock::new();
    EXEC.get_or_init(|| {
        let exec = Executor::builder()
            .policy("recourse.success", Policy::builtin())
            .policy(
                "recourse.retry",
                zero().max_attempts(2).backoff(ms(1), ms(1), 1.0),
            )
            .policy(
                "recourse.timeline",
                zero().max_attempts(2).backoff(ms(1), ms(1), 1.0),
            )
            .build()
            .unwrap();
        init(exec.clone()).expect("first init");
        exec
    })
}

#[tokio::test(start_paused = true)]
async fn s117_facade_success_and_retry() {
    setup();
    assert_eq!(
        call("recourse.success", |_| async { Ok::<_, E>(7) })
            .await
            .unwrap(),
        7
    );
    let calls = Calls::default();
    assert_eq!(
        call("recourse.retry", fails_then(&calls, 1, 99))
            .await
            .unwrap(),
        99
    );
    assert_eq!(calls.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn s118_facade_with_capture() {
    setup();
    let calls = Calls::default();
    let (res, tl) = call_traced("recourse.timeline", fails_then(&calls, 1, 42)).await;
    assert_eq!((res.unwrap(), calls.get()), (42, 2));
    assert_eq!(
        (tl.key.as_str(), tl.attempts.len()),
        ("recourse.timeline", 2)
    );
}

#[tokio::test(start_paused = true)]
async fn s119_init_after_first_use_is_refused() {
    let first = setup();
    let other = Executor::builder()
        .policy("recourse.success", zero().max_attempts(9))
        .build()
        .unwrap();
    assert!(init(other).is_err(), "the running executor keeps serving");
    assert_eq!(
        global()
            .policy_for("recourse.success")
            .unwrap()
            .retry
            .max_attempts,
        Some(3)
    );
    assert_eq!(format!("{:?}", global()), format!("{first:?}"));
}
