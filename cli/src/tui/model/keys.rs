//! Everything known about one key, and the row of the keys table made from it.

use std::collections::BTreeMap;

use recourse_engine::AttemptRecord;
use recourse_engine::export::wire::{CallEvent, Histogram, KeyStats, WindowCounts};
use recourse_engine::shadow::ShadowStats;
use rustc_hash::FxHashMap;

use super::series::{SPARK, Series};
use crate::tail::parse_ts_micros;

/// A second, in microseconds: the step of a key's figures made from its calls.
const SECOND_US: i64 = 1_000_000;

/// Failure reasons counted per key; further ones count as `other`.
const MAX_REASONS: usize = 64;

/// The budget that refused one of `c`'s attempts, as the attempt names it.
pub(crate) fn denied_by(c: &CallEvent) -> Option<&str> {
    c.attempts
        .iter()
        .filter(|a| !a.budget_allowed)
        .find_map(|a| a.attributes.get(AttemptRecord::DENIED_BY))
        .map(String::as_str)
}

/// Everything known about one key.
#[derive(Debug, Default)]
pub(crate) struct KeyAgg {
    /// Its `stats` series, by target.
    pub(crate) series: BTreeMap<usize, Series>,
    pub(crate) circuit: Option<String>,
    /// Its hedging state, for a key with `hedge.auto_disable`: `active`, `paused`, `probing`.
    pub(crate) hedging: Option<String>,
    /// The retry budget it runs under, as its service or a denied attempt named it.
    pub(crate) budget: Option<String>,
    reasons: FxHashMap<String, u64>,
    /// The calls seen, counted as the services count them (for a recording without `stats`).
    seen: KeyStats,
    /// `seen` over time, one snapshot per second of the calls' own time: the rates of a key
    /// no `stats` cover (a saved log, or the first second of a live one).
    from_calls: Series,
}

impl KeyAgg {
    /// Counts one call seen, and its reason when it failed.
    pub(crate) fn count(&mut self, c: &CallEvent) {
        self.seen.count(&c.counts());
        if !self.has_stats()
            && let Some(ts) = c.common.ts.as_deref().and_then(parse_ts_micros)
        {
            self.from_calls
                .push_within(ts, SECOND_US, self.seen.clone());
        }
        if let Some(name) = denied_by(c) {
            self.budget = Some(name.to_owned());
        }
        if c.ok() {
            return;
        }
        let reason = if self.reasons.len() < MAX_REASONS || self.reasons.contains_key(&c.reason) {
            c.reason.as_str()
        } else {
            "other"
        };
        *self.reasons.entry(reason.to_owned()).or_default() += 1;
    }

    /// The `n` most common reasons among the failed calls seen, with their share of them (%).
    pub(crate) fn top_reasons(&self, n: usize) -> Vec<(String, f64)> {
        let total: u64 = self.reasons.values().sum();
        let mut counted: Vec<(&String, &u64)> = self.reasons.iter().collect();
        counted.sort_by(|x, y| y.1.cmp(x.1).then_with(|| x.0.cmp(y.0)));
        counted
            .into_iter()
            .take(n)
            .map(|(k, c)| (k.clone(), *c as f64 * 100.0 / total as f64))
            .collect()
    }

    /// Whether some target sends `stats` for this key.
    fn has_stats(&self) -> bool {
        self.series.values().any(|s| !s.snaps.is_empty())
    }

    /// The row of this key (called `key`) over the targets `live` admits, with rates over
    /// `WINDOWS[window]`: from their `stats`, or from the calls seen when no `stats` cover
    /// the key. A departed target's figures leave the totals at once.
    pub(crate) fn row(&self, key: &str, window: usize, live: impl Fn(usize) -> bool) -> Row {
        if self.has_stats() {
            let series = self.series.iter().filter(|(t, _)| live(**t));
            self.row_over(key, series.map(|(_, s)| s), window)
        } else {
            let mut r = self.row_over(key, std::iter::once(&self.from_calls), window);
            // Breaker changes come without `stats`: their series count the openings.
            let openings = self.series.values().map(Series::openings_last_minute);
            r.opened_min = openings.max().unwrap_or(0);
            r
        }
    }

