//! `tracing` (feature `tracing`): each finished call as one structured event (target
//! `recourse`), `INFO` when it succeeded after one attempt, `WARN` when it needed more or failed;
//! breaker changes as `WARN` events.

use crate::error::{CircuitState, Reason};
use crate::key::Key;
use crate::observe::{CallOutcome, CallSummary, Observer, Timeline};

/// Logs calls through `tracing`: register it with
/// [`ExecutorBuilder::observer`](crate::ExecutorBuilder::observer).
///
/// Fields: `key`, `outcome`, `reason`, `attempts` (that ran), `hedges`, `denied` (by a budget),
/// `duration_us`, `policy_id`, `policy_source`, and `reasons` (each attempt's reason, in order).
/// Error texts are not logged: they may hold personal data; the reason codes say what happened.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingObserver;

impl TracingObserver {
    fn finished(key: &Key, t: &Timeline) {
        let CallSummary {
            attempts: executed,
            hedges,
            budget_denied: denied,
            ..
        } = t.summary();
        let reasons: Vec<&str> = t.attempts.iter().map(|a| a.reason.as_str()).collect();
        let reasons = reasons.join(",");
        let duration_us = u64::try_from(t.duration().as_micros()).unwrap_or(u64::MAX);
        let policy_id = t.policy_id.as_deref().unwrap_or("");
        macro_rules! call_event {
            ($level:expr) => {
                ::tracing::event!(
                    target: "recourse",
                    $level,
                    key = key.as_str(),
                    outcome = t.outcome.as_str(),
                    reason = t.reason.as_str(),
                    attempts = executed,
                    hedges,
                    denied,
                    duration_us,
                    policy_id,
                    policy_source = t.policy_source.as_str(),
                    reasons = reasons.as_str(),
                    "call finished"
                )
            };
        }
        if t.outcome == CallOutcome::Success && executed <= 1 && denied == 0 {
            call_event!(::tracing::Level::INFO);
        } else {
            call_event!(::tracing::Level::WARN);
        }
    }
}

impl Observer for TracingObserver {
    fn on_success(&self, key: &Key, timeline: &Timeline) {
        Self::finished(key, timeline);
    }

    fn on_failure(&self, key: &Key, timeline: &Timeline) {
        Self::finished(key, timeline);
    }

    fn on_circuit_change(&self, key: &Key, from: CircuitState, to: CircuitState, reason: &Reason) {
        ::tracing::warn!(
            target: "recourse",
            key = key.as_str(),
            from = from.as_str(),
            to = to.as_str(),
            reason = reason.as_str(),
            "circuit changed"
        );
    }
}
