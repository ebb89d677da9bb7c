//! The gate before an attempt: a slot of the key's bulkhead, if its policy has one, then a
//! retry or hedge budget's decision, reported to observers, with the missing-budget mode
//! deciding for a budget that is not registered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::Inner;
use super::bulkhead::{Bulkhead, InFlight};
use super::keyed::{BudgetSlot, panic_message};
use super::mode::MissingMode;
use super::record::Recorder;
use crate::budget::{
    AttemptOutcome, BudgetEvent, BudgetKind, Decision, DecisionMode, Release, Request,
};
use crate::clock::Timestamp;
use crate::error::Reason;
use crate::key::Key;

/// The name a bulkhead's refusal is recorded under, where a budget's name would be.
pub(crate) const BULKHEAD: &str = "bulkhead";

/// The outcome of a gate.
pub(crate) enum Gate<'a> {
    Pass {
        reason: Reason,
        release: Option<Release>,
        /// The bulkhead slot the attempt holds until it ends.
        slot: Option<InFlight<'a>>,
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
    /// The key's bulkhead, if its policy has one.
    pub(crate) bulkhead: Option<Bulkhead<'a>>,
}

impl<'a> GateRequest<'a> {
    /// Takes a bulkhead slot if the key has a bulkhead, then asks the budget of `slot` about
    /// one attempt and reports the decision to observers. A full bulkhead refuses the attempt
    /// before its budget is asked, so it spends no budget.
    #[inline]
    pub(crate) fn ask(&self, slot: &BudgetSlot, rec: &Recorder<'_>) -> Gate<'a> {
        if let Some(bulkhead) = self.bulkhead {
            return self.ask_with_bulkhead(bulkhead, slot, rec);
        }
        if let BudgetSlot::None = slot {
            return Gate::Pass {
                reason: Reason::NO_BUDGET,
                release: None,
                slot: None,
            };
        }
        self.ask_budget(slot, rec)
    }

    /// [`ask`](Self::ask) for a key with a bulkhead: the slot first, then the budget (a
    /// refused attempt spends no budget, and an attempt the budget refuses frees its slot).
    fn ask_with_bulkhead(
        &self,
        bulkhead: Bulkhead<'a>,
        slot: &BudgetSlot,
        rec: &Recorder<'_>,
    ) -> Gate<'a> {
        let Some(in_flight) = bulkhead.enter() else {
            return full();
        };
        match self.ask_budget(slot, rec) {
            Gate::Pass {
                reason, release, ..
            } => Gate::Pass {
                reason,
                release,
                slot: Some(in_flight),
            },
            denied => denied, // the slot is freed as it drops
        }
    }

    fn ask_budget(&self, slot: &BudgetSlot, rec: &Recorder<'_>) -> Gate<'a> {
        let (name, cost, gate_first) = match slot {
            BudgetSlot::None => {
                return Gate::Pass {
                    reason: Reason::NO_BUDGET,
                    release: None,
                    slot: None,
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
            now: match self.now {
                Some(now) => now,
                None if slot.reads_clock() => self.inner.clock.now(),
                None => Timestamp::EPOCH,
            },
        };
        let ungated = self.kind == BudgetKind::Retry && self.attempt == 0 && !gate_first;
        let mut panic = None;
        let (mode, decision) = match slot {
            BudgetSlot::Found { budget, .. } if ungated => {
                budget.record_first_attempt(&req);
                return Gate::Pass {
                    reason: Reason::NOT_GATED,
                    release: None,
                    slot: None,
                };
            }
            _ if ungated => {
                return Gate::Pass {
                    reason: Reason::NOT_GATED,
                    release: None,
                    slot: None,
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
        if let Some(o) = rec.events_observer() {
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
            Gate::Pass {
                reason,
                release,
                slot: None,
            }
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

/// A full bulkhead's refusal (out of line: the common path never takes it).
#[cold]
#[inline(never)]
fn full<'a>() -> Gate<'a> {
    Gate::Denied {
        budget: Arc::from(BULKHEAD),
        reason: Reason::BULKHEAD_FULL,
        panic: None,
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
