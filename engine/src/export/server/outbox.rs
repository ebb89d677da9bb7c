//! One client's bounded outgoing queue.
//!
//! Calls are kept up to a number of messages and of bytes; past either, the oldest call goes
//! and is counted as lost (`client_slow`), in O(1). Control messages (`subscribed`, `circuit`,
//! `pong`, `error`) have a small bound of their own; `stats` are cumulative, so a newer one
//! replaces one not yet sent and nothing is lost. Losses are counters: the writer turns them
//! into `gap`s at the head of a batch (calls this client was too slow for at once; calls
//! lost at the source or to the rate cap once per stats interval), and writes each `stats`'
//! `dropped` from the same counters, so a `stats` always equals the sum of the `gap`s before
//! it.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::export::wire::{Dropped, Message, Stats};

/// Control messages a client's queue holds before the oldest goes.
pub(super) const CONTROL: usize = 256;

/// A message waiting for its client.
#[derive(Debug)]
pub(super) enum Frame {
    /// A call, serialized once for every client: `{"t":"call",` and the rest (no `seq`).
    Call(Arc<[u8]>),
    /// Anything else, serialized when written (its `seq` set then).
    Control(Box<Message>),
    /// `stats`, whose `dropped` is written from the loss counters.
    Stats(Box<[Stats]>),
}

impl Frame {
    /// About how many bytes it takes on the wire.
    fn size(&self) -> usize {
        match self {
            Frame::Call(body) => body.len() + 16,
            Frame::Control(_) => 256,
            Frame::Stats(parts) => parts.len() * 4096,
        }
    }
}

/// What the writer takes at once.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) frames: Vec<Frame>,
    /// Losses so far, by cause.
    pub(super) lost: Dropped,
    /// Report every cause now (a stats interval passed), not only `client_slow`.
    pub(super) report_all: bool,
    /// The connection ends after this batch.
    pub(super) last: bool,
}

#[derive(Debug)]
pub(super) struct Outbox {
    calls: VecDeque<(u64, Arc<[u8]>)>,
    call_bytes: usize,
    control: VecDeque<(u64, Message)>,
    stats: Option<(u64, Box<[Stats]>)>,
    next: u64,
    lost: Dropped,
    max_calls: usize,
    max_bytes: usize,
    /// Set when the connection is to end once the queue is written.
    closing: bool,
    /// A stats interval passed: every loss is due in a `gap`.
    report: bool,
}

impl Outbox {
    pub(super) fn new(max_calls: usize, max_bytes: usize) -> Outbox {
        Outbox {
            calls: VecDeque::new(),
            call_bytes: 0,
            control: VecDeque::new(),
            stats: None,
            next: 0,
            lost: Dropped::default(),
            max_calls: max_calls.max(1),
            max_bytes: max_bytes.max(1),
            closing: false,
            report: false,
        }
    }

