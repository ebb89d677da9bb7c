//! One key on one target: its `stats` snapshots over the windows, its sparkline, its breaker.

use std::collections::VecDeque;

use recourse_engine::export::wire::KeyStats;

/// The windows `z`/`Z` choose between, in seconds; the first is the default.
pub(crate) const WINDOWS: [(i64, &str); 4] = [(10, "10s"), (60, "1m"), (300, "5m"), (900, "15m")];
/// Latency buckets one series keeps over its snapshots (each snapshot holds at most 656); past
/// it the oldest long-window snapshots go, so a window can only get shorter.
const SERIES_BUCKETS: usize = 4_096;
/// Points of a key's sparkline.
pub(crate) const SPARK: usize = 60;
/// `stats` snapshots kept per key and target: rates are over the last 10 intervals.
const WINDOW: usize = 11;
/// One `stats` snapshot is kept per this many microseconds for the longer windows.
const COARSE_US: i64 = 10_000_000;
/// Coarse snapshots kept: the longest window, plus one.
const COARSE: usize = 91;
/// The span over which breaker openings are counted.
const OPENINGS_SPAN_US: i64 = 60_000_000;

/// The `stats` snapshots of a key on one target.
#[derive(Debug, Default)]
pub(crate) struct Series {
    pub(crate) snaps: VecDeque<(i64, KeyStats)>,
    /// One snapshot per `COARSE_US`, for the windows past the recent one.
    coarse: VecDeque<(i64, KeyStats)>,
    pub(crate) spark: VecDeque<u64>,
    /// When this target's breaker opened from closed, over the last minute (µs). Reopening
    /// after a failed half-open probe is not counted: that is a dependency still down, not a
    /// breaker flapping.
    openings: VecDeque<i64>,
    /// This target's breaker for the key, as it last said.
    pub(crate) circuit: Option<String>,
}

impl Series {
    /// Adds the snapshot `stats` taken at `ts` (µs since the epoch).
    pub(crate) fn push(&mut self, ts: i64, mut stats: KeyStats) {
        stats.latency.tidy();
        // Cumulative counters that went down: the service restarted and counts from zero.
        // The windows start over with it, rather than read the drop as no calls at all.
        if self
            .snaps
            .back()
            .is_some_and(|(_, prev)| stats.calls < prev.calls)
        {
            self.snaps.clear();
            self.coarse.clear();
        }
        if stats.circuit.is_some() {
            self.circuit.clone_from(&stats.circuit);
        }
        if let Some((_, prev)) = self.snaps.back() {
            self.spark.push_back(stats.calls.saturating_sub(prev.calls));
            if self.spark.len() > SPARK {
                self.spark.pop_front();
            }
        }
        if self.coarse.back().is_none_or(|(t, _)| ts - t >= COARSE_US) {
            self.coarse.push_back((ts, stats.clone()));
            if self.coarse.len() > COARSE {
                self.coarse.pop_front();
            }
        }
        self.snaps.push_back((ts, stats));
        if self.snaps.len() > WINDOW {
            self.snaps.pop_front();
        }
        self.trim();
    }

    /// Adds `stats` at `ts` as [`push`](Self::push) does, unless the newest snapshot is less
    /// than `step` µs after the one before it: then it replaces that newest one, so the series
    /// holds one snapshot per `step` and its newest is always current.
    pub(crate) fn push_within(&mut self, ts: i64, step: i64, mut stats: KeyStats) {
        let len = self.snaps.len();
        let recent = len >= 2
            && self.snaps.back().is_some_and(|(t, _)| {
                let before = self.snaps[len - 2].0;
                *t - before < step
            });
        if !recent {
            return self.push(ts, stats);
        }
        stats.latency.tidy();
        let prev_calls = self.snaps[len - 2].1.calls;
        if let Some(last) = self.spark.back_mut() {
            *last = stats.calls.saturating_sub(prev_calls);
        }
        self.snaps[len - 1] = (ts, stats);
    }

    /// The breaker went from closed to open at `ts` (µs).
    pub(crate) fn opened(&mut self, ts: i64) {
        self.openings.push_back(ts);
        let old = |t: &i64| *t < ts - OPENINGS_SPAN_US;
        while self.openings.len() > 64 || self.openings.front().is_some_and(old) {
            self.openings.pop_front();
        }
    }

    /// Openings in the minute before the newest thing heard from this target.
    pub(crate) fn openings_last_minute(&self) -> u32 {
        let newest = self.snaps.back().map(|(t, _)| *t);
        let Some(newest) = newest.max(self.openings.back().copied()) else {
            return 0;
        };
        let recent = self
            .openings
            .iter()
            .filter(|&&t| t >= newest - OPENINGS_SPAN_US);
        recent.count() as u32
    }

    /// Latency buckets held over every snapshot.
    fn buckets(&self) -> usize {
        self.snaps
            .iter()
            .chain(&self.coarse)
            .map(|(_, k)| k.latency.counts.len())
            .sum()
    }

    /// Drops the oldest long-window snapshots until the series holds at most
    /// [`SERIES_BUCKETS`] latency buckets.
    fn trim(&mut self) {
        let mut held = self.buckets();
        while held > SERIES_BUCKETS {
            let Some((_, old)) = self.coarse.pop_front() else {
                break;
            };
            held -= old.latency.counts.len();
        }
    }

    /// The snapshot a window over this series starts from: the newest at least `window`
    /// seconds before the last one, else the oldest kept (the window is then shorter than
    /// asked).
    pub(crate) fn window_start(&self, window: usize) -> Option<&(i64, KeyStats)> {
        let (t1, _) = self.snaps.back()?;
        let (secs, _) = WINDOWS[window.min(WINDOWS.len() - 1)];
        if window == 0 {
            return self.snaps.front();
        }
        let from = t1 - secs * 1_000_000;
        self.coarse
            .iter()
            .chain(&self.snaps)
            .filter(|(t, _)| *t <= from)
            .max_by_key(|(t, _)| *t)
            .or_else(|| {
                self.coarse
                    .iter()
                    .chain(&self.snaps)
                    .min_by_key(|(t, _)| *t)
            })
    }
}
