//! Shadow policies: a second policy judged beside a key's live one on every call, from the
//! live attempts' outcomes, and reported, never acted on.
//!
//! A key's policy may carry `shadow:` (a partial policy laid over the live one). When the
//! call ends, the shadow is judged against what the live call saw: would it have retried
//! where the live policy stopped, or stopped where it retried; would its budget have refused
//! a retry; would its breaker have rejected the call, or opened; would its timeouts have cut
//! an attempt; would it have hedged. The verdict goes into the call's timeline (attributes
//! `shadow_outcome`, `shadow_attempts`, `shadow_decisions`) and into the key's shadow
//! counters ([`ShadowStats`], sent in the export's `stats`).
//!
//! The live call is never touched: the shadow's breaker and budgets are its own (copies of the
//! budgets the shadow names, spent only by shadows), the judgment runs after the call's
//! result is decided, and nothing the live call reads is written. What the shadow cannot know
//! is reported as such: an attempt the live call never made has no outcome, so a shadow that
//! would have gone further than the live call ends `unknown`.

mod judge;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::budget::Budget;
use crate::circuit::Breaker;
use crate::policy::Normalized;

/// A key's shadow counters: what the shadow would have done over the calls it judged,
/// beside what the live policy did (the key's own counters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ShadowStats {
    /// The shadow policy's id, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Calls judged.
    #[serde(default)]
    pub calls: u64,
    /// Calls the shadow would have ended otherwise, or with other attempts, than the live
    /// policy did.
    #[serde(default)]
    pub differs: u64,
    /// Calls the shadow would have ended in success.
    #[serde(default)]
    pub successes: u64,
    /// Calls the shadow would have ended in failure.
    #[serde(default)]
    pub failures: u64,
    /// Calls whose shadow outcome the live attempts cannot tell: the shadow would have gone
    /// on where the live call stopped (a further retry, a longer timeout).
    #[serde(default)]
    pub unknown: u64,
    /// Attempts the shadow would have run (hedges included), as far as the live attempts
    /// show.
    #[serde(default)]
    pub attempts: u64,
    /// Retries it would have run.
    #[serde(default)]
    pub retries: u64,
    /// Hedges it would have launched.
    #[serde(default)]
    pub hedges: u64,
    /// Retries its budget would have refused.
    #[serde(default)]
    pub budget_denied: u64,
    /// Calls its breaker would have rejected.
    #[serde(default)]
    pub circuit_rejected: u64,
    /// Times its breaker would have opened.
    #[serde(default)]
    pub circuit_opens: u64,
    /// Calls one of its timeouts would have cut.
    #[serde(default)]
    pub timeouts: u64,
    /// Its breaker's state now, for a shadow with a breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit: Option<String>,
}

/// A shadow policy compiled for judging.
#[derive(Debug)]
pub(crate) struct ShadowPlan {
    pub(crate) id: Option<Arc<str>>,
    pub(crate) max_attempts: u32,
    pub(crate) timeout_per_attempt: Option<Duration>,
    pub(crate) overall_timeout: Option<Duration>,
    pub(crate) budget: ShadowBudget,
    /// Hedges per group and the delay before each, when the shadow hedges.
    pub(crate) hedge: Option<(u32, Duration)>,
    pub(crate) circuit: Option<crate::executor::CircuitPlan>,
}

/// The retry budget a shadow spends from.
#[derive(Debug)]
pub(crate) enum ShadowBudget {
    None,
    /// The shadow's own copy of a budget declared in the policy source.
    Copy {
        budget: Arc<dyn Budget>,
        cost: u32,
        gate_first: bool,
    },
    /// A budget registered in code cannot be copied: its level is read, never spent.
    Peek {
        budget: Arc<dyn Budget>,
        cost: u32,
        gate_first: bool,
    },
    /// Named but not found: judged as the executor's missing-budget mode would, refusing
    /// every retry unless the mode allows them.
    Missing {
        allowed: bool,
    },
}

