//! Normalization: fill unset fields with the built-in defaults ([`super::defaults`]) and clamp
//! every value into its bounds, reporting each changed field path (docs/policies.md). The
//! result is a [`Normalized`] policy: every value in force, none optional, so what compiles it
//! needs no fallback of its own and cannot drift from the defaults.
//!
//! Normalization is total (a policy that can be built can be normalized) and idempotent:
//! `p.normalize().to_policy().normalize() == p.normalize()`, change report included.

use std::sync::Arc;
use std::time::Duration;

use super::defaults;
use super::model::{
    BudgetRef, BulkheadPolicy, CircuitPolicy, CircuitWindow, HedgePolicy, Jitter, Policy,
    PolicyMeta, RetryPolicy,
};

/// Bounds applied by normalization.
pub(crate) mod bounds {
    use std::time::Duration;

    /// Most retry groups per call.
    pub(crate) const MAX_ATTEMPTS: u32 = 10;
    /// Most hedges per group.
    pub(crate) const MAX_HEDGES: u32 = 3;
    /// Smallest backoff.
    pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(1);
    /// Largest backoff (initial and max).
    pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
    /// Largest backoff multiplier.
    pub(crate) const MAX_MULTIPLIER: f64 = 10.0;
    /// Smallest non-zero timeout.
    pub(crate) const MIN_TIMEOUT: Duration = Duration::from_millis(1);
    /// Smallest hedge delay.
    pub(crate) const MIN_HEDGE_DELAY: Duration = Duration::from_millis(10);
    /// Smallest circuit cooldown.
    pub(crate) const MIN_COOLDOWN: Duration = Duration::from_millis(100);
    /// Smallest failure or slow-call rate a breaker opens at.
    pub(crate) const MIN_RATE: f64 = 0.01;
    /// Most calls a count window holds.
    pub(crate) const MAX_WINDOW_CALLS: u32 = 10_000;
    /// Shortest time window.
    pub(crate) const MIN_WINDOW_TIME: Duration = Duration::from_secs(1);
    /// Longest time window.
    pub(crate) const MAX_WINDOW_TIME: Duration = Duration::from_secs(3600);
}

use bounds::*;

/// A normalized policy: every value in force, filled from the built-in defaults and clamped
/// into its bounds. What the executor compiles and `recourse policy explain` shows; written
/// back as a [`Policy`] (every field set) with [`to_policy`](Normalized::to_policy).
///
/// ```
/// use std::time::Duration;
/// use recourse_engine::Policy;
///
/// let n = Policy::new().max_attempts(50).normalize();
/// assert_eq!(n.retry.max_attempts, 10);
/// assert_eq!(n.retry.initial_backoff, Duration::from_millis(10));
/// assert!(!n.hedge.enabled && !n.circuit.enabled);
/// assert_eq!(n.meta.changed_fields[0], "retry.max_attempts");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Normalized {
    /// The policy's id.
    pub id: Option<Arc<str>>,
    /// The retry envelope.
    pub retry: NormalizedRetry,
    /// Hedging (its values hold when it is on).
    pub hedge: NormalizedHedge,
    /// The circuit breaker (its values hold when it is on).
    pub circuit: NormalizedCircuit,
    /// The bulkhead.
    pub bulkhead: NormalizedBulkhead,
    /// The shadow policy, judged beside this one and never acted on: the shadow as written,
    /// laid over this policy as written, normalized. Its own `meta` reports what
    /// normalization changed in it.
    pub shadow: Option<Box<Normalized>>,
    /// Where the policy came from, and what normalization changed.
    pub meta: PolicyMeta,
}

