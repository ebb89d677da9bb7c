//! Proves the zero-allocation fast path (docs/performance.md): a first attempt that succeeds, with
//! no timeline and no observer, allocates nothing, nor do three failing attempts, a hedged
//! call under a percentile trigger, or a call seen by an observer that reads no timeline; a
//! traced success, or one seen by an observer that reads timelines, allocates once (the boxed
//! timeline; its attempts are stored inline). Its own test binary, because it installs a counting global allocator.

#![allow(unsafe_code, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use recourse_engine::clock::VirtualClock;
use recourse_engine::provider::StaticProvider;
use recourse_engine::{AttemptRecord, CallEnd, Detail, Executor, Key, Observer, Policy, key};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards every request to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Reads timelines (the default).
#[derive(Debug)]
struct NoOp;
impl Observer for NoOp {}

/// Told every event, or counts only; reads no timeline. Counts what it hears.
#[derive(Debug)]
struct Heard(AtomicU64, Detail);
impl Observer for Heard {
    fn detail(&self) -> Detail {
        self.1
    }
    fn on_start(&self, _: &Key, _: &Policy) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn on_attempt(&self, _: &Key, _: &AttemptRecord) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn on_end(&self, _: &Key, end: &CallEnd) {
        self.0
            .fetch_add(u64::from(end.summary.attempts), Ordering::Relaxed);
    }
}

async fn ok(_: recourse_engine::AttemptInfo) -> Result<u64, std::io::Error> {
    Ok(1)
}

#[test]
fn first_attempt_success_allocates_nothing() {
    // By handle, by key string and by `key!`; policies given in code, and the same policies
    // from a provider (whose calls by key hold the key's cached policy for the call).
    for provided in [false, true] {
        let vc = VirtualClock::new();
        let charge = Policy::builtin().id("charge-v3").budget("unlimited");
        // Nothing around the first attempt: it runs bare.
        let refund = Policy::builtin();
        let builder = Executor::builder().clock(vc.clock());
        let exec = if provided {
            let policies = StaticProvider::new()
                .with("payments.Charge", charge)
                .with("payments.Refund", refund);
            builder.provider(policies).build().unwrap()
        } else {
            builder
                .policy("payments.Charge", charge)
                .policy("payments.Refund", refund)
                .build()
                .unwrap()
        };
        let handles = [exec.key("payments.Charge"), exec.key("payments.Refund")];
        let calls = || async {
            for handle in &handles {
                exec.call(handle.key().as_str(), ok).await.unwrap();
                handle.call(ok).await.unwrap();
            }
            exec.call(key!("payments.Charge"), ok).await.unwrap();
            exec.call(key!("payments.Refund"), ok).await.unwrap();
        };
        vc.block_on(async {
            // Warm-up: the key's state is resolved and cached on first use.
            calls().await;
            let before = allocations();
            for _ in 0..1000 {
                calls().await;
            }
            assert_eq!(
                allocations() - before,
                0,
                "allocations on the fast path (provided: {provided})"
            );
        });
    }
}

