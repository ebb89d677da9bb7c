use std::sync::Arc;
use std::time::Duration;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use smallvec::SmallVec;

use crate::classify::{Attributes, Kind};
use crate::clock::Timestamp;
use crate::error::Reason;
use crate::key::Key;
use crate::policy::PolicySource;

use super::summary::{AttemptFacts, CallSummary};

/// How a call ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallOutcome {
    /// It succeeded.
    #[default]
    Success,
    /// It failed.
    Failure,
}

impl CallOutcome {
    /// `success` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Success => "success",
            CallOutcome::Failure => "failure",
        }
    }
}

/// One attempt of a call: executed, or refused by its budget.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// The retry index (group), from 0.
    pub attempt: u32,
    /// 0 for the primary, 1.. for hedges.
    pub hedge_index: u32,
    /// True for a hedge.
    pub is_hedge: bool,
    /// When the attempt started (before its budget check).
    pub start: Timestamp,
    /// When it ended.
    pub end: Timestamp,
    /// The classified outcome (Abort for a budget denial or a cancelled loser).
    pub outcome: Kind,
    /// The outcome's reason code.
    pub reason: Reason,
    /// The classifier's attributes (`status`, `method`, ...).
    pub attributes: Attributes,
    /// The operation's error text, if it returned one.
    pub error: Option<String>,
    /// The wait before this attempt (0 for the first group and for hedges).
    pub backoff: Duration,
    /// Whether the budget admitted the attempt.
    pub budget_allowed: bool,
    /// The budget's reason (`no_budget`, `allowed`, `budget_denied`, ...).
    pub budget_reason: Reason,
}

impl AttemptRecord {
    /// The default record, which [`Attempts::push_default`] starts from. A constant, so that
    /// the push copies it from read-only memory: a default built on the stack just before was
    /// copied back with wide loads that stalled on its narrow stores (about 10 ns a traced
    /// call).
    const FRESH: AttemptRecord = AttemptRecord {
        attempt: 0,
        hedge_index: 0,
        is_hedge: false,
        start: Timestamp::EPOCH,
        end: Timestamp::EPOCH,
        outcome: Kind::Unknown,
        reason: Reason::EMPTY,
        attributes: Attributes::new(),
        error: None,
        backoff: Duration::ZERO,
        budget_allowed: false,
        budget_reason: Reason::EMPTY,
    };

    /// What a [`CallSummary`] counts of this attempt.
    #[inline]
    pub(crate) fn facts(&self) -> AttemptFacts {
        AttemptFacts {
            attempt: self.attempt,
            is_hedge: self.is_hedge,
            budget_allowed: self.budget_allowed,
            succeeded: self.outcome == Kind::Success,
        }
    }

    /// The attribute naming the budget that refused an attempt.
    pub const DENIED_BY: &'static str = "budget";

    /// The record of an attempt the budget called `budget` refused with `reason`: outcome
    /// `Abort`, not admitted, and the budget named in the attribute [`DENIED_BY`](Self::DENIED_BY)
    /// so that a reader can tell which budget ran dry.
    pub(crate) fn denied(budget: &str, reason: Reason) -> AttemptRecord {
        let mut record = AttemptRecord {
            outcome: Kind::Abort,
            reason: reason.clone(),
            budget_allowed: false,
            budget_reason: reason,
            ..AttemptRecord::default()
        };
        record.attributes.insert(Self::DENIED_BY, budget);
        record
    }
}

impl Default for AttemptRecord {
    fn default() -> AttemptRecord {
        AttemptRecord::FRESH
    }
}

/// A call's attempt records, in completion order. Read it as a slice (`len`, `iter`,
/// indexing); the records of the common small counts are stored inline, without an
/// allocation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attempts(SmallVec<[AttemptRecord; 3]>);

impl Attempts {
    /// A fresh record at the end, to be written in place.
    pub(crate) fn push_default(&mut self) -> &mut AttemptRecord {
        self.0.push(AttemptRecord::FRESH);
        let last = self.0.len() - 1;
        &mut self.0[last]
    }
}

impl std::ops::Deref for Attempts {
    type Target = [AttemptRecord];

