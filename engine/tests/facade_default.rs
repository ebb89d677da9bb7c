//! s120: the facade before any `init` uses the default executor (its own test
//! binary, because the process-wide executor can be set only once).

#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[derive(Debug)]
struct Plain;
impl std::fmt::Display for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("plain")
    }
}
impl std::error::Error for Plain {}

#[tokio::test(start_paused = true)]
async fn s120_facade_defaults() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let start = tokio::time::Instant::now();
    let (res, tl) = recourse_engine::call_traced("any.thing", move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>(Plain) }
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(matches!(
        res.unwrap_err(),
        recourse_engine::Error::Operation { .. }
    ));
    assert_eq!(
        tl.backoffs(),
        [Duration::from_millis(10), Duration::from_millis(20)]
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(30),
        "real gaps, on tokio's paused clock"
    );
    // The default executor: auto classifier (a 404 stops at once), unlimited budget registered.
    let e = recourse_engine::global();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let _ = e
        .call("any.http", move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(recourse_engine::classify::HttpStatusError::new(404, "GET")) }
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
