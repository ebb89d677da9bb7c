//! Per-key state: the compiled policy (what the hot path reads), resolved once and swapped
//! atomically when the provider's generation changes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::Inner;
use super::backoff::{Backoff, Base, Rng};
use super::mode::MissingMode;
use crate::budget::Budget;
use crate::circuit::{Breaker, RateRule, Window};
use crate::classify::Classifier;
use crate::hedge::{FixedDelay, LatencyTracker, Trigger};
use crate::key::Key;
use crate::policy::{IdLease, NormalizedBudget, Policy, PolicyId, PolicySource};
use crate::provider::{ProviderError, ProviderFailure};
use crate::shadow::{ShadowPlan, ShadowState};

/// The classifier a policy selects, resolved against the registry.
#[derive(Debug)]
pub(crate) enum ClassifierSlot {
    Found(Arc<dyn Classifier>),
    /// Not registered; the default is used (missing-classifier mode other than deny).
    Fallback {
        requested: String,
        classifier: Arc<dyn Classifier>,
    },
    /// Not registered and the mode is deny.
    Missing {
        requested: String,
    },
}

impl ClassifierSlot {
    /// The classifier the policy asked for, when the default stands in for it (its attempts'
    /// records say so).
    pub(crate) fn fallback_from(&self) -> Option<&str> {
        match self {
            ClassifierSlot::Fallback { requested, .. } => Some(requested),
            _ => None,
        }
    }
}

/// A budget reference resolved against the registry.
#[derive(Debug)]
pub(crate) enum BudgetSlot {
    None,
    Found {
        name: Arc<str>,
        budget: Arc<dyn Budget>,
        cost: u32,
        gate_first: bool,
    },
    Missing {
        name: Arc<str>,
        cost: u32,
        gate_first: bool,
    },
}

impl BudgetSlot {
    /// Whether the gate reads the clock for this budget's requests (a missing budget's
    /// fallback may need it; none needs no request at all).
    pub(crate) fn reads_clock(&self) -> bool {
        match self {
            BudgetSlot::None => false,
            BudgetSlot::Found { budget, .. } => budget.reads_clock(),
            BudgetSlot::Missing { .. } => true,
        }
    }

    fn resolve(r: &NormalizedBudget, inner: &Inner) -> BudgetSlot {
        let Some(name) = r.name.as_deref() else {
            return BudgetSlot::None;
        };
        let cost = r.cost;
        match inner.budgets.get(name, &*inner.provider, &inner.clock) {
            Some(b) => BudgetSlot::Found {
                name: Arc::from(name),
                budget: b.clone(),
                cost,
                gate_first: r.gate_first_attempt,
            },
            None => BudgetSlot::Missing {
                name: Arc::from(name),
                cost,
                gate_first: r.gate_first_attempt,
            },
        }
    }
}

/// The hedge trigger a policy selects, resolved against the registry.
#[derive(Debug)]
pub(crate) enum TriggerSlot {
    Found(Arc<dyn Trigger>),
    /// Not registered; fixed delay is used (missing-trigger mode other than deny).
    Fallback(Arc<dyn Trigger>),
    /// Not registered and the mode is deny: the call runs without hedges.
    Denied,
}

/// Hedging as the call loop reads it (present only when the policy enables it).
#[derive(Debug)]
pub(crate) struct HedgePlan {
    pub(crate) max_hedges: u32,
    pub(crate) delay: Duration,
    pub(crate) trigger: TriggerSlot,
    pub(crate) cancel_on_first_terminal: bool,
    pub(crate) budget: BudgetSlot,
    pub(crate) min_samples: u64,
    /// `hedge.auto_disable`, when the policy asks for it.
    pub(crate) auto_disable: Option<crate::policy::NormalizedAutoDisable>,
}

/// Circuit breaking as the call loop reads it (present only when the policy enables it).
#[derive(Debug)]
pub(crate) struct CircuitPlan {
    /// Consecutive failed calls that open the breaker, if that rule is on.
    pub(crate) threshold: Option<u32>,
    pub(crate) cooldown: Duration,
    pub(crate) rates: Option<RatePlan>,
}

/// A breaker's rate rules and the window of calls they judge. The window outlives a policy
/// reload that keeps its shape (see [`KeyState::compiled`]).
#[derive(Debug)]
pub(crate) struct RatePlan {
    pub(crate) rule: RateRule,
    pub(crate) window: Arc<Window>,
}

