//! The worst case of a policy: how many times a call can invoke the operation and how long it
//! can take (DESIGN.md §6.3). Used in review (`recourse policy diff`).

use std::time::Duration;

use super::model::Policy;

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
    /// The duration is an upper bound: every group lasts at most its hedges' launch delays plus
    /// one per-attempt timeout each, every wait between groups is at most the larger of the
    /// backoff and `max_retry_after` (a server may ask for that, unless the classifier is `always`), and the overall timeout caps
    /// everything.
    pub fn of(policy: &Policy) -> Envelope {
        let p = policy.clone().normalize();
        let r = &p.retry;
        let groups = r.max_attempts.unwrap_or(3).max(1);
        let hedges = if p.hedge.enabled {
            p.hedge.max_hedges.unwrap_or(2)
        } else {
            0
        };
        let attempts = groups.saturating_mul(1 + hedges);
        let per_attempt = r.timeout_per_attempt.filter(|d| !d.is_zero());
        let overall = r.overall_timeout.filter(|d| !d.is_zero());
        let delay = p.hedge.hedge_delay.unwrap_or_default();
        let sum = per_attempt.map(|t| {
            let group = t
                .saturating_mul(1 + hedges)
                .saturating_add(delay.saturating_mul(hedges));
            let mut total = group.saturating_mul(groups);
            let (initial, max) = (
                r.initial_backoff.unwrap_or_default(),
                r.max_backoff.unwrap_or_default(),
            );
            let mult = r.backoff_multiplier.unwrap_or(2.0);
            // Only the `always` classifier never reads a server's Retry-After; `auto`, `http`
            // and custom classifiers may.
            let retry_after = if r.classifier_name.as_deref() == Some("always") {
                Duration::ZERO
            } else {
                r.max_retry_after
                    .unwrap_or(super::bounds::DEFAULT_MAX_RETRY_AFTER)
            };
            let mut base = initial;
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
