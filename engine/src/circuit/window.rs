//! The calls a rate-judging breaker looks back over: the last N calls (a ring of N one-byte
//! slots) or the calls of the last span of time (ten buckets, each a tenth of the span).
//!
//! Both are lock-free: no call waits for another. A count window takes one `fetch_add` for
//! its slot and one `swap`; its totals word changes only when the slot's old sample differs
//! from the new one (a steady run of successes writes nothing else). A time window takes one
//! compare-and-swap on its current bucket.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::Timestamp;
use crate::policy::CircuitWindow;

/// One call as a window counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// The call failed.
    pub failed: bool,
    /// The call took at least the slow-call duration.
    pub slow: bool,
}

/// What a window holds at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Calls in the window.
    pub calls: u64,
    /// Failed calls among them.
    pub failures: u64,
    /// Slow calls among them.
    pub slow: u64,
}

impl Counts {
    /// Failed calls over calls (0 for an empty window).
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// Slow calls over calls (0 for an empty window).
    pub fn slow_rate(&self) -> f64 {
        ratio(self.slow, self.calls)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A breaker's window of calls: the last N calls or the calls of a span of time.
#[derive(Debug)]
pub struct Window {
    shape: CircuitWindow,
    ring: Ring,
}

#[derive(Debug)]
enum Ring {
    Calls(CountRing),
    Time(TimeRing),
}

impl Window {
    /// An empty window of this shape (a count window holds 1 to 1,000,000 calls; a time
    /// window spans at least ten nanoseconds).
    pub fn new(shape: CircuitWindow) -> Window {
        let ring = match shape {
            CircuitWindow::Calls(n) => Ring::Calls(CountRing::new(n.clamp(1, MAX_CALLS))),
            CircuitWindow::Time(span) => Ring::Time(TimeRing::new(span)),
        };
        Window { shape, ring }
    }

    /// The shape it was built for.
    pub fn shape(&self) -> CircuitWindow {
        self.shape
    }

    /// Whether recording and reading need the time (a time window).
    pub fn reads_clock(&self) -> bool {
        matches!(self.ring, Ring::Time(_))
    }

    /// Counts one call that ended at `now` (read only by a time window).
    #[inline]
    pub fn record(&self, sample: Sample, now: impl FnOnce() -> Timestamp) {
        match &self.ring {
            Ring::Calls(r) => r.record(sample),
            Ring::Time(r) => r.record(sample, now()),
        }
    }

    /// The calls in the window at `now` (read only by a time window).
    pub fn counts(&self, now: impl FnOnce() -> Timestamp) -> Counts {
        match &self.ring {
            Ring::Calls(r) => r.counts(),
            Ring::Time(r) => r.counts(now()),
        }
    }

    /// Empties the window (when the breaker opens, so that it closes on a fresh one).
    pub fn clear(&self) {
        match &self.ring {
            Ring::Calls(r) => r.clear(),
            Ring::Time(r) => r.clear(),
        }
    }
}

/// A sample as a count window's slot holds it: bit 0 a call, bit 1 failed, bit 2 slow.
fn slot_of(s: Sample) -> u8 {
    1 | (u8::from(s.failed) << 1) | (u8::from(s.slow) << 2)
}

/// The totals word of a count window: calls, failures and slow calls in three 21-bit fields
/// (a window holds at most [`MAX_CALLS`], below 2^21; policies allow 10,000).
const FIELD: u32 = 21;
/// The most calls a count window holds.
const MAX_CALLS: u32 = 1_000_000;
const FIELD_MASK: u64 = (1 << FIELD) - 1;

fn totals_of(slot: u8) -> u64 {
    let slot = u64::from(slot);
    (slot & 1) | ((slot >> 1 & 1) << FIELD) | ((slot >> 2 & 1) << (2 * FIELD))
}

#[derive(Debug)]
struct CountRing {
    slots: Box<[AtomicU8]>,
    next: AtomicU64,
    totals: AtomicU64,
}

impl CountRing {
    fn new(n: u32) -> CountRing {
        CountRing {
            slots: (0..n).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicU64::new(0),
            totals: AtomicU64::new(0),
        }
    }

    #[inline]
    fn record(&self, sample: Sample) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len() as u64;
        let new = slot_of(sample);
        let old = self.slots[i as usize].swap(new, Ordering::AcqRel);
        if old != new {
            self.adjust(old, new);
        }
    }

    /// Replaces `old`'s contribution to the totals with `new`'s, in one `fetch_add` (wrapping:
    /// the fields are read back whole once every writer has landed).
    fn adjust(&self, old: u8, new: u8) {
        let delta = totals_of(new).wrapping_sub(totals_of(old));
        self.totals.fetch_add(delta, Ordering::AcqRel);
    }

    fn counts(&self) -> Counts {
        let t = self.totals.load(Ordering::Acquire);
        let counts = Counts {
            calls: t & FIELD_MASK,
            failures: t >> FIELD & FIELD_MASK,
            slow: t >> (2 * FIELD) & FIELD_MASK,
        };
        // Between one writer's swap and its adjustment, another may take out a sample whose
        // count has not landed yet: a field then reads out of range for a moment. Such a
        // reading is no evidence; report an empty window instead.
        let n = self.slots.len() as u64;
        if counts.calls > n || counts.failures > counts.calls || counts.slow > counts.calls {
            return Counts::default();
        }
        counts
    }

    fn clear(&self) {
        for slot in &self.slots {
            let old = slot.swap(0, Ordering::AcqRel);
            if old != 0 {
                self.adjust(old, 0);
            }
        }
    }
}

/// Buckets of a time window.
const BUCKETS: u64 = 10;
/// A time bucket's word: the low 12 bits of its lap (which pass of the ring wrote it) in the
/// top bits, then slow calls, failures and calls in 17-bit fields.
const LAP_SHIFT: u32 = 52;
const LAP_MASK: u64 = (1 << 12) - 1;
const COUNT: u32 = 17;
const COUNT_MASK: u64 = (1 << COUNT) - 1;

#[derive(Debug)]
struct TimeRing {
    bucket_nanos: u64,
    buckets: [AtomicU64; BUCKETS as usize],
}

impl TimeRing {
    fn new(span: Duration) -> TimeRing {
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        TimeRing {
            bucket_nanos: (nanos / BUCKETS).max(1),
            buckets: Default::default(),
        }
    }

