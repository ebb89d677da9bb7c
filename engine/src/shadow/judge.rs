//! Judging a shadow policy against one finished live call.
//!
//! The live attempts stand for the dependency: an attempt the live call ran answers the
//! shadow as it answered the live call, at the same moment and after the same latency. The
//! shadow walks the live retry groups in order; at each it applies its own timeouts and
//! hedges, then decides as the engine would (stop on success or a terminal outcome, retry a
//! retryable one while attempts remain and its budget allows). It stops where the evidence
//! ends: a shadow that would go on past the live call's last attempt, or wait past a live
//! timeout, ends `unknown`.
//!
//! Simplifications, each on the side of the evidence: the shadow's backoffs are not
//! replayed (its next attempt is the live call's next one); a hedge the live call did not
//! launch is counted, and taken not to win; the live classifier's verdicts stand (a shadow
//! naming another classifier is judged with the live one's).

use std::time::Duration;

use smallvec::SmallVec;

use crate::budget::{AttemptOutcome, BudgetKind, Request};
use crate::circuit::Admission;
use crate::classify::Kind;
use crate::clock::Timestamp;
use crate::error::Reason;
use crate::key::Key;
use crate::observe::{AttemptRecord, CallOutcome, Timeline};

use super::{ShadowBudget, ShadowPlan, ShadowState};

/// How the shadow would have ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Judged {
    Success,
    Failure,
    /// The live attempts cannot tell.
    Unknown,
}

impl Judged {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Judged::Success => "success",
            Judged::Failure => "failure",
            Judged::Unknown => "unknown",
        }
    }
}

/// What the shadow would have decided differently, as a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decisions(u16);

impl Decisions {
    /// It would have retried where the live call stopped.
    pub(crate) const WOULD_RETRY: Decisions = Decisions(1);
    /// It would have stopped where the live call retried.
    pub(crate) const WOULD_STOP: Decisions = Decisions(1 << 1);
    /// Its budget would have refused a retry (or a gated first attempt) the live call ran.
    pub(crate) const WOULD_DENY: Decisions = Decisions(1 << 2);
    /// Its breaker would have rejected the call.
    pub(crate) const WOULD_REJECT: Decisions = Decisions(1 << 3);
    /// Its breaker would have opened after the call.
    pub(crate) const WOULD_OPEN: Decisions = Decisions(1 << 4);
    /// One of its timeouts would have cut an attempt or the call.
    pub(crate) const WOULD_TIME_OUT: Decisions = Decisions(1 << 5);
    /// It would have launched hedges the live call did not.
    pub(crate) const WOULD_HEDGE: Decisions = Decisions(1 << 6);
    /// It would not have launched hedges the live call did.
    pub(crate) const WOULD_NOT_HEDGE: Decisions = Decisions(1 << 7);
    /// It would have waited longer than the live call did (a longer timeout).
    pub(crate) const WOULD_WAIT: Decisions = Decisions(1 << 8);

    const NAMES: [(Decisions, &'static str); 9] = [
        (Decisions::WOULD_RETRY, "would_retry"),
        (Decisions::WOULD_STOP, "would_stop"),
        (Decisions::WOULD_DENY, "would_deny"),
        (Decisions::WOULD_REJECT, "would_reject"),
        (Decisions::WOULD_OPEN, "would_open"),
        (Decisions::WOULD_TIME_OUT, "would_time_out"),
        (Decisions::WOULD_HEDGE, "would_hedge"),
        (Decisions::WOULD_NOT_HEDGE, "would_not_hedge"),
        (Decisions::WOULD_WAIT, "would_wait"),
    ];

    fn add(&mut self, d: Decisions) {
        self.0 |= d.0;
    }

    pub(crate) fn has(self, d: Decisions) -> bool {
        self.0 & d.0 == d.0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the decisions held, comma-separated (`would_retry,would_deny`).
    pub(crate) fn names(self) -> String {
        let mut out = String::new();
        for (d, name) in Decisions::NAMES {
            if self.has(d) {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(name);
            }
        }
        out
    }
}

/// The shadow's verdict on one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) outcome: Judged,
    /// Attempts it would have run (hedges included), as far as the evidence goes.
    pub(crate) attempts: u32,
    pub(crate) retries: u32,
    pub(crate) hedges: u32,
    pub(crate) budget_denied: bool,
    pub(crate) circuit_rejected: bool,
    pub(crate) circuit_opened: bool,
    pub(crate) timed_out: bool,
    pub(crate) decisions: Decisions,
    /// It would have ended otherwise, or with other attempts, than the live call.
    pub(crate) differs: bool,
}

/// The live policy's timeouts: to tell an attempt the live call cut from one that failed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Live {
    pub(crate) timeout_per_attempt: Option<Duration>,
    pub(crate) overall_timeout: Option<Duration>,
}