    #[inline]
    fn deref(&self) -> &[AttemptRecord] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Attempts {
    type Item = &'a AttemptRecord;
    type IntoIter = std::slice::Iter<'a, AttemptRecord>;

    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Everything that happened in one call: its attempts in the order they finished, the policy
/// that governed it, and how it ended.
///
/// Serializes to the `call` object of the wire protocol (docs/wire-protocol.md,
/// `schemas/event.schema.json`):
/// durations in integer microseconds (`_us`), attempt times relative to the call's start.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Timeline {
    /// The call's key.
    pub key: Key,
    /// The policy id, if the policy has one.
    pub policy_id: Option<Arc<str>>,
    /// Where the policy came from (attribute `policy_source`).
    pub policy_source: PolicySource,
    /// Field paths normalization changed (attribute `policy_normalized`), if any.
    pub policy_normalized: Option<Arc<str>>,
    /// When the call started.
    pub start: Timestamp,
    /// When it ended.
    pub end: Timestamp,
    /// Call attributes written by the engine (`circuit_state`, `classifier_error`, ...).
    pub attributes: Attributes,
    /// The attempts, in completion order.
    pub attempts: Attempts,
    /// Success or failure.
    pub outcome: CallOutcome,
    /// The final reason code.
    pub reason: Reason,
    /// The final error's text, on failure.
    pub error: Option<String>,
}

impl Timeline {
    /// The call's duration.
    pub fn duration(&self) -> Duration {
        self.end.since(self.start)
    }

    /// An attribute by name, the engine's own `policy_source`/`policy_normalized` included.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        match name {
            "policy_source" => Some(self.policy_source.as_str()),
            "policy_normalized" => self.policy_normalized.as_deref(),
            _ => self.attributes.get(name),
        }
    }

    /// The backoffs slept before each primary attempt after the first (what a fake sleeper
    /// would have recorded).
    pub fn backoffs(&self) -> Vec<Duration> {
        self.attempts
            .iter()
            .filter(|a| !a.is_hedge && a.attempt > 0 && a.budget_allowed)
            .map(|a| a.backoff)
            .collect()
    }

    /// Its attempts counted: retries, hedges, budget denials, the winner.
    pub fn summary(&self) -> CallSummary {
        let facts = self.attempts.iter().map(AttemptRecord::facts);
        CallSummary::of(self.outcome == CallOutcome::Success, facts)
    }

    /// A copy without error texts (what an exporter sends unless the service opts in).
    pub fn without_errors(&self) -> Timeline {
        let mut t = self.clone();
        t.strip_errors();
        t
    }

    /// Drops the error texts of the call and of its attempts.
    pub(crate) fn strip_errors(&mut self) {
        self.error = None;
        self.attempts.0.iter_mut().for_each(|a| a.error = None);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

struct AttributesView<'a>(&'a Timeline);

impl Serialize for AttributesView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        for (k, v) in t.attributes.iter() {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry("policy_source", t.policy_source.as_str())?;
        if let Some(n) = &t.policy_normalized {
            m.serialize_entry("policy_normalized", &**n)?;
        }
        m.end()
    }
}

struct AttemptView<'a>(&'a AttemptRecord, Timestamp);

impl Serialize for AttemptView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (a, start) = (self.0, self.1);
        let mut st = s.serialize_struct("Attempt", 12)?;
        st.serialize_field("attempt", &a.attempt)?;
        st.serialize_field("hedge_index", &a.hedge_index)?;
        st.serialize_field("is_hedge", &a.is_hedge)?;
        st.serialize_field("start_us", &micros(a.start.since(start)))?;
        st.serialize_field("end_us", &micros(a.end.since(start)))?;
        st.serialize_field("backoff_us", &micros(a.backoff))?;
        st.serialize_field("outcome", a.outcome.as_str())?;
        st.serialize_field("reason", &a.reason)?;
        st.serialize_field("budget_allowed", &a.budget_allowed)?;
        st.serialize_field("budget_reason", &a.budget_reason)?;
        if !a.attributes.is_empty() {
            st.serialize_field("attributes", &a.attributes)?;
        }
        if let Some(e) = &a.error {
            st.serialize_field("error", e)?;
        }
        st.end()
    }
}

impl Serialize for Timeline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Timeline", 10)?;
        st.serialize_field("key", &self.key)?;
        st.serialize_field("policy_id", &self.policy_id)?;
        st.serialize_field("start", &self.start.to_rfc3339())?;
        st.serialize_field("outcome", self.outcome.as_str())?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("duration_us", &micros(self.duration()))?;
        st.serialize_field("attributes", &AttributesView(self))?;
        let attempts: Vec<AttemptView<'_>> = self
            .attempts
            .iter()
            .map(|a| AttemptView(a, self.start))
            .collect();
        st.serialize_field("attempts", &attempts)?;
        if let Some(e) = &self.error {
            st.serialize_field("error", e)?;
        }
        st.end()
    }
}
