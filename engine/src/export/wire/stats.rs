//! `stats`: exact cumulative counters per key, and how one finished call moves them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Common;
use crate::hedge::{BUCKETS, SUB, bucket_of, bucket_value};
use crate::observe::CallSummary;

/// `stats`: cumulative counters per key, exact whatever was dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The server's cadence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// Messages lost so far on this connection, by cause: the sums of the `gap`s sent
    /// before this message.
    #[serde(default)]
    pub dropped: Dropped,
    /// Per key.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyStats>,
    /// The service's budgets with a level, by name: how full each is now. Sent in the first
    /// `stats` of an interval (a split one carries them once).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub budgets: BTreeMap<String, BudgetFill>,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// How full one budget is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetFill {
    /// Tokens, or retries available, now (for a fleet budget, in the whole fleet as of the
    /// last settlement, or in the local fallback).
    pub level: f64,
    /// The most it can hold, for budgets with a fixed capacity (a token bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<f64>,
    /// For a fleet budget: `fleet`, or `local_fallback` when the fleet's store is out of
    /// reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_scope: Option<String>,
    /// For a fleet budget: milliseconds since its last settlement with the store (absent
    /// before the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_age_ms: Option<u64>,
    /// For a fleet budget: the replicas sharing it, as of the last settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// Loss counters, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// The service's source queue was full.
    #[serde(default)]
    pub source_queue_full: u64,
    /// This client read too slowly.
    #[serde(default)]
    pub client_slow: u64,
    /// Over the subscription's `max_rate`.
    #[serde(default)]
    pub rate_limited: u64,
}

/// One key's counters in `stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyStats {
    /// Calls finished.
    #[serde(default)]
    pub calls: u64,
    /// Calls that succeeded.
    #[serde(default)]
    pub successes: u64,
    /// Calls whose first retry group succeeded.
    #[serde(default)]
    pub first_try_successes: u64,
    /// Calls that failed.
    #[serde(default)]
    pub failures: u64,
    /// Attempts run.
    #[serde(default)]
    pub attempts: u64,
    /// Retries run.
    #[serde(default)]
    pub retries: u64,
    /// Hedges launched.
    #[serde(default)]
    pub hedges: u64,
    /// Calls a hedge won.
    #[serde(default)]
    pub hedge_wins: u64,
    /// Attempts a budget refused.
    #[serde(default)]
    pub budget_denied: u64,
    /// Calls an open breaker rejected.
    #[serde(default)]
    pub circuit_rejected: u64,
    /// The breaker's state, for keys with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit: Option<String>,
    /// For keys whose policy has `hedge.auto_disable`: `active`, `paused` (hedges were not
    /// winning) or `probing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedging: Option<String>,
    /// The retry budget the key's policy names, if any (its fill is in [`Stats::budgets`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    /// Attempts in flight now, for keys whose policy has a bulkhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u32>,
    /// The bulkhead's cap on attempts in flight, for keys whose policy has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// What the breaker's window holds, for keys whose breaker judges a failure rate or slow
    /// calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowCounts>,
    /// For keys whose policy has a `shadow`: what the shadow would have done over the same
    /// calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<crate::shadow::ShadowStats>,
    /// Call latencies.
    #[serde(default)]
    pub latency: Histogram,
}

/// The calls in a breaker's window: the rates it judges are `failures / calls` and
/// `slow / calls`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowCounts {
    /// Calls in the window.
    #[serde(default)]
    pub calls: u64,
    /// Failed calls among them.
    #[serde(default)]
    pub failures: u64,
    /// Slow calls among them.
    #[serde(default)]
    pub slow: u64,
}

impl WindowCounts {
    /// The counts of a window.
    pub fn new(calls: u64, failures: u64, slow: u64) -> WindowCounts {
        WindowCounts {
            calls,
            failures,
            slow,
        }
    }
}

impl KeyStats {
    /// Counts one finished call, as the service's own counters do.
    pub fn count(&mut self, call: &CallCounts) {
        let add = |n: &mut u64, by: u64| *n = n.saturating_add(by);
        add(&mut self.calls, 1);
        add(&mut self.successes, call.successes);
        add(&mut self.first_try_successes, call.first_try_successes);
        add(&mut self.failures, call.failures);
        add(&mut self.attempts, call.attempts);
        add(&mut self.retries, call.retries);
        add(&mut self.hedges, call.hedges);
        add(&mut self.hedge_wins, call.hedge_wins);
        add(&mut self.budget_denied, call.budget_denied);
        add(&mut self.circuit_rejected, call.circuit_rejected);
        self.latency.add(call.latency_bucket, 1);
    }
}

/// How one finished call moves each counter of its key: the one definition shared by a
/// service's live counters and a reader that counts the calls it sees (a recording without
/// `stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallCounts {
    /// 1 if the call succeeded.
    pub successes: u64,
    /// 1 if its first retry group succeeded.
    pub first_try_successes: u64,
    /// 1 if it failed.
    pub failures: u64,
    /// Attempts run.
    pub attempts: u64,
    /// Retries run.
    pub retries: u64,
    /// Hedges launched.
    pub hedges: u64,
    /// 1 if a hedge won.
    pub hedge_wins: u64,
    /// Attempts a budget refused.
    pub budget_denied: u64,
    /// 1 if an open breaker rejected it.
    pub circuit_rejected: u64,
    /// The latency bucket of its duration.
    pub latency_bucket: usize,
}