impl CircuitPlan {
    /// The plan of a breaker, when the policy enables one.
    fn of(c: &crate::policy::NormalizedCircuit) -> Option<CircuitPlan> {
        Some(c).filter(|c| c.enabled).map(|c| CircuitPlan {
            threshold: c.threshold,
            cooldown: c.cooldown,
            rates: c.rates.map(|r| RatePlan {
                rule: RateRule::new(&r),
                window: Arc::new(Window::new(r.window)),
            }),
        })
    }

    /// Tells `breaker` how a call it admitted ended (`probe`, when it was admitted as the
    /// probe): the threshold and rate rules judge it, and the transition it caused, if any,
    /// is returned. `now` is read only when a rule needs it; `took` gives the call's duration
    /// for a slow-call rule.
    pub(crate) fn hear(
        &self,
        breaker: &Breaker,
        probe: Option<crate::circuit::Probe<'_>>,
        failed: bool,
        now: &mut impl FnMut() -> crate::clock::Timestamp,
        took: impl FnOnce(crate::clock::Timestamp) -> Duration,
    ) -> Option<crate::circuit::Transition> {
        let rates = self.rates.as_ref();
        let sample = rates.map(|r| r.rule.sample(failed, || took(now())));
        if let Some(probe) = probe {
            // A slow probe is no evidence of recovery from slowness.
            return Some(match sample.map_or(failed, |s| s.failed || s.slow) {
                false => {
                    // Closed again on a fresh window: calls admitted before it opened and
                    // ended since are no evidence about the dependency now.
                    if let Some(r) = rates {
                        r.window.clear();
                    }
                    probe.success()
                }
                true => probe.failure(now()),
            });
        }
        let mut opened = match (failed, self.threshold) {
            (true, Some(threshold)) => breaker.record_failure(now(), threshold),
            (false, Some(_)) => {
                breaker.record_success();
                None
            }
            (_, None) => None,
        };
        if let (Some(r), Some(sample)) = (rates, sample) {
            if opened.is_none() {
                r.window.record(sample, &mut *now);
                // Only a failed or slow call can raise a rate.
                if (sample.failed || sample.slow)
                    && let Some(reason) = r.rule.judge(r.window.counts(&mut *now))
                {
                    opened = breaker.trip(now(), reason);
                }
            }
            if opened.is_some() {
                r.window.clear(); // the breaker closes again on a fresh window
            }
        }
        opened
    }

    /// Takes over `previous`'s window when it has the same shape, so that a reload does not
    /// forget the calls seen.
    fn adopt_window(&mut self, previous: Option<&CircuitPlan>) {
        let old = previous.and_then(|p| p.rates.as_ref());
        if let (Some(new), Some(old)) = (self.rates.as_mut(), old)
            && new.window.shape() == old.window.shape()
        {
            new.window = old.window.clone();
        }
    }
}

/// A normalized policy compiled for the call loop.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// The normalized policy, as observers' `on_start` sees it.
    pub(crate) policy: Policy,
    /// Keeps the policy id's slot in use while this policy is.
    pub(crate) id: Option<IdLease>,
    pub(crate) source: PolicySource,
    pub(crate) normalized: Option<Arc<str>>,
    /// The provider error handled by a non-deny missing-policy mode, if any.
    pub(crate) policy_error: Option<String>,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) timeout_per_attempt: Option<Duration>,
    pub(crate) overall_timeout: Option<Duration>,
    pub(crate) max_retry_after: Duration,
    pub(crate) classifier: ClassifierSlot,
    /// The classifier calls every value a success ([`Classifier::values_succeed`]), asked once.
    pub(crate) values_succeed: bool,
    /// An attempt needs the clock even when nothing records: a timeout, a retry budget that
    /// reads it, or hedging (its latency tracker) is configured.
    pub(crate) reads_clock: bool,
    pub(crate) retry_budget: BudgetSlot,
    /// Nothing surrounds the first attempt (no clock, hedge or breaker; values need no
    /// classifying) and no observer sees it: unless `recourse tail` records the call, the
    /// attempt may run bare ([`super::first`]), a traced call's too.
    pub(crate) bare_first: std::sync::atomic::AtomicBool,
    /// Whether the policy allows the bare path at all; `bare_first` is this, but off while
    /// an operator has the key's breaker in hand.
    pub(crate) bare_eligible: bool,
    /// As `bare_first`, whether an observer sees the call or not: a call an observer sees may
    /// run its first attempt bare between two clock readings (`first::Told`).
    pub(crate) observed_first: std::sync::atomic::AtomicBool,
    /// Whether the policy allows that at all (`observed_first`, but for an operator's hand).
    pub(crate) observed_eligible: bool,
    pub(crate) hedge: Option<HedgePlan>,
    pub(crate) circuit: Option<CircuitPlan>,
    /// The bulkhead's cap on attempts in flight, if the policy has one.
    pub(crate) bulkhead: Option<u32>,
    /// The shadow policy judged beside this one, if it has one.
    pub(crate) shadow: Option<Arc<ShadowPlan>>,
    pub(crate) generation: u64,
}

