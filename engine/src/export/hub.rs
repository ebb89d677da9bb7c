//! The call path's side of the export: which keys some client wants (a cached bit per key,
//! recomputed only when subscriptions change), exact per-key counters, and the bounded source
//! queue that drops and counts when full.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustc_hash::FxHashMap;
use tokio::sync::mpsc;

use super::filter::KeyFilter;
use crate::circuit::Transition;
use crate::clock::Timestamp;
use crate::error::Reason;
use crate::hedge::{BUCKETS, bucket_of};
use crate::key::Key;
use crate::observe::{CallOutcome, Timeline};

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
    /// 0 while no client is subscribed; otherwise changes whenever any subscription changes.
    generation: AtomicU64,
    next_generation: AtomicU64,
    filters: Mutex<FxHashMap<u64, KeyFilter>>,
    counters: Mutex<FxHashMap<Key, Arc<KeyCounters>>>,
    max_keys: usize,
    overflow: Arc<KeyCounters>,
    sender: mpsc::Sender<SourceEvent>,
    receiver: Mutex<Option<mpsc::Receiver<SourceEvent>>>,
    pub(crate) source_dropped: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    pub(crate) fn new(queue: usize, max_keys: usize) -> Hub {
        let (sender, receiver) = mpsc::channel(queue.max(1));
        Hub {
            generation: AtomicU64::new(0),
            next_generation: AtomicU64::new(0),
            filters: Mutex::default(),
            counters: Mutex::default(),
            max_keys,
            overflow: Arc::default(),
            sender,
            receiver: Mutex::new(Some(receiver)),
            source_dropped: AtomicU64::new(0),
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
        let generation = if filters.is_empty() {
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
        let wanted = if cached >> 1 == generation {
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

/// Exact cumulative counters of one key (DESIGN.md §5 `stats`).
#[derive(Debug)]
pub(crate) struct KeyCounters {
    pub(crate) calls: AtomicU64,
    pub(crate) successes: AtomicU64,
    pub(crate) first_try_successes: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) hedges: AtomicU64,
    pub(crate) hedge_wins: AtomicU64,
    pub(crate) budget_denied: AtomicU64,
    pub(crate) circuit_rejected: AtomicU64,
    /// Call durations, log-linear buckets of microseconds (16 per power of two).
    pub(crate) latency: Box<[AtomicU64]>,
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
        let s = t.summary();
        add(&self.calls, 1);
        add(&self.attempts, s.attempts.into());
        add(&self.retries, s.retries.into());
        add(&self.hedges, s.hedges.into());
        add(&self.budget_denied, s.budget_denied.into());
        add(&self.first_try_successes, s.first_try_success.into());
        add(&self.hedge_wins, s.hedge_won.into());
        match t.outcome {
            CallOutcome::Success => add(&self.successes, 1),
            CallOutcome::Failure => {
                add(&self.failures, 1);
                add(
                    &self.circuit_rejected,
                    u64::from(t.reason == Reason::CIRCUIT_OPEN),
                );
            }
        }
        let micros = u64::try_from(t.duration().as_micros()).unwrap_or(u64::MAX);
        add(&self.latency[bucket_of(micros)], 1);
    }

    /// `(bucket, count)` for the non-empty latency buckets.
    pub(crate) fn latency_counts(&self) -> Vec<(usize, u64)> {
        self.latency
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.load(Ordering::Relaxed)))
            .filter(|&(_, c)| c > 0)
            .collect()
    }
}
