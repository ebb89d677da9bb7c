//! Observability: the per-call [`Timeline`] of attempts, and the [`Observer`] trait that sees
//! every event as it happens.
//!
//! Observers are called on the calling task, without engine locks held. Every method has a
//! no-op default, so an observer implements only what it needs. [`Fanout`] forwards to several.
//!
//! A call builds a timeline only for someone who reads it: the caller of `call_traced` (in
//! the caller's own slot, without an allocation), a `recourse tail` client, or an observer
//! whose [`reads_timeline`](Observer::reads_timeline) says yes (one allocation). An observer
//! that counts or times calls says no and takes [`on_end`](Observer::on_end) instead; its
//! calls then cost a fraction as much.

mod end;
mod fanout;
pub(crate) mod summary;
mod timeline;

use std::fmt;

pub use end::CallEnd;
pub use fanout::Fanout;
pub use summary::CallSummary;
pub use timeline::{AttemptRecord, Attempts, CallOutcome, Timeline};

use crate::budget::BudgetEvent;
use crate::error::{CircuitState, Reason};
use crate::key::Key;
use crate::policy::Policy;

/// Receives the events of every call.
///
/// Per call: exactly one `on_start`; in between, `on_budget_decision` before each gated
/// attempt and `on_attempt` after each attempt; then, for an observer that
/// [reads timelines](Observer::reads_timeline), exactly one of `on_success`/`on_failure`; and
/// last, exactly one `on_end`. A call dropped before it finishes ends as a failure with reason
/// `context_canceled`.
///
/// An observer that needs no timeline says so, and calls record none for it:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use recourse_engine::{CallEnd, Executor, Key, Observer, Policy};
/// # use recourse_engine::clock::VirtualClock;
///
/// /// Counts calls and retries.
/// #[derive(Debug, Default)]
/// struct Retries { calls: AtomicU64, retries: AtomicU64 }
///
/// impl Observer for Retries {
///     fn reads_timeline(&self) -> bool {
///         false
///     }
///     fn on_end(&self, _key: &Key, end: &CallEnd) {
///         self.calls.fetch_add(1, Ordering::Relaxed);
///         self.retries.fetch_add(u64::from(end.summary.retries), Ordering::Relaxed);
///     }
/// }
///
/// let counts = std::sync::Arc::new(Retries::default());
/// # let vc = VirtualClock::new();
/// let exec = Executor::builder()
/// #   .clock(vc.clock())
///     .policy("inventory.Get", Policy::builtin())
///     .observer_arc(counts.clone())
///     .build()
///     .unwrap();
/// # vc.block_on(async {
/// let stock = exec
///     .call("inventory.Get", |info| async move {
///         if info.attempt == 0 { Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)) } else { Ok(7) }
///     })
///     .await;
/// assert_eq!(stock.unwrap(), 7);
/// # });
/// assert_eq!(counts.calls.load(Ordering::Relaxed), 1);
/// assert_eq!(counts.retries.load(Ordering::Relaxed), 1);
/// ```
pub trait Observer: Send + Sync + fmt::Debug {
    /// Whether this observer reads the [`Timeline`] that `on_success` and `on_failure` hand
    /// over. Asked once, when the executor is built.
    ///
    /// Yes (the default): every call builds a timeline for it (one allocation, the attempts
    /// and the policy's metadata) and ends in `on_success` or `on_failure`, then `on_end`.
    /// No: calls build no timeline for it, `on_success` and `on_failure` are not called, and
    /// `on_end` says how the call ended. Every other hook is called either way.
    fn reads_timeline(&self) -> bool {
        true
    }
    /// A call started with this effective policy.
    fn on_start(&self, key: &Key, policy: &Policy) {
        let _ = (key, policy);
    }
    /// An attempt finished (or was refused by its budget).
    fn on_attempt(&self, key: &Key, record: &AttemptRecord) {
        let _ = (key, record);
    }
    /// A budget decided on an attempt.
    fn on_budget_decision(&self, event: &BudgetEvent<'_>) {
        let _ = event;
    }
    /// A hedge was launched.
    fn on_hedge_spawn(&self, key: &Key, record: &AttemptRecord) {
        let _ = (key, record);
    }
    /// A losing attempt was cancelled because another one won.
    fn on_hedge_cancel(&self, key: &Key, record: &AttemptRecord, reason: &Reason) {
        let _ = (key, record, reason);
    }
    /// A circuit breaker changed state.
    fn on_circuit_change(&self, key: &Key, from: CircuitState, to: CircuitState, reason: &Reason) {
        let _ = (key, from, to, reason);
    }
    /// A key's hedging paused, started probing or resumed (`hedge.auto_disable`).
    fn on_hedging_change(
        &self,
        key: &Key,
        from: crate::hedge::HedgingState,
        to: crate::hedge::HedgingState,
        reason: &Reason,
    ) {
        let _ = (key, from, to, reason);
    }
    /// A call succeeded (only for an observer that [reads timelines](Observer::reads_timeline)).
    fn on_success(&self, key: &Key, timeline: &Timeline) {
        let _ = (key, timeline);
    }
    /// A call failed (only for an observer that [reads timelines](Observer::reads_timeline)).
    fn on_failure(&self, key: &Key, timeline: &Timeline) {
        let _ = (key, timeline);
    }
    /// A call ended: the last event of every call, for every observer.
    fn on_end(&self, key: &Key, end: &CallEnd) {
        let _ = (key, end);
    }
    /// A new version of the policies was rejected (invalid, half-written); the running policies
    /// stay. `source` names the file, `problem` says what is wrong and where.
    fn on_policy_rejected(&self, source: &str, problem: &str) {
        let _ = (source, problem);
    }
}
