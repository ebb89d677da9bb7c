use std::sync::Arc;

use super::{AttemptRecord, CallEnd, Detail, Observer, Timeline};
use crate::budget::BudgetEvent;
use crate::error::{CircuitState, Reason};
use crate::key::Key;
use crate::policy::Policy;

/// Forwards every event to each member, in order, as much as each member asked for
/// ([`Observer::detail`]): the fan-out's detail is its most detailed member's, and a member
/// is told no more than its own (a member at [`Detail::Counts`] gets an `on_end` without
/// times even when another member's detail made the call read them).
#[derive(Debug, Default, Clone)]
pub struct Fanout {
    members: Vec<Arc<dyn Observer>>,
    /// Each member's detail, asked once.
    details: Vec<Detail>,
    /// The members at `Detail::Events` or more.
    events: Vec<Arc<dyn Observer>>,
    /// The members at `Detail::Timeline`.
    readers: Vec<Arc<dyn Observer>>,
}

impl Fanout {
    /// A fan-out over `members`.
    pub fn new(members: Vec<Arc<dyn Observer>>) -> Fanout {
        let mut fanout = Fanout::default();
        members.into_iter().for_each(|m| fanout.push(m));
        fanout
    }

    /// Adds a member.
    pub fn push(&mut self, member: Arc<dyn Observer>) {
        let detail = member.detail();
        if detail >= Detail::Events {
            self.events.push(member.clone());
        }
        if detail >= Detail::Timeline {
            self.readers.push(member.clone());
        }
        self.details.push(detail);
        self.members.push(member);
    }

    /// The members.
    pub fn members(&self) -> &[Arc<dyn Observer>] {
        &self.members
    }
}

impl Observer for Fanout {
    fn detail(&self) -> Detail {
        // With no member, nothing is read: the least detail.
        self.details.iter().max().copied().unwrap_or(Detail::Counts)
    }
    fn on_start(&self, key: &Key, policy: &Policy) {
        self.events.iter().for_each(|m| m.on_start(key, policy));
    }
    fn on_attempt(&self, key: &Key, record: &AttemptRecord) {
        self.events.iter().for_each(|m| m.on_attempt(key, record));
    }
    fn on_budget_decision(&self, event: &BudgetEvent<'_>) {
        self.events.iter().for_each(|m| m.on_budget_decision(event));
    }
    fn on_hedge_spawn(&self, key: &Key, record: &AttemptRecord) {
        self.events
            .iter()
            .for_each(|m| m.on_hedge_spawn(key, record));
    }
    fn on_hedge_cancel(&self, key: &Key, record: &AttemptRecord, reason: &Reason) {
        self.events
            .iter()
            .for_each(|m| m.on_hedge_cancel(key, record, reason));
    }
    fn on_circuit_change(&self, key: &Key, from: CircuitState, to: CircuitState, reason: &Reason) {
        self.members
            .iter()
            .for_each(|m| m.on_circuit_change(key, from, to, reason));
    }
    fn on_hedging_change(
        &self,
        key: &Key,
        from: crate::hedge::HedgingState,
        to: crate::hedge::HedgingState,
        reason: &Reason,
    ) {
        self.members
            .iter()
            .for_each(|m| m.on_hedging_change(key, from, to, reason));
    }
    fn on_success(&self, key: &Key, timeline: &Timeline) {
        self.readers
            .iter()
            .for_each(|m| m.on_success(key, timeline));
    }
    fn on_failure(&self, key: &Key, timeline: &Timeline) {
        self.readers
            .iter()
            .for_each(|m| m.on_failure(key, timeline));
    }
    fn on_end(&self, key: &Key, end: &CallEnd) {
        // Times read for another member are not handed to a member that asked for counts.
        let untimed =
            (end.times.is_some() && self.details.contains(&Detail::Counts)).then(|| CallEnd {
                times: None,
                ..end.clone()
            });
        for (m, detail) in self.members.iter().zip(&self.details) {
            match (&untimed, detail) {
                (Some(untimed), Detail::Counts) => m.on_end(key, untimed),
                _ => m.on_end(key, end),
            }
        }
    }
    fn on_policy_rejected(&self, source: &str, problem: &str) {
        self.members
            .iter()
            .for_each(|m| m.on_policy_rejected(source, problem));
    }
}