/// One live retry group, as evidence.
struct Group<'t> {
    attempt: u32,
    start: Timestamp,
    primary: &'t AttemptRecord,
    /// The live group's admitted hedges, in launch order.
    hedges: SmallVec<[&'t AttemptRecord; 3]>,
}

/// The live retry groups that ran (a group whose primary the live budget refused did not).
/// Inline for the common few: judging allocates nothing of its own.
fn groups(tl: &Timeline) -> SmallVec<[Group<'_>; 4]> {
    let mut out: SmallVec<[Group<'_>; 4]> = tl
        .attempts
        .iter()
        .filter(|a| !a.is_hedge && a.budget_allowed)
        .map(|primary| Group {
            attempt: primary.attempt,
            start: primary.start,
            primary,
            hedges: SmallVec::new(),
        })
        .collect();
    out.sort_by_key(|g| g.attempt);
    for h in tl
        .attempts
        .iter()
        .filter(|a| a.is_hedge && a.budget_allowed)
    {
        if let Some(g) = out.iter_mut().find(|g| g.attempt == h.attempt) {
            g.hedges.push(h);
        }
    }
    for g in &mut out {
        g.hedges.sort_by_key(|h| h.hedge_index);
    }
    out
}

fn latency(a: &AttemptRecord) -> Duration {
    a.end.since(a.start)
}

/// Whether the live call cut this attempt at its own per-attempt timeout.
fn live_timed_out(a: &AttemptRecord, live: Live) -> bool {
    a.reason == Reason::CONTEXT_DEADLINE_EXCEEDED
        && a.outcome != Kind::Abort
        && live.timeout_per_attempt.is_some_and(|t| latency(a) >= t)
}

/// Whether the live call's overall deadline cut this attempt.
fn live_deadline(a: &AttemptRecord) -> bool {
    a.reason == Reason::CONTEXT_DEADLINE_EXCEEDED && a.outcome == Kind::Abort
}

/// How one group would have ended for the shadow: its kind (`None`: unknown), when (from
/// the call's start), and the hedges it would have launched.
struct GroupEnd {
    kind: Option<Kind>,
    at: Duration,
    hedges: u32,
}

fn judge_group(
    plan: &ShadowPlan,
    live: Live,
    g: &Group<'_>,
    call_start: Timestamp,
    probing: bool,
    decisions: &mut Decisions,
) -> GroupEnd {
    let offset = g.start.since(call_start);
    let within = |a: &AttemptRecord| plan.timeout_per_attempt.is_none_or(|t| latency(a) <= t);
    // The live group's end: its first success, else its last attempt's end.
    let live_end = g
        .hedges
        .iter()
        .chain(std::iter::once(&g.primary))
        .map(|a| a.end.since(g.start))
        .max()
        .unwrap_or_default();
    let first_success = std::iter::once(&g.primary)
        .chain(&g.hedges)
        .filter(|a| a.outcome == Kind::Success)
        .map(|a| a.end.since(g.start))
        .min();
    let resolved = first_success.unwrap_or(live_end);
    // Hedges the shadow would launch: the i-th after i delays, while the group is open.
    let hedges = match plan.hedge {
        Some((max, delay)) if !probing => {
            let open = plan
                .timeout_per_attempt
                .map_or(resolved, |t| resolved.min(t));
            (1..=max)
                .take_while(|i| delay.saturating_mul(*i) < open)
                .count() as u32
        }
        _ => 0,
    };
    let live_hedges = g.hedges.len() as u32;
    if hedges > live_hedges {
        decisions.add(Decisions::WOULD_HEDGE);
    } else if hedges < live_hedges {
        decisions.add(Decisions::WOULD_NOT_HEDGE);
    }
    // The attempts the shadow would have had answers from: the primary and the live hedges
    // it would also have launched, each within its own per-attempt timeout.
    let seen = std::iter::once(g.primary).chain(g.hedges.iter().take(hedges as usize).copied());
    let success = seen
        .clone()
        .filter(|a| a.outcome == Kind::Success && within(a))
        .map(|a| a.end.since(g.start))
        .min();
    let (kind, at) = if let Some(at) = success {
        (Some(Kind::Success), at)
    } else if let Some(t) = plan.timeout_per_attempt.filter(|t| latency(g.primary) > *t) {
        // Its own timeout cuts the primary first.
        if !live_timed_out(g.primary, live) || live.timeout_per_attempt.is_none_or(|l| t < l) {
            decisions.add(Decisions::WOULD_TIME_OUT);
        }
        (Some(Kind::Retryable), t)
    } else if live_timed_out(g.primary, live) {
        // The live call cut the attempt sooner than the shadow would have: what it would
        // have answered later is not known.
        decisions.add(Decisions::WOULD_WAIT);
        (None, latency(g.primary))
    } else if live_deadline(g.primary) {
        let waits_longer = match (plan.overall_timeout, live.overall_timeout) {
            (None, _) => true,
            (Some(s), Some(l)) => s > l,
            (Some(_), None) => false,
        };
        if waits_longer {
            decisions.add(Decisions::WOULD_WAIT);
            (None, latency(g.primary))
        } else {
            (Some(Kind::Abort), latency(g.primary))
        }
    } else {
        // The group's verdict: the primary's, or a hedge's when the primary was cut as a
        // loser.
        let kind = match g.primary.outcome {
            Kind::Abort => seen
                .map(|a| a.outcome)
                .find(|k| *k != Kind::Abort)
                .unwrap_or(Kind::Abort),
            k => k,
        };
        (Some(kind), latency(g.primary).max(resolved.min(live_end)))
    };
    GroupEnd {
        kind,
        at: offset + at,
        hedges,
    }
}

/// Asks the shadow's budget for a retry (or a gated first attempt) at `now`.
fn budget_allows(budget: &ShadowBudget, key: &Key, attempt: u32, now: Timestamp) -> bool {
    let request = |cost| Request {
        key,
        attempt,
        hedge_index: 0,
        kind: BudgetKind::Retry,
        cost,
        now,
    };
    match budget {
        ShadowBudget::None => true,
        ShadowBudget::Copy {
            budget,
            cost,
            gate_first,
        } => {
            if attempt == 0 && !gate_first {
                budget.record_first_attempt(&request(*cost));
                return true;
            }
            budget.allow(&request(*cost)).allowed
        }
        ShadowBudget::Peek {
            budget,
            cost,
            gate_first,
        } => {
            (attempt == 0 && !gate_first)
                || budget
                    .level(now)
                    .is_none_or(|level| level >= f64::from(*cost))
        }
        ShadowBudget::Missing => attempt == 0,
    }
}

fn hear(budget: &ShadowBudget, key: &Key, attempt: u32, kind: Kind) {
    if let ShadowBudget::Copy { budget, .. } = budget {
        budget.record_outcome(&AttemptOutcome::new(key, attempt, kind));
    }
}

/// Judges `plan` against the finished live call `tl`: the shadow's breaker admits the call
/// (as of its start) and hears how the shadow would have ended it; its budget is asked for
/// each retry. The verdict is counted in `state`.
pub(crate) fn judge(plan: &ShadowPlan, state: &ShadowState, live: Live, tl: &Timeline) -> Verdict {
    let key = &tl.key;
    let mut decisions = Decisions::default();
    let live_groups = groups(tl);
    let live_attempts = tl.attempts.iter().filter(|a| a.budget_allowed).count() as u32;
    let live_rejected =
        tl.reason == Reason::CIRCUIT_OPEN || tl.reason == Reason::CIRCUIT_HALF_OPEN_PROBE_LIMIT;
    let mut verdict = Verdict {
        outcome: Judged::Unknown,
        attempts: 0,
        retries: 0,
        hedges: 0,
        budget_denied: false,
        circuit_rejected: false,
        circuit_opened: false,
        timed_out: false,
        decisions,
        differs: false,
    };

    let mut probe = None;
    if let Some(c) = &plan.circuit {
        let (admission, _) = state.breaker.admit(|| tl.start, c.cooldown);
        match admission {
            Admission::Closed => {}
            Admission::Probe(p) => probe = Some(p),
            Admission::Rejected(..) => {
                verdict.outcome = Judged::Failure;
                verdict.circuit_rejected = true;
                if !live_rejected {
                    decisions.add(Decisions::WOULD_REJECT);
                }
                verdict.decisions = decisions;
                verdict.differs = live_attempts > 0 || tl.outcome != CallOutcome::Failure;
                return verdict;
            }
        }
    }
    let probing = probe.is_some();

    let mut outcome = Judged::Unknown;
    let mut ended_at = Duration::ZERO;
    let mut judged: Option<usize> = None;
    // Evidence starts with the live call's first attempt; a call that never ran one (its
    // breaker, bulkhead or budget refused it) tells nothing.
    let mut next = match live_groups.first() {
        Some(first) if first.attempt == 0 => 0,
        _ => live_groups.len(),
    };
    if let Some(first) = live_groups.first().filter(|_| next == 0)
        && !budget_allows(&plan.budget, key, 0, first.start)
    {
        // Its budget gates first attempts, and would have refused this one.
        outcome = Judged::Failure;
        verdict.budget_denied = true;
        decisions.add(Decisions::WOULD_DENY);
    }
    while outcome == Judged::Unknown && next < live_groups.len() {
        let g = &live_groups[next];
        let end = judge_group(plan, live, g, tl.start, probing, &mut decisions);
        judged = Some(next);
        verdict.attempts += 1 + end.hedges;
        verdict.hedges += end.hedges;
        ended_at = end.at;
        if let Some(o) = plan.overall_timeout
            && end.at > o
        {
            decisions.add(Decisions::WOULD_TIME_OUT);
            outcome = Judged::Failure;
            ended_at = o;
            break;
        }
        let Some(kind) = end.kind else { break };
        hear(&plan.budget, key, g.attempt, kind);
        match kind {
            Kind::Success => outcome = Judged::Success,
            Kind::Retryable if g.attempt + 1 < plan.max_attempts => {
                let following = live_groups.get(next + 1);
                let at = following.map_or(g.start.plus(end.at), |n| n.start);
                if !budget_allows(&plan.budget, key, g.attempt + 1, at) {
                    verdict.budget_denied = true;
                    if following.is_some() {
                        // The live call ran that retry.
                        decisions.add(Decisions::WOULD_DENY);
                    }
                    outcome = Judged::Failure;
                } else {
                    verdict.retries += 1;
                    if following.is_none() {
                        // Past the evidence: the live call stopped here.
                        decisions.add(Decisions::WOULD_RETRY);
                        break;
                    }
                }
            }
            _ => outcome = Judged::Failure,
        }
        next += 1;
    }
    if outcome != Judged::Unknown && judged.is_some_and(|j| j + 1 < live_groups.len()) {
        decisions.add(Decisions::WOULD_STOP);
    }
    verdict.timed_out = decisions.has(Decisions::WOULD_TIME_OUT);

    if let Some(c) = &plan.circuit {
        let transition = match outcome {
            Judged::Unknown => {
                drop(probe);
                None
            }
            judged => {
                let mut now = || tl.start.plus(ended_at);
                c.hear(
                    &state.breaker,
                    probe,
                    judged == Judged::Failure,
                    &mut now,
                    |_| ended_at,
                )
            }
        };
        if transition.is_some_and(|t| t.to == crate::error::CircuitState::Open) {
            verdict.circuit_opened = true;
            decisions.add(Decisions::WOULD_OPEN);
        }
    }

    let live_outcome = match tl.outcome {
        CallOutcome::Success => Judged::Success,
        CallOutcome::Failure => Judged::Failure,
    };
    verdict.outcome = outcome;
    verdict.differs = outcome != live_outcome || verdict.attempts != live_attempts;
    verdict.decisions = decisions;
    verdict
}
