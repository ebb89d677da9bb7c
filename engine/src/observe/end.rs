use std::time::Duration;

use super::{CallOutcome, CallSummary};
use crate::clock::Timestamp;
use crate::error::Reason;

/// How a call ended, as [`Observer::on_end`](super::Observer::on_end) sees it: the outcome,
/// its reason, its attempts counted, and when it started and ended (for an observer told
/// more than counts). Every call has one, whether or not a [`Timeline`](super::Timeline) was
/// recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallEnd {
    /// Success or failure.
    pub outcome: CallOutcome,
    /// The final reason code (`success`, `max_attempts`, `budget_denied`, ...).
    pub reason: Reason,
    /// When the call started and ended: `None` for an observer at
    /// [`Detail::Counts`](super::Detail::Counts), for which no clock is read.
    pub times: Option<CallTimes>,
    /// Its attempts counted: retries, hedges, budget denials, the winner.
    pub summary: CallSummary,
}

impl CallEnd {
    /// How a call whose first attempt succeeded ended, as an observer at
    /// [`Detail::Counts`](super::Detail::Counts) is told it.
    #[inline]
    pub(crate) fn first_try_success() -> CallEnd {
        CallEnd {
            outcome: CallOutcome::Success,
            reason: Reason::SUCCESS,
            times: None,
            summary: CallSummary::first_try_success(),
        }
    }

    /// The call's duration, when its [`times`](CallEnd::times) were read.
    pub fn duration(&self) -> Option<Duration> {
        self.times.map(|t| t.duration())
    }
}

/// When a call started and ended, on its executor's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallTimes {
    /// When the call started.
    pub start: Timestamp,
    /// When it ended.
    pub end: Timestamp,
}

impl CallTimes {
    /// The call's duration.
    pub fn duration(&self) -> Duration {
        self.end.since(self.start)
    }
}
