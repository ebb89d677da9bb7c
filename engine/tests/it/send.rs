//! Call futures are `Send` (so services can `tokio::spawn` them) when the operation's future
//! is; a compile-time check.

use recourse_engine::{CallOptions, Executor};

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