    fn order(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Queues a call, dropping the oldest ones past the bounds.
    pub(super) fn call(&mut self, body: Arc<[u8]>) {
        let order = self.order();
        self.call_bytes += body.len();
        self.calls.push_back((order, body));
        while self.calls.len() > self.max_calls || self.call_bytes > self.max_bytes {
            let Some((_, old)) = self.calls.pop_front() else {
                break;
            };
            self.call_bytes -= old.len();
            self.lost.client_slow += 1;
        }
    }

    /// Queues a control message, dropping the oldest past [`CONTROL`].
    pub(super) fn control(&mut self, msg: Message) {
        if self.closing {
            return;
        }
        let order = self.order();
        self.control.push_back((order, msg));
        if self.control.len() > CONTROL {
            self.control.pop_front();
            self.lost.client_slow += 1;
        }
    }

    /// Whether a message of this type waits already (to answer a flood of pings once).
    pub(super) fn holds(&self, same: impl Fn(&Message) -> bool) -> bool {
        self.control.iter().any(|(_, m)| same(m))
    }

    /// Queues `stats`, replacing any not yet sent (they are cumulative: nothing is lost).
    pub(super) fn stats(&mut self, parts: Box<[Stats]>) {
        let order = self.order();
        self.stats = Some((order, parts));
    }

    /// Counts calls lost before they reached the queue.
    pub(super) fn lose(&mut self, source_queue_full: u64, rate_limited: u64) {
        self.lost.source_queue_full += source_queue_full;
        self.lost.rate_limited += rate_limited;
    }

    /// A stats interval passed: the next batch reports every loss.
    pub(super) fn report_due(&mut self) {
        self.report = true;
    }

    /// Queues a last message and ends the connection once everything queued is written.
    pub(super) fn close_with(&mut self, msg: Message) {
        self.control(msg);
        self.closing = true;
    }

    /// Ends the connection once everything queued is written.
    pub(super) fn close(&mut self) {
        self.closing = true;
    }

    /// The oldest frames, in the order they were queued, up to about `budget` bytes (at least
    /// one frame when any waits).
    pub(super) fn take(&mut self, budget: usize) -> Batch {
        let mut batch = Batch {
            lost: self.lost,
            ..Batch::default()
        };
        let mut used = 0;
        while used < budget {
            let call = self.calls.front().map(|(o, _)| *o);
            let control = self.control.front().map(|(o, _)| *o);
            let stats = self.stats.as_ref().map(|(o, _)| *o);
            let Some(first) = [call, control, stats].into_iter().flatten().min() else {
                break;
            };
            let frame = if Some(first) == call {
                let (_, body) = self.calls.pop_front().unwrap_or_default();
                self.call_bytes -= body.len();
                Frame::Call(body)
            } else if Some(first) == control {
                match self.control.pop_front() {
                    Some((_, m)) => Frame::Control(Box::new(m)),
                    None => break,
                }
            } else {
                match self.stats.take() {
                    Some((_, parts)) => Frame::Stats(parts),
                    None => break,
                }
            };
            used += frame.size();
            batch.frames.push(frame);
        }
        batch.report_all = std::mem::take(&mut self.report)
            || batch.frames.iter().any(|f| matches!(f, Frame::Stats(_)));
        batch.last = self.closing && self.is_empty();
        batch
    }

    fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.control.is_empty() && self.stats.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::wire::{Common, Gap};

    fn body(n: usize) -> Arc<[u8]> {
        vec![b'x'; n].into()
    }

    fn gap(n: u64) -> Message {
        Message::Gap(Gap {
            dropped: n,
            cause: "test".into(),
            common: Common::default(),
        })
    }

    #[test]
    fn calls_past_either_bound_drop_the_oldest_and_count_them() {
        let mut q = Outbox::new(3, 1_000);
        for _ in 0..5 {
            q.call(body(10));
        }
        assert_eq!(q.take(usize::MAX).frames.len(), 3);
        let mut q = Outbox::new(100, 25);
        for _ in 0..5 {
            q.call(body(10));
        }
        let batch = q.take(usize::MAX);
        assert_eq!((batch.frames.len(), batch.lost.client_slow), (2, 3));
    }

    #[test]
    fn order_is_kept_across_calls_and_control_messages() {
        let mut q = Outbox::new(2, 1_000);
        q.control(gap(1));
        q.call(body(1));
        q.control(gap(2));
        q.call(body(2));
        q.call(body(3)); // drops the call of length 1
        let kinds: Vec<String> = q
            .take(usize::MAX)
            .frames
            .iter()
            .map(|f| match f {
                Frame::Call(b) => format!("call{}", b.len()),
                Frame::Control(m) => match &**m {
                    Message::Gap(g) => format!("gap{}", g.dropped),
                    _ => "other".into(),
                },
                _ => "other".into(),
            })
            .collect();
        assert_eq!(kinds, ["gap1", "gap2", "call2", "call3"]);
    }

    #[test]
    fn control_messages_are_bounded_and_stats_replace_each_other() {
        let mut q = Outbox::new(1, 1);
        for i in 0..(CONTROL as u64 + 10) {
            q.control(gap(i));
        }
        q.stats(vec![Stats::default()].into());
        q.stats(vec![Stats::default(), Stats::default()].into());
        let batch = q.take(usize::MAX);
        assert_eq!(batch.frames.len(), CONTROL + 1);
        assert_eq!(batch.lost.client_slow, 10);
        assert!(matches!(batch.frames.last(), Some(Frame::Stats(p)) if p.len() == 2));
    }

    #[test]
    fn a_batch_stops_near_its_budget_and_the_rest_waits() {
        let mut q = Outbox::new(1_000, 1 << 20);
        for _ in 0..100 {
            q.call(body(1_000));
        }
        let first = q.take(10_000);
        assert!(
            (10..=11).contains(&first.frames.len()),
            "{}",
            first.frames.len()
        );
        assert_eq!(q.take(usize::MAX).frames.len(), 100 - first.frames.len());
    }

    #[test]
    fn closing_ends_after_what_was_queued() {
        let mut q = Outbox::new(10, 1_000);
        q.call(body(1));
        q.close_with(gap(0));
        q.control(gap(1)); // after closing: not sent
        let batch = q.take(usize::MAX);
        assert_eq!(batch.frames.len(), 2);
        assert!(batch.last);
    }
}
