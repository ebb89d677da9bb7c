use std::time::Duration;

use crate::clock::Timestamp;
use crate::policy::PolicyId;

/// What the operation is told about the attempt it is running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptInfo {
    /// The retry index (group), from 0.
    pub attempt: u32,
    /// 0 for the primary, 1.. for hedges.
    pub hedge_index: u32,
    /// True for a hedge.
    pub is_hedge: bool,
    /// The policy's id, if it has one: [`PolicyId::name`] reads it.
    pub policy_id: Option<PolicyId>,
    /// When this attempt must be done: the earlier of its per-attempt timeout and the call's
    /// overall deadline, on the executor's clock.
    pub deadline: Option<Timestamp>,
}

impl AttemptInfo {
    /// The retry index (same as [`attempt`](AttemptInfo::attempt)).
    pub fn retry_index(&self) -> u32 {
        self.attempt
    }

    /// Time left before [`deadline`](AttemptInfo::deadline) at `now`.
    pub fn remaining(&self, now: Timestamp) -> Option<Duration> {
        self.deadline.map(|d| d.since(now))
    }
}
