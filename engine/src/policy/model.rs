//! The policy as written: every field optional, so a file entry, `namespace.*`, `defaults` and
//! the built-in defaults can be layered field by field. Normalization (see
//! [`Policy::normalize`]) fills and clamps it into the effective policy.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::opt_serde;

/// A policy for one key: the retry envelope, hedging, circuit breaking and a bulkhead.
///
/// Field names are those of the policy file format (docs/policy-files.md). `None` means "not
/// set": normalization ([`Policy::normalize`]) fills it from the built-in
/// defaults (listed in docs/policies.md).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use recourse_engine::policy::{Policy, Jitter};
///
/// let p = Policy::builtin()
///     .max_attempts(4)
///     .backoff(Duration::from_millis(20), Duration::from_secs(1), 2.0)
///     .jitter(Jitter::Full)
///     .normalize();
/// assert_eq!(p.retry.max_attempts, 4);
/// assert!(p.meta.changed_fields.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a policy: a mapping of id, retry, hedge, circuit, bulkhead, shadow"
)]
#[non_exhaustive]
pub struct Policy {
    /// Optional identifier shown in timelines (`charge-v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Arc<str>>,
    /// Attempts, backoff, timeouts, classifier and retry budget.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Hedged attempts within a retry group.
    #[serde(default)]
    pub hedge: HedgePolicy,
    /// Circuit breaker: consecutive failures, a failure rate or slow calls.
    #[serde(default)]
    pub circuit: CircuitPolicy,
    /// A cap on the key's attempts in flight.
    #[serde(default, skip_serializing_if = "BulkheadPolicy::is_unset")]
    pub bulkhead: BulkheadPolicy,
    /// A shadow policy: judged beside this one on every call, from the live attempts'
    /// outcomes, and reported, never acted on. Its unset fields are this policy's; a shadow
    /// has no shadow of its own.
    #[serde(
        default,
        deserialize_with = "present_policy",
        skip_serializing_if = "Option::is_none"
    )]
    pub shadow: Option<Box<Policy>>,
    /// Where the policy came from and what normalization changed. Not serialized.
    #[serde(skip)]
    pub meta: PolicyMeta,
}

/// A field that, written, must be a policy: `shadow: null` is refused rather than read as
/// "no shadow", which would still inherit one from `defaults` or `namespace.*`.
/// Only a mapping is a policy (serde would also read a list as one).
fn present_policy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<Policy>>, D::Error> {
    struct Mapping;
    impl<'de> serde::de::Visitor<'de> for Mapping {
        type Value = Policy;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(POLICY_EXPECTED)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Policy, A::Error> {
            Policy::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(Mapping).map(|p| Some(Box::new(p)))
}

/// What a policy is, in a type error.
const POLICY_EXPECTED: &str = "a policy: a mapping of id, retry, hedge, circuit, bulkhead, shadow";

/// The retry envelope.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retry groups per call (the first attempt included). Default 3, at most 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// First backoff. Default 10ms, within [1ms, 30s].
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub initial_backoff: Option<Duration>,
    /// Backoff ceiling. Default 250ms, within [initial_backoff, 30s].
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<Duration>,
    /// Growth factor between backoffs. Default 2, within [1, 10].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_multiplier: Option<f64>,
    /// Randomization of each backoff. Default `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
    /// Deadline of each attempt (hedges included). Unset or 0: none; at least 1ms.
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub timeout_per_attempt: Option<Duration>,
    /// Deadline of the whole call, backoffs included. Unset or 0: none; at least 1ms.
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub overall_timeout: Option<Duration>,
    /// Classifier by name (`always`, `http`, `auto`, or a registered one). Unset: the
    /// executor's default classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_name: Option<String>,
    /// Longest server-requested wait (Retry-After) honoured. Default 30s.
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub max_retry_after: Option<Duration>,
    /// The retry budget: gates retries (and the first attempt only with `gate_first_attempt`).
    #[serde(default, skip_serializing_if = "BudgetRef::is_unset")]
    pub budget: BudgetRef,
}

/// Hedging: extra concurrent attempts within one retry group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HedgePolicy {
    /// Hedging on or off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enabled: bool,
    /// Extra attempts per group. Default 2 when enabled, within [1, 3].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hedges: Option<u32>,
    /// Delay before each hedge. Default 200ms when enabled, at least 10ms.
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub hedge_delay: Option<Duration>,
    /// Trigger by name (`fixed_delay`, `p50`, `p90`, `p95`, `p99`, or a registered one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_name: Option<String>,
    /// End the group on the first non-retryable or abort result instead of waiting for the rest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_on_first_terminal: bool,
    /// The hedge budget (hedges only).
    #[serde(default, skip_serializing_if = "BudgetRef::is_unset")]
    pub budget: BudgetRef,
    /// Latency samples a key needs before a percentile trigger hedges. Default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u32>,
    /// Pause hedging for the key while its hedges do not win (off unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_disable: Option<AutoDisablePolicy>,
}

