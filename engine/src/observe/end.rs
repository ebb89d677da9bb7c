use std::time::Duration;

use super::{CallOutcome, CallSummary};
use crate::clock::Timestamp;
use crate::error::Reason;

/// How a call ended, as [`Observer::on_end`](super::Observer::on_end) sees it: the outcome,
/// its reason, when it started and ended, and its attempts counted. Every call has one,
/// whether or not a [`Timeline`](super::Timeline) was recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallEnd {
    /// Success or failure.
    pub outcome: CallOutcome,
    /// The final reason code (`success`, `max_attempts`, `budget_denied`, ...).
    pub reason: Reason,
    /// When the call started.
    pub start: Timestamp,
    /// When it ended.
    pub end: Timestamp,
    /// Its attempts counted: retries, hedges, budget denials, the winner.
    pub summary: CallSummary,
}

impl CallEnd {
    /// The call's duration.
    pub fn duration(&self) -> Duration {
        self.end.since(self.start)
    }
}
