//! Replaying recorded traffic through a policy set: the real executor on virtual time, every
//! recorded call started at its recorded moment (so budgets, breakers and hedges see the real
//! arrival pattern), each attempt answered as the dependency answered it then (docs/diff.md).
//!
//! When a policy asks for more attempts than the call recorded, the extra ones are drawn from
//! the same key's recorded attempts nearest in time (seeded), and counted as drawn.

mod recording;
mod report;
mod stats;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use recourse_engine::clock::{Clock, VirtualClock};
use recourse_engine::{CircuitState, Detail, Executor, Key, Observer, PolicySet, Reason, Timeline};

pub(crate) use recording::Recording;
pub(crate) use report::{TrafficDiff, TrafficReport};
use stats::{KeyStats, Replay};

use crate::simulate::{Step, play, race};

/// How many of a key's recorded attempts, nearest in time, an extra attempt is drawn from.
const DRAW_WINDOW: usize = 50;

/// Each key's breaker openings, and how long its breaker was not closed, on one executor.
#[derive(Debug, Clone)]
struct Breakers {
    clock: Clock,
    keys: Arc<Mutex<HashMap<String, BreakerTally>>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct BreakerTally {
    opens: u64,
    open_since: Option<recourse_engine::clock::Timestamp>,
    open: std::time::Duration,
}

impl Breakers {
    fn new(clock: Clock) -> Breakers {
        Breakers {
            clock,
            keys: Arc::default(),
        }
    }

    /// Each key's tally at `end`, a breaker still open counted until then.
    fn at(&self, end: recourse_engine::clock::Timestamp) -> HashMap<String, BreakerTally> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for t in keys.values_mut() {
            if let Some(since) = t.open_since.take() {
                t.open += end.since(since);
            }
        }
        keys
    }
}

impl Observer for Breakers {
    // Breaker changes are told at every detail: the calls need record no timeline for it.
    fn detail(&self) -> Detail {
        Detail::Counts
    }
    fn on_circuit_change(&self, key: &Key, from: CircuitState, to: CircuitState, _: &Reason) {
        let now = self.clock.now();
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let t = keys.entry(key.to_string()).or_default();
        if to == CircuitState::Open {
            t.opens += 1;
        }
        if from == CircuitState::Closed && to != CircuitState::Closed {
            t.open_since = Some(now);
        }
        if to == CircuitState::Closed
            && let Some(since) = t.open_since.take()
        {
            t.open += now.since(since);
        }
    }
}

/// A small, seedable generator: the same seed, call and attempt always draw the same step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Each key's recorded attempts with their moments, in time order: what extra attempts are
/// drawn from.
struct Pools(Vec<Vec<(u64, Step)>>);

impl Pools {
    fn of(rec: &Recording) -> Pools {
        let mut pools: Vec<Vec<(u64, Step)>> = vec![Vec::new(); rec.keys.len()];
        for c in &rec.calls {
            for s in &c.steps {
                pools[c.key as usize].push((c.start_ns, s.clone()));
            }
        }
        Pools(pools)
    }

    /// A step for attempt `attempt` of call `call` (of `key`, at `at`), drawn among the
    /// key's recorded attempts nearest to `at`.
    fn draw(&self, key: u32, at: u64, seed: u64, call: usize, attempt: usize) -> Option<Step> {
        let pool = &self.0[key as usize];
        if pool.is_empty() {
            return None;
        }
        let i = pool.partition_point(|(t, _)| *t < at);
        let lo = i.saturating_sub(DRAW_WINDOW / 2);
        let hi = (lo + DRAW_WINDOW).min(pool.len());
        let lo = hi.saturating_sub(DRAW_WINDOW);
        let r = mix(seed ^ mix(call as u64) ^ mix(attempt as u64 ^ 0xA5A5));
        Some(pool[lo + (r % (hi - lo) as u64) as usize].1.clone())
    }
}

/// Reads the recording at `path`, one line at a time.
pub(crate) fn load(path: &std::path::Path) -> Result<Recording, crate::input::LoadFailure> {
    use crate::input::LoadFailure;
    let shown = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| LoadFailure::Other(format!("{shown}: {e}")))?;
    Recording::read(std::io::BufReader::new(file), &shown)
        .map_err(|e| LoadFailure::Other(e.to_string()))
}

/// A replayed call in flight: its index in the recording, and its timeline if it ended within
/// the limit.
type InFlight<'a> = Pin<Box<dyn Future<Output = (usize, Option<Timeline>)> + 'a>>;