/// Hedging that notices when it does not pay: over every `min_hedges` hedges, if fewer than
/// `min_win_rate` of them won, hedging pauses for `cooldown`; then a `probe_fraction` of calls
/// hedge again until `min_hedges` more have run, and hedging resumes if they win enough.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AutoDisablePolicy {
    /// The share of hedges that must win for hedging to go on. Default 0.05.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_win_rate: Option<f64>,
    /// Hedges judged at a time. Default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_hedges: Option<u32>,
    /// How long hedging stays paused. Default 30s.
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Duration>,
    /// The share of calls that hedge while hedging is probed after a pause. Default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_fraction: Option<f64>,
}

impl AutoDisablePolicy {
    /// Field by field: `self`'s values, else `base`'s.
    fn over(
        a: &Option<AutoDisablePolicy>,
        base: &Option<AutoDisablePolicy>,
    ) -> Option<AutoDisablePolicy> {
        match (a, base) {
            (None, None) => None,
            (Some(a), None) | (None, Some(a)) => Some(a.clone()),
            (Some(a), Some(b)) => Some(AutoDisablePolicy {
                min_win_rate: a.min_win_rate.or(b.min_win_rate),
                min_hedges: a.min_hedges.or(b.min_hedges),
                cooldown: a.cooldown.or(b.cooldown),
                probe_fraction: a.probe_fraction.or(b.probe_fraction),
            }),
        }
    }
}

/// Circuit breaking: on consecutive failures (`threshold`), on a failure rate, or on slow
/// calls, judged over a window of calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CircuitPolicy {
    /// Breaker on or off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enabled: bool,
    /// Consecutive failed calls that open the breaker. Default 5 when enabled, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// Time open before one probe is let through. Default 10s when enabled, at least 100ms.
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Duration>,
    /// Opens the breaker when failed calls reach this share of the calls in the window,
    /// within (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    /// A call that takes at least this long (retries and waits included) is slow.
    #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
    pub slow_call_duration: Option<Duration>,
    /// Opens the breaker when slow calls reach this share of the calls in the window, within
    /// (0, 1]. Default 1 when `slow_call_duration` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_call_rate: Option<f64>,
    /// The calls the rates are taken over: the last N calls, or the calls of the last span
    /// of time. Default the last 100 calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<CircuitWindow>,
    /// Calls the window must hold before a rate opens the breaker. Default 20 (at most a
    /// count window's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_calls: Option<u32>,
}

impl CircuitPolicy {
    /// Whether a failure rate or a slow-call rule is set (the breaker then judges a window
    /// of calls).
    pub fn judges_rates(&self) -> bool {
        self.failure_rate.is_some() || self.slow_call_duration.is_some()
    }
}

/// The calls a failure-rate or slow-call breaker judges: `window: 100` (the last 100 calls)
/// or `window: 30s` (the calls of the last 30 seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitWindow {
    /// The last N calls.
    Calls(u32),
    /// The calls of the last span of time.
    Time(Duration),
}