    /// The row of this key over some of its targets' series.
    pub(crate) fn row_over<'a>(
        &self,
        key: &str,
        series: impl Iterator<Item = &'a Series>,
        window: usize,
    ) -> Row {
        let mut r = Row {
            key: key.to_owned(),
            circuit: self.circuit.clone(),
            hedging: self.hedging.clone(),
            ..Row::default()
        };
        let (mut d, mut rate, mut lat) =
            (KeyStats::default(), None::<[f64; 3]>, Histogram::default());
        let mut spark: Vec<u64> = Vec::new();
        for s in series {
            r.opened_min = r.opened_min.max(s.openings_last_minute());
            let (Some((t1, last)), Some((t0, first))) = (s.snaps.back(), s.window_start(window))
            else {
                continue;
            };
            let windowed = s.snaps.len() > 1 && t1 > t0;
            let base = if windowed {
                first.clone()
            } else {
                KeyStats::default()
            };
            let delta = |f: fn(&KeyStats) -> u64| f(last).saturating_sub(f(&base));
            d.calls += delta(|k| k.calls);
            d.successes += delta(|k| k.successes);
            d.first_try_successes += delta(|k| k.first_try_successes);
            d.attempts += delta(|k| k.attempts);
            d.retries += delta(|k| k.retries);
            d.hedges += delta(|k| k.hedges);
            d.hedge_wins += delta(|k| k.hedge_wins);
            d.budget_denied += delta(|k| k.budget_denied);
            if let Some(now) = &last.shadow {
                let sh = r.shadow.get_or_insert_with(Shadow::default);
                sh.add(now, base.shadow.as_ref());
                if windowed {
                    let secs = (t1 - t0) as f64 / 1e6;
                    let per = |f: fn(&ShadowStats) -> u64| {
                        let was = base.shadow.as_ref().map_or(0, f);
                        f(now).saturating_sub(was) as f64 / secs
                    };
                    let add = |to: &mut Option<f64>, v: f64| *to = Some(to.unwrap_or(0.0) + v);
                    add(&mut sh.retry_s, per(|s| s.retries));
                    add(&mut sh.deny_s, per(|s| s.budget_denied));
                    add(&mut sh.reject_s, per(|s| s.circuit_rejected));
                    add(
                        &mut sh.live_reject_s,
                        delta(|k| k.circuit_rejected) as f64 / secs,
                    );
                }
            }
            r.calls += last.calls;
            r.denied += last.budget_denied;
            if let (Some(n), Some(max)) = (last.in_flight, last.max_concurrent) {
                let (n0, max0) = r.in_flight.unwrap_or_default();
                r.in_flight = Some((n0.saturating_add(n), max0.saturating_add(max)));
            }
            if let Some(w) = last.window {
                let sum = r.window.get_or_insert_with(WindowCounts::default);
                *sum = WindowCounts::new(
                    sum.calls.saturating_add(w.calls),
                    sum.failures.saturating_add(w.failures),
                    sum.slow.saturating_add(w.slow),
                );
            }
            lat.merge(&last.latency.since(&base.latency));
            if windowed {
                let secs = (t1 - t0) as f64 / 1e6;
                let per = |f: fn(&KeyStats) -> u64| delta(f) as f64 / secs;
                let add = [
                    per(|k| k.calls),
                    per(|k| k.retries),
                    per(|k| k.budget_denied),
                ];
                rate = Some(match rate {
                    Some(x) => [x[0] + add[0], x[1] + add[1], x[2] + add[2]],
                    None => add,
                });
            }
            let offset = SPARK.saturating_sub(s.spark.len());
            spark.resize(SPARK, 0);
            for (i, v) in s.spark.iter().enumerate() {
                spark[offset + i] += v;
            }
        }
        let pct = |n: u64, of: u64| (of > 0).then(|| n as f64 * 100.0 / of as f64);
        r.ok_pct = pct(d.successes, d.calls);
        r.first_pct = pct(d.first_try_successes, d.calls);
        r.att_per_call = (d.calls > 0).then(|| d.attempts as f64 / d.calls as f64);
        r.win_pct = pct(d.hedge_wins, d.hedges);
        r.hedged_pct = pct(d.hedges, d.calls);
        if let Some([c, re, de]) = rate {
            (r.calls_s, r.retry_s, r.deny_s) = (Some(c), Some(re), Some(de));
        }
        r.p50_us = lat.quantile_us(0.5);
        r.p99_us = lat.quantile_us(0.99);
        r.top = self.top_reasons(1).pop();
        if spark.iter().any(|&v| v > 0) {
            r.spark = spark;
        }
        r
    }
}

/// One row of the keys table.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    pub(crate) key: String,
    pub(crate) calls_s: Option<f64>,
    pub(crate) calls: u64,
    pub(crate) ok_pct: Option<f64>,
    pub(crate) first_pct: Option<f64>,
    pub(crate) att_per_call: Option<f64>,
    pub(crate) retry_s: Option<f64>,
    pub(crate) deny_s: Option<f64>,
    pub(crate) denied: u64,
    pub(crate) win_pct: Option<f64>,
    /// Hedges launched per 100 calls.
    pub(crate) hedged_pct: Option<f64>,
    /// Times the breaker opened from closed in the last minute, on the target with the most.
    pub(crate) opened_min: u32,
    pub(crate) circuit: Option<String>,
    /// Attempts in flight and the bulkhead's cap, summed over targets, for keys with one.
    pub(crate) in_flight: Option<(u32, u32)>,
    /// What the breaker's window holds, summed over targets, for keys whose breaker judges
    /// rates.
    pub(crate) window: Option<WindowCounts>,
    pub(crate) p50_us: Option<u64>,
    pub(crate) p99_us: Option<u64>,
    pub(crate) top: Option<(String, f64)>,
    pub(crate) spark: Vec<u64>,
    /// The key's retry budget is shared by the fleet, and some target spends from its local
    /// fallback: the fleet's store is out of reach there.
    pub(crate) fleet_fallback: bool,
    /// Its hedging state, for a key with `hedge.auto_disable`.
    pub(crate) hedging: Option<String>,
    /// Live against shadow over the window, for a key whose policy has a shadow.
    pub(crate) shadow: Option<Shadow>,
}