/// The retry envelope of a [`Normalized`] policy.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NormalizedRetry {
    /// Retry groups per call, within 1..=10.
    pub max_attempts: u32,
    /// The first backoff, within 1ms..=30s.
    pub initial_backoff: Duration,
    /// The backoff ceiling, within `initial_backoff..=30s`.
    pub max_backoff: Duration,
    /// Growth between backoffs, within 1..=10.
    pub backoff_multiplier: f64,
    /// Randomization of backoffs.
    pub jitter: Jitter,
    /// The deadline of each attempt, if any (at least 1ms).
    pub timeout_per_attempt: Option<Duration>,
    /// The deadline of the whole call, if any (at least 1ms).
    pub overall_timeout: Option<Duration>,
    /// The classifier by name; `None` is the executor's default classifier.
    pub classifier_name: Option<String>,
    /// The longest server-requested wait (Retry-After) honoured.
    pub max_retry_after: Duration,
    /// The retry budget.
    pub budget: NormalizedBudget,
}

/// A budget as a [`Normalized`] policy uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NormalizedBudget {
    /// The budget's name; `None`: no budget.
    pub name: Option<String>,
    /// Units taken per attempt, at least 1.
    pub cost: u32,
    /// Whether it gates first attempts too (retry budgets only).
    pub gate_first_attempt: bool,
}

/// Hedging of a [`Normalized`] policy.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NormalizedHedge {
    /// Whether hedging is on. When it is off, the other values are the defaults, unreported.
    pub enabled: bool,
    /// Hedges per group, within 1..=3.
    pub max_hedges: u32,
    /// The delay before each hedge, at least 10ms.
    pub hedge_delay: Duration,
    /// The trigger by name.
    pub trigger_name: String,
    /// End a group on its first non-retryable or abort result.
    pub cancel_on_first_terminal: bool,
    /// The hedge budget.
    pub budget: NormalizedBudget,
    /// Latency samples a key needs before a percentile trigger hedges.
    pub min_samples: u32,
    /// Pausing hedging while hedges do not win, when asked for.
    pub auto_disable: Option<NormalizedAutoDisable>,
}

/// Hedge auto-disable, every value set and within bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct NormalizedAutoDisable {
    /// The share of hedges that must win, within [0.01, 1].
    pub min_win_rate: f64,
    /// Hedges judged at a time, within 1..=10,000.
    pub min_hedges: u32,
    /// How long hedging stays paused, at least 100ms.
    pub cooldown: Duration,
    /// The share of calls that hedge while probed, within [0.01, 1].
    pub probe_fraction: f64,
}

/// The bulkhead of a [`Normalized`] policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NormalizedBulkhead {
    /// Attempts of the key in flight at once, at least 1; `None`: no bulkhead.
    pub max_concurrent: Option<u32>,
}

/// The circuit breaker of a [`Normalized`] policy.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct NormalizedCircuit {
    /// Whether the breaker is on. When it is off, the other values are the defaults,
    /// unreported.
    pub enabled: bool,
    /// Consecutive failed calls that open it, at least 1. `None` when a rate rule is set and
    /// no threshold is: only the rates open it.
    pub threshold: Option<u32>,
    /// Time open before one probe, at least 100ms.
    pub cooldown: Duration,
    /// The rate rules, when a failure rate or a slow-call duration is set.
    pub rates: Option<NormalizedRates>,
}

/// The rate rules of a breaker: what it judges over a window of calls.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct NormalizedRates {
    /// The share of failed calls that opens it, within [0.01, 1]; `None`: no failure rate.
    pub failure_rate: Option<f64>,
    /// Calls at least this long are slow (at least 1ms); `None`: no slow-call rule.
    pub slow_call_duration: Option<Duration>,
    /// The share of slow calls that opens it, within [0.01, 1] (1 by default).
    pub slow_call_rate: f64,
    /// The calls judged: the last 1 to 10,000 calls, or the calls of the last 1s to 1h.
    pub window: CircuitWindow,
    /// Calls the window must hold before a rate opens the breaker, within [1, the window's
    /// size].
    pub min_calls: u32,
}