impl Serialize for CircuitWindow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CircuitWindow::Calls(n) => s.serialize_u32(*n),
            CircuitWindow::Time(d) => s.collect_str(&super::duration::FormatDuration(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for CircuitWindow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CircuitWindow, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<'a> {
            Calls(u64),
            #[serde(borrow)]
            Text(std::borrow::Cow<'a, str>),
            Number(f64),
        }
        let shape = "a number of calls (100) or a duration with a unit (30s)";
        match Raw::deserialize(d)? {
            Raw::Calls(n) => u32::try_from(n)
                .map(CircuitWindow::Calls)
                .map_err(|_| serde::de::Error::custom(format!("window {n} is too large"))),
            Raw::Text(t) => super::duration::parse_duration(&t)
                .map(CircuitWindow::Time)
                .map_err(|e| serde::de::Error::custom(format!("window: {e}; give {shape}"))),
            Raw::Number(n) => Err(serde::de::Error::custom(format!(
                "window {n}: give {shape}"
            ))),
        }
    }
}

/// A bulkhead: a cap on the attempts of a key in flight at once, retries and hedges
/// included. A first attempt over the cap fails its call at once (`bulkhead_full`); a retry or
/// hedge over it is skipped like a budget denial. Nothing waits for a slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BulkheadPolicy {
    /// Attempts in flight at once, at least 1. Unset: no bulkhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
}

impl BulkheadPolicy {
    fn is_unset(&self) -> bool {
        self.max_concurrent.is_none()
    }
}

/// A reference to a named budget.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetRef {
    /// The budget's name; empty means no budget.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Units taken per attempt. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u32>,
    /// Also gate the first attempt (retry budget only). Default false: an empty retry budget
    /// never blocks first calls.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gate_first_attempt: bool,
}

impl BudgetRef {
    /// A reference to `name` with cost 1.
    pub fn named(name: impl Into<String>) -> BudgetRef {
        BudgetRef {
            name: name.into(),
            cost: Some(1),
            gate_first_attempt: false,
        }
    }

    fn is_unset(&self) -> bool {
        self.name.is_empty() && self.cost.is_none() && !self.gate_first_attempt
    }

    /// This reference's fields laid over `base`'s (see [`Policy::over`]).
    fn over(&self, base: &BudgetRef) -> BudgetRef {
        BudgetRef {
            name: if self.name.is_empty() {
                base.name.clone()
            } else {
                self.name.clone()
            },
            cost: self.cost.or(base.cost),
            gate_first_attempt: self.gate_first_attempt || base.gate_first_attempt,
        }
    }
}

/// Randomization of backoffs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly the computed backoff.
    #[default]
    None,
    /// Uniform in `[0, backoff)`.
    Full,
    /// Uniform in `[backoff/2, backoff)`.
    Equal,
    /// "Decorrelated jitter", from the AWS Architecture Blog's "Exponential Backoff And
    /// Jitter": each wait is uniform in `[initial_backoff, 3 × the previous wait)`, capped at
    /// `max_backoff`, the first one drawn as if the previous wait were `initial_backoff`.
    /// The waits grow by a factor of 3 at most; `backoff_multiplier` does not apply.
    Decorrelated,
}

impl Jitter {
    /// `none`, `full`, `equal` or `decorrelated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
        }
    }
}

/// Where a policy came from; reported as the timeline attribute `policy_source`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicySource {
    /// Not known (a policy built in code and not yet served).
    #[default]
    Unknown,
    /// A static provider (policies given to the builder).
    Static,
    /// A policy file.
    File,
    /// A remote control plane.
    Remote,
    /// The last known good policy, served while the remote source fails.
    Lkg,
    /// The built-in default: no policy covers the key.
    Default,
}

impl PolicySource {
    /// `unknown`, `static`, `file`, `remote`, `lkg` or `default`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Unknown => "unknown",
            PolicySource::Static => "static",
            PolicySource::File => "file",
            PolicySource::Remote => "remote",
            PolicySource::Lkg => "lkg",
            PolicySource::Default => "default",
        }
    }
}

/// Provenance and normalization report of a policy.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct PolicyMeta {
    /// Where the policy came from.
    pub source: PolicySource,
    /// Field paths normalization changed (`retry.max_attempts`), in the order the rules fired.
    pub changed_fields: Vec<&'static str>,
}

