//! The call path's side of the export: which keys some client wants (a cached bit per key,
//! recomputed only when subscriptions change), exact per-key counters, and the bounded source
//! queue that drops and counts when full.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustc_hash::FxHashMap;
use tokio::sync::mpsc;

use super::filter::KeyFilter;
use super::wire::{CallCounts, Histogram, KeyStats};
use crate::circuit::Transition;
use crate::clock::Timestamp;
use crate::error::Reason;
use crate::hedge::{BUCKETS, SUB};
use crate::key::Key;
use crate::observe::Timeline;

/// What the call path hands to the exporter task.
#[derive(Debug)]
pub(crate) enum SourceEvent {
    Call(Box<Timeline>),
    Circuit {
        key: Key,
        transition: Transition,
        at: Timestamp,
    },
}

/// Shared between the executor (call path) and the export server.
#[derive(Debug)]
pub(crate) struct Hub {
    /// 0 while no client is subscribed (and every call is not tapped anyway); otherwise
    /// changes whenever any subscription changes.
    generation: AtomicU64,
    next_generation: AtomicU64,
    filters: Mutex<FxHashMap<u64, KeyFilter>>,
    counters: Mutex<FxHashMap<Key, Arc<KeyCounters>>>,
    max_keys: usize,
    overflow: Arc<KeyCounters>,
    sender: mpsc::Sender<SourceEvent>,
    receiver: Mutex<Option<mpsc::Receiver<SourceEvent>>>,
    pub(crate) source_dropped: AtomicU64,
    /// Every call is tapped, subscribed or not (the server keeps a backfill of them).
    always: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A hub with a source queue of `queue` calls, counting at most `max_keys` keys apart;
    /// with `always`, every call is tapped even while no client is subscribed.
    pub(crate) fn new(queue: usize, max_keys: usize, always: bool) -> Hub {
        let (sender, receiver) = mpsc::channel(queue.max(1));
        // Tapping every call: the generation is never 0, so the call path's one load says so.
        let start = u64::from(always);
        Hub {
            generation: AtomicU64::new(start),
            next_generation: AtomicU64::new(start),
            filters: Mutex::default(),
            counters: Mutex::default(),
            max_keys,
            overflow: Arc::default(),
            sender,
            receiver: Mutex::new(Some(receiver)),
            source_dropped: AtomicU64::new(0),
            always,
        }
    }

    /// The receiving end of the source queue (one server per executor).
    pub(crate) fn take_receiver(&self) -> Option<mpsc::Receiver<SourceEvent>> {
        lock(&self.receiver).take()
    }

    pub(crate) fn give_back_receiver(&self, rx: mpsc::Receiver<SourceEvent>) {
        *lock(&self.receiver) = Some(rx);
    }

    /// Sets (or, with `None`, removes) the key filter of client `id`.
    pub(crate) fn set_filter(&self, id: u64, filter: Option<KeyFilter>) {
        let mut filters = lock(&self.filters);
        match filter {
            Some(f) => filters.insert(id, f),
            None => filters.remove(&id),
        };
        let generation = if filters.is_empty() && !self.always {
            0
        } else {
            self.next_generation.fetch_add(1, Ordering::Relaxed) + 1
        };
        self.generation.store(generation, Ordering::Release);
    }

    fn wanted(&self, key: &Key) -> bool {
        lock(&self.filters)
            .values()
            .any(|f| f.matches(key.as_str()))
    }

    /// The call path's check: one atomic load when nobody is subscribed, a cached bit per key
    /// otherwise (recomputed only after a subscription changed).
    #[inline]
    pub(crate) fn tap<'a>(&'a self, key: &Key, slot: &'a KeySlot) -> Option<Tap<'a>> {
        let generation = self.generation.load(Ordering::Acquire);
        if generation == 0 {
            return None;
        }
        self.tap_slow(key, slot, generation)
    }

    fn tap_slow<'a>(&'a self, key: &Key, slot: &'a KeySlot, generation: u64) -> Option<Tap<'a>> {
        let cached = slot.cached.load(Ordering::Relaxed);
        let wanted = if self.always {
            true
        } else if cached >> 1 == generation {
            cached & 1 == 1
        } else {
            let wanted = self.wanted(key);
            slot.cached
                .store(generation << 1 | u64::from(wanted), Ordering::Relaxed);
            wanted
        };
        if !wanted {
            return None;
        }
        let counters = slot.counters.get_or_init(|| self.counters_for(key));
        Some(Tap {
            hub: self,
            counters,
        })
    }

    fn counters_for(&self, key: &Key) -> Arc<KeyCounters> {
        let mut map = lock(&self.counters);
        if let Some(c) = map.get(key) {
            return c.clone();
        }
        if map.len() >= self.max_keys {
            return self.overflow.clone();
        }
        map.entry(key.clone()).or_default().clone()
    }

    /// Every key counted so far, with its counters.
    pub(crate) fn counted(&self) -> Vec<(Key, Arc<KeyCounters>)> {
        let mut v: Vec<_> = lock(&self.counters)
            .iter()
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        v.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        v
    }

