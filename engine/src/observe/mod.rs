//! Observability: the per-call [`Timeline`] of attempts, and the [`Observer`] trait that sees
//! every event as it happens.
//!
//! Observers are called on the calling task, without engine locks held. Every method has a
//! no-op default, so an observer implements only what it needs. [`Fanout`] forwards to several.

mod fanout;
pub(crate) mod summary;
mod timeline;

use std::fmt;

pub use fanout::Fanout;
pub use summary::CallSummary;
pub use timeline::{AttemptRecord, Attempts, CallOutcome, Timeline};

use crate::budget::BudgetEvent;
use crate::error::{CircuitState, Reason};
use crate::key::Key;
use crate::policy::Policy;

/// Receives the events of every call.
///
/// Exactly one `on_start` and then exactly one of `on_success`/`on_failure` per call (a call
/// dropped before it finishes reports `on_failure` with reason `context_canceled`); in between,
/// `on_budget_decision` before each gated attempt and `on_attempt` after each attempt.
pub trait Observer: Send + Sync + fmt::Debug {
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
    /// A call succeeded.
    fn on_success(&self, key: &Key, timeline: &Timeline) {
        let _ = (key, timeline);
    }
    /// A call failed.
    fn on_failure(&self, key: &Key, timeline: &Timeline) {
        let _ = (key, timeline);
    }
    /// A new version of the policies was rejected (invalid, half-written); the running policies
    /// stay. `source` names the file, `problem` says what is wrong and where.
    fn on_policy_rejected(&self, source: &str, problem: &str) {
        let _ = (source, problem);
    }
}
