//! The remote provider on virtual time: it never hangs a call, and serves the last known good
//! policy while its source fails.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use recourse_engine::clock::{Clock, VirtualClock};
use recourse_engine::provider::{
    FetchError, ProviderError, RemoteProvider, RemoteSource, SourceFuture,
};
use recourse_engine::{Error, Executor, Key, MissingMode, Policy};

use crate::support::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Found(u32),
    NotFound,
    Fail,
    Hang,
}

/// A control plane scripted by the test, answering after `latency` on the virtual clock.
#[derive(Debug, Clone)]
struct Plane {
    mode: Arc<Mutex<Mode>>,
    fetches: Arc<AtomicU32>,
    clock: Clock,
    latency: Duration,
}

impl Plane {
    fn new(clock: &Clock, mode: Mode) -> Plane {
        Plane {
            mode: Arc::new(Mutex::new(mode)),
            fetches: Arc::default(),
            clock: clock.clone(),
            latency: ms(5),
        }
    }
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
    fn fetches(&self) -> u32 {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl RemoteSource for Plane {
    fn fetch<'a>(&'a self, _key: &'a Key) -> SourceFuture<'a> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let mode = *self.mode.lock().unwrap();
        Box::pin(async move {
            self.clock.sleep(self.latency).await;
            match mode {
                Mode::Found(n) => Ok(Policy::new().max_attempts(n)),
                Mode::NotFound => Err(FetchError::NotFound),
                Mode::Fail => Err(FetchError::Failed("connection refused".into())),
                Mode::Hang => std::future::pending().await,
            }
        })
    }
}

fn setup(
    mode: Mode,
    configure: impl FnOnce(RemoteProvider) -> RemoteProvider,
    missing: MissingMode,
) -> (Executor, VirtualClock, Plane) {
    let vc = VirtualClock::new();
    let plane = Plane::new(&vc.clock(), mode);
    let provider = configure(RemoteProvider::new(plane.clone()).clock(vc.clock()));
    let exec = Executor::builder()
        .provider(provider)
        .clock(vc.clock())
        .missing_policy(missing)
        .build()
        .unwrap();
    (exec, vc, plane)
}

fn attempts_of(exec: &Executor, vc: &VirtualClock) -> Result<usize, Error<E>> {
    let calls = Calls::default();
    let (res, _) = vc.block_on(exec.call_traced("svc.op", always_fails(&calls)));
    match res {
        Err(Error::Operation { .. }) => Ok(calls.get() as usize),
        Err(e) => Err(e),
        Ok(()) => unreachable!(),
    }
}

#[test]
fn s092_s096_cache_hits_and_expiry_through_the_executor() {
    // (A failing call with 5 attempts takes 150ms of backoff: the TTL is longer.)
    let (exec, vc, plane) = setup(Mode::Found(5), |p| p.ttl(ms(1000)), MissingMode::Deny);
    assert_eq!(attempts_of(&exec, &vc).unwrap(), 5);
    assert_eq!(plane.fetches(), 1);
    assert_eq!(attempts_of(&exec, &vc).unwrap(), 5);
    assert_eq!(plane.fetches(), 1, "served from the cache");
    vc.advance(ms(1100));
    assert_eq!(attempts_of(&exec, &vc).unwrap(), 5);
    assert_eq!(plane.fetches(), 2, "expired, fetched again (s094)");
}

#[test]
fn s093_s097_not_found_is_cached_for_the_negative_ttl() {
    let (exec, vc, plane) = setup(
        Mode::NotFound,
        |p| p.negative_ttl(Duration::from_secs(600)),
        MissingMode::Deny,
    );
    for _ in 0..2 {
        let err = attempts_of(&exec, &vc).unwrap_err();
        assert!(
            matches!(&err, Error::NoPolicy { source, .. } if matches!(**source, ProviderError::NotFound)),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "recourse: policy not found for svc.op: recourse: policy not found"
        );
    }
    assert_eq!(plane.fetches(), 1);
}

#[test]
fn s095_fetch_errors_are_not_cached() {
    let (exec, vc, plane) = setup(Mode::Fail, |p| p, MissingMode::Deny);
    for _ in 0..2 {
        assert!(matches!(
            attempts_of(&exec, &vc),
            Err(Error::NoPolicy { .. })
        ));
    }
    assert_eq!(plane.fetches(), 2);
}

/// Polls every future to completion together (on the calling task).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none()
                && let Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *slot = Some(v);
            }
        }
        if out.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[test]
fn one_fetch_for_a_hundred_concurrent_misses() {
    let (exec, vc, plane) = setup(Mode::Found(2), |p| p, MissingMode::Deny);
    let calls = Calls::default();
    let results = vc.block_on(join_all(
        (0..100)
            .map(|_| exec.call("svc.op", always_fails(&calls)))
            .collect(),
    ));
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::Operation { .. })))
    );
    assert_eq!(plane.fetches(), 1, "single flight");
    assert_eq!(
        calls.get(),
        200,
        "every call ran under the fetched policy (2 attempts)"
    );
}

#[test]
fn the_last_known_good_policy_is_served_during_an_outage() {
    let (exec, vc, plane) = setup(Mode::Found(4), |p| p.ttl(ms(100)), MissingMode::Deny);
    assert_eq!(attempts_of(&exec, &vc).unwrap(), 4);
    plane.set(Mode::Fail);
    vc.advance(ms(150));
    let calls = Calls::default();
    let (res, tl) = vc.block_on(exec.call_traced("svc.op", always_fails(&calls)));
    assert!(matches!(res, Err(Error::Operation { .. })));
    assert_eq!(calls.get(), 4);
    assert_eq!(tl.attribute("policy_source"), Some("lkg"));
    assert_eq!(plane.fetches(), 2, "it did try the source");
}

#[test]
fn no_call_waits_longer_than_the_fetch_timeout() {
    for (missing, expect_policy) in [(MissingMode::Deny, false), (MissingMode::Fallback, true)] {
        let (exec, vc, _plane) = setup(Mode::Hang, |p| p.fetch_timeout(ms(50)), missing);
        let start = vc.now();
        let calls = Calls::default();
        let res = vc.block_on(exec.call("svc.op", fails_then(&calls, 0, ())));
        assert_eq!(
            vc.now().since(start),
            ms(50),
            "waited exactly the fetch timeout"
        );
        assert_eq!(res.is_ok(), expect_policy, "{missing:?}");
    }
}

#[test]
fn the_last_known_good_set_survives_a_restart() {
    let file = std::env::temp_dir().join(format!("recourse-lkg-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let f = file.clone();
    let (exec, vc, _plane) = setup(Mode::Found(3), move |p| p.persist_to(&f), MissingMode::Deny);
    assert_eq!(attempts_of(&exec, &vc).unwrap(), 3);
    // A new process, the control plane down: the persisted policy is served.
    let f = file.clone();
    let (exec, vc, _plane) = setup(Mode::Fail, move |p| p.persist_to(&f), MissingMode::Deny);
    assert_eq!(attempts_of(&exec, &vc).unwrap(), 3);
    std::fs::remove_file(&file).ok();
}
