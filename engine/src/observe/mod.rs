//! Observability: the per-call [`Timeline`] of attempts, and the [`Observer`] trait that sees
//! every event as it happens.
//!
//! Observers are called on the calling task, without engine locks held. Every method has a
//! no-op default, so an observer implements only what it needs. [`Fanout`] forwards to several.
//!
//! An observer says how much of each call it is told ([`Detail`]), and a call records only
//! that much: a timeline only for someone who reads it (the caller of `call_traced`, in the
//! caller's own slot, without an allocation; a `recourse tail` client; an observer at
//! [`Detail::Timeline`], one allocation); the clock and the per-attempt hooks only for an
//! observer at [`Detail::Events`] or more. An observer that counts calls takes
//! [`Detail::Counts`]: `on_end` alone, with the counts and no times, which a call whose first
//! attempt runs bare and succeeds tells it for little more than an unobserved call costs.

mod end;
mod fanout;
pub(crate) mod summary;
mod timeline;

use std::fmt;

pub use end::{CallEnd, CallTimes};
pub use fanout::Fanout;
pub use summary::CallSummary;
pub use timeline::{AttemptRecord, Attempts, CallOutcome, Timeline};

use crate::budget::BudgetEvent;
use crate::error::{CircuitState, Reason};
use crate::key::Key;
use crate::policy::Policy;

/// How much of each call an observer is told: asked once, when the executor is built (see
/// [`Observer::detail`]). Each level is told what the one before it is, and more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum Detail {
    /// How each call ended and its attempts counted: `on_end`, whose [`CallEnd`] has no
    /// times (a call reads no clock for this observer, only what its policy needs). `on_start`, `on_attempt`,
    /// `on_budget_decision`, `on_hedge_spawn` and `on_hedge_cancel` are not called; the hooks
    /// that are not about one call (`on_circuit_change`, `on_hedging_change`,
    /// `on_policy_rejected`) are.
    Counts,
    /// Every event as it happens, with its times, and `on_end` with the call's start and end;
    /// no timeline: `on_success` and `on_failure` are not called.
    Events,
    /// Every event, and each call's [`Timeline`] in `on_success` or `on_failure` (one
    /// allocation per call), before `on_end`.
    #[default]
    Timeline,
}

/// Receives the events of every call.
///
/// Per call, for an observer at [`Detail::Events`] or more: exactly one `on_start`; in
/// between, `on_budget_decision` before each gated attempt and `on_attempt` after each
/// attempt; then, at [`Detail::Timeline`], exactly one of `on_success`/`on_failure`. Last, at
/// every level, exactly one `on_end`. A call dropped before it finishes ends as a failure with
/// reason `context_canceled`.
///
/// An observer that only counts calls says so, and calls tell it no more:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use recourse_engine::{CallEnd, Detail, Executor, Key, Observer, Policy};
/// # use recourse_engine::clock::VirtualClock;
///
/// /// Counts calls and retries.
/// #[derive(Debug, Default)]
/// struct Retries { calls: AtomicU64, retries: AtomicU64 }
///
/// impl Observer for Retries {
///     fn detail(&self) -> Detail {
///         Detail::Counts
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
    /// How much of each call this observer is told ([`Detail`]); [`Detail::Timeline`] unless
    /// it says otherwise. Asked once, when the executor is built.
    fn detail(&self) -> Detail {
        Detail::Timeline
    }
    /// A call started with this effective policy (at [`Detail::Events`] or more).
    fn on_start(&self, key: &Key, policy: &Policy) {
        let _ = (key, policy);
    }
    /// An attempt finished (or was refused by its budget) (at [`Detail::Events`] or more).
    fn on_attempt(&self, key: &Key, record: &AttemptRecord) {
        let _ = (key, record);
    }
    /// A budget decided on an attempt (at [`Detail::Events`] or more).
    fn on_budget_decision(&self, event: &BudgetEvent<'_>) {
        let _ = event;
    }
    /// A hedge was launched (at [`Detail::Events`] or more).
    fn on_hedge_spawn(&self, key: &Key, record: &AttemptRecord) {
        let _ = (key, record);
    }
    /// A losing attempt was cancelled because another one won (at [`Detail::Events`] or
    /// more).
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
    /// A call succeeded (at [`Detail::Timeline`]).
    fn on_success(&self, key: &Key, timeline: &Timeline) {
        let _ = (key, timeline);
    }
    /// A call failed (at [`Detail::Timeline`]).
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
