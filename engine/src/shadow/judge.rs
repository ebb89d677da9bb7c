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

/// What the shadow needs to know of the live call beyond its attempts: the live policy's
/// timeouts (to tell an attempt the live call cut from one that failed), and the caller's
/// options that bind any policy (one attempt, no hedges).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Live {
    pub(crate) timeout_per_attempt: Option<Duration>,
    pub(crate) overall_timeout: Option<Duration>,
    pub(crate) once: bool,
    pub(crate) no_hedges: bool,
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
/// the call's start), the hedges it would have launched, whether its own per-attempt timeout
/// cut the primary, and whether the live call's overall deadline cut the group (with the
/// shadow's no later).
struct GroupEnd {
    kind: Option<Kind>,
    at: Duration,
    hedges: u32,
    timed_out: bool,
    live_deadline: bool,
}

fn judge_group(
    plan: &ShadowPlan,
    live: Live,
    g: &Group<'_>,
    call_start: Timestamp,
    hedging: bool,
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
        Some((max, delay)) if hedging => {
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
    let mut end = GroupEnd {
        kind: None,
        at: latency(g.primary),
        hedges,
        timed_out: false,
        live_deadline: false,
    };
    if let Some(at) = success {
        (end.kind, end.at) = (Some(Kind::Success), at);
    } else if let Some(t) = plan.timeout_per_attempt.filter(|t| latency(g.primary) > *t) {
        // Its own timeout cuts the primary first.
        if !live_timed_out(g.primary, live) || live.timeout_per_attempt.is_none_or(|l| t < l) {
            decisions.add(Decisions::WOULD_TIME_OUT);
        }
        (end.kind, end.at, end.timed_out) = (Some(Kind::Retryable), t, true);
    } else if live_timed_out(g.primary, live) {
        // The live call cut the attempt sooner than the shadow would have: what it would
        // have answered later is not known.
        decisions.add(Decisions::WOULD_WAIT);
    } else if live_deadline(g.primary) {
        let waits_longer = match (plan.overall_timeout, live.overall_timeout) {
            (None, _) => true,
            (Some(s), Some(l)) => s > l,
            (Some(_), None) => false,
        };
        if waits_longer {
            decisions.add(Decisions::WOULD_WAIT);
        } else {
            (end.kind, end.live_deadline) = (Some(Kind::Abort), true);
        }
    } else if seen.clone().any(|a| a.reason == Reason::HEDGE_CANCELLED) {
        // A member the shadow would have waited for was dropped when a hedge the shadow
        // would not have sent won: its answer is not known.
        decisions.add(Decisions::WOULD_WAIT);
    } else {
        // The group's verdict, as the engine reports a failed group: its most severe outcome.
        let kind = seen
            .map(|a| a.outcome)
            .max_by_key(|k| k.severity())
            .unwrap_or(Kind::Abort);
        (end.kind, end.at) = (Some(kind), resolved.min(live_end).max(latency(g.primary)));
    }
    end.at += offset;
    end
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
                    .is_none_or(|level| level >= f64::from((*cost).max(1)))
        }
        ShadowBudget::Missing { allowed } => attempt == 0 || *allowed,
    }
}

fn hear(budget: &ShadowBudget, key: &Key, attempt: u32, kind: Kind) {
    if let ShadowBudget::Copy { budget, .. } = budget {
        budget.record_outcome(&AttemptOutcome::new(key, attempt, kind));
    }
}

/// What the shadow's breaker hears of a call, as the engine's breaker would: a success, a
/// failure (attempts exhausted, a non-retryable outcome, a deadline), or nothing (an abort,
/// a cancellation, a budget's refusal, no verdict).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Heard {
    Success,
    Failure,
    Nothing,
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
    // The caller's own limits on this call bind the shadow too.
    let max_attempts = if live.once { 1 } else { plan.max_attempts };
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
    // The probe of a half-open breaker runs alone, as the engine runs it.
    let hedging = probe.is_none() && !live.no_hedges;

    let mut outcome = Judged::Unknown;
    let mut heard = Heard::Nothing;
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
        let end = judge_group(plan, live, g, tl.start, hedging, &mut decisions);
        judged = Some(next);
        verdict.attempts += 1 + end.hedges;
        verdict.hedges += end.hedges;
        verdict.timed_out |= end.timed_out;
        ended_at = end.at;
        let past_deadline = plan.overall_timeout.is_some_and(|o| end.at > o);
        if end.live_deadline || past_deadline {
            // Its overall deadline ends the call: where the live one's did (no decision), or
            // sooner.
            if !end.live_deadline {
                decisions.add(Decisions::WOULD_TIME_OUT);
            }
            verdict.timed_out = true;
            (outcome, heard) = (Judged::Failure, Heard::Failure);
            ended_at = plan.overall_timeout.map_or(end.at, |o| end.at.min(o));
            break;
        }
        let Some(kind) = end.kind else { break };
        hear(&plan.budget, key, g.attempt, kind);
        match kind {
            Kind::Success => (outcome, heard) = (Judged::Success, Heard::Success),
            Kind::Retryable if g.attempt + 1 < max_attempts => {
                let following = live_groups.get(next + 1);
                let at = following.map_or(tl.start.plus(end.at), |n| n.start);
                if !budget_allows(&plan.budget, key, g.attempt + 1, at) {
                    verdict.budget_denied = true;
                    if following.is_some() {
                        // The live call ran that retry.
                        decisions.add(Decisions::WOULD_DENY);
                    }
                    outcome = Judged::Failure;
                } else if following.is_some() {
                    verdict.retries += 1;
                } else if let Some(stop) = stopped_outside_policy(plan, live, tl) {
                    // The live call stopped here for a reason the shadow shares.
                    (outcome, heard) = (Judged::Failure, stop);
                } else {
                    // Past the evidence: the live call stopped here.
                    verdict.retries += 1;
                    decisions.add(Decisions::WOULD_RETRY);
                    break;
                }
            }
            Kind::Retryable | Kind::NonRetryable => {
                (outcome, heard) = (Judged::Failure, Heard::Failure);
            }
            Kind::Abort | Kind::Unknown => outcome = Judged::Failure,
        }
        next += 1;
    }
    if outcome != Judged::Unknown && judged.is_some_and(|j| j + 1 < live_groups.len()) {
        decisions.add(Decisions::WOULD_STOP);
    }

    if let Some(c) = &plan.circuit {
        let transition = match heard {
            Heard::Nothing => {
                drop(probe); // a probe without a verdict frees its slot
                None
            }
            heard => {
                let mut now = || tl.start.plus(ended_at);
                let failed = heard == Heard::Failure;
                c.hear(&state.breaker, probe, failed, &mut now, |_| ended_at)
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

/// Why the live call stopped before a retry its policy allowed, when the shadow would have
/// stopped there too: the caller cancelled it (the breaker hears nothing), or the wait would
/// have run past a deadline the shadow's is no later than (a failure).
fn stopped_outside_policy(plan: &ShadowPlan, live: Live, tl: &Timeline) -> Option<Heard> {
    if tl.reason == Reason::CONTEXT_CANCELED {
        return Some(Heard::Nothing);
    }
    let past_deadline = tl.reason == Reason::BACKOFF_EXCEEDS_DEADLINE
        || tl.reason == Reason::RETRY_AFTER_EXCEEDS_DEADLINE;
    match (plan.overall_timeout, live.overall_timeout) {
        (Some(s), Some(l)) if past_deadline && s <= l => Some(Heard::Failure),
        _ => None,
    }
}
