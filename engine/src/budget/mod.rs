//! Budgets: backpressure on retries and hedges.
//!
//! A budget is asked before every gated attempt ([`Budget::allow`]) and answers with a
//! [`Decision`]. By default `retry.budget` gates retries only (attempt index ≥ 1); the first
//! attempt is gated too when the reference says `gate_first_attempt: true`, so an empty retry
//! budget never blocks first calls by accident. Hedges
//! are gated by `hedge.budget`. Budgets run on the executor's clock (`now` in the [`Request`]),
//! so they are deterministic on virtual time.
//!
//! A budget also hears how each attempt it answers for ended ([`Budget::record_outcome`]): the
//! retry budget every primary attempt (the first included, gated or not), the hedge budget every
//! hedge. A budget can then hold retries back while the dependency is failing.
//!
//! Built-ins: [`Unlimited`], [`TokenBucket`] (lock-free GCRA), [`Ratio`] (Finagle/SRE retry
//! budget: first attempts deposit, retries withdraw, a per-second floor, a sliding window),
//! [`Throttle`] (gRPC's retry throttling: failures take tokens, successes give some back).

mod ratio;
mod throttle;
mod token_bucket;
mod unlimited;

use std::fmt;

pub use ratio::Ratio;
pub use throttle::Throttle;
pub use token_bucket::TokenBucket;
pub use unlimited::Unlimited;

use crate::classify::Kind;
use crate::clock::Timestamp;
use crate::error::Reason;
use crate::key::Key;

/// Whether a budget is asked for a primary attempt (retry budget) or a hedge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BudgetKind {
    /// A primary attempt of a retry group.
    Retry,
    /// A hedge.
    Hedge,
}

impl BudgetKind {
    /// `retry` or `hedge`.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetKind::Retry => "retry",
            BudgetKind::Hedge => "hedge",
        }
    }
}

/// What a budget is asked.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The call's key.
    pub key: &'a Key,
    /// The retry index (hedges of group k also carry k).
    pub attempt: u32,
    /// The hedge index: 0 for the primary, 1.. for hedges.
    pub hedge_index: u32,
    /// Retry or hedge.
    pub kind: BudgetKind,
    /// Units this attempt costs (at least 1).
    pub cost: u32,
    /// The executor clock's time.
    pub now: Timestamp,
}

impl<'a> Request<'a> {
    /// The request for the first retry (attempt 1, the primary, cost 1) of `key` at `now`:
    /// what a test of a budget starts from.
    pub fn retry(key: &'a Key, now: Timestamp) -> Request<'a> {
        Request {
            key,
            attempt: 1,
            hedge_index: 0,
            kind: BudgetKind::Retry,
            cost: 1,
            now,
        }
    }
}

/// How an attempt a budget answers for ended, as its classifier saw it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct AttemptOutcome<'a> {
    /// The call's key.
    pub key: &'a Key,
    /// The retry index (hedges of group k also carry k).
    pub attempt: u32,
    /// The hedge index: 0 for the primary, 1.. for hedges.
    pub hedge_index: u32,
    /// The classifier's verdict: `Success`, `Retryable` or `NonRetryable`, or `Abort`.
    pub kind: Kind,
}

impl<'a> AttemptOutcome<'a> {
    /// The outcome `kind` of the primary attempt `attempt` of a call to `key`.
    pub fn new(key: &'a Key, attempt: u32, kind: Kind) -> AttemptOutcome<'a> {
        AttemptOutcome {
            key,
            attempt,
            hedge_index: 0,
            kind,
        }
    }

    /// The attempt succeeded.
    pub fn succeeded(&self) -> bool {
        self.kind == Kind::Success
    }

    /// The attempt failed in a way the classifier would retry: the dependency is in trouble
    /// (a 503, a reset, a timeout), not the request (a 404).
    pub fn failed_retryably(&self) -> bool {
        self.kind == Kind::Retryable
    }
}

/// Runs once after an admitted attempt finishes (however it ends, cancellation included).
pub struct Release(Option<Box<dyn FnOnce() + Send>>);

impl Release {
    /// A release that runs `f`.
    pub fn new(f: impl FnOnce() + Send + 'static) -> Release {
        Release(Some(Box::new(f)))
    }