/// The longest a replayed call may run: one whose attempts never answer and whose policy has
/// no timeout to end them is counted as unfinished, at this duration.
pub(crate) const CALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Replays `rec` through `set` on virtual time, with `seed` for jitter and draws: one executor
/// per recorded service instance (each with its own budgets and breakers), every call started
/// at its recorded moment.
pub(crate) fn replay(rec: &Recording, set: PolicySet, seed: u64) -> Replay {
    let vc = VirtualClock::new();
    let clock = vc.clock();
    let breakers: Vec<Breakers> = (0..rec.targets.len().max(1))
        .map(|_| Breakers::new(clock.clone()))
        .collect();
    let execs: Vec<Executor> = breakers
        .iter()
        .enumerate()
        .map(|(t, breakers)| {
            Executor::builder()
                .policy_set(set.clone())
                .clock(clock.clone())
                .seed(seed.wrapping_add(t as u64))
                .observer(breakers.clone())
                .max_keys(rec.keys.len().max(1) * 2)
                .build()
                .expect("a replay executor builds")
        })
        .collect();
    let pools = Arc::new(Pools::of(rec));
    let drawn = Arc::new(AtomicU64::new(0));
    let start = vc.now();
    let mut stats: Vec<KeyStats> = rec.keys.iter().map(|_| KeyStats::default()).collect();
    let mut next = 0usize;
    let mut inflight: Vec<InFlight<'_>> = Vec::new();
    let mut waiting: Option<Pin<Box<recourse_engine::clock::Sleep>>> = None;
    vc.block_on(std::future::poll_fn(|cx| {
        loop {
            // Every call whose moment has come starts now.
            let now = clock.now();
            while let Some(c) = rec.calls.get(next) {
                if start.plus(std::time::Duration::from_nanos(c.start_ns)) > now {
                    break;
                }
                let op = attempts(
                    c.steps.clone(),
                    (c.key, c.start_ns, next),
                    (pools.clone(), drawn.clone(), seed),
                    clock.clone(),
                );
                let key = &rec.keys[c.key as usize];
                let exec = &execs[c.target as usize];
                let i = next;
                inflight.push(Box::pin(async move {
                    // recourse-lint: allow(dynamic-key) -- the recording names the keys
                    let call = async move { exec.call_traced(key, op).await.1 };
                    (i, race(call, exec.clock().sleep(CALL_LIMIT)).await)
                }));
                next += 1;
                waiting = None;
            }
            inflight.retain_mut(|f| match f.as_mut().poll(cx) {
                Poll::Ready((i, tl)) => {
                    let s = &mut stats[rec.calls[i].key as usize];
                    match tl {
                        Some(tl) => s.add(&tl),
                        None => s.unfinished(CALL_LIMIT),
                    }
                    false
                }
                Poll::Pending => true,
            });
            let Some(c) = rec.calls.get(next) else {
                return if inflight.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                };
            };
            // Wake at the next call's moment.
            let at = start.plus(std::time::Duration::from_nanos(c.start_ns));
            let sleep = waiting.get_or_insert_with(|| Box::pin(clock.sleep_until(at)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            waiting = None;
        }
    }));
    let end = vc.now();
    for b in &breakers {
        let tallies = b.at(end);
        for (k, s) in rec.keys.iter().zip(stats.iter_mut()) {
            if let Some(t) = tallies.get(k) {
                s.circuit_opens += t.opens;
                s.circuit_open += t.open;
            }
        }
    }
    Replay {
        keys: rec.keys.iter().cloned().zip(stats).collect(),
        drawn: drawn.load(Ordering::Relaxed),
    }
}

/// The operation of one replayed call: its recorded attempts in order, then draws.
fn attempts(
    steps: Vec<Step>,
    (key, at, call): (u32, u64, usize),
    (pools, drawn, seed): (Arc<Pools>, Arc<AtomicU64>, u64),
    clock: Clock,
) -> impl FnMut(
    recourse_engine::AttemptInfo,
) -> crate::simulate::BoxFuture<Result<(), crate::simulate::Failure>> {
    let mut n = 0usize;
    move |_| {
        let step = match steps.get(n) {
            Some(s) => s.clone(),
            None => {
                drawn.fetch_add(1, Ordering::Relaxed);
                // A key with no recorded attempt at all (every call refused): one that succeeds.
                pools.draw(key, at, seed, call, n).unwrap_or(Step {
                    latency: std::time::Duration::ZERO,
                    outcome: crate::simulate::Outcome::Ok,
                })
            }
        };
        n += 1;
        play(step, clock.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Recording {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/events/demo.ndjson"
        );
        let file = std::fs::File::open(path).unwrap();
        Recording::read(std::io::BufReader::new(file), path).unwrap()
    }

    /// Each key's recorded attempts per call and success rate.
    fn recorded(rec: &Recording) -> Vec<(f64, f64)> {
        (0..rec.keys.len() as u32)
            .map(|k| {
                let calls: Vec<_> = rec.calls.iter().filter(|c| c.key == k).collect();
                let n = calls.len() as f64;
                let attempts: usize = calls.iter().map(|c| c.steps.len()).sum();
                let ok = calls.iter().filter(|c| c.succeeded).count();
                (attempts as f64 / n, 100.0 * ok as f64 / n)
            })
            .collect()
    }

    #[test]
    fn replaying_a_recording_through_its_own_policies_reproduces_it() {
        let rec = demo();
        let set = PolicySet::from_str(
            include_str!("../commands/demo/policies.yaml"),
            "demo/policies.yaml",
        )
        .unwrap();
        let mut replay = replay(&rec, set, 0);
        let figures = replay.figures(rec.span());
        for ((key, f), (apc, ok)) in figures.iter().zip(recorded(&rec)) {
            let near = |a: f64, b: f64| (a - b).abs() <= 0.02 * b.max(1e-9);
            assert!(
                near(f.attempts_per_call, apc),
                "{key}: {} attempts per call replayed, {apc} recorded",
                f.attempts_per_call
            );
            assert!(
                near(f.success_rate, ok),
                "{key}: {}% success replayed, {ok}% recorded",
                f.success_rate
            );
        }
    }
}