impl Compiled {
    /// The wait before the next attempt: what the server asked for (`requested`, capped by
    /// `max_retry_after`; `true` beside it), else the policy's backoff from `base`. Either
    /// way `base` moves on to the next attempt's.
    #[inline]
    pub(crate) fn next_wait(
        &self,
        requested: Option<Duration>,
        base: &mut Base,
        rng: &Rng,
    ) -> (Duration, bool) {
        match requested {
            Some(d) => {
                base.skip(&self.backoff);
                (d.min(self.max_retry_after), true)
            }
            None => (base.computed_wait(&self.backoff, rng), false),
        }
    }

    /// The classifier the policy names, or the one used in its place; `None` when it names
    /// one nobody registered and such calls are refused.
    pub(crate) fn classifier(&self) -> Option<&dyn Classifier> {
        match &self.classifier {
            ClassifierSlot::Found(c) | ClassifierSlot::Fallback { classifier: c, .. } => Some(&**c),
            ClassifierSlot::Missing { .. } => None,
        }
    }

    /// The handle of the policy's id, as attempts carry it.
    #[inline]
    pub(crate) fn policy_id(&self) -> Option<PolicyId> {
        self.id.as_ref().map(IdLease::id)
    }

    pub(crate) fn new(policy: Policy, inner: &Inner, generation: u64) -> Compiled {
        let normalized = policy.normalize();
        let r = &normalized.retry;
        let classifier = match r.classifier_name.as_deref() {
            None => ClassifierSlot::Found(inner.default_classifier.clone()),
            Some(name) => match inner.classifiers.get(name) {
                Some(c) => ClassifierSlot::Found(c.clone()),
                None if inner.modes.classifier == MissingMode::Deny => ClassifierSlot::Missing {
                    requested: name.to_owned(),
                },
                None => ClassifierSlot::Fallback {
                    requested: name.to_owned(),
                    classifier: inner.default_classifier.clone(),
                },
            },
        };
        let hedge = Some(&normalized.hedge).filter(|h| h.enabled).map(|h| {
            let trigger = match inner.triggers.get(&h.trigger_name) {
                Some(t) => TriggerSlot::Found(t.clone()),
                None if inner.modes.trigger == MissingMode::Deny => TriggerSlot::Denied,
                None => TriggerSlot::Fallback(Arc::new(FixedDelay)),
            };
            HedgePlan {
                max_hedges: h.max_hedges,
                delay: h.hedge_delay,
                trigger,
                cancel_on_first_terminal: h.cancel_on_first_terminal,
                budget: BudgetSlot::resolve(&h.budget, inner),
                min_samples: u64::from(h.min_samples),
                auto_disable: h.auto_disable,
            }
        });
        let circuit = CircuitPlan::of(&normalized.circuit);
        let shadow = normalized.shadow.as_deref().map(|shadow| {
            let allowed = inner.modes.budget != MissingMode::Deny;
            let budget = inner.budgets.shadow(
                &shadow.retry.budget,
                &*inner.provider,
                &inner.clock,
                allowed,
            );
            Arc::new(ShadowPlan::new(
                shadow,
                budget,
                CircuitPlan::of(&shadow.circuit),
            ))
        });
        let changed = (!normalized.meta.changed_fields.is_empty())
            .then(|| Arc::from(normalized.meta.changed_fields.join(",")));
        let values_succeed = match &classifier {
            ClassifierSlot::Found(c) | ClassifierSlot::Fallback { classifier: c, .. } => {
                c.values_succeed()
            }
            ClassifierSlot::Missing { .. } => false,
        };
        let (timeout_per_attempt, overall_timeout) = (r.timeout_per_attempt, r.overall_timeout);
        let retry_budget = BudgetSlot::resolve(&r.budget, inner);
        let reads_clock = timeout_per_attempt.is_some()
            || overall_timeout.is_some()
            || hedge.is_some()
            || retry_budget.reads_clock();
        // An observer is fixed when the executor is built, so whether one must see the call
        // is known here, once, and costs the bare path no check.
        let bulkhead = normalized.bulkhead.max_concurrent;
        // A retry budget hears every first attempt (and one that reads no clock still must).
        let observed_first = !reads_clock
            && matches!(retry_budget, BudgetSlot::None)
            && values_succeed
            && circuit.is_none()
            && bulkhead.is_none()
            && shadow.is_none();
        let bare_first = observed_first && inner.observer.is_none();
        Compiled {
            bare_first: bare_first.into(),
            bare_eligible: bare_first,
            observed_first: observed_first.into(),
            observed_eligible: observed_first,
            id: normalized.id.as_ref().map(IdLease::take),
            values_succeed,
            reads_clock,
            source: normalized.meta.source,
            normalized: changed,
            policy_error: None,
            max_attempts: r.max_attempts,
            backoff: Backoff {
                initial: r.initial_backoff,
                max: r.max_backoff,
                multiplier: r.backoff_multiplier,
                jitter: r.jitter,
            },
            timeout_per_attempt,
            overall_timeout,
            max_retry_after: r.max_retry_after,
            classifier,
            retry_budget,
            hedge,
            circuit,
            bulkhead,
            shadow,
            generation,
            policy: normalized.to_policy(),
        }
    }
}

