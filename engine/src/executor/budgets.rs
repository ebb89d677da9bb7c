//! The executor's budgets: those registered in code, and those the provider's policies declare,
//! kept in step with every generation of the provider.
//!
//! A declared budget appears when its file (or source) declares it, is rebuilt when its spec
//! changes (keeping the tokens it holds, up to its new capacity) and goes when it is no longer
//! declared (the missing-budget mode then decides). A budget registered in code wins over a
//! declared one of the same name. Budgets are resolved when a key's policy is compiled (once
//! per key and generation), never per call.

use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::FxHashMap;

use crate::budget::Budget;
use crate::clock::Clock;
use crate::fleet::{FleetBudget, FleetLink};
use crate::policy::{BudgetScope, BudgetSpec};
use crate::provider::Provider;
use crate::shadow::ShadowBudget;

/// Budgets by name.
pub(crate) struct BudgetRegistry {
    /// Registered in code (`unlimited` included): they win.
    code: FxHashMap<String, Arc<dyn Budget>>,
    declared: Mutex<Declared>,
    /// Where `scope: fleet` budgets settle, when the executor has a fleet store.
    fleet: Option<FleetLink>,
    /// The shadows' copies of declared budgets, by name: spent by shadow policies only.
    shadow: Mutex<Built>,
}

/// Budgets built from their specs, by name.
type Built = FxHashMap<String, (BudgetSpec, Arc<dyn Budget>)>;

/// The budgets the provider declared, as of one of its generations.
#[derive(Default)]
struct Declared {
    generation: Option<u64>,
    budgets: Built,
}

impl std::fmt::Debug for BudgetRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.code.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("BudgetRegistry")
            .field("code", &names)
            .finish_non_exhaustive()
    }
}

impl BudgetRegistry {
    pub(crate) fn new(
        code: FxHashMap<String, Arc<dyn Budget>>,
        fleet: Option<FleetLink>,
    ) -> BudgetRegistry {
        BudgetRegistry {
            code,
            declared: Mutex::default(),
            fleet,
            shadow: Mutex::default(),
        }
    }

    fn declared(&self) -> MutexGuard<'_, Declared> {
        self.declared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The budget called `name` for the provider's current generation.
    pub(crate) fn get(
        &self,
        name: &str,
        provider: &dyn Provider,
        clock: &Clock,
    ) -> Option<Arc<dyn Budget>> {
        if let Some(b) = self.code.get(name) {
            return Some(b.clone());
        }
        let declared = self.current(provider, clock);
        declared.budgets.get(name).map(|(_, b)| b.clone())
    }

    /// The budget a shadow policy names: the shadows' own copy of a declared budget (one per
    /// name, kept while its spec stays the same; a fleet budget's copy is local), or a budget
    /// registered in code, which cannot be copied and is only read. A budget not found is
    /// `allowed` (the missing-budget mode) or refuses.
    pub(crate) fn shadow(
        &self,
        r: &crate::policy::NormalizedBudget,
        provider: &dyn Provider,
        clock: &Clock,
        allowed: bool,
    ) -> ShadowBudget {
        let Some(name) = r.name.as_deref() else {
            return ShadowBudget::None;
        };
        let (cost, gate_first) = (r.cost, r.gate_first_attempt);
        if let Some(budget) = self.code.get(name) {
            let budget = budget.clone();
            return ShadowBudget::Peek {
                budget,
                cost,
                gate_first,
            };
        }
        let spec = match self.current(provider, clock).budgets.get(name) {
            Some((spec, _)) => spec.clone(),
            None => return ShadowBudget::Missing { allowed },
        };
        let mut copies = self.shadow.lock().unwrap_or_else(|e| e.into_inner());
        let budget = match copies.get(name) {
            Some((was, budget)) if *was == spec => budget.clone(),
            _ => {
                let budget = spec.build_from(None, clock.now());
                copies.insert(name.to_owned(), (spec, budget.clone()));
                budget
            }
        };
        ShadowBudget::Copy {
            budget,
            cost,
            gate_first,
        }
    }

    /// Every budget with a level, by name, sorted: its level now and the most it can hold
    /// (for the export's `stats`).
    #[cfg(feature = "export")]
    pub(crate) fn levels(&self, provider: &dyn Provider, clock: &Clock) -> Vec<BudgetLevel> {
        let now = clock.now();
        let declared = self.current(provider, clock);
        let code = self.code.iter();
        let declared_only = declared
            .budgets
            .iter()
            .filter(|(name, _)| !self.code.contains_key(*name))
            .map(|(name, (_, budget))| (name, budget));
        let mut out: Vec<BudgetLevel> = code
            .chain(declared_only)
            .filter_map(|(name, budget)| {
                Some(BudgetLevel {
                    name: name.clone(),
                    level: budget.level(now)?,
                    capacity: budget.max_level(),
                    fleet: budget.fleet_status(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The declared budgets, reconciled with the provider's current generation.
    fn current(&self, provider: &dyn Provider, clock: &Clock) -> MutexGuard<'_, Declared> {
        let mut declared = self.declared();
        // The generation is read before the specs: should the provider move on meanwhile, the
        // next look sees a newer generation and reconciles again.
        let generation = provider.generation();
        if declared.generation != Some(generation) {
            declared.reconcile(provider.budgets(), clock, self.fleet.as_ref());
            declared.generation = Some(generation);
        }
        declared
    }
}

/// A budget's fill, as the export reports it.
#[cfg(feature = "export")]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BudgetLevel {
    pub(crate) name: String,
    /// Tokens, or retries available, now.
    pub(crate) level: f64,
    /// The most it can hold, when bounded.
    pub(crate) capacity: Option<f64>,
    /// Where a fleet budget spends from.
    pub(crate) fleet: Option<crate::fleet::FleetStatus>,
}

impl Declared {
    /// Brings the budgets in line with `specs`: new ones built, changed ones rebuilt holding
    /// what they held (up to their new capacity), unchanged ones kept as they are (their state
    /// with them), the rest dropped.
    ///
    /// A fleet budget joins the fleet afresh when its spec changes: what it held is the
    /// fleet's, not its own.
    fn reconcile(
        &mut self,
        specs: Vec<(String, BudgetSpec)>,
        clock: &Clock,
        fleet: Option<&FleetLink>,
    ) {
        let mut old = std::mem::take(&mut self.budgets);
        for (name, spec) in specs {
            let budget = match old.remove(&name) {
                Some((was, budget)) if was == spec => budget,
                _ if spec.scope() == BudgetScope::Fleet => {
                    FleetBudget::start(&name, &spec, fleet, clock)
                }
                Some((_, budget)) => spec.build_from(Some(&*budget), clock.now()),
                None => spec.build_from(None, clock.now()),
            };
            self.budgets.insert(name, (spec, budget));
        }
    }
}