impl ShadowPlan {
    pub(crate) fn new(
        shadow: &Normalized,
        budget: ShadowBudget,
        circuit: Option<crate::executor::CircuitPlan>,
    ) -> ShadowPlan {
        let r = &shadow.retry;
        let h = &shadow.hedge;
        ShadowPlan {
            id: shadow.id.clone(),
            max_attempts: r.max_attempts,
            timeout_per_attempt: r.timeout_per_attempt,
            overall_timeout: r.overall_timeout,
            budget,
            hedge: h.enabled.then_some((h.max_hedges, h.hedge_delay)),
            circuit,
        }
    }
}

/// A key's shadow state that outlives policy reloads: its breaker and its counters, for the
/// candidate (the shadow's `id`) they belong to.
#[derive(Debug, Default)]
pub(crate) struct ShadowState {
    pub(crate) breaker: Breaker,
    counters: Counters,
    /// The id of the candidate counted so far (`None` inside: a shadow without an id), once
    /// one was.
    candidate: std::sync::Mutex<Option<Option<Arc<str>>>>,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    differs: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    unknown: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    hedges: AtomicU64,
    budget_denied: AtomicU64,
    circuit_rejected: AtomicU64,
    circuit_opens: AtomicU64,
    timeouts: AtomicU64,
}

impl Counters {
    fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
        self.differs.store(0, Ordering::Relaxed);
        self.successes.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        self.unknown.store(0, Ordering::Relaxed);
        self.attempts.store(0, Ordering::Relaxed);
        self.retries.store(0, Ordering::Relaxed);
        self.hedges.store(0, Ordering::Relaxed);
        self.budget_denied.store(0, Ordering::Relaxed);
        self.circuit_rejected.store(0, Ordering::Relaxed);
        self.circuit_opens.store(0, Ordering::Relaxed);
        self.timeouts.store(0, Ordering::Relaxed);
    }
}

impl ShadowState {
    /// Takes on the shadow of a newly compiled policy: a new candidate (another id) starts
    /// afresh, its counters zeroed and its breaker closed; the same one goes on. Called when
    /// a policy is compiled, never per call.
    pub(crate) fn adopt(&self, id: Option<&Arc<str>>) {
        let mut seen = self.candidate.lock().unwrap_or_else(|e| e.into_inner());
        let same = seen.as_ref().map(|s| s.as_deref() == id.map(|i| &**i));
        if same == Some(false) {
            self.counters.reset();
            self.breaker.reset();
        }
        if same != Some(true) {
            *seen = Some(id.cloned());
        }
    }

    /// Counts one judged call.
    pub(crate) fn count(&self, v: &judge::Verdict) {
        let c = &self.counters;
        let add = |a: &AtomicU64, n: u64| {
            if n > 0 {
                a.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&c.calls, 1);
        add(&c.differs, u64::from(v.differs));
        match v.outcome {
            judge::Judged::Success => add(&c.successes, 1),
            judge::Judged::Failure => add(&c.failures, 1),
            judge::Judged::Unknown => add(&c.unknown, 1),
        }
        add(&c.attempts, u64::from(v.attempts));
        add(&c.retries, u64::from(v.retries));
        add(&c.hedges, u64::from(v.hedges));
        add(&c.budget_denied, u64::from(v.budget_denied));
        add(&c.circuit_rejected, u64::from(v.circuit_rejected));
        add(&c.circuit_opens, u64::from(v.circuit_opened));
        add(&c.timeouts, u64::from(v.timed_out));
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> ShadowStats {
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ShadowStats {
            policy: None,
            calls: n(&c.calls),
            differs: n(&c.differs),
            successes: n(&c.successes),
            failures: n(&c.failures),
            unknown: n(&c.unknown),
            attempts: n(&c.attempts),
            retries: n(&c.retries),
            hedges: n(&c.hedges),
            budget_denied: n(&c.budget_denied),
            circuit_rejected: n(&c.circuit_rejected),
            circuit_opens: n(&c.circuit_opens),
            timeouts: n(&c.timeouts),
            circuit: None,
        }
    }
}

pub(crate) use judge::{Live, judge};
