use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::Timestamp;

/// Sub-buckets per power of two: values are kept within 1/16 (6.25%) of their size.
pub(crate) const SUB: u64 = 16;
const SUB_BITS: u32 = 4;
/// Values in microseconds up to 2^44 µs (about 200 days).
const EXPONENTS: usize = 41;
pub(crate) const BUCKETS: usize = EXPONENTS * SUB as usize;
/// How often the percentile snapshot is refreshed (and the older window retired).
const EPOCH: Duration = Duration::from_secs(5);

pub(crate) fn bucket_of(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let e = 63 - micros.leading_zeros(); // >= SUB_BITS
    let sub = (micros >> (e - SUB_BITS)) & (SUB - 1);
    (((e - SUB_BITS + 1) as u64 * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The largest value a bucket holds (percentiles report it: a hedge rather late than early).
pub(crate) fn bucket_value(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let e = index / SUB + u64::from(SUB_BITS) - 1;
    let sub = index % SUB;
    let lower = (SUB + sub) << (e - u64::from(SUB_BITS));
    lower + (1 << (e - u64::from(SUB_BITS))) - 1
}

#[derive(Debug)]
struct Window {
    counts: Box<[AtomicU32]>,
    total: AtomicU64,
}

impl Window {
    fn new() -> Window {
        Window {
            counts: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            total: AtomicU64::new(0),
        }
    }
}

/// Percentiles of a key's recent attempt latencies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencySnapshot {
    /// Samples the snapshot was computed from.
    pub samples: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

impl LatencySnapshot {
    /// The percentile named `p50`, `p90`, `p95` or `p99` (any case).
    pub fn get(&self, name: &str) -> Option<Duration> {
        // Compared in place: a percentile trigger asks on every hedged call, which must not
        // allocate a lowercased copy of the name.
        [
            ("p50", self.p50),
            ("p90", self.p90),
            ("p95", self.p95),
            ("p99", self.p99),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, d)| d)
    }
}

/// A key's latency histogram: log-linear buckets (16 per power of two, microseconds) in two
/// windows that rotate every epoch, so old latencies age out.
///
/// # Performance
///
/// Recording is one atomic increment (plus one for the total), lock-free and allocation-free.
/// A percentile read is O(1): four atomics written when the snapshot is refreshed, once per
/// epoch (5s) or when the sample count first reaches what hedging needs. Memory is fixed: about
/// 5 KiB per key.
#[derive(Debug)]
pub struct LatencyTracker {
    windows: [Window; 2],
    active: AtomicU64,
    next_refresh: AtomicU64,
    refreshing: AtomicU64,
    snapshot: [AtomicU64; 5],
}

impl Default for LatencyTracker {
    fn default() -> LatencyTracker {
        LatencyTracker::new()
    }
}

impl LatencyTracker {
    /// An empty tracker.
    pub fn new() -> LatencyTracker {
        LatencyTracker {
            windows: [Window::new(), Window::new()],
            active: AtomicU64::new(0),
            next_refresh: AtomicU64::new(0),
            refreshing: AtomicU64::new(0),
            snapshot: Default::default(),
        }
    }

    /// Records one attempt's latency.
    #[inline]
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let w = &self.windows[(self.active.load(Ordering::Relaxed) & 1) as usize];
        w.counts[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        w.total.fetch_add(1, Ordering::Relaxed);
    }

    /// The current snapshot at `now`, refreshed first if its epoch is over or if it has fewer
    /// than `min_samples` samples while the windows hold enough.
    #[inline]
    pub fn snapshot(&self, now: Timestamp, min_samples: u64) -> LatencySnapshot {
        let due = now.as_nanos() >= self.next_refresh.load(Ordering::Acquire);
        let starved = self.snapshot[0].load(Ordering::Acquire) < min_samples
            && self
                .windows
                .iter()
                .map(|w| w.total.load(Ordering::Relaxed))
                .sum::<u64>()
                >= min_samples;
        if due || starved {
            self.refresh(now, due);
        }
        self.read()
    }

    fn read(&self) -> LatencySnapshot {
        let get = |i: usize| self.snapshot[i].load(Ordering::Acquire);
        LatencySnapshot {
            samples: get(0),
            p50: Duration::from_micros(get(1)),
            p90: Duration::from_micros(get(2)),
            p95: Duration::from_micros(get(3)),
            p99: Duration::from_micros(get(4)),
        }
    }

    /// Computes the snapshot from both windows; at an epoch's end also retires the older window.
    fn refresh(&self, now: Timestamp, rotate: bool) {
        // One refresher at a time; the others read the previous snapshot.
        if self
            .refreshing
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let mut counts = [0u64; BUCKETS];
        let mut total = 0u64;
        for w in &self.windows {
            for (c, a) in counts.iter_mut().zip(w.counts.iter()) {
                let n = u64::from(a.load(Ordering::Relaxed));
                *c += n;
                total += n;
            }
        }
        let quantile = |q: f64| -> u64 {
            if total == 0 {
                return 0;
            }
            // The sample at index floor((n-1)q), as the reference's sorted-buffer read.
            let rank = ((total - 1) as f64 * q).floor() as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen > rank {
                    return bucket_value(i);
                }
            }
            bucket_value(BUCKETS - 1)
        };
        let values = [
            total,
            quantile(0.50),
            quantile(0.90),
            quantile(0.95),
            quantile(0.99),
        ];
        for (slot, v) in self.snapshot.iter().zip(values) {
            slot.store(v, Ordering::Release);
        }
        if rotate {
            // The inactive (older) window is cleared and becomes the active one.
            let next = (self.active.load(Ordering::Acquire) + 1) & 1;
            let w = &self.windows[next as usize];
            w.counts.iter().for_each(|c| c.store(0, Ordering::Relaxed));
            w.total.store(0, Ordering::Relaxed);
            self.active.store(next, Ordering::Release);
            let epoch = crate::clock::duration_nanos(EPOCH);
            self.next_refresh
                .store(now.as_nanos().saturating_add(epoch), Ordering::Release);
        }
        self.refreshing.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_nanos(1_000_000_000_000);
    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_are_named_in_any_case() {
        let s = LatencySnapshot {
            samples: 4,
            p50: ms(1),
            p90: ms(2),
            p95: ms(3),
            p99: ms(4),
        };
        assert_eq!(s.get("p90"), Some(ms(2)));
        assert_eq!(s.get("P99"), Some(ms(4)));
        assert_eq!(s.get("p999"), None);
    }

    /// Within the histogram's precision (1/16) of `expected`, never below it.
    fn close(got: Duration, expected: Duration) -> bool {
        got >= expected && got.as_secs_f64() <= expected.as_secs_f64() * (1.0 + 1.0 / 16.0)
    }

    #[test]
    fn buckets_round_trip_within_precision() {
        for v in [0u64, 1, 15, 16, 17, 100, 1000, 4_999, 50_000, 123_456_789] {
            let b = bucket_value(bucket_of(v));
            assert!(
                b >= v && (b - v) as f64 <= (v as f64 / 16.0).max(0.0) + 1.0,
                "{v} -> {b}"
            );
        }
    }

    #[test]
    fn s073_quantiles() {
        // (a) empty
        let t = LatencyTracker::new();
        assert_eq!(t.snapshot(T0, 0), LatencySnapshot::default());
        // (b) 1..100ms
        let t = LatencyTracker::new();
        (1..=100).for_each(|i| t.record(ms(i)));
        let s = t.snapshot(T0, 1);
        assert!(
            close(s.p50, ms(50))
                && close(s.p90, ms(90))
                && close(s.p95, ms(95))
                && close(s.p99, ms(99)),
            "{s:?}"
        );
        // (c) 5 x 1ms then 2 x 100ms: p50 1ms, p90 100ms
        let t = LatencyTracker::new();
        (0..5).for_each(|_| t.record(ms(1)));
        (0..2).for_each(|_| t.record(ms(100)));
        let s = t.snapshot(T0, 1);
        assert!(close(s.p50, ms(1)) && close(s.p90, ms(100)), "{s:?}");
        // (d) one sample: every percentile is it
        let t = LatencyTracker::new();
        t.record(ms(7));
        let s = t.snapshot(T0, 1);
        assert!(
            [s.p50, s.p90, s.p95, s.p99]
                .iter()
                .all(|p| close(*p, ms(7))),
            "{s:?}"
        );
    }

    #[test]
    fn old_latencies_age_out_after_two_epochs() {
        let t = LatencyTracker::new();
        (0..100).for_each(|_| t.record(ms(500)));
        assert!(close(t.snapshot(T0, 1).p50, ms(500)));
        let later = T0.plus(EPOCH);
        (0..100).for_each(|_| t.record(ms(5)));
        let _ = t.snapshot(later, 1);
        let much_later = later.plus(EPOCH);
        let s = t.snapshot(much_later, 1);
        assert!(close(s.p99, ms(5)), "the 500ms samples retired: {s:?}");
    }

    #[test]
    fn reads_between_refreshes_are_the_cached_snapshot() {
        let t = LatencyTracker::new();
        (0..30).for_each(|_| t.record(ms(10)));
        let first = t.snapshot(T0, 20);
        (0..30).for_each(|_| t.record(ms(80)));
        assert_eq!(
            t.snapshot(T0.plus(ms(1)), 20),
            first,
            "same epoch, enough samples: cached"
        );
    }
}