    /// Runs the release now (at most once).
    pub fn run(mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }

    /// Drops the release without running it (for denied decisions).
    pub(crate) fn forget(mut self) {
        self.0 = None;
    }
}

impl Drop for Release {
    #[inline]
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl fmt::Debug for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Release")
    }
}

/// A budget's answer.
#[derive(Debug)]
pub struct Decision {
    /// Whether the attempt may run.
    pub allowed: bool,
    /// Why (`allowed`, `budget_denied`, or the budget's own code).
    pub reason: Reason,
    /// Runs once after an allowed attempt finishes; ignored on a denial.
    pub release: Option<Release>,
}

impl Decision {
    /// Allowed, reason `allowed`.
    #[inline]
    pub fn allow() -> Decision {
        Decision {
            allowed: true,
            reason: Reason::ALLOWED,
            release: None,
        }
    }

    /// Denied, reason `budget_denied`.
    #[inline]
    pub fn deny() -> Decision {
        Decision {
            allowed: false,
            reason: Reason::BUDGET_DENIED,
            release: None,
        }
    }
}

/// Backpressure on attempts. Implementations must be cheap and lock-free where they can.
pub trait Budget: Send + Sync + fmt::Debug {
    /// Decides whether a gated attempt may run.
    fn allow(&self, req: &Request<'_>) -> Decision;

    /// Told about every first attempt the retry budget does not gate (a ratio budget deposits
    /// here). Default: nothing.
    fn record_first_attempt(&self, req: &Request<'_>) {
        let _ = req;
    }

    /// Told how an attempt this budget answers for ended, once per attempt that reached a
    /// verdict: every primary attempt for a retry budget (the first included, gated or not),
    /// every hedge for a hedge budget. Called on the calling task; keep it cheap. Default:
    /// nothing.
    fn record_outcome(&self, outcome: &AttemptOutcome<'_>) {
        let _ = outcome;
    }

    /// Whether [`allow`](Budget::allow) and
    /// [`record_first_attempt`](Budget::record_first_attempt) read [`Request::now`]. A budget
    /// that says no (its decisions follow outcomes, not time) spares every attempt of its keys
    /// a clock read: its requests carry the call's last reading, or [`Timestamp::EPOCH`] when
    /// nothing else needed one. Asked once per policy. Default: yes.
    fn reads_clock(&self) -> bool {
        true
    }

    /// The budget's current level in units, when it has one (for reports and `simulate`).
    fn level(&self, now: Timestamp) -> Option<f64> {
        let _ = now;
        None
    }

    /// The most its [`level`](Budget::level) can reach, when that is fixed (a token bucket's
    /// capacity); `tail` draws the level against it. Default: none.
    fn max_level(&self) -> Option<f64> {
        None
    }

    /// For a budget shared by the fleet (`scope: fleet`): where it spends from now and how old
    /// its last settlement is. Timelines and the export carry it. Default: none, a local
    /// budget.
    fn fleet_status(&self) -> Option<crate::fleet::FleetStatus> {
        None
    }
}

/// How a budget decision was reached, as reported to observers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecisionMode {
    /// The budget itself decided.
    Standard,
    /// The budget is not registered; the missing-budget mode decided.
    Missing(crate::executor::MissingMode),
}

impl DecisionMode {
    /// `standard`, or the missing-budget mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionMode::Standard => "standard",
            DecisionMode::Missing(m) => m.as_str(),
        }
    }
}

/// One budget decision, as observers see it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BudgetEvent<'a> {
    /// The call's key.
    pub key: &'a Key,
    /// The retry index.
    pub attempt: u32,
    /// The hedge index (0 for the primary).
    pub hedge_index: u32,
    /// Retry or hedge.
    pub kind: BudgetKind,
    /// The budget's name.
    pub budget: &'a str,
    /// The cost asked.
    pub cost: u32,
    /// Who decided.
    pub mode: DecisionMode,
    /// The verdict.
    pub allowed: bool,
    /// The reason.
    pub reason: Reason,
}