impl CallCounts {
    /// The counts of a call with this summary, rejected by an open breaker or not, that took
    /// `duration_us`.
    pub fn of(summary: &CallSummary, circuit_open: bool, duration_us: u64) -> CallCounts {
        let ok = summary.succeeded;
        CallCounts {
            successes: u64::from(ok),
            first_try_successes: u64::from(summary.first_try_success),
            failures: u64::from(!ok),
            attempts: summary.attempts.into(),
            retries: summary.retries.into(),
            hedges: summary.hedges.into(),
            hedge_wins: u64::from(summary.hedge_won),
            budget_denied: summary.budget_denied.into(),
            circuit_rejected: u64::from(!ok && circuit_open),
            latency_bucket: bucket_of(duration_us),
        }
    }
}

/// A mergeable latency histogram: log-linear buckets of microseconds, 16 per power of two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Buckets per power of two.
    #[serde(default)]
    pub sub_buckets: u32,
    /// `[bucket index, count]` for the non-empty buckets.
    #[serde(default)]
    pub counts: Vec<(usize, u64)>,
}

impl Histogram {
    /// Counts one value (microseconds).
    pub fn record(&mut self, micros: u64) {
        self.add(bucket_of(micros), 1);
    }

    fn add(&mut self, bucket: usize, n: u64) {
        self.sub_buckets = SUB as u32;
        match self.counts.binary_search_by_key(&bucket, |&(b, _)| b) {
            Ok(at) => self.counts[at].1 = self.counts[at].1.saturating_add(n),
            Err(at) => self.counts.insert(at, (bucket, n)),
        }
    }

    /// Samples held.
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |t, &(_, c)| t.saturating_add(c))
    }

    /// The same histogram in its canonical form, whatever a sender wrote: buckets sorted,
    /// each once, empty ones left out, an index past the layout counted in the top bucket. It
    /// holds at most one entry per bucket of the layout (656).
    pub fn tidy(&mut self) {
        let mut all: BTreeMap<usize, u64> = BTreeMap::new();
        for &(i, c) in &self.counts {
            let n = all.entry(i.min(BUCKETS - 1)).or_default();
            *n = n.saturating_add(c);
        }
        self.counts = all.into_iter().filter(|&(_, c)| c > 0).collect();
    }

    /// Adds `other` (same bucket layout).
    pub fn merge(&mut self, other: &Histogram) {
        let mut all: BTreeMap<usize, u64> = self.counts.iter().copied().collect();
        for &(i, c) in &other.counts {
            let n = all.entry(i).or_default();
            *n = n.saturating_add(c);
        }
        self.counts = all.into_iter().collect();
        self.sub_buckets = other.sub_buckets.max(self.sub_buckets);
    }

    /// What `self` gained since `earlier` (a cumulative histogram minus an older copy).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let old: BTreeMap<usize, u64> = earlier.counts.iter().copied().collect();
        let counts = self
            .counts
            .iter()
            .map(|&(i, c)| (i, c.saturating_sub(old.get(&i).copied().unwrap_or(0))))
            .filter(|&(_, c)| c > 0)
            .collect();
        Histogram {
            sub_buckets: self.sub_buckets,
            counts,
        }
    }

    /// The `q` quantile (0..=1) in microseconds: the upper edge of its bucket.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let total = self.total();
        if total == 0 || (self.sub_buckets != 0 && u64::from(self.sub_buckets) != SUB) {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen: u64 = 0;
        let mut sorted = self.counts.clone();
        sorted.sort_unstable();
        for (i, c) in sorted {
            seen = seen.saturating_add(c);
            if seen >= rank {
                // An index past the layout (a newer or broken sender) reads as the top bucket.
                return Some(bucket_value(i.min(BUCKETS - 1)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_merges_sorts_and_clamps_what_a_sender_wrote() {
        let mut h = Histogram {
            sub_buckets: 16,
            counts: vec![(9, 1), (3, 2), (9, 4), (1_000_000, 1), (5, 0)],
        };
        h.tidy();
        assert_eq!(h.counts, [(3, 2), (9, 5), (BUCKETS - 1, 1)]);
        assert_eq!(h.total(), 8);
    }

    #[test]
    fn counting_calls_matches_recording_their_durations() {
        let mut k = KeyStats::default();
        let ok = CallSummary {
            succeeded: true,
            attempts: 2,
            retries: 1,
            ..CallSummary::default()
        };
        k.count(&CallCounts::of(&ok, false, 1_500));
        k.count(&CallCounts::of(&CallSummary::default(), true, 20));
        let mut h = Histogram::default();
        h.record(1_500);
        h.record(20);
        assert_eq!(k.latency, h);
        assert_eq!(
            (
                k.calls,
                k.successes,
                k.failures,
                k.retries,
                k.circuit_rejected
            ),
            (2, 1, 1, 1, 1)
        );
    }
}