impl Policy {
    /// An empty policy: nothing set. Normalized, every field takes its built-in default
    /// (listed in docs/policies.md), so `Policy::new()` and [`Policy::builtin`] govern a
    /// call alike; they differ in what they write down, which matters when policies are laid
    /// over each other ([`Policy::over`]): an unset field lets the layer below show through.
    #[allow(
        clippy::new_without_default,
        reason = "`Policy::default()` would read as the default policy, which is `builtin()`"
    )]
    pub fn new() -> Policy {
        Policy {
            id: None,
            retry: RetryPolicy::default(),
            hedge: HedgePolicy::default(),
            circuit: CircuitPolicy::default(),
            bulkhead: BulkheadPolicy::default(),
            shadow: None,
            meta: PolicyMeta::default(),
        }
    }

    /// The built-in default policy (docs/policies.md lists it): 3 attempts, 10ms → 250ms
    /// backoff doubling, no jitter, no timeouts, no budgets, no hedging, no circuit. Source
    /// `default`.
    pub fn builtin() -> Policy {
        use super::defaults;
        Policy {
            id: None,
            retry: RetryPolicy {
                max_attempts: Some(defaults::MAX_ATTEMPTS),
                initial_backoff: Some(defaults::INITIAL_BACKOFF),
                max_backoff: Some(defaults::MAX_BACKOFF),
                backoff_multiplier: Some(defaults::BACKOFF_MULTIPLIER),
                jitter: Some(defaults::JITTER),
                budget: BudgetRef {
                    cost: Some(defaults::BUDGET_COST),
                    ..BudgetRef::default()
                },
                ..RetryPolicy::default()
            },
            hedge: HedgePolicy {
                budget: BudgetRef {
                    cost: Some(defaults::BUDGET_COST),
                    ..BudgetRef::default()
                },
                ..HedgePolicy::default()
            },
            circuit: CircuitPolicy::default(),
            bulkhead: BulkheadPolicy::default(),
            shadow: None,
            meta: PolicyMeta {
                source: PolicySource::Default,
                changed_fields: Vec::new(),
            },
        }
    }

    /// This policy's fields laid over `base`: each field set here wins, each field unset here
    /// is `base`'s (a flag is on when either has it on, as in a file, where an absent flag is
    /// off). How a key's entry, `namespace.*`, `defaults` and the built-in policy combine.
    pub fn over(&self, base: &Policy) -> Policy {
        let (r, b) = (&self.retry, &base.retry);
        let (h, bh) = (&self.hedge, &base.hedge);
        let (c, bc) = (&self.circuit, &base.circuit);
        Policy {
            id: self.id.clone().or_else(|| base.id.clone()),
            retry: RetryPolicy {
                max_attempts: r.max_attempts.or(b.max_attempts),
                initial_backoff: r.initial_backoff.or(b.initial_backoff),
                max_backoff: r.max_backoff.or(b.max_backoff),
                backoff_multiplier: r.backoff_multiplier.or(b.backoff_multiplier),
                jitter: r.jitter.or(b.jitter),
                timeout_per_attempt: r.timeout_per_attempt.or(b.timeout_per_attempt),
                overall_timeout: r.overall_timeout.or(b.overall_timeout),
                classifier_name: r
                    .classifier_name
                    .clone()
                    .or_else(|| b.classifier_name.clone()),
                max_retry_after: r.max_retry_after.or(b.max_retry_after),
                budget: r.budget.over(&b.budget),
            },
            hedge: HedgePolicy {
                enabled: h.enabled || bh.enabled,
                max_hedges: h.max_hedges.or(bh.max_hedges),
                hedge_delay: h.hedge_delay.or(bh.hedge_delay),
                trigger_name: h.trigger_name.clone().or_else(|| bh.trigger_name.clone()),
                cancel_on_first_terminal: h.cancel_on_first_terminal || bh.cancel_on_first_terminal,
                budget: h.budget.over(&bh.budget),
                min_samples: h.min_samples.or(bh.min_samples),
                auto_disable: AutoDisablePolicy::over(&h.auto_disable, &bh.auto_disable),
            },
            circuit: CircuitPolicy {
                enabled: c.enabled || bc.enabled,
                threshold: c.threshold.or(bc.threshold),
                cooldown: c.cooldown.or(bc.cooldown),
                failure_rate: c.failure_rate.or(bc.failure_rate),
                slow_call_duration: c.slow_call_duration.or(bc.slow_call_duration),
                slow_call_rate: c.slow_call_rate.or(bc.slow_call_rate),
                window: c.window.or(bc.window),
                min_calls: c.min_calls.or(bc.min_calls),
            },
            bulkhead: BulkheadPolicy {
                max_concurrent: self
                    .bulkhead
                    .max_concurrent
                    .or(base.bulkhead.max_concurrent),
            },
            shadow: self.shadow.clone().or_else(|| base.shadow.clone()),
            meta: self.meta.clone(),
        }
    }

    /// True when nothing is configured at all (the circuit and bulkhead sections included).
    pub fn is_zero(&self) -> bool {
        self.id.is_none()
            && self.retry == RetryPolicy::default()
            && self.hedge == HedgePolicy::default()
            && self.circuit == CircuitPolicy::default()
            && self.bulkhead == BulkheadPolicy::default()
            && self.shadow.is_none()
    }

    /// Sets the policy id.
    pub fn id(mut self, id: &str) -> Policy {
        self.id = Some(Arc::from(id));
        self
    }

    /// Sets `retry.max_attempts`.
    pub fn max_attempts(mut self, n: u32) -> Policy {
        self.retry.max_attempts = Some(n);
        self
    }

    /// Sets initial backoff, max backoff and multiplier.
    pub fn backoff(mut self, initial: Duration, max: Duration, multiplier: f64) -> Policy {
        self.retry.initial_backoff = Some(initial);
        self.retry.max_backoff = Some(max);
        self.retry.backoff_multiplier = Some(multiplier);
        self
    }

    /// Sets the jitter kind.
    pub fn jitter(mut self, jitter: Jitter) -> Policy {
        self.retry.jitter = Some(jitter);
        self
    }

    /// Sets the per-attempt timeout.
    pub fn timeout_per_attempt(mut self, d: Duration) -> Policy {
        self.retry.timeout_per_attempt = Some(d);
        self
    }

    /// Sets the overall timeout.
    pub fn overall_timeout(mut self, d: Duration) -> Policy {
        self.retry.overall_timeout = Some(d);
        self
    }

    /// Selects a classifier by name.
    pub fn classifier(mut self, name: &str) -> Policy {
        self.retry.classifier_name = Some(name.to_owned());
        self
    }

    /// Sets the retry budget (cost 1).
    pub fn budget(mut self, name: &str) -> Policy {
        self.retry.budget = BudgetRef::named(name);
        self
    }

    /// Sets the hedge budget (cost 1).
    pub fn hedge_budget(mut self, name: &str) -> Policy {
        self.hedge.budget = BudgetRef::named(name);
        self
    }

    /// Enables hedging with `max_hedges` extra attempts every `delay`.
    pub fn hedging(mut self, max_hedges: u32, delay: Duration) -> Policy {
        self.hedge.enabled = true;
        self.hedge.max_hedges = Some(max_hedges);
        self.hedge.hedge_delay = Some(delay);
        self
    }

    /// Pauses hedging while hedges do not win (`hedge.auto_disable`; unset fields take their
    /// defaults).
    pub fn hedge_auto_disable(mut self, rules: AutoDisablePolicy) -> Policy {
        self.hedge.auto_disable = Some(rules);
        self
    }

    /// Caps the key's attempts in flight at `max_concurrent` (a bulkhead).
    pub fn bulkhead(mut self, max_concurrent: u32) -> Policy {
        self.bulkhead.max_concurrent = Some(max_concurrent);
        self
    }

    /// Enables the circuit breaker.
    pub fn circuit(mut self, threshold: u32, cooldown: Duration) -> Policy {
        self.circuit = CircuitPolicy {
            enabled: true,
            threshold: Some(threshold),
            cooldown: Some(cooldown),
            ..CircuitPolicy::default()
        };
        self
    }

    /// Enables a breaker that opens when failed calls reach `rate` of the calls in `window`
    /// (once it holds `min_calls`), staying open for `cooldown`.
    pub fn failure_rate_circuit(
        mut self,
        rate: f64,
        window: CircuitWindow,
        min_calls: u32,
        cooldown: Duration,
    ) -> Policy {
        self.circuit = CircuitPolicy {
            enabled: true,
            cooldown: Some(cooldown),
            failure_rate: Some(rate),
            window: Some(window),
            min_calls: Some(min_calls),
            ..std::mem::take(&mut self.circuit)
        };
        self
    }

    /// Adds a slow-call rule to the breaker: calls of at least `duration` are slow, and the
    /// breaker opens when they reach `rate` of the window.
    pub fn slow_calls(mut self, duration: Duration, rate: f64) -> Policy {
        self.circuit.enabled = true;
        self.circuit.slow_call_duration = Some(duration);
        self.circuit.slow_call_rate = Some(rate);
        self
    }

    /// Exponential backoff from `initial` to `max`, doubling, with equal jitter.
    pub fn exponential_backoff(self, initial: Duration, max: Duration) -> Policy {
        self.backoff(initial, max, 2.0).jitter(Jitter::Equal)
    }

    /// A constant backoff of `d`, no jitter.
    pub fn constant_backoff(self, d: Duration) -> Policy {
        self.backoff(d, d, 1.0).jitter(Jitter::None)
    }

    /// Preset for HTTP clients: 3 attempts, 100ms → 2s full-jitter backoff, 10s per attempt,
    /// 30s overall, the `http` classifier.
    pub fn http_defaults() -> Policy {
        Policy::new()
            .max_attempts(3)
            .backoff(Duration::from_millis(100), Duration::from_secs(2), 2.0)
            .jitter(Jitter::Full)
            .timeout_per_attempt(Duration::from_secs(10))
            .overall_timeout(Duration::from_secs(30))
            .classifier("http")
    }

    /// Preset for database calls: 3 attempts, 100ms → 5s equal-jitter backoff, 30s per
    /// attempt, 60s overall.
    pub fn database_defaults() -> Policy {
        Policy::new()
            .max_attempts(3)
            .backoff(Duration::from_millis(100), Duration::from_secs(5), 2.0)
            .jitter(Jitter::Equal)
            .timeout_per_attempt(Duration::from_secs(30))
            .overall_timeout(Duration::from_secs(60))
    }

    /// Preset for background jobs: 5 attempts, 1s → 30s full-jitter backoff, 5m overall.
    pub fn background_job_defaults() -> Policy {
        Policy::new()
            .max_attempts(5)
            .backoff(Duration::from_secs(1), Duration::from_secs(30), 2.0)
            .jitter(Jitter::Full)
            .overall_timeout(Duration::from_secs(300))
    }

    /// Preset for latency-sensitive reads: 2 attempts, 10ms → 50ms equal jitter, 500ms per
    /// attempt, 1s overall, 2 hedges after 100ms.
    pub fn low_latency_defaults() -> Policy {
        Policy::new()
            .max_attempts(2)
            .backoff(Duration::from_millis(10), Duration::from_millis(50), 2.0)
            .jitter(Jitter::Equal)
            .timeout_per_attempt(Duration::from_millis(500))
            .overall_timeout(Duration::from_secs(1))
            .hedging(2, Duration::from_millis(100))
    }

    /// Selects the hedge trigger by name (`fixed_delay`, `p50`, `p90`, `p95`, `p99`, or a
    /// registered one); enables hedging.
    pub fn hedge_trigger(mut self, name: &str) -> Policy {
        self.hedge.enabled = true;
        self.hedge.trigger_name = Some(name.to_owned());
        self
    }

    /// Judges `shadow` beside this policy on every call, without acting on it (its unset
    /// fields are this policy's).
    pub fn shadow(mut self, shadow: Policy) -> Policy {
        self.shadow = Some(Box::new(shadow));
        self
    }

    /// Enables hedging with the defaults normalization gives (2 hedges, 200ms).
    pub fn enable_hedging(mut self) -> Policy {
        self.hedge.enabled = true;
        self
    }
}
