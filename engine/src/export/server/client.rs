//! One connected client: what it subscribed to, the pump's routing cache for it, and its
//! outgoing queue.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use rustc_hash::FxHashMap;
use tokio::sync::Notify;

use super::outbox::Outbox;
use crate::export::filter::KeyFilter;
use crate::export::wire::{CallFilter, Message};
use crate::key::Key;
use crate::observe::CallSummary;

pub(super) const CALL: u8 = 1;
pub(super) const STATS: u8 = 2;
pub(super) const CIRCUIT: u8 = 4;
pub(super) const ALL_EVENTS: u8 = CALL | STATS | CIRCUIT;

/// Keys a client's routing cache remembers before it starts over (a service with
/// high-cardinality keys must not grow it without bound).
const ROUTE_CACHE: usize = 4096;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
pub(super) struct Subscription {
    /// `None` until the client may receive anything (a TCP client before its token).
    pub(super) filter: Option<KeyFilter>,
    pub(super) events: u8,
    pub(super) max_rate: u32,
    pub(super) calls: CallFilter,
    pub(super) version: u64,
}

/// The pump's view of a client: which keys it wants (cached per subscription version) and
/// its rate cap's tokens.
#[derive(Debug, Default)]
pub(super) struct Route {
    version: u64,
    wanted: FxHashMap<Key, bool>,
    tokens: f64,
    refilled: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct Client {
    pub(super) id: u64,
    pub(super) sub: Mutex<Subscription>,
    pub(super) route: Mutex<Route>,
    pub(super) outbox: Mutex<Outbox>,
    pub(super) notify: Notify,
}

impl Client {
    pub(super) fn new(id: u64, max_rate: u32, limits: (usize, usize)) -> Client {
        Client {
            id,
            sub: Mutex::new(Subscription {
                filter: None,
                events: ALL_EVENTS,
                max_rate,
                calls: CallFilter::All,
                version: 0,
            }),
            route: Mutex::default(),
            outbox: Mutex::new(Outbox::new(limits.0, limits.1)),
            notify: Notify::new(),
        }
    }

    /// Queues a message and wakes the writer.
    pub(super) fn send(&self, msg: Message) {
        lock(&self.outbox).control(msg);
        self.notify.notify_one();
    }

    /// Queues a last message; the connection ends once it is written.
    pub(super) fn close_with(&self, msg: Message) {
        lock(&self.outbox).close_with(msg);
        self.notify.notify_one();
    }

    /// Whether this client wants `key` for `event`, from a cache refreshed when its
    /// subscription changes.
    pub(super) fn wants(&self, key: &Key, event: u8, route: &mut Route) -> bool {
        let sub = lock(&self.sub);
        if sub.events & event == 0 {
            return false;
        }
        let Some(filter) = &sub.filter else {
            return false;
        };
        if route.version != sub.version || route.wanted.len() >= ROUTE_CACHE {
            route.wanted.clear();
            route.version = sub.version;
        }
        *route
            .wanted
            .entry(key.clone())
            .or_insert_with(|| filter.matches(key.as_str()))
    }

    /// Whether the subscription asked for calls like this one (checked before the rate cap:
    /// a call left out by request is neither sent nor counted as lost).
    pub(super) fn shows(&self, summary: &CallSummary) -> bool {
        lock(&self.sub).calls.admits(summary)
    }

    /// Takes one token of the subscription's rate; a call over it is counted as lost.
    pub(super) fn admit(&self, route: &mut Route) -> bool {
        let rate = f64::from(lock(&self.sub).max_rate);
        let now = Instant::now();
        let elapsed = route
            .refilled
            .map_or(1.0, |t| now.duration_since(t).as_secs_f64());
        route.tokens = (route.tokens + elapsed * rate).min(rate);
        route.refilled = Some(now);
        if route.tokens >= 1.0 {
            route.tokens -= 1.0;
            true
        } else {
            lock(&self.outbox).lose(0, 1);
            false
        }
    }
}
