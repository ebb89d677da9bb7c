//! Normalization: fill unset fields with the built-in defaults and clamp every value into its
//! bounds, reporting each changed field path (engine-behavior.md §2.3 with Part 1 D5-D7, D36-D38).
//!
//! Normalization is total (a policy that can be built can be normalized) and idempotent:
//! `p.normalize().normalize() == p.normalize()`, change report included.

use std::time::Duration;

use super::model::{Jitter, Policy};

/// Bounds applied by normalization.
pub mod bounds {
    use std::time::Duration;

    /// Most retry groups per call.
    pub const MAX_ATTEMPTS: u32 = 10;
    /// Most hedges per group.
    pub const MAX_HEDGES: u32 = 3;
    /// Smallest backoff.
    pub const MIN_BACKOFF: Duration = Duration::from_millis(1);
    /// Largest backoff (initial and max, D6).
    pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
    /// Largest backoff multiplier.
    pub const MAX_MULTIPLIER: f64 = 10.0;
    /// Smallest non-zero timeout.
    pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);
    /// Smallest hedge delay.
    pub const MIN_HEDGE_DELAY: Duration = Duration::from_millis(10);
    /// Smallest circuit cooldown.
    pub const MIN_COOLDOWN: Duration = Duration::from_millis(100);
    /// Default longest Retry-After honoured.
    pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
}

use bounds::*;

struct Report<'a>(&'a mut Vec<&'static str>);

impl Report<'_> {
    fn mark(&mut self, path: &'static str) {
        if !self.0.contains(&path) {
            self.0.push(path);
        }
    }
}

fn fill<T: PartialEq + Copy>(
    slot: &mut Option<T>,
    zero: T,
    default: T,
    path: &'static str,
    r: &mut Report<'_>,
) {
    match *slot {
        None => {
            *slot = Some(default);
            r.mark(path);
        }
        Some(v) if v == zero => {
            *slot = Some(default);
            r.mark(path);
        }
        _ => {}
    }
}

fn clamp<T: PartialOrd + Copy>(
    slot: &mut Option<T>,
    lo: T,
    hi: Option<T>,
    path: &'static str,
    r: &mut Report<'_>,
) {
    if let Some(v) = *slot {
        if v < lo {
            *slot = Some(lo);
            r.mark(path);
        } else if let Some(hi) = hi
            && v > hi
        {
            *slot = Some(hi);
            r.mark(path);
        }
    }
}

fn floor_timeout(slot: &mut Option<Duration>, path: &'static str, r: &mut Report<'_>) {
    if let Some(v) = *slot
        && !v.is_zero()
        && v < MIN_TIMEOUT
    {
        *slot = Some(MIN_TIMEOUT);
        r.mark(path);
    }
}

