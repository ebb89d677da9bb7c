//! The worst case of a policy: how many times a call can invoke the operation and how long it
//! can take (docs/diff.md). Used in review (`recourse policy diff`).

use std::time::Duration;

use crate::policy::{Jitter, Policy};

/// The worst case of one call under a normalized policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Most operation invocations: `max_attempts × (1 + max_hedges)`.
    pub attempts: u32,
    /// Longest possible duration, or `None` when nothing bounds it (no per-attempt and no
    /// overall timeout).
    pub duration: Option<Duration>,
}

impl Envelope {
    /// The envelope of `policy` (normalized first).
    ///
    /// The duration is an upper bound: every group lasts at most until its last hedge's launch
    /// plus one per-attempt timeout (a hedge launches at most one per-attempt timeout after
    /// the one before it, whatever the trigger; `fixed_delay` sooner), every wait between
    /// groups is at most the larger of the backoff and `max_retry_after` (a server may ask for
    /// that, unless the classifier is `always`), and the overall timeout caps everything.
    pub fn of(policy: &Policy) -> Envelope {
        let p = policy.clone().normalize();
        let r = &p.retry;
        let groups = r.max_attempts;
        let h = &p.hedge;
        let (hedges, delay) = if h.enabled {
            (h.max_hedges, h.hedge_delay)
        } else {
            (0, Duration::ZERO)
        };
        let trigger = h.trigger_name.as_str();
        let attempts = groups.saturating_mul(1 + hedges);
        let (per_attempt, overall) = (r.timeout_per_attempt, r.overall_timeout);
        let sum = per_attempt.map(|t| {
            let group = t.saturating_add(last_launch(trigger, hedges, delay, t));
            let mut total = group.saturating_mul(groups);
            let (initial, max, mult) = (r.initial_backoff, r.max_backoff, r.backoff_multiplier);
            // Only the `always` classifier never reads a server's Retry-After; `auto`, `http`
            // and custom classifiers may.
            let retry_after = if r.classifier_name.as_deref() == Some("always") {
                Duration::ZERO
            } else {
                r.max_retry_after
            };
            // Decorrelated jitter draws each wait below 3 × the previous one, the first below
            // 3 × `initial_backoff`.
            let (mut base, mult) = if r.jitter == Jitter::Decorrelated {
                let growth = crate::executor::DECORRELATED_GROWTH;
                let first = (initial.as_secs_f64() * growth).min(max.as_secs_f64());
                (Duration::from_secs_f64(first), growth)
            } else {
                (initial, mult)
            };
            for _ in 1..groups {
                total = total.saturating_add(base.min(max).max(retry_after));
                base = Duration::from_secs_f64((base.as_secs_f64() * mult).min(max.as_secs_f64()));
            }
            total
        });
        let duration = match (overall, sum) {
            (Some(o), Some(s)) => Some(o.min(s)),
            (Some(o), None) => Some(o),
            (None, s) => s,
        };
        Envelope { attempts, duration }
    }
}

/// The latest a group's last hedge can launch, from the group's start, when each attempt times
/// out after `per_attempt`.
///
/// A hedge launches only while an attempt of its group is still running (the group ends when
/// every launched attempt has reported), and a running attempt started at most `per_attempt`
/// ago: so no gap between launches exceeds `per_attempt`, whatever the trigger. The built-in
/// triggers bound the gaps further: `fixed_delay` launches hedge `i` at `i × hedge_delay`; a
/// percentile trigger launches the first hedge at the key's percentile (not known in review:
/// bounded as above) and each further one `hedge_delay` after the previous. A trigger
/// registered in code under another name is bounded as above.
fn last_launch(trigger: &str, hedges: u32, delay: Duration, per_attempt: Duration) -> Duration {
    let gap = delay.min(per_attempt);
    match trigger {
        "fixed_delay" => gap.saturating_mul(hedges),
        "p50" | "p90" | "p95" | "p99" if hedges > 0 => {
            per_attempt.saturating_add(gap.saturating_mul(hedges - 1))
        }
        _ => per_attempt.saturating_mul(hedges),
    }
}
