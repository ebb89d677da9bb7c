//! The event log: the calls and breaker changes kept, bounded by count and by bytes.

use std::collections::{BTreeMap, VecDeque};

use recourse_engine::export::wire::{CallEvent, CircuitEvent};

/// Calls (and breaker changes) kept for the event log...
pub(crate) const RING: usize = 10_000;
/// ...and the most bytes they may take (each counted as its line and what it decodes to).
pub(crate) const RING_BYTES: usize = 32 << 20;

/// A line of the event log.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) id: u64,
    pub(crate) target: usize,
    pub(crate) kind: EventKind,
    /// The line as the service sent it, for `Ctrl-s` (unknown fields kept).
    pub(crate) raw: Box<[u8]>,
    /// Its key is among those asked for now: a `:key` that leaves it out hides it.
    pub(crate) kept: bool,
}

/// What a log line shows.
#[derive(Debug, Clone)]
pub(crate) enum EventKind {
    Call(Box<CallEvent>),
    Circuit(CircuitEvent),
}

impl Event {
    pub(crate) fn key(&self) -> &str {
        match &self.kind {
            EventKind::Call(c) => &c.key,
            EventKind::Circuit(c) => &c.key,
        }
    }

    pub(crate) fn failed(&self) -> bool {
        matches!(&self.kind, EventKind::Call(c) if !c.ok())
    }

    pub(crate) fn reason(&self) -> &str {
        match &self.kind {
            EventKind::Call(c) => &c.reason,
            EventKind::Circuit(c) => &c.reason,
        }
    }

    /// What it is counted as against [`RING_BYTES`]: its line, and what it decodes to (every
    /// string, and the allocations around each attempt and attribute).
    fn size(&self) -> usize {
        let attributes = |a: &BTreeMap<String, String>| -> usize {
            a.iter().map(|(k, v)| k.len() + v.len() + 96).sum()
        };
        let decoded = match &self.kind {
            EventKind::Call(c) => {
                let attempts: usize = c
                    .attempts
                    .iter()
                    .map(|a| {
                        256 + a.outcome.len()
                            + a.reason.len()
                            + a.budget_reason.len()
                            + a.error.as_ref().map_or(0, String::len)
                            + attributes(&a.attributes)
                    })
                    .sum();
                256 + c.key.len() + c.reason.len() + attributes(&c.attributes) + attempts
            }
            EventKind::Circuit(c) => 256 + c.key.len() + c.from.len() + c.to.len() + c.reason.len(),
        };
        self.raw.len() + decoded
    }
}

/// The newest events, at most [`RING`] of them and [`RING_BYTES`].
#[derive(Debug)]
pub(crate) struct Log {
    events: VecDeque<Event>,
    bytes: usize,
    next_id: u64,
}

impl Default for Log {
    fn default() -> Log {
        Log {
            events: VecDeque::new(),
            bytes: 0,
            next_id: 1,
        }
    }
}

impl Log {
    /// Appends an event, dropping the oldest past the bounds.
    pub(crate) fn push(&mut self, target: usize, kind: EventKind, raw: &[u8]) {
        let id = self.next_id;
        self.next_id += 1;
        let event = Event {
            id,
            target,
            kind,
            raw: raw.into(),
            kept: true,
        };
        self.bytes += event.size();
        self.events.push_back(event);
        while self.events.len() > RING || self.bytes > RING_BYTES {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            self.bytes -= old.size();
        }
    }

    /// The id of the newest event ever pushed (0 before the first).
    pub(crate) fn last_id(&self) -> u64 {
        self.next_id - 1
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Event> {
        self.events.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Event> {
        self.events.iter_mut()
    }
}
