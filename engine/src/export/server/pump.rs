//! The pump: one task that routes the source queue to the clients that want each event, and
//! every stats interval queues each client's `stats` and due `gap`s.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::Shared;
use super::client::{CALL, CIRCUIT, Client, STATS, lock};
use crate::circuit::Transition;
use crate::export::hub::SourceEvent;
use crate::export::wire::{BudgetFill, CallFilter, CircuitEvent, Common, KeyStats, Message, Stats};
use crate::key::Key;
use crate::observe::{CallSummary, Timeline};

/// An interesting call kept for clients that subscribe later.
#[derive(Debug)]
pub(super) struct Kept {
    key: Key,
    summary: CallSummary,
    body: Arc<[u8]>,
}

/// Events the pump routes before it looks at its timer again.
const BATCH: usize = 1024;
/// About the most bytes of one `stats` message: more keys go in further messages, so no
/// line nears the 1 MiB a reader accepts.
const STATS_PART: usize = 256 * 1024;
/// What every call message starts with; the writer puts `seq` after it.
pub(super) const CALL_PREFIX: &[u8] = b"{\"t\":\"call\",";

pub(super) async fn pump(shared: Arc<Shared>, mut rx: mpsc::Receiver<SourceEvent>) {
    let mut tick = tokio::time::interval(shared.config.stats_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut source_seen = shared.hub.source_dropped.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => break,
            _ = tick.tick() => shared.tick(&mut source_seen),
            event = rx.recv() => {
                let Some(event) = event else { break };
                shared.route(event);
                for _ in 0..BATCH {
                    match rx.try_recv() {
                        Ok(event) => shared.route(event),
                        Err(_) => break,
                    }
                }
            }
        }
    }
    shared.hub.give_back_receiver(rx);
}

impl Shared {
    fn route(&self, event: SourceEvent) {
        match event {
            SourceEvent::Call(t) => self.route_call(t),
            SourceEvent::Circuit {
                key,
                transition,
                at,
            } => self.route_circuit(&key, &transition, at.to_rfc3339()),
        }
    }

    fn route_call(&self, mut timeline: Box<Timeline>) {
        if !self.config.include_errors {
            timeline.strip_errors();
        }
        let mut body: Option<Arc<[u8]>> = None;
        let summary = timeline.summary();
        if self.config.backfill > 0 && CallFilter::Interesting.admits(&summary) {
            let body = body.get_or_insert_with(|| call_body(&timeline)).clone();
            let mut kept = lock(&self.backfill);
            if kept.len() >= self.config.backfill {
                kept.pop_front();
            }
            kept.push_back(Kept {
                key: timeline.key.clone(),
                summary,
                body,
            });
        }
        for c in self.clients.load().iter() {
            let mut route = lock(&c.route);
            if !c.wants(&timeline.key, CALL, &mut route)
                || !c.shows(&summary)
                || !c.admit(&mut route)
            {
                continue;
            }
            drop(route);
            let body = body.get_or_insert_with(|| call_body(&timeline)).clone();
            lock(&c.outbox).call(body);
            c.notify.notify_one();
        }
    }

    /// Queues for `client`, which just subscribed, the kept calls its subscription matches,
    /// oldest first: at most half its queue, so the backfill never pushes out what it sends.
    pub(super) fn send_backfill(&self, client: &Client) {
        if self.config.backfill == 0 {
            return;
        }
        let kept = lock(&self.backfill);
        let mut route = lock(&client.route);
        let wanted: Vec<Arc<[u8]>> = kept
            .iter()
            .rev()
            .filter(|k| client.wants(&k.key, CALL, &mut route) && client.shows(&k.summary))
            .take(self.config.client_queue / 2)
            .map(|k| k.body.clone())
            .collect();
        drop((route, kept));
        if wanted.is_empty() {
            return;
        }
        let mut outbox = lock(&client.outbox);
        for body in wanted.into_iter().rev() {
            outbox.call(body);
        }
        drop(outbox);
        client.notify.notify_one();
    }

    fn route_circuit(&self, key: &Key, t: &Transition, ts: String) {
        let msg = Message::Circuit(CircuitEvent {
            key: key.as_str().to_owned(),
            from: t.from.as_str().to_owned(),
            to: t.to.as_str().to_owned(),
            reason: t.reason.as_str().to_owned(),
            common: Common::at(ts),
        });
        for c in self.clients.load().iter() {
            let mut route = lock(&c.route);
            if c.wants(key, CIRCUIT, &mut route) {
                drop(route);
                c.send(msg.clone());
            }
        }
    }