/// The change report being written.
struct Report(Vec<&'static str>);

impl Report {
    fn mark(&mut self, path: &'static str) {
        if !self.0.contains(&path) {
            self.0.push(path);
        }
    }

    /// `value`, or `default` when unset or `zero`; then clamped into `lo..=hi`.
    fn within<T: PartialOrd + Copy>(
        &mut self,
        value: Option<T>,
        zero: T,
        default: T,
        (lo, hi): (T, Option<T>),
        path: &'static str,
    ) -> T {
        let mut v = match value {
            Some(v) if v != zero => v,
            _ => {
                self.mark(path);
                default
            }
        };
        if v < lo {
            v = lo;
            self.mark(path);
        } else if let Some(hi) = hi
            && v > hi
        {
            v = hi;
            self.mark(path);
        }
        v
    }

    /// A rate within [`MIN_RATE`, 1]; one out of bounds (or not a number) is clamped.
    fn rate(&mut self, value: f64, path: &'static str) -> f64 {
        let v = if value.is_nan() {
            1.0
        } else {
            value.clamp(MIN_RATE, 1.0)
        };
        if v != value {
            self.mark(path);
        }
        v
    }

    /// A breaker's rate rules, when a failure rate or a slow-call duration is set.
    fn rates(&mut self, c: &CircuitPolicy) -> Option<NormalizedRates> {
        if !c.judges_rates() {
            if c.slow_call_rate.is_some() {
                self.mark("circuit.slow_call_rate"); // no duration: nothing is slow
            }
            return None;
        }
        let failure_rate = c.failure_rate.map(|v| self.rate(v, "circuit.failure_rate"));
        let slow_call_duration = c.slow_call_duration.map(|d| {
            self.within(
                Some(d),
                Duration::ZERO,
                MIN_TIMEOUT,
                (MIN_TIMEOUT, None),
                "circuit.slow_call_duration",
            )
        });
        let slow_call_rate = match (slow_call_duration, c.slow_call_rate) {
            (Some(_), Some(v)) => self.rate(v, "circuit.slow_call_rate"),
            (Some(_), None) => {
                self.mark("circuit.slow_call_rate");
                defaults::SLOW_CALL_RATE
            }
            (None, v) => {
                if v.is_some() {
                    self.mark("circuit.slow_call_rate");
                }
                defaults::SLOW_CALL_RATE
            }
        };
        let window = match c.window {
            Some(CircuitWindow::Calls(n)) => CircuitWindow::Calls(self.within(
                Some(n),
                0,
                defaults::CIRCUIT_WINDOW_CALLS,
                (1, Some(MAX_WINDOW_CALLS)),
                "circuit.window",
            )),
            Some(CircuitWindow::Time(d)) => CircuitWindow::Time(self.within(
                Some(d),
                Duration::ZERO,
                MIN_WINDOW_TIME,
                (MIN_WINDOW_TIME, Some(MAX_WINDOW_TIME)),
                "circuit.window",
            )),
            None => {
                self.mark("circuit.window");
                CircuitWindow::Calls(defaults::CIRCUIT_WINDOW_CALLS)
            }
        };
        let most = match window {
            CircuitWindow::Calls(n) => n,
            CircuitWindow::Time(_) => u32::MAX,
        };
        let min_calls = self.within(
            c.min_calls,
            0,
            defaults::MIN_CALLS.min(most),
            (1, Some(most)),
            "circuit.min_calls",
        );
        Some(NormalizedRates {
            failure_rate,
            slow_call_duration,
            slow_call_rate,
            window,
            min_calls,
        })
    }

    /// A timeout: unset or zero is none; a positive one at least [`MIN_TIMEOUT`].
    fn timeout(&mut self, value: Option<Duration>, path: &'static str) -> Option<Duration> {
        let v = value.filter(|d| !d.is_zero())?;
        if v < MIN_TIMEOUT {
            self.mark(path);
            return Some(MIN_TIMEOUT);
        }
        Some(v)
    }

    fn budget(&mut self, r: &BudgetRef, path: &'static str) -> NormalizedBudget {
        let name = r.name.trim();
        NormalizedBudget {
            name: (!name.is_empty()).then(|| name.to_owned()),
            cost: self.within(r.cost, 0, defaults::BUDGET_COST, (1, None), path),
            gate_first_attempt: r.gate_first_attempt,
        }
    }
}

impl Policy {
    /// Fills unset fields from the built-in defaults and clamps values into their bounds (see
    /// the module docs), recording each changed field path in `meta.changed_fields` (after
    /// those already there: a field already normalized is never reported again).
    pub fn normalize(mut self) -> Normalized {
        let shadow = self.shadow.take().map(|shadow| {
            let base = Policy {
                meta: PolicyMeta::default(),
                ..self.clone()
            };
            let id = shadow.id.clone();
            let mut shadow = shadow.over(&base);
            // A shadow has no shadow of its own, is named only by its own id, and comes from
            // where its policy came from.
            shadow.shadow = None;
            shadow.id = id;
            shadow.meta.source = self.meta.source;
            Box::new(shadow.normalize())
        });
        let mut r = Report(self.meta.changed_fields);
        let w = &self.retry;
        let max_attempts = r.within(
            w.max_attempts,
            0,
            defaults::MAX_ATTEMPTS,
            (1, Some(MAX_ATTEMPTS)),
            "retry.max_attempts",
        );
        let initial_backoff = r.within(
            w.initial_backoff,
            Duration::ZERO,
            defaults::INITIAL_BACKOFF,
            (MIN_BACKOFF, Some(MAX_BACKOFF)),
            "retry.initial_backoff",
        );
        let mut max_backoff = r.within(
            w.max_backoff,
            Duration::ZERO,
            defaults::MAX_BACKOFF,
            (Duration::ZERO, Some(MAX_BACKOFF)),
            "retry.max_backoff",
        );
        if max_backoff < initial_backoff {
            max_backoff = initial_backoff;
            r.mark("retry.max_backoff");
        }
        // NaN and infinities are not numbers a policy can mean: they become the default.
        let multiplier = match w.backoff_multiplier {
            Some(m) if !m.is_finite() => {
                r.mark("retry.backoff_multiplier");
                Some(defaults::BACKOFF_MULTIPLIER)
            }
            m => m,
        };
        let backoff_multiplier = r.within(
            multiplier,
            0.0,
            defaults::BACKOFF_MULTIPLIER,
            (1.0, Some(MAX_MULTIPLIER)),
            "retry.backoff_multiplier",
        );
        let jitter = w.jitter.unwrap_or_else(|| {
            r.mark("retry.jitter");
            defaults::JITTER
        });
        let timeout_per_attempt = r.timeout(w.timeout_per_attempt, "retry.timeout_per_attempt");
        let overall_timeout = r.timeout(w.overall_timeout, "retry.overall_timeout");
        let retry_budget = r.budget(&w.budget, "retry.budget.cost");
        let classifier_name = w
            .classifier_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let retry = NormalizedRetry {
            max_attempts,
            initial_backoff,
            max_backoff,
            backoff_multiplier,
            jitter,
            timeout_per_attempt,
            overall_timeout,
            classifier_name,
            max_retry_after: w.max_retry_after.unwrap_or(defaults::MAX_RETRY_AFTER),
            budget: retry_budget,
        };

        // A section that is off is not normalized (nothing reported), but for the hedge
        // budget's cost, as the policy format has always done.
        let h = &self.hedge;
        let hedge_budget = r.budget(&h.budget, "hedge.budget.cost");
        let hedge = if h.enabled {
            NormalizedHedge {
                enabled: true,
                max_hedges: r.within(
                    h.max_hedges,
                    0,
                    defaults::MAX_HEDGES,
                    (1, Some(MAX_HEDGES)),
                    "hedge.max_hedges",
                ),
                hedge_delay: r.within(
                    h.hedge_delay,
                    Duration::ZERO,
                    defaults::HEDGE_DELAY,
                    (MIN_HEDGE_DELAY, None),
                    "hedge.hedge_delay",
                ),
                trigger_name: h
                    .trigger_name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(defaults::TRIGGER)
                    .to_owned(),
                cancel_on_first_terminal: h.cancel_on_first_terminal,
                budget: hedge_budget,
                min_samples: h.min_samples.unwrap_or(defaults::MIN_SAMPLES),
                auto_disable: h.auto_disable.as_ref().map(|a| NormalizedAutoDisable {
                    min_win_rate: r.rate(
                        a.min_win_rate
                            .unwrap_or(defaults::AUTO_DISABLE_MIN_WIN_RATE),
                        "hedge.auto_disable.min_win_rate",
                    ),
                    min_hedges: r.within(
                        a.min_hedges,
                        0,
                        defaults::AUTO_DISABLE_MIN_HEDGES,
                        (1, Some(10_000)),
                        "hedge.auto_disable.min_hedges",
                    ),
                    cooldown: r.within(
                        a.cooldown,
                        Duration::ZERO,
                        defaults::AUTO_DISABLE_COOLDOWN,
                        (Duration::from_millis(100), None),
                        "hedge.auto_disable.cooldown",
                    ),
                    probe_fraction: r.rate(
                        a.probe_fraction
                            .unwrap_or(defaults::AUTO_DISABLE_PROBE_FRACTION),
                        "hedge.auto_disable.probe_fraction",
                    ),
                }),
            }
        } else {
            NormalizedHedge {
                budget: hedge_budget,
                ..NormalizedHedge::off()
            }
        };

        // The circuit is normalized whether or not hedging is on.
        let c = &self.circuit;
        let circuit = if c.enabled {
            let rates = r.rates(c);
            // With a rate rule, consecutive failures open the breaker only when asked to.
            let threshold = match (c.threshold, rates) {
                (None, Some(_)) => None,
                (t, _) => Some(r.within(
                    t,
                    0,
                    defaults::CIRCUIT_THRESHOLD,
                    (1, None),
                    "circuit.threshold",
                )),
            };
            NormalizedCircuit {
                enabled: true,
                threshold,
                rates,
                cooldown: r.within(
                    c.cooldown,
                    Duration::ZERO,
                    defaults::CIRCUIT_COOLDOWN,
                    (MIN_COOLDOWN, None),
                    "circuit.cooldown",
                ),
            }
        } else {
            NormalizedCircuit::off()
        };

        // A bulkhead of 0 would refuse every call: at least 1.
        let bulkhead = NormalizedBulkhead {
            max_concurrent: self.bulkhead.max_concurrent.map(|n| {
                if n == 0 {
                    r.mark("bulkhead.max_concurrent");
                }
                n.max(1)
            }),
        };

        Normalized {
            id: self.id,
            retry,
            hedge,
            circuit,
            bulkhead,
            shadow,
            meta: PolicyMeta {
                source: self.meta.source,
                changed_fields: r.0,
            },
        }
    }
}

impl NormalizedHedge {
    /// Hedging off, its values the defaults.
    fn off() -> NormalizedHedge {
        NormalizedHedge {
            enabled: false,
            max_hedges: defaults::MAX_HEDGES,
            hedge_delay: defaults::HEDGE_DELAY,
            trigger_name: defaults::TRIGGER.to_owned(),
            cancel_on_first_terminal: false,
            budget: NormalizedBudget {
                name: None,
                cost: defaults::BUDGET_COST,
                gate_first_attempt: false,
            },
            min_samples: defaults::MIN_SAMPLES,
            auto_disable: None,
        }
    }
}

impl NormalizedCircuit {
    /// The breaker off, its values the defaults.
    fn off() -> NormalizedCircuit {
        NormalizedCircuit {
            enabled: false,
            threshold: Some(defaults::CIRCUIT_THRESHOLD),
            cooldown: defaults::CIRCUIT_COOLDOWN,
            rates: None,
        }
    }
}

impl NormalizedBudget {
    fn to_ref(&self) -> BudgetRef {
        BudgetRef {
            name: self.name.clone().unwrap_or_default(),
            cost: Some(self.cost),
            gate_first_attempt: self.gate_first_attempt,
        }
    }
}

impl Normalized {
    /// True when normalization changed anything.
    pub fn normalization_changed(&self) -> bool {
        !self.meta.changed_fields.is_empty()
    }

    /// The same policy written out, every field set (what a file would say to mean exactly
    /// it). Normalizing it again gives the same policy and reports nothing new.
    pub fn to_policy(&self) -> Policy {
        let r = &self.retry;
        Policy {
            id: self.id.clone(),
            retry: RetryPolicy {
                max_attempts: Some(r.max_attempts),
                initial_backoff: Some(r.initial_backoff),
                max_backoff: Some(r.max_backoff),
                backoff_multiplier: Some(r.backoff_multiplier),
                jitter: Some(r.jitter),
                timeout_per_attempt: r.timeout_per_attempt,
                overall_timeout: r.overall_timeout,
                classifier_name: r.classifier_name.clone(),
                max_retry_after: Some(r.max_retry_after),
                budget: r.budget.to_ref(),
            },
            hedge: match &self.hedge {
                h if h.enabled => HedgePolicy {
                    enabled: true,
                    max_hedges: Some(h.max_hedges),
                    hedge_delay: Some(h.hedge_delay),
                    trigger_name: Some(h.trigger_name.clone()),
                    cancel_on_first_terminal: h.cancel_on_first_terminal,
                    budget: h.budget.to_ref(),
                    min_samples: Some(h.min_samples),
                    auto_disable: h.auto_disable.map(|a| crate::policy::AutoDisablePolicy {
                        min_win_rate: Some(a.min_win_rate),
                        min_hedges: Some(a.min_hedges),
                        cooldown: Some(a.cooldown),
                        probe_fraction: Some(a.probe_fraction),
                    }),
                },
                // Off: nothing else holds, but the budget's cost, as normalization reports it.
                h => HedgePolicy {
                    budget: h.budget.to_ref(),
                    ..HedgePolicy::default()
                },
            },
            circuit: match self.circuit {
                c if c.enabled => {
                    let rates = c.rates.as_ref();
                    CircuitPolicy {
                        enabled: true,
                        threshold: c.threshold,
                        cooldown: Some(c.cooldown),
                        failure_rate: rates.and_then(|r| r.failure_rate),
                        slow_call_duration: rates.and_then(|r| r.slow_call_duration),
                        slow_call_rate: rates
                            .filter(|r| r.slow_call_duration.is_some())
                            .map(|r| r.slow_call_rate),
                        window: rates.map(|r| r.window),
                        min_calls: rates.map(|r| r.min_calls),
                    }
                }
                _ => CircuitPolicy::default(),
            },
            bulkhead: BulkheadPolicy {
                max_concurrent: self.bulkhead.max_concurrent,
            },
            shadow: self.shadow.as_ref().map(|s| Box::new(s.to_policy())),
            meta: self.meta.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod proptests {
    use super::*;
    use crate::policy::model::{BudgetRef, CircuitPolicy, HedgePolicy, RetryPolicy};
    use proptest::prelude::*;

    fn arb_duration() -> impl Strategy<Value = Option<Duration>> {
        prop_oneof![
            Just(None),
            Just(Some(Duration::ZERO)),
            (0u64..100_000_000_000).prop_map(|n| Some(Duration::from_nanos(n))),
        ]
    }

    fn arb_float() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            Just(Some(f64::NAN)),
            Just(Some(f64::INFINITY)),
            Just(Some(f64::NEG_INFINITY)),
            (-100.0f64..100.0).prop_map(Some),
        ]
    }

    fn arb_budget() -> impl Strategy<Value = BudgetRef> {
        (proptest::option::of(0u32..5), any::<bool>()).prop_map(|(cost, gate)| BudgetRef {
            name: String::new(),
            cost,
            gate_first_attempt: gate,
        })
    }

    /// Boxed: the nested strategy's value trees are large enough to overflow a test
    /// thread's stack in debug builds where several policies are drawn at once.
    pub(crate) fn arb_policy() -> BoxedStrategy<Policy> {
        (arb_sections(), proptest::option::of(0u32..5))
            .prop_map(|(mut p, bulkhead)| {
                p.bulkhead.max_concurrent = bulkhead;
                p
            })
            .boxed()
    }

    fn arb_sections() -> impl Strategy<Value = Policy> {
        (
            (
                proptest::option::of(0u32..50),
                arb_duration(),
                arb_duration(),
                arb_float(),
            ),
            (
                proptest::option::of(prop_oneof![
                    Just(Jitter::None),
                    Just(Jitter::Full),
                    Just(Jitter::Equal),
                    Just(Jitter::Decorrelated)
                ]),
                arb_duration(),
                arb_duration(),
                arb_budget(),
            ),
            (
                any::<bool>(),
                proptest::option::of(0u32..9),
                arb_duration(),
                arb_budget(),
            ),
            (
                any::<bool>(),
                proptest::option::of(0u32..9),
                arb_duration(),
                arb_rates().boxed(),
            ),
        )
            .prop_map(
                |((ma, ib, mb, mul), (j, tpa, ot, rb), (he, mh, hd, hb), (ce, th, cd, rates))| {
                    Policy {
                        retry: RetryPolicy {
                            max_attempts: ma,
                            initial_backoff: ib,
                            max_backoff: mb,
                            backoff_multiplier: mul,
                            jitter: j,
                            timeout_per_attempt: tpa,
                            overall_timeout: ot,
                            budget: rb,
                            ..RetryPolicy::default()
                        },
                        hedge: HedgePolicy {
                            enabled: he,
                            max_hedges: mh,
                            hedge_delay: hd,
                            budget: hb,
                            ..HedgePolicy::default()
                        },
                        circuit: CircuitPolicy {
                            enabled: ce,
                            threshold: th,
                            cooldown: cd,
                            ..rates
                        },
                        ..Policy::new()
                    }
                },
            )
    }

    /// The rate rules of a breaker, in and out of bounds.
    fn arb_rates() -> impl Strategy<Value = CircuitPolicy> {
        let rate = || proptest::option::of(prop_oneof![Just(f64::NAN), -1.0..2.0f64]);
        let window = proptest::option::of(prop_oneof![
            (0u32..20_000).prop_map(CircuitWindow::Calls),
            (0u64..8_000).prop_map(|s| CircuitWindow::Time(Duration::from_secs(s))),
        ]);
        (
            rate(),
            arb_duration(),
            rate(),
            window,
            proptest::option::of(0u32..300),
        )
            .prop_map(
                |(failure_rate, slow_call_duration, slow_call_rate, window, min_calls)| {
                    CircuitPolicy {
                        failure_rate,
                        slow_call_duration,
                        slow_call_rate,
                        window,
                        min_calls,
                        ..CircuitPolicy::default()
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent_with_the_same_report(p in arb_policy()) {
            let once = p.normalize();
            let twice = once.to_policy().normalize();
            prop_assert_eq!(&once.meta.changed_fields, &twice.meta.changed_fields);
            // NaN never survives, so PartialEq on the whole policy is meaningful.
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn normalized_values_are_within_bounds(p in arb_policy()) {
            let n = p.normalize();
            prop_assert!(n.bulkhead.max_concurrent.is_none_or(|m| m >= 1));
            let r = &n.retry;
            prop_assert!((1..=MAX_ATTEMPTS).contains(&r.max_attempts));
            let (ib, mb) = (r.initial_backoff, r.max_backoff);
            prop_assert!(ib >= MIN_BACKOFF && ib <= MAX_BACKOFF);
            prop_assert!(mb >= ib && mb <= MAX_BACKOFF);
            let m = r.backoff_multiplier;
            prop_assert!(m.is_finite() && (1.0..=MAX_MULTIPLIER).contains(&m));
            for t in [r.timeout_per_attempt, r.overall_timeout].into_iter().flatten() {
                prop_assert!(t >= MIN_TIMEOUT);
            }
            prop_assert!(r.budget.cost >= 1);
            let (h, c) = (&n.hedge, &n.circuit);
            prop_assert!((1..=MAX_HEDGES).contains(&h.max_hedges));
            prop_assert!(h.hedge_delay >= MIN_HEDGE_DELAY && h.budget.cost >= 1);
            prop_assert!(c.threshold.is_none_or(|t| t >= 1) && c.cooldown >= MIN_COOLDOWN);
            if let Some(rates) = &c.rates {
                for rate in rates.failure_rate.into_iter().chain([rates.slow_call_rate]) {
                    prop_assert!((MIN_RATE..=1.0).contains(&rate));
                }
                prop_assert!(rates.slow_call_duration.is_none_or(|d| d >= MIN_TIMEOUT));
                let most = match rates.window {
                    CircuitWindow::Calls(n) => {
                        prop_assert!((1..=MAX_WINDOW_CALLS).contains(&n));
                        n
                    }
                    CircuitWindow::Time(d) => {
                        prop_assert!((MIN_WINDOW_TIME..=MAX_WINDOW_TIME).contains(&d));
                        u32::MAX
                    }
                };
                prop_assert!((1..=most).contains(&rates.min_calls));
            } else {
                prop_assert!(c.threshold.is_some(), "a breaker with no rate counts failures");
            }
        }

        /// Every field a policy leaves unset takes the default docs/policies.md lists
        /// (the table is generated from `defaults`, and a test checks the docs against it).
        #[test]
        fn unset_fields_take_the_documented_defaults(
            p in arb_policy(),
            hedged: bool,
            broken: bool,
            rated: bool,
        ) {
            // A breaker judging rates fills in its window (and leaves out the threshold).
            let rates = CircuitPolicy {
                failure_rate: Some(0.5),
                slow_call_duration: Some(Duration::from_secs(1)),
                ..CircuitPolicy::default()
            };
            let bare = Policy {
                hedge: HedgePolicy { enabled: hedged, ..HedgePolicy::default() },
                circuit: CircuitPolicy {
                    enabled: broken,
                    ..if rated { rates } else { CircuitPolicy::default() }
                },
                ..Policy::new()
            };
            let rate_field = |path: &str| {
                ["circuit.window", "circuit.min_calls", "circuit.slow_call_rate"].contains(&path)
            };
            let table: std::collections::BTreeMap<&str, String> =
                defaults::table().into_iter().collect();
            let written = bare.normalize().to_policy();
            let value = serde_json::to_value(&written).unwrap();
            for (path, documented) in &table {
                let pointer = format!("/{}", path.replace('.', "/"));
                let Some(v) = value.pointer(&pointer) else {
                    // Hedging and circuit fields exist only when the section is on.
                    prop_assert!(
                        (path.starts_with("hedge.") && !hedged)
                            // Auto-disable's fields exist only when it is asked for.
                            || path.starts_with("hedge.auto_disable.")
                            || (path.starts_with("circuit.") && !broken)
                            || (rate_field(path) && !rated)
                            || (*path == "circuit.threshold" && rated),
                        "{} missing", path
                    );
                    continue;
                };
                match v.as_f64() {
                    Some(n) => prop_assert_eq!(Some(n), documented.parse::<f64>().ok(), "{}", path),
                    None => prop_assert_eq!(v.as_str(), Some(documented.as_str()), "{}", path),
                }
            }
            // A field set stays set: only what is unset takes a default.
            let n = p.clone().normalize();
            if let Some(a) = p.retry.max_attempts.filter(|a| (1..=MAX_ATTEMPTS).contains(a)) {
                prop_assert_eq!(n.retry.max_attempts, a);
            }
        }
    }
}