    fn send(&self, event: SourceEvent) {
        if self.sender.try_send(event).is_err() {
            self.source_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A key's cached subscription bit and, once some client wanted it, its counters.
#[derive(Debug, Default)]
pub(crate) struct KeySlot {
    /// `generation << 1 | wanted`.
    cached: AtomicU64,
    counters: OnceLock<Arc<KeyCounters>>,
}

/// A call some client wants: its timeline goes to the exporter, its numbers to the counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tap<'a> {
    hub: &'a Hub,
    counters: &'a KeyCounters,
}

impl Tap<'_> {
    /// Counts the finished call (exactly, whatever the queue does) and queues its timeline.
    pub(crate) fn finish(self, timeline: Box<Timeline>) {
        self.counters.record(&timeline);
        self.hub.send(SourceEvent::Call(timeline));
    }

    pub(crate) fn circuit(self, key: &Key, transition: &Transition, at: Timestamp) {
        self.hub.send(SourceEvent::Circuit {
            key: key.clone(),
            transition: transition.clone(),
            at,
        });
    }
}

/// Exact cumulative counters of one key: the atomic mirror of [`KeyStats`], moved by
/// [`CallCounts`] so a call counts the same here and in a reader's tally.
#[derive(Debug)]
pub(crate) struct KeyCounters {
    calls: AtomicU64,
    successes: AtomicU64,
    first_try_successes: AtomicU64,
    failures: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    hedges: AtomicU64,
    hedge_wins: AtomicU64,
    budget_denied: AtomicU64,
    circuit_rejected: AtomicU64,
    /// Call durations, log-linear buckets of microseconds (16 per power of two).
    latency: Box<[AtomicU64]>,
}

impl Default for KeyCounters {
    fn default() -> KeyCounters {
        KeyCounters {
            calls: AtomicU64::new(0),
            successes: AtomicU64::new(0),
            first_try_successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            hedges: AtomicU64::new(0),
            hedge_wins: AtomicU64::new(0),
            budget_denied: AtomicU64::new(0),
            circuit_rejected: AtomicU64::new(0),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl KeyCounters {
    pub(crate) fn record(&self, t: &Timeline) {
        let micros = u64::try_from(t.duration().as_micros()).unwrap_or(u64::MAX);
        let c = CallCounts::of(&t.summary(), t.reason == Reason::CIRCUIT_OPEN, micros);
        add(&self.calls, 1);
        add(&self.successes, c.successes);
        add(&self.first_try_successes, c.first_try_successes);
        add(&self.failures, c.failures);
        add(&self.attempts, c.attempts);
        add(&self.retries, c.retries);
        add(&self.hedges, c.hedges);
        add(&self.hedge_wins, c.hedge_wins);
        add(&self.budget_denied, c.budget_denied);
        add(&self.circuit_rejected, c.circuit_rejected);
        add(&self.latency[c.latency_bucket], 1);
    }

    /// The counters now, as `stats` sends them (without the breaker's state).
    pub(crate) fn snapshot(&self) -> KeyStats {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let counts = self
            .latency
            .iter()
            .enumerate()
            .map(|(i, c)| (i, n(c)))
            .filter(|&(_, c)| c > 0)
            .collect();
        KeyStats {
            calls: n(&self.calls),
            successes: n(&self.successes),
            first_try_successes: n(&self.first_try_successes),
            failures: n(&self.failures),
            attempts: n(&self.attempts),
            retries: n(&self.retries),
            hedges: n(&self.hedges),
            hedge_wins: n(&self.hedge_wins),
            budget_denied: n(&self.budget_denied),
            circuit_rejected: n(&self.circuit_rejected),
            circuit: None,
            hedging: None,
            budget: None,
            in_flight: None,
            max_concurrent: None,
            window: None,
            shadow: None,
            latency: Histogram {
                sub_buckets: SUB as u32,
                counts,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::wire::CallEvent;

    #[test]
    fn a_call_counts_the_same_in_the_service_and_in_a_reader() {
        let clock = crate::clock::VirtualClock::new();
        let exec = crate::Executor::builder()
            .clock(clock.clock())
            .policy(
                "a.B",
                crate::Policy::builtin().max_attempts(3).backoff(
                    std::time::Duration::ZERO,
                    std::time::Duration::ZERO,
                    1.0,
                ),
            )
            .build()
            .unwrap();
        let counters = KeyCounters::default();
        let mut tally = KeyStats::default();
        for fails in [0u32, 1, 5] {
            let (_, t) = clock.block_on(exec.call_traced("a.B", move |info| async move {
                if info.attempt < fails {
                    Err(std::io::Error::other("x"))
                } else {
                    Ok(())
                }
            }));
            counters.record(&t);
            let line = serde_json::to_vec(&t).unwrap();
            let call: CallEvent = serde_json::from_slice(&line).unwrap();
            tally.count(&call.counts());
        }
        assert_eq!(counters.snapshot(), tally);
        assert_eq!(tally.calls, 3);
    }
}