    /// Every stats interval: losses at the source for the clients that want calls, each
    /// client's `stats`, and every loss due in a `gap`.
    pub(super) fn tick(&self, source_seen: &mut u64) {
        let ts = self.keys.now().to_rfc3339();
        let source = self.hub.source_dropped.load(Ordering::Relaxed);
        let new_source = source - *source_seen;
        *source_seen = source;
        let counted = self.hub.counted();
        let mut snapshots: Vec<Option<KeyStats>> = vec![None; counted.len()];
        let mut budgets: Option<BTreeMap<String, BudgetFill>> = None;
        for c in self.clients.load().iter() {
            let (events, filter) = {
                let sub = lock(&c.sub);
                (sub.events, sub.filter.clone())
            };
            let Some(filter) = filter else { continue };
            let mut parts = Vec::new();
            if events & STATS != 0 {
                let budgets = budgets.get_or_insert_with(|| {
                    let levels = self.keys.budgets().into_iter();
                    levels
                        .map(|b| {
                            let fill = BudgetFill {
                                level: b.level,
                                capacity: b.capacity,
                                budget_scope: b.fleet.map(|f| f.scope.as_str().to_owned()),
                                sync_age_ms: b
                                    .fleet
                                    .and_then(|f| f.sync_age)
                                    .map(|a| a.as_millis() as u64),
                                replicas: b.fleet.map(|f| f.replicas),
                            };
                            (b.name, fill)
                        })
                        .collect()
                });
                let mut part = Stats {
                    interval_ms: Some(self.config.stats_interval.as_millis() as u64),
                    budgets: budgets.clone(),
                    common: Common::at(ts.clone()),
                    ..Stats::default()
                };
                let mut size = 0;
                for (i, (key, counters)) in counted.iter().enumerate() {
                    if !filter.matches(key.as_str()) {
                        continue;
                    }
                    let stats = snapshots[i].get_or_insert_with(|| {
                        let mut s = counters.snapshot();
                        s.circuit = self.keys.circuit(key).map(str::to_owned);
                        s.budget = self.keys.retry_budget(key).map(|b| b.to_string());
                        if let Some((in_flight, max)) = self.keys.bulkhead(key) {
                            (s.in_flight, s.max_concurrent) = (Some(in_flight), Some(max));
                        }
                        s.hedging = self.keys.hedging(key).map(|h| h.as_str().to_owned());
                        s.shadow = self.keys.shadow_stats(key.as_str());
                        s.window = self.keys.circuit_window(key).map(|c| {
                            crate::export::wire::WindowCounts::new(c.calls, c.failures, c.slow)
                        });
                        s
                    });
                    // A shadow's counters (about 250 bytes of JSON) count toward the part.
                    let shadow = if stats.shadow.is_some() { 320 } else { 0 };
                    size += 256 + shadow + key.as_str().len() + 24 * stats.latency.counts.len();
                    part.keys.insert(key.as_str().to_owned(), stats.clone());
                    if size >= STATS_PART {
                        let next = Stats {
                            keys: Default::default(),
                            budgets: Default::default(),
                            ..part.clone()
                        };
                        parts.push(std::mem::replace(&mut part, next));
                        size = 0;
                    }
                }
                if !part.keys.is_empty() || parts.is_empty() {
                    parts.push(part);
                }
            }
            let mut outbox = lock(&c.outbox);
            if events & CALL != 0 && new_source > 0 {
                outbox.lose(new_source, 0);
            }
            outbox.report_due();
            if !parts.is_empty() {
                outbox.stats(parts.into());
            }
            drop(outbox);
            c.notify.notify_one();
        }
    }
}

/// `{"t":"call","ts":...,<the timeline's fields>}`, serialized once for every client.
fn call_body(t: &Timeline) -> Arc<[u8]> {
    let json = serde_json::to_vec(t).unwrap_or_default();
    let mut body = Vec::with_capacity(json.len() + 64);
    body.extend_from_slice(CALL_PREFIX);
    let _ = write!(body, "\"ts\":\"{}\",", t.end.to_rfc3339());
    body.extend_from_slice(json.get(1..).unwrap_or_default());
    body.into()
}
