use std::sync::Arc;

use super::{AttemptRecord, CallEnd, Observer, Timeline};
use crate::budget::BudgetEvent;
use crate::error::{CircuitState, Reason};
use crate::key::Key;
use crate::policy::Policy;

/// Forwards every event to each member, in order. `on_success` and `on_failure` go to the
/// members that [read timelines](Observer::reads_timeline), and the fan-out reads them when
/// one of its members does.
#[derive(Debug, Default, Clone)]
pub struct Fanout {
    members: Vec<Arc<dyn Observer>>,
    /// The members that read timelines.
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
        if member.reads_timeline() {
            self.readers.push(member.clone());
        }
        self.members.push(member);
    }

    /// The members.
    pub fn members(&self) -> &[Arc<dyn Observer>] {
        &self.members
    }
}

impl Observer for Fanout {
    fn reads_timeline(&self) -> bool {
        !self.readers.is_empty()
    }
    fn on_start(&self, key: &Key, policy: &Policy) {
        self.members.iter().for_each(|m| m.on_start(key, policy));
    }
    fn on_attempt(&self, key: &Key, record: &AttemptRecord) {
        self.members.iter().for_each(|m| m.on_attempt(key, record));
    }
    fn on_budget_decision(&self, event: &BudgetEvent<'_>) {
        self.members
            .iter()
            .for_each(|m| m.on_budget_decision(event));
    }
    fn on_hedge_spawn(&self, key: &Key, record: &AttemptRecord) {
        self.members
            .iter()
            .for_each(|m| m.on_hedge_spawn(key, record));
    }
    fn on_hedge_cancel(&self, key: &Key, record: &AttemptRecord, reason: &Reason) {
        self.members
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
        self.members.iter().for_each(|m| m.on_end(key, end));
    }
    fn on_policy_rejected(&self, source: &str, problem: &str) {
        self.members
            .iter()
            .for_each(|m| m.on_policy_rejected(source, problem));
    }
}