impl Policy {
    /// Fills unset fields and clamps values (see the module docs), recording each changed field
    /// path in `meta.changed_fields`. A field already normalized is never reported again.
    #[must_use]
    pub fn normalize(mut self) -> Policy {
        let mut fields = std::mem::take(&mut self.meta.changed_fields);
        let r = &mut Report(&mut fields);
        let retry = &mut self.retry;

        fill(&mut retry.max_attempts, 0, 3, "retry.max_attempts", r);
        clamp(
            &mut retry.max_attempts,
            1,
            Some(MAX_ATTEMPTS),
            "retry.max_attempts",
            r,
        );

        fill(
            &mut retry.initial_backoff,
            Duration::ZERO,
            Duration::from_millis(10),
            "retry.initial_backoff",
            r,
        );
        clamp(
            &mut retry.initial_backoff,
            MIN_BACKOFF,
            Some(MAX_BACKOFF),
            "retry.initial_backoff",
            r,
        );

        fill(
            &mut retry.max_backoff,
            Duration::ZERO,
            Duration::from_millis(250),
            "retry.max_backoff",
            r,
        );
        clamp(
            &mut retry.max_backoff,
            Duration::ZERO,
            Some(MAX_BACKOFF),
            "retry.max_backoff",
            r,
        );
        if retry.max_backoff < retry.initial_backoff {
            retry.max_backoff = retry.initial_backoff;
            r.mark("retry.max_backoff");
        }

        // D7: NaN and infinities are not numbers a policy can mean; they become the default.
        if retry.backoff_multiplier.is_some_and(|m| !m.is_finite()) {
            retry.backoff_multiplier = Some(2.0);
            r.mark("retry.backoff_multiplier");
        }
        fill(
            &mut retry.backoff_multiplier,
            0.0,
            2.0,
            "retry.backoff_multiplier",
            r,
        );
        clamp(
            &mut retry.backoff_multiplier,
            1.0,
            Some(MAX_MULTIPLIER),
            "retry.backoff_multiplier",
            r,
        );

        if retry.jitter.is_none() {
            retry.jitter = Some(Jitter::None);
            r.mark("retry.jitter");
        }

        floor_timeout(
            &mut retry.timeout_per_attempt,
            "retry.timeout_per_attempt",
            r,
        );
        floor_timeout(&mut retry.overall_timeout, "retry.overall_timeout", r);

        fill(&mut retry.budget.cost, 0, 1, "retry.budget.cost", r);
        fill(&mut self.hedge.budget.cost, 0, 1, "hedge.budget.cost", r);

        let hedge = &mut self.hedge;
        if hedge.enabled {
            fill(&mut hedge.max_hedges, 0, 2, "hedge.max_hedges", r);
            clamp(
                &mut hedge.max_hedges,
                1,
                Some(MAX_HEDGES),
                "hedge.max_hedges",
                r,
            );
            fill(
                &mut hedge.hedge_delay,
                Duration::ZERO,
                Duration::from_millis(200),
                "hedge.hedge_delay",
                r,
            );
            clamp(
                &mut hedge.hedge_delay,
                MIN_HEDGE_DELAY,
                None,
                "hedge.hedge_delay",
                r,
            );
        }

        // D5: the circuit is normalized whether or not hedging is on.
        let circuit = &mut self.circuit;
        if circuit.enabled {
            fill(&mut circuit.threshold, 0, 5, "circuit.threshold", r);
            fill(
                &mut circuit.cooldown,
                Duration::ZERO,
                Duration::from_secs(10),
                "circuit.cooldown",
                r,
            );
            clamp(
                &mut circuit.cooldown,
                MIN_COOLDOWN,
                None,
                "circuit.cooldown",
                r,
            );
        }

        self.meta.changed_fields = fields;
        self
    }

    /// True when normalization changed anything.
    pub fn normalization_changed(&self) -> bool {
        !self.meta.changed_fields.is_empty()
    }
}

#[cfg(test)]
mod proptests {
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

    pub(crate) fn arb_policy() -> impl Strategy<Value = Policy> {
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
                    Just(Jitter::Equal)
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
            (any::<bool>(), proptest::option::of(0u32..9), arb_duration()),
        )
            .prop_map(
                |((ma, ib, mb, mul), (j, tpa, ot, rb), (he, mh, hd, hb), (ce, th, cd))| Policy {
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
                    },
                    ..Policy::default()
                },
            )
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent_with_the_same_report(p in arb_policy()) {
            let once = p.normalize();
            let twice = once.clone().normalize();
            prop_assert_eq!(&once.meta.changed_fields, &twice.meta.changed_fields);
            // NaN never survives, so PartialEq on the whole policy is meaningful.
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn normalized_values_are_within_bounds(p in arb_policy()) {
            let n = p.normalize();
            let r = &n.retry;
            let attempts = r.max_attempts.unwrap();
            prop_assert!((1..=MAX_ATTEMPTS).contains(&attempts));
            let (ib, mb) = (r.initial_backoff.unwrap(), r.max_backoff.unwrap());
            prop_assert!(ib >= MIN_BACKOFF && ib <= MAX_BACKOFF);
            prop_assert!(mb >= ib && mb <= MAX_BACKOFF);
            let m = r.backoff_multiplier.unwrap();
            prop_assert!(m.is_finite() && (1.0..=MAX_MULTIPLIER).contains(&m));
            for t in [r.timeout_per_attempt, r.overall_timeout].into_iter().flatten() {
                prop_assert!(t.is_zero() || t >= MIN_TIMEOUT);
            }
            prop_assert!(r.budget.cost.unwrap() >= 1 && n.hedge.budget.cost.unwrap() >= 1);
            if n.hedge.enabled {
                prop_assert!((1..=MAX_HEDGES).contains(&n.hedge.max_hedges.unwrap()));
                prop_assert!(n.hedge.hedge_delay.unwrap() >= MIN_HEDGE_DELAY);
            }
            if n.circuit.enabled {
                prop_assert!(n.circuit.threshold.unwrap() >= 1);
                prop_assert!(n.circuit.cooldown.unwrap() >= MIN_COOLDOWN);
            }
        }
    }
}