/// Run-time state of a key that outlives policy changes: its breaker, its attempts in flight
/// (for a bulkhead) and, for keys with hedging on, its latency tracker. Keys past the
/// executor's `max_keys` share one.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    pub(crate) breaker: Breaker,
    /// Attempts in flight, counted while the key's policy has a bulkhead.
    pub(crate) in_flight: std::sync::atomic::AtomicU32,
    tracker: std::sync::OnceLock<LatencyTracker>,
    hedging: std::sync::OnceLock<crate::hedge::Governor>,
    shadow: std::sync::OnceLock<ShadowState>,
}

impl Runtime {
    /// The latency tracker, created on first use (only keys with hedging on ask for one).
    pub(crate) fn tracker(&self) -> &LatencyTracker {
        self.tracker.get_or_init(LatencyTracker::new)
    }

    /// Whether hedging is paused or probed, created on first use (only keys with
    /// `hedge.auto_disable` ask).
    pub(crate) fn hedging(&self) -> &crate::hedge::Governor {
        self.hedging.get_or_init(Default::default)
    }

    /// The shadow's breaker and counters, created on first use (only keys with a shadow
    /// policy ask).
    pub(crate) fn shadow(&self) -> &ShadowState {
        self.shadow.get_or_init(ShadowState::default)
    }

    /// The shadow's counters, if the key's policy ever had a shadow.
    pub(crate) fn shadow_state(&self) -> Option<&ShadowState> {
        self.shadow.get()
    }

    /// The key's hedging state, if its policy ever asked for `hedge.auto_disable`.
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn hedging_state(&self) -> Option<crate::hedge::HedgingState> {
        self.hedging.get().map(crate::hedge::Governor::state)
    }
}

/// State kept per key: the key, its compiled policy and its run-time state.
#[derive(Debug)]
pub(crate) struct KeyState {
    pub(crate) key: Key,
    compiled: ArcSwapOption<Compiled>,
    /// Under policies given in code (which never change), the one compiled policy, the same
    /// as `compiled` holds: a call by key reads it as a key handle reads its snapshot, with no
    /// guard to take.
    fixed: std::sync::OnceLock<Arc<Compiled>>,
    pub(crate) runtime: Arc<Runtime>,
    /// An operator's hand on the key's breaker (see `manual.rs`). Kept here, beside what a
    /// call reads anyway, not in the shared run-time state: keys past `max_keys` cannot be
    /// set, and the bare path's check stays one load of a line already in cache.
    pub(crate) manual: std::sync::atomic::AtomicU8,
    /// Whether some `recourse tail` client wants this key, cached per subscription change.
    #[cfg(feature = "export")]
    pub(crate) export: crate::export::hub::KeySlot,
    /// The compiled policies lent to key handles as their snapshots, while a handle holds
    /// one: an operator's hand is settled on them too, since a provider whose generation
    /// comes back to an earlier value makes an old snapshot current again.
    lent: std::sync::Mutex<Vec<std::sync::Weak<Compiled>>>,
}