    /// The bucket `now` falls in and its lap.
    fn place(&self, now: Timestamp) -> (usize, u64) {
        let epoch = now.as_nanos() / self.bucket_nanos;
        ((epoch % BUCKETS) as usize, epoch / BUCKETS)
    }

    #[inline]
    fn record(&self, sample: Sample, now: Timestamp) {
        let (i, lap) = self.place(now);
        let tag = (lap & LAP_MASK) << LAP_SHIFT;
        let add = 1 | (u64::from(sample.failed) << COUNT) | (u64::from(sample.slow) << (2 * COUNT));
        let bucket = &self.buckets[i];
        let mut word = bucket.load(Ordering::Acquire);
        loop {
            let next = if word & (LAP_MASK << LAP_SHIFT) == tag && word != 0 {
                if word & COUNT_MASK == COUNT_MASK {
                    // Full: halve the three counts, keeping their proportions, and go on
                    // counting (an outage that starts late in a busy bucket still shows).
                    let half = |shift: u32| ((word >> shift & COUNT_MASK) / 2) << shift;
                    (tag | half(0) | half(COUNT) | half(2 * COUNT)) + add
                } else {
                    word + add
                }
            } else {
                tag | add // a bucket from an earlier lap starts over
            };
            match bucket.compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    fn counts(&self, now: Timestamp) -> Counts {
        let (current, lap) = self.place(now);
        let mut counts = Counts::default();
        for (i, bucket) in self.buckets.iter().enumerate() {
            // Buckets after the current one hold the previous lap's later tenths.
            let wanted = if i <= current {
                lap
            } else {
                lap.wrapping_sub(1)
            };
            let word = bucket.load(Ordering::Acquire);
            if word == 0 || word >> LAP_SHIFT & LAP_MASK != wanted & LAP_MASK {
                continue;
            }
            counts.calls += word & COUNT_MASK;
            counts.failures += word >> COUNT & COUNT_MASK;
            counts.slow += word >> (2 * COUNT) & COUNT_MASK;
        }
        counts
    }

    fn clear(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Sample = Sample {
        failed: false,
        slow: false,
    };
    const FAIL: Sample = Sample {
        failed: true,
        slow: false,
    };
    const SLOW: Sample = Sample {
        failed: false,
        slow: true,
    };

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_nanos(1_000_000_000_000 + ms * 1_000_000)
    }

    fn counts(w: &Window, ms: u64) -> (u64, u64, u64) {
        let c = w.counts(|| at(ms));
        (c.calls, c.failures, c.slow)
    }

    #[test]
    fn a_count_window_holds_the_last_n_calls() {
        let w = Window::new(CircuitWindow::Calls(4));
        for s in [FAIL, FAIL, OK, SLOW] {
            w.record(s, || at(0));
        }
        assert_eq!(counts(&w, 0), (4, 2, 1));
        // Two more successes push the two failures out.
        w.record(OK, || at(0));
        w.record(OK, || at(0));
        assert_eq!(counts(&w, 0), (4, 0, 1));
        w.clear();
        assert_eq!(counts(&w, 0), (0, 0, 0));
        w.record(FAIL, || at(0));
        assert_eq!(counts(&w, 0), (1, 1, 0));
    }

    #[test]
    fn a_time_window_forgets_calls_older_than_its_span() {
        let w = Window::new(CircuitWindow::Time(Duration::from_secs(10)));
        w.record(FAIL, || at(0));
        w.record(SLOW, || at(4_000));
        w.record(OK, || at(9_500));
        assert_eq!(counts(&w, 9_999), (3, 1, 1));
        // At 10.5s the first second's bucket is a lap old.
        assert_eq!(counts(&w, 10_500), (2, 0, 1));
        // A new call in that bucket starts it over.
        w.record(FAIL, || at(10_600));
        assert_eq!(counts(&w, 10_700), (3, 1, 1));
        // After a whole idle span nothing is left.
        assert_eq!(counts(&w, 40_000), (0, 0, 0));
        w.clear();
        assert_eq!(counts(&w, 10_700), (0, 0, 0));
    }

    #[test]
    fn concurrent_writers_leave_exact_totals() {
        let w = std::sync::Arc::new(Window::new(CircuitWindow::Calls(64)));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u32 {
                        let s = Sample {
                            failed: (i + t) % 3 == 0,
                            slow: i % 5 == 0,
                        };
                        w.record(s, || at(0));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Once every writer is done, the totals are exactly what the slots hold.
        let CountRing { slots, .. } = match &w.ring {
            Ring::Calls(r) => r,
            Ring::Time(_) => unreachable!(),
        };
        let held = slots.iter().fold((0, 0, 0), |(c, f, s), slot| {
            let v = slot.load(Ordering::Acquire);
            (
                c + u64::from(v & 1),
                f + u64::from(v >> 1 & 1),
                s + u64::from(v >> 2 & 1),
            )
        });
        assert_eq!(counts(&w, 0), held);
        assert_eq!(held.0, 64);
    }

    #[test]
    fn a_full_time_bucket_halves_its_counts_and_goes_on_counting() {
        let w = Window::new(CircuitWindow::Time(Duration::from_secs(10)));
        for _ in 0..COUNT_MASK {
            w.record(OK, || at(0));
        }
        assert_eq!(counts(&w, 0), (COUNT_MASK, 0, 0));
        // Full: the next call halves the bucket, so failures from now on weigh in.
        for _ in 0..1000 {
            w.record(FAIL, || at(0));
        }
        let (calls, failures, slow) = counts(&w, 0);
        assert_eq!((calls, failures, slow), (COUNT_MASK / 2 + 1000, 1000, 0));
    }

    proptest::proptest! {
        /// On one thread, a count window holds exactly what the last N samples were.
        #[test]
        fn a_count_window_agrees_with_the_last_n_samples(
            n in 1u32..40,
            samples in proptest::collection::vec((proptest::bool::ANY, proptest::bool::ANY), 0..200),
            clear_at in proptest::option::of(0usize..200),
        ) {
            let w = Window::new(CircuitWindow::Calls(n));
            let mut model: Vec<(bool, bool)> = Vec::new();
            for (i, &(failed, slow)) in samples.iter().enumerate() {
                if clear_at == Some(i) {
                    w.clear();
                    model.clear();
                }
                w.record(Sample { failed, slow }, || at(0));
                model.push((failed, slow));
            }
            // A cleared window refills its slots in ring order, so compare with the samples
            // since the clear, at most n of them.
            let last = &model[model.len().saturating_sub(n as usize)..];
            let want = (
                last.len() as u64,
                last.iter().filter(|s| s.0).count() as u64,
                last.iter().filter(|s| s.1).count() as u64,
            );
            proptest::prop_assert_eq!(counts(&w, 0), want);
        }

        /// On one thread, a time window holds exactly the samples of its last ten buckets.
        #[test]
        fn a_time_window_agrees_with_the_samples_of_its_span(
            steps in proptest::collection::vec((0u64..3_000, proptest::bool::ANY), 1..150),
        ) {
            let w = Window::new(CircuitWindow::Time(Duration::from_secs(10)));
            let (mut now, mut model) = (0u64, Vec::new());
            for &(advance, failed) in &steps {
                now += advance;
                w.record(Sample { failed, slow: false }, || at(now));
                model.push((now, failed));
            }
            // Buckets are whole seconds: the window holds the current one and the nine before.
            let bucket = |ms: u64| (1_000_000 + ms) / 1_000;
            let kept: Vec<_> = model.iter().filter(|(t, _)| bucket(now) - bucket(*t) < 10).collect();
            let want = (kept.len() as u64, kept.iter().filter(|s| s.1).count() as u64, 0);
            proptest::prop_assert_eq!(counts(&w, now), want);
        }
    }

    #[test]
    fn a_count_window_too_large_for_its_fields_is_capped() {
        let w = Window::new(CircuitWindow::Calls(u32::MAX));
        w.record(FAIL, || at(0));
        assert_eq!(counts(&w, 0), (1, 1, 0));
    }
}
