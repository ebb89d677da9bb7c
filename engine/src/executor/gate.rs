//! The budget gate before an attempt: a retry or hedge budget's decision, reported to
//! observers, with the missing-budget mode deciding for a budget that is not registered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::Inner;
use super::keyed::{BudgetSlot, panic_message};
use super::mode::MissingMode;
use super::record::Recorder;
use crate::budget::{
    AttemptOutcome, BudgetEvent, BudgetKind, Decision, DecisionMode, Release, Request,
};
use crate::clock::Timestamp;
use crate::error::Reason;
use crate::key::Key;

/// The outcome of a budget gate.
pub(crate) enum Gate {
    Pass {
        reason: Reason,
        release: Option<Release>,
    },
    Denied {
        budget: Arc<str>,
        reason: Reason,
        /// The budget panicked (with `recover_panics`): its message.
        panic: Option<String>,
    },
}

pub(crate) struct GateRequest<'a> {
    pub(crate) inner: &'a Inner,
    /// The attempt's clock reading, when its caller has one (else the gate reads the clock).
    pub(crate) now: Option<Timestamp>,
    pub(crate) key: &'a Key,
    pub(crate) attempt: u32,
    pub(crate) hedge_index: u32,
    pub(crate) kind: BudgetKind,
}

impl GateRequest<'_> {
    /// Asks the budget of `slot` about one attempt and reports the decision to observers.
    #[inline]
    pub(crate) fn ask(&self, slot: &BudgetSlot, rec: &Recorder<'_>) -> Gate {
        if let BudgetSlot::None = slot {
            return Gate::Pass {
                reason: Reason::NO_BUDGET,
                release: None,
            };
        }
        self.ask_budget(slot, rec)
    }

    fn ask_budget(&self, slot: &BudgetSlot, rec: &Recorder<'_>) -> Gate {
        let (name, cost, gate_first) = match slot {
            BudgetSlot::None => {
                return Gate::Pass {
                    reason: Reason::NO_BUDGET,
                    release: None,
                };
            }
            BudgetSlot::Found {
                name,
                cost,
                gate_first,
                ..
            }
            | BudgetSlot::Missing {
                name,
                cost,
                gate_first,
            } => (name, *cost, *gate_first),
        };
        let req = Request {
            key: self.key,
            attempt: self.attempt,
            hedge_index: self.hedge_index,
            kind: self.kind,
            cost,
            now: self.now.unwrap_or_else(|| self.inner.clock.now()),
        };
        let ungated = self.kind == BudgetKind::Retry && self.attempt == 0 && !gate_first;
        let mut panic = None;
        let (mode, decision) = match slot {
            BudgetSlot::Found { budget, .. } if ungated => {
                budget.record_first_attempt(&req);
                return Gate::Pass {
                    reason: Reason::NOT_GATED,
                    release: None,
                };
            }
            _ if ungated => {
                return Gate::Pass {
                    reason: Reason::NOT_GATED,
                    release: None,
                };
            }
            BudgetSlot::Found { budget, .. } => {
                let decision = if self.inner.recover_panics {
                    catch_unwind(AssertUnwindSafe(|| budget.allow(&req))).unwrap_or_else(|p| {
                        panic = Some(panic_message(&*p));
                        Decision {
                            allowed: false,
                            reason: Reason::PANIC_IN_BUDGET,
                            release: None,
                        }
                    })
                } else {
                    budget.allow(&req)
                };
                (DecisionMode::Standard, decision)
            }
            _ => {
                let mode = self.inner.modes.budget;
                let decision = Decision {
                    allowed: mode != MissingMode::Deny,
                    reason: Reason::BUDGET_NOT_FOUND,
                    release: None,
                };
                (DecisionMode::Missing(mode), decision)
            }
        };
        let Decision {
            allowed,
            mut reason,
            release,
        } = decision;
        if reason.as_str().is_empty() {
            reason = if allowed {
                Reason::ALLOWED
            } else {
                Reason::BUDGET_DENIED
            };
        }
        if let Some(o) = rec.observer() {
            o.on_budget_decision(&BudgetEvent {
                key: self.key,
                attempt: self.attempt,
                hedge_index: self.hedge_index,
                kind: self.kind,
                budget: name,
                cost,
                mode,
                allowed,
                reason: reason.clone(),
            });
        }
        if allowed {
            Gate::Pass { reason, release }
        } else {
            if let Some(r) = release {
                r.forget();
            }
            Gate::Denied {
                budget: name.clone(),
                reason,
                panic,
            }
        }
    }
}

impl BudgetSlot {
    /// Tells the budget how an attempt it answers for ended. A budget that panics here (with
    /// `recover_panics`) is ignored: the attempt's outcome stands.
    #[inline]
    pub(crate) fn hear(&self, inner: &Inner, outcome: &AttemptOutcome<'_>) {
        if let BudgetSlot::Found { budget, .. } = self {
            if inner.recover_panics {
                let _ = catch_unwind(AssertUnwindSafe(|| budget.record_outcome(outcome)));
            } else {
                budget.record_outcome(outcome);
            }
        }
    }
}