#[test]
fn first_attempt_success_under_timeouts_allocates_nothing() {
    // Per-attempt and overall timeouts: an attempt that finishes on its first poll arms no
    // timer at all.
    let vc = VirtualClock::new();
    let exec = Executor::builder()
        .clock(vc.clock())
        .policy(
            "payments.Charge",
            Policy::builtin()
                .timeout_per_attempt(std::time::Duration::from_millis(300))
                .overall_timeout(std::time::Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    let handle = exec.key("payments.Charge");
    vc.block_on(async {
        handle.call(ok).await.unwrap();
        let before = allocations();
        for _ in 0..1000 {
            handle.call(ok).await.unwrap();
        }
        assert_eq!(allocations() - before, 0, "allocations with timeouts set");
        assert_eq!(vc.next_deadline(), None, "no timer left behind");
    });
}

#[test]
fn an_observer_that_reads_no_timeline_allocates_nothing() {
    // Told every event (start, attempt and end), or only each call's end.
    for (detail, per_call) in [(Detail::Events, 3), (Detail::Counts, 1)] {
        let vc = VirtualClock::new();
        let heard = Arc::new(Heard(AtomicU64::new(0), detail));
        let exec = Executor::builder()
            .clock(vc.clock())
            .observer_arc(heard.clone())
            .build()
            .unwrap();
        let handle = exec.key("inventory.Get");
        vc.block_on(async {
            exec.call("inventory.Get", ok).await.unwrap();
            let before = allocations();
            for _ in 0..100 {
                exec.call("inventory.Get", ok).await.unwrap();
                handle.call(ok).await.unwrap();
            }
            assert_eq!(
                allocations() - before,
                0,
                "allocations, observer at {detail:?}"
            );
        });
        // Each of the 201 calls, heard as often as the observer's detail says.
        assert_eq!(
            heard.0.load(Ordering::Relaxed),
            201 * per_call,
            "{detail:?}"
        );
    }
}

#[test]
fn an_observed_success_allocates_once_and_a_traced_one_not_at_all() {
    // An observer that reads timelines: its calls build one on the heap. A traced call builds
    // its timeline in the caller's slot, observer or not: nothing is allocated.
    let vc = VirtualClock::new();
    let exec = Executor::builder()
        .clock(vc.clock())
        .observer(NoOp)
        .build()
        .unwrap();
    vc.block_on(async {
        exec.call("inventory.Get", ok).await.unwrap();
        let before = allocations();
        for _ in 0..100 {
            exec.call("inventory.Get", ok).await.unwrap();
        }
        assert!(
            allocations() - before <= 100,
            "{} allocations for 100 observed calls",
            allocations() - before
        );
        let before = allocations();
        for _ in 0..100 {
            let (r, tl) = exec.call_traced("inventory.Get", ok).await;
            assert_eq!((r.unwrap(), tl.attempts.len()), (1, 1));
        }
        assert_eq!(
            allocations() - before,
            0,
            "allocations for 100 traced and observed calls"
        );
    });
    let plain = Executor::builder().clock(vc.clock()).build().unwrap();
    vc.block_on(async {
        let handle = plain.key("inventory.Get");
        let before = allocations();
        for _ in 0..100 {
            let (r, tl) = plain.call_traced("inventory.Get", ok).await;
            assert_eq!((r.unwrap(), tl.attempts.len()), (1, 1));
            let (r, tl) = handle.call_traced(ok).await;
            assert_eq!((r.unwrap(), tl.attempts.len()), (1, 1));
        }
        assert_eq!(
            allocations() - before,
            0,
            "allocations for 200 traced calls"
        );
    });
}

#[test]
fn a_hedged_call_whose_primary_wins_allocates_nothing() {
    // A percentile trigger, with enough samples to arm it: the primary answers at once.
    let vc = VirtualClock::new();
    let exec = Executor::builder()
        .clock(vc.clock())
        .policy(
            "search.Query",
            Policy::builtin()
                .hedging(1, std::time::Duration::from_millis(50))
                .hedge_trigger("p90"),
        )
        .build()
        .unwrap();
    let handle = exec.key("search.Query");
    vc.block_on(async {
        for _ in 0..100 {
            handle.call(ok).await.unwrap();
        }
        let before = allocations();
        for _ in 0..1000 {
            handle.call(ok).await.unwrap();
        }
        assert_eq!(allocations() - before, 0, "allocations per hedged call");
    });
}

/// Retries every error at once (a zero wait, as a server's `Retry-After: 0` asks): no timer is
/// armed, so what is counted is the call loop's own work. Saying that every value succeeds
/// lets a call run bare (its attempts polled directly); otherwise it runs in the call loop.
#[derive(Debug)]
struct RetryNow {
    values_succeed: bool,
}
impl recourse_engine::classify::Classifier for RetryNow {
    fn classify(
        &self,
        input: &recourse_engine::classify::Input<'_>,
    ) -> recourse_engine::classify::Verdict {
        use recourse_engine::classify::{Attempted, Kind, Verdict};
        match input.result {
            Attempted::Value(_) => Verdict::success(),
            _ => Verdict::new(Kind::Retryable, recourse_engine::Reason::RETRYABLE_ERROR)
                .with_backoff(std::time::Duration::ZERO),
        }
    }
    fn values_succeed(&self) -> bool {
        self.values_succeed
    }
}

#[test]
fn three_failing_attempts_allocate_nothing() {
    // Three attempts, each failing retryably: the classifier's verdicts, the decisions and the
    // final error allocate nothing, on the bare path and in the call loop, by handle, by key
    // string and by `key!`.
    for values_succeed in [true, false] {
        let vc = VirtualClock::new();
        let exec = Executor::builder()
            .clock(vc.clock())
            .policy(
                "payments.Charge",
                Policy::builtin().max_attempts(3).classifier("now"),
            )
            .classifier("now", RetryNow { values_succeed })
            .build()
            .unwrap();
        let handle = exec.key("payments.Charge");
        let fail =
            |_| async { Err::<u64, _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset)) };
        vc.block_on(async {
            let first = handle.call(fail).await.unwrap_err();
            assert_eq!(
                first.reason_code(),
                recourse_engine::Reason::RETRYABLE_ERROR
            );
            exec.call("payments.Charge", fail).await.unwrap_err();
            exec.call(key!("payments.Charge"), fail).await.unwrap_err();
            let before = allocations();
            for _ in 0..1000 {
                handle.call(fail).await.unwrap_err();
                exec.call("payments.Charge", fail).await.unwrap_err();
                exec.call(key!("payments.Charge"), fail).await.unwrap_err();
            }
            assert_eq!(
                allocations() - before,
                0,
                "allocations per failing call (values_succeed: {values_succeed})"
            );
        });
    }
}
