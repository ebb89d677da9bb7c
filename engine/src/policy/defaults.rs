//! The built-in defaults: the one place each default value of a policy is written.
//! [`Policy::builtin`](super::Policy::builtin), normalization and the defaults table of
//! docs/policies.md all come from here (a test checks the table against `table()`).

use std::time::Duration;

use super::model::Jitter;

/// Retry groups per call.
pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// The first backoff.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(10);
/// The backoff ceiling.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(250);
/// Growth between backoffs.
pub(crate) const BACKOFF_MULTIPLIER: f64 = 2.0;
/// Randomization of backoffs.
pub(crate) const JITTER: Jitter = Jitter::None;
/// The longest server-requested wait (Retry-After) honoured.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Units a budget takes per attempt.
pub(crate) const BUDGET_COST: u32 = 1;
/// Hedges per group, when hedging is on.
pub(crate) const MAX_HEDGES: u32 = 2;
/// The delay before each hedge, when hedging is on.
pub(crate) const HEDGE_DELAY: Duration = Duration::from_millis(200);
/// Latency samples a key needs before a percentile trigger hedges.
pub(crate) const MIN_SAMPLES: u32 = 20;
/// The trigger of hedges, when a policy names none.
pub(crate) const TRIGGER: &str = "fixed_delay";
/// Consecutive failed calls that open a breaker, when it is on.
pub(crate) const CIRCUIT_THRESHOLD: u32 = 5;
/// How long a breaker stays open before one probe, when it is on.
pub(crate) const CIRCUIT_COOLDOWN: Duration = Duration::from_secs(10);
/// The calls a rate-judging breaker looks back over, when its policy names no window.
pub(crate) const CIRCUIT_WINDOW_CALLS: u32 = 100;
/// Calls a breaker's window must hold before a rate opens it.
pub(crate) const MIN_CALLS: u32 = 20;
/// The share of slow calls that opens a breaker with a slow-call duration.
pub(crate) const SLOW_CALL_RATE: f64 = 1.0;

/// Hedge auto-disable: the share of hedges that must win.
pub(crate) const AUTO_DISABLE_MIN_WIN_RATE: f64 = 0.05;
/// Hedge auto-disable: hedges judged at a time.
pub(crate) const AUTO_DISABLE_MIN_HEDGES: u32 = 20;
/// Hedge auto-disable: how long hedging stays paused.
pub(crate) const AUTO_DISABLE_COOLDOWN: Duration = Duration::from_secs(30);
/// Hedge auto-disable: the share of calls that hedge while hedging is probed.
pub(crate) const AUTO_DISABLE_PROBE_FRACTION: f64 = 0.1;

/// A ratio budget's sliding window.
pub(crate) const RATIO_WINDOW: Duration = Duration::from_secs(10);

/// Every default as docs/policies.md lists it: the field's path and its value as a policy
/// file would write it (fields without a value, such as the timeouts, are left out).
#[cfg(test)]
pub(crate) fn table() -> Vec<(&'static str, String)> {
    let d = |d: Duration| super::duration::format_duration(d);
    vec![
        ("retry.max_attempts", MAX_ATTEMPTS.to_string()),
        ("retry.initial_backoff", d(INITIAL_BACKOFF)),
        ("retry.max_backoff", d(MAX_BACKOFF)),
        ("retry.backoff_multiplier", BACKOFF_MULTIPLIER.to_string()),
        ("retry.jitter", JITTER.as_str().to_owned()),
        ("retry.max_retry_after", d(MAX_RETRY_AFTER)),
        ("retry.budget.cost", BUDGET_COST.to_string()),
        ("hedge.max_hedges", MAX_HEDGES.to_string()),
        ("hedge.hedge_delay", d(HEDGE_DELAY)),
        ("hedge.trigger_name", TRIGGER.to_owned()),
        ("hedge.min_samples", MIN_SAMPLES.to_string()),
        ("hedge.budget.cost", BUDGET_COST.to_string()),
        (
            "hedge.auto_disable.min_win_rate",
            AUTO_DISABLE_MIN_WIN_RATE.to_string(),
        ),
        (
            "hedge.auto_disable.min_hedges",
            AUTO_DISABLE_MIN_HEDGES.to_string(),
        ),
        ("hedge.auto_disable.cooldown", d(AUTO_DISABLE_COOLDOWN)),
        (
            "hedge.auto_disable.probe_fraction",
            AUTO_DISABLE_PROBE_FRACTION.to_string(),
        ),
        ("circuit.threshold", CIRCUIT_THRESHOLD.to_string()),
        ("circuit.cooldown", d(CIRCUIT_COOLDOWN)),
        ("circuit.window", CIRCUIT_WINDOW_CALLS.to_string()),
        ("circuit.min_calls", MIN_CALLS.to_string()),
        ("circuit.slow_call_rate", SLOW_CALL_RATE.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::table;

    /// The defaults table of docs/policies.md says what this module holds: every default
    /// has a row whose default column starts with the value as a file writes it, and every row
    /// with a value has a default behind it.
    #[test]
    fn the_defaults_table_is_the_codes() {
        let doc = include_str!("../../../docs/policies.md");
        let documented: std::collections::BTreeMap<&str, &str> = doc
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let field = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                let value = cells.get(2)?.strip_prefix('`')?.split('`').next()?;
                field.contains('.').then_some((field, value))
            })
            .collect();
        let code = table();
        for (field, value) in &code {
            assert_eq!(documented.get(field), Some(&value.as_str()), "{field}");
        }
        assert_eq!(documented.len(), code.len(), "{documented:?}");
    }
}
