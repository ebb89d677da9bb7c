//! Call futures are `Send` (so services can `tokio::spawn` them) when the operation's future
//! is; a compile-time check. And they stay small beside the operation's future: a service
//! spawns or stores one per request.

use recourse_engine::{AttemptInfo, CallOptions, Executor};

fn assert_send<T: Send>(_: &T) {}

#[test]
fn call_futures_are_send() {
    let exec = Executor::new();
    let handle = exec.key("svc.op");
    assert_send(&exec.call("svc.op", |_| async { Ok::<_, std::io::Error>(1) }));
    assert_send(&exec.call_traced("svc.op", |_| async { Ok::<_, std::io::Error>(1) }));
    assert_send(
        &exec.call_with("svc.op", &CallOptions::default(), |_| async {
            Ok::<_, std::io::Error>(1)
        }),
    );
    assert_send(&handle.call(|_| async { Ok::<_, std::io::Error>(1) }));
    assert_send(&recourse_engine::call("svc.op", |_| async {
        Ok::<_, std::io::Error>(1)
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_on_spawned_tasks() {
    let exec = Executor::builder().build().unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let exec = exec.clone();
            tokio::spawn(async move {
                exec.call("svc.op", move |_| async move { Ok::<_, std::io::Error>(i) })
                    .await
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap(), i);
    }
}

/// An operation whose future holds 1 KiB across an await, as a real HTTP client's does.
async fn big(_: AttemptInfo) -> Result<u8, std::io::Error> {
    let buf = [1u8; 1024];
    tokio::task::yield_now().await;
    Ok(std::hint::black_box(&buf)[0])
}

#[test]
fn a_call_future_holds_the_operation_once_per_group_member() {
    let exec = Executor::new();
    let handle = exec.key("svc.op");
    let op = std::mem::size_of_val(&big(AttemptInfo::default()));
    let call = std::mem::size_of_val(&handle.call(big));
    let by_key = std::mem::size_of_val(&exec.call("svc.op", big));
    // A hedged group keeps up to four attempts in flight, inline (no allocation); the loop's
    // own bookkeeping (timers, the recorder, budget releases and bulkhead slots per member)
    // is a few KiB at most, and a bare first attempt shares its space with the loop (as does
    // an observed call's, whose loop keeps the call and operation it was started with: about
    // 330 bytes more). Wrapping each member in an `async` block stored its future three times
    // (17 KiB here).
    for size in [call, by_key] {
        assert!(
            size <= 4 * op + 4 * 1024,
            "a call future of {size} bytes for an operation of {op}"
        );
    }
}