/// A key's live policy against its shadow, over the rate window (summed over targets).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Shadow {
    /// The shadow policy's id.
    pub(crate) policy: Option<String>,
    /// What the shadow would have done, over the window.
    pub(crate) would: ShadowStats,
    /// Per second over the window, when it spans time: the shadow's retries, budget denials
    /// and breaker rejections, and the live calls' breaker rejections.
    pub(crate) retry_s: Option<f64>,
    pub(crate) deny_s: Option<f64>,
    pub(crate) reject_s: Option<f64>,
    pub(crate) live_reject_s: Option<f64>,
}

impl Shadow {
    /// The shadow's success rate (%) over the calls it could judge.
    pub(crate) fn ok_pct(&self) -> Option<f64> {
        let judged = self.would.successes + self.would.failures;
        (judged > 0).then(|| self.would.successes as f64 * 100.0 / judged as f64)
    }

    /// The shadow's attempts per call.
    pub(crate) fn att_per_call(&self) -> Option<f64> {
        let w = &self.would;
        (w.calls > 0).then(|| w.attempts as f64 / w.calls as f64)
    }

    /// The share (%) of calls of `n`.
    pub(crate) fn pct(&self, n: u64) -> Option<f64> {
        (self.would.calls > 0).then(|| n as f64 * 100.0 / self.would.calls as f64)
    }

    /// Adds one target's shadow counters over the window (`base` at its start).
    fn add(&mut self, last: &ShadowStats, base: Option<&ShadowStats>) {
        let zero = ShadowStats::default();
        let base = base.unwrap_or(&zero);
        let w = &mut self.would;
        let add = |to: &mut u64, f: fn(&ShadowStats) -> u64| {
            *to = to.saturating_add(f(last).saturating_sub(f(base)));
        };
        add(&mut w.calls, |s| s.calls);
        add(&mut w.differs, |s| s.differs);
        add(&mut w.successes, |s| s.successes);
        add(&mut w.failures, |s| s.failures);
        add(&mut w.unknown, |s| s.unknown);
        add(&mut w.attempts, |s| s.attempts);
        add(&mut w.retries, |s| s.retries);
        add(&mut w.hedges, |s| s.hedges);
        add(&mut w.budget_denied, |s| s.budget_denied);
        add(&mut w.circuit_rejected, |s| s.circuit_rejected);
        add(&mut w.circuit_opens, |s| s.circuit_opens);
        add(&mut w.timeouts, |s| s.timeouts);
        // The worst breaker state among targets.
        let rank = |c: Option<&str>| match c {
            Some("open") => 3,
            Some("half-open") => 2,
            Some(_) => 1,
            None => 0,
        };
        if rank(last.circuit.as_deref()) > rank(w.circuit.as_deref()) {
            w.circuit.clone_from(&last.circuit);
        }
        if self.policy.is_none() {
            self.policy.clone_from(&last.policy);
        }
    }
}

/// What the keys table can be sorted by (`<`/`>` cycle in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sort {
    Key,
    CallRate,
    OkPct,
    AttemptsPerCall,
    P99,
}

impl Sort {
    /// Every sort, in cycling order.
    pub(crate) const ALL: [Sort; 5] = [
        Sort::Key,
        Sort::CallRate,
        Sort::OkPct,
        Sort::AttemptsPerCall,
        Sort::P99,
    ];

    /// Its name in the table's title.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Sort::Key => "key",
            Sort::CallRate => "calls/s",
            Sort::OkPct => "ok%",
            Sort::AttemptsPerCall => "att/call",
            Sort::P99 => "p99",
        }
    }

    /// The next sort (`by` 1) or the previous one (`by` -1).
    pub(crate) fn cycle(self, by: isize) -> Sort {
        let n = Sort::ALL.len() as isize;
        let at = Sort::ALL.iter().position(|s| *s == self).unwrap_or(0) as isize;
        Sort::ALL[(at + by).rem_euclid(n) as usize]
    }

    /// Sorts `rows` ascending by this.
    pub(crate) fn sort(self, rows: &mut [Row]) {
        let value = |r: &Row| -> f64 {
            match self {
                Sort::Key => 0.0,
                Sort::CallRate => r.calls_s.unwrap_or(r.calls as f64),
                Sort::OkPct => r.ok_pct.unwrap_or(-1.0),
                Sort::AttemptsPerCall => r.att_per_call.unwrap_or(0.0),
                Sort::P99 => r.p99_us.unwrap_or(0) as f64,
            }
        };
        if self == Sort::Key {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            rows.sort_by(|a, b| {
                value(a)
                    .total_cmp(&value(b))
                    .then_with(|| b.key.cmp(&a.key))
            });
        }
    }
}