impl KeyState {
    pub(crate) fn new(key: Key, runtime: Arc<Runtime>) -> KeyState {
        KeyState {
            key,
            compiled: ArcSwapOption::empty(),
            fixed: std::sync::OnceLock::new(),
            runtime,
            manual: Default::default(),
            #[cfg(feature = "export")]
            export: Default::default(),
            lent: Default::default(),
        }
    }

    /// The compiled policy for the provider's current generation, resolving it if needed.
    /// A policy served despite a provider error (a fallback mode) is not cached, so the
    /// provider is asked again on the next call.
    ///
    /// # Performance
    ///
    /// On a hit: one atomic load and no reference-count traffic (an `arc_swap` guard).
    #[inline]
    pub(crate) fn compiled(&self, inner: &Inner) -> Result<CompiledRef, ProviderError> {
        if let Some(current) = self.current(inner) {
            return Ok(current);
        }
        let generation = inner.generation();
        let (mut compiled, cacheable) = resolve(&self.key, inner, generation)?;
        {
            let previous = self.compiled.load();
            let previous = previous.as_ref();
            if let Some(plan) = compiled.circuit.as_mut() {
                plan.adopt_window(previous.and_then(|c| c.circuit.as_ref()));
            }
            // The shadow's breaker window too: a fresh plan, not yet shared.
            if let Some(plan) = compiled
                .shadow
                .as_mut()
                .and_then(Arc::get_mut)
                .and_then(|s| s.circuit.as_mut())
            {
                let old = previous.and_then(|c| c.shadow.as_ref()?.circuit.as_ref());
                plan.adopt_window(old);
            }
        }
        if let Some(plan) = &compiled.shadow {
            self.runtime.shadow().adopt(plan.id.as_ref());
        }
        let mut compiled = Arc::new(compiled);
        if cacheable {
            if inner.fixed {
                // Two first calls may race to compile: both keep the one that won.
                compiled = self.fixed.get_or_init(|| compiled.clone()).clone();
            }
            // Calls that race to compile the same generation keep the one published first: a
            // key handle made meanwhile holds it as its snapshot, and an operator's hand on
            // the breaker must reach that one (`settle_bare`), not a copy replaced since.
            // (Generations are compared for equality only: a provider's need not grow.)
            let before = self.compiled.rcu(|cached| match cached {
                Some(c) if c.generation == generation => Some(c.clone()),
                _ => Some(compiled.clone()),
            });
            if let Some(c) = before.filter(|c| c.generation == generation) {
                compiled = c;
            }
            // Published first, then the manual setting read: an operator who set it
            // meanwhile either sees this policy or is seen here (`settle_bare`).
            if super::manual::read(&self.manual).is_some() {
                self.settle_bare();
            }
        }
        Ok(CompiledRef::Owned(compiled))
    }

    /// Turns the bare path of the cached policy off while the key is set by hand, and back on
    /// when it is not (the bare path never reads the manual setting itself).
    pub(crate) fn settle_bare(&self) {
        // Under policies given in code the one compiled policy is stored (and read by calls)
        // before it is published as the cached one: settle it from there too. And the
        // snapshots key handles hold.
        let cached = self.compiled.load_full();
        let lent = self.lent_snapshots();
        let targets = cached
            .as_ref()
            .or(self.fixed.get())
            .into_iter()
            .chain(&lent);
        for c in targets {
            loop {
                let manual = super::manual::read(&self.manual);
                c.bare_first.store(
                    c.bare_eligible && manual.is_none(),
                    std::sync::atomic::Ordering::SeqCst,
                );
                c.observed_first.store(
                    c.observed_eligible && manual.is_none(),
                    std::sync::atomic::Ordering::SeqCst,
                );
                if super::manual::read(&self.manual) == manual {
                    break;
                }
            }
        }
    }

    /// The snapshots key handles still hold (the others are forgotten).
    fn lent_snapshots(&self) -> Vec<Arc<Compiled>> {
        let mut lent = self.lent.lock().unwrap_or_else(|e| e.into_inner());
        lent.retain(|w| w.strong_count() > 0);
        lent.iter().filter_map(std::sync::Weak::upgrade).collect()
    }

    /// The cached compiled policy, lent to a new key handle as its snapshot: remembered, so
    /// that an operator's hand reaches it whatever generation it belongs to.
    pub(crate) fn lend_snapshot(&self) -> Option<Arc<Compiled>> {
        let snapshot = self.compiled.load_full()?;
        {
            let mut lent = self.lent.lock().unwrap_or_else(|e| e.into_inner());
            lent.retain(|w| w.strong_count() > 0);
            if !lent
                .iter()
                .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&snapshot)))
            {
                lent.push(Arc::downgrade(&snapshot));
            }
        }
        // Remembered first, then the manual setting read: an operator who set it meanwhile
        // either settled this snapshot or is seen here.
        if super::manual::read(&self.manual).is_some() {
            self.settle_bare();
        }
        Some(snapshot)
    }

    /// The cached resolution, when it is current (no provider preparation needed).
    #[inline]
    pub(crate) fn current(&self, inner: &Inner) -> Option<CompiledRef> {
        let generation = inner.generation();
        let guard = self.compiled.load();
        guard
            .as_ref()
            .is_some_and(|c| c.generation == generation)
            .then_some(CompiledRef::Guard(guard))
    }

    /// The compiled policy under policies given in code, once the key was first called.
    #[inline]
    pub(crate) fn fixed(&self) -> Option<&Arc<Compiled>> {
        self.fixed.get()
    }

    /// The cached compiled policy, if there is one (for a key handle's snapshot).
    pub(crate) fn snapshot(&self) -> Option<Arc<Compiled>> {
        self.compiled.load_full()
    }
}

/// A compiled policy held for the length of one call (a key handle's current snapshot is
/// used through a plain reference instead).
pub(crate) enum CompiledRef {
    Guard(arc_swap::Guard<Option<Arc<Compiled>>>),
    Owned(Arc<Compiled>),
}

impl std::ops::Deref for CompiledRef {
    type Target = Compiled;

    #[inline]
    fn deref(&self) -> &Compiled {
        match self {
            CompiledRef::Guard(g) => g
                .as_deref()
                .expect("a guard is only kept when it holds a policy"),
            CompiledRef::Owned(c) => c,
        }
    }
}

impl CompiledRef {
    /// The policy as an owned reference (8 bytes, where this is 24).
    pub(crate) fn into_arc(self) -> Arc<Compiled> {
        match self {
            CompiledRef::Guard(g) => {
                arc_swap::Guard::into_inner(g).expect("a guard is only kept when it holds a policy")
            }
            CompiledRef::Owned(c) => c,
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Asks the provider and applies the missing-policy mode.
fn resolve(key: &Key, inner: &Inner, generation: u64) -> Result<(Compiled, bool), ProviderError> {
    let answer = if inner.recover_panics {
        catch_unwind(AssertUnwindSafe(|| inner.provider.policy(key))).unwrap_or_else(|p| {
            Err(ProviderFailure::from(ProviderError::Panicked {
                message: panic_message(&*p),
            }))
        })
    } else {
        inner.provider.policy(key)
    };
    let failure = match answer {
        Ok(p) if p.is_zero() => {
            return Ok((Compiled::new(Policy::builtin(), inner, generation), true));
        }
        Ok(p) => return Ok((Compiled::new(p, inner, generation), true)),
        Err(f) => f,
    };
    let policy = match inner.modes.policy {
        MissingMode::Deny => return Err(failure.error),
        MissingMode::Allow => {
            let mut p = Policy::new().max_attempts(1);
            p.meta.source = PolicySource::Default;
            p
        }
        MissingMode::Fallback | MissingMode::AllowUnsafe => match failure.fallback {
            Some(p) if !p.is_zero() => *p,
            _ => Policy::builtin(),
        },
    };
    let mut compiled = Compiled::new(policy, inner, generation);
    compiled.policy_error = Some(failure.error.to_string());
    Ok((compiled, false))
}
