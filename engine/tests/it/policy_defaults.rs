//! Policy defaults and normalization.

use std::time::Duration;

use recourse_engine::policy::{Jitter, Normalized, Policy, PolicySource};

use crate::support::*;

fn changed(p: &Normalized) -> Vec<&'static str> {
    p.meta.changed_fields.clone()
}

#[test]
fn s004_default_policy_values() {
    let p = Policy::builtin().normalize();
    let r = &p.retry;
    assert_eq!(r.max_attempts, 3);
    assert_eq!(r.initial_backoff, ms(10));
    assert_eq!(r.max_backoff, ms(250));
    assert_eq!(r.backoff_multiplier, 2.0);
    assert_eq!(r.jitter, Jitter::None);
    assert_eq!((r.timeout_per_attempt, r.overall_timeout), (None, None));
    assert_eq!((r.budget.cost, p.hedge.budget.cost), (1, 1));
    assert!(!p.hedge.enabled && !p.circuit.enabled);
    assert_eq!(p.meta.source, PolicySource::Default);
    assert!(!p.normalization_changed());
}

#[test]
fn s005_all_zero_policy_fill_in_and_change_list() {
    let p = zero().normalize();
    assert_eq!(p.retry, Policy::builtin().normalize().retry);
    assert_eq!(
        changed(&p),
        [
            "retry.max_attempts",
            "retry.initial_backoff",
            "retry.max_backoff",
            "retry.backoff_multiplier",
            "retry.jitter",
            "retry.budget.cost",
            "hedge.budget.cost"
        ]
    );
}

#[test]
fn s006_attempt_backoff_and_multiplier_bounds() {
    // (a) a negative max_attempts cannot be built: the field is unsigned. Zero is the smallest.
    assert_eq!(zero().max_attempts(0).normalize().retry.max_attempts, 3);
    // (b)
    let b = zero().max_attempts(50).normalize();
    assert_eq!(b.retry.max_attempts, 10);
    assert_eq!(
        changed(&b)
            .iter()
            .filter(|f| **f == "retry.max_attempts")
            .count(),
        1
    );
    // (c)
    let c = zero()
        .backoff(Duration::from_micros(500), Duration::from_secs(100), 0.5)
        .normalize();
    assert_eq!(c.retry.initial_backoff, ms(1));
    assert_eq!(c.retry.max_backoff, Duration::from_secs(30));
    assert_eq!(c.retry.backoff_multiplier, 1.0);
    // (d)
    let mut d = zero();
    d.retry.backoff_multiplier = Some(50.0);
    assert_eq!(d.normalize().retry.backoff_multiplier, 10.0);
    // (e) an infinite multiplier is not a number a policy can mean: the default 2.
    let mut e = zero();
    e.retry.backoff_multiplier = Some(f64::INFINITY);
    let e = e.normalize();
    assert_eq!(e.retry.backoff_multiplier, 2.0);
    assert!(changed(&e).contains(&"retry.backoff_multiplier"));
}

#[test]
fn s007_max_raised_to_initial() {
    let p = zero()
        .backoff(Duration::from_secs(1), ms(10), 2.0)
        .normalize();
    assert_eq!(p.retry.max_backoff, Duration::from_secs(1));
    assert!(changed(&p).contains(&"retry.max_backoff"));
}

#[test]
fn s008_initial_backoff_cannot_lift_the_ceiling() {
    // Both capped at 30s (the reference gives 40s and 40s).
    let mut p = zero();
    p.retry.initial_backoff = Some(Duration::from_secs(40));
    let p = p.normalize();
    assert_eq!(p.retry.initial_backoff, Duration::from_secs(30));
    assert_eq!(p.retry.max_backoff, Duration::from_secs(30));
}

#[test]
fn s009_timeout_and_cost_floors() {
    let mut p = zero().timeout_per_attempt(Duration::from_nanos(10));
    // Negative durations and costs cannot be built (unsigned types); zero is the edge.
    p.retry.overall_timeout = Some(Duration::ZERO);
    p.retry.budget.cost = Some(0);
    p.hedge.budget.cost = Some(0);
    let p = p.normalize();
    assert_eq!(p.retry.timeout_per_attempt, Some(ms(1)));
    assert_eq!(p.retry.overall_timeout, None, "0 means no overall timeout");
    assert_eq!((p.retry.budget.cost, p.hedge.budget.cost), (1, 1));
    for f in [
        "retry.timeout_per_attempt",
        "retry.budget.cost",
        "hedge.budget.cost",
    ] {
        assert_eq!(changed(&p).iter().filter(|c| **c == f).count(), 1, "{f}");
    }
}

#[test]
fn s010_invalid_jitter_is_rejected_where_it_can_occur() {
    // In code an invalid jitter cannot be built (an enum). In a policy document it is a
    // field-level error naming the field.
    let err = serde_json::from_str::<Policy>(r#"{"retry":{"jitter":"bogus"}}"#).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bogus") && msg.contains("none"), "{msg}");
}

#[test]
fn s011_hedge_fields_enabled_and_disabled() {
    let a = zero().hedging(0, Duration::ZERO).normalize();
    assert_eq!((a.hedge.max_hedges, a.hedge.hedge_delay), (2, ms(200)));
    let b = zero().hedging(1, ms(1)).normalize();
    assert_eq!((b.hedge.max_hedges, b.hedge.hedge_delay), (1, ms(10)));
    assert!(changed(&b).contains(&"hedge.hedge_delay"));
    let c = zero().hedging(9, ms(50)).normalize();
    assert_eq!(c.hedge.max_hedges, 3);
    assert!(changed(&c).contains(&"hedge.max_hedges"));
    // Hedging off: its fields are not normalized (nothing reported) and nothing of them holds.
    let mut d = zero();
    d.hedge.max_hedges = Some(0);
    d.hedge.hedge_delay = Some(Duration::ZERO);
    let d = d.normalize();
    assert!(!d.hedge.enabled);
    let written = d.to_policy();
    assert_eq!(
        (written.hedge.max_hedges, written.hedge.hedge_delay),
        (None, None)
    );
    let hedge_fields: Vec<_> = changed(&d)
        .into_iter()
        .filter(|f| f.starts_with("hedge."))
        .collect();
    assert_eq!(hedge_fields, ["hedge.budget.cost"]);
}

#[test]
fn s012_circuit_normalization_with_hedging_on() {
    let p = zero().enable_hedging().circuit(0, ms(1)).normalize();
    assert_eq!(
        (p.circuit.threshold, p.circuit.cooldown),
        (Some(5), ms(100))
    );
    let p = zero()
        .enable_hedging()
        .circuit(3, Duration::ZERO)
        .normalize();
    assert_eq!(p.circuit.cooldown, Duration::from_secs(10));
}

#[test]
fn s013_circuit_normalization_with_hedging_off() {
    // The same result as s012.
    let p = zero().circuit(0, ms(1)).normalize();
    assert_eq!(
        (p.circuit.threshold, p.circuit.cooldown),
        (Some(5), ms(100))
    );
}

#[test]
fn s014_nan_multiplier() {
    // NaN becomes the default 2, so the sleeps grow: [10ms, 20ms, 40ms].
    let mut p = zero().max_attempts(4);
    p.retry.backoff_multiplier = Some(f64::NAN);
    let (exec, vc) = with_policy(p);
    let calls = Calls::default();
    let (res, tl) = run(&vc, exec.call_traced("svc.op", always_fails(&calls)));
    assert!(res.is_err());
    assert_eq!(calls.get(), 4);
    assert_eq!(tl.backoffs(), [ms(10), ms(20), ms(40)]);
    assert!(
        tl.attribute("policy_normalized")
            .unwrap()
            .contains("retry.backoff_multiplier")
    );
}

#[test]
fn s015_invalid_policy_options_cannot_be_built() {
    // The reference discards every option when jitter is invalid. Here an invalid jitter is a
    // deserialization error, and a policy that builds keeps all its options.
    assert!(
        serde_json::from_str::<Policy>(r#"{"retry":{"jitter":"invalid-jitter","max_attempts":7}}"#)
            .is_err()
    );
    let p = zero().max_attempts(7).jitter(Jitter::Equal).normalize();
    assert_eq!((p.retry.max_attempts, p.retry.jitter), (7, Jitter::Equal));
}

#[test]
fn s016_builder_options_and_presets() {
    let a = zero()
        .max_attempts(5)
        .backoff(ms(100), ms(250), 2.0)
        .classifier("custom")
        .normalize();
    assert_eq!(a.retry.max_attempts, 5);
    assert_eq!(a.retry.initial_backoff, ms(100));
    assert_eq!(a.retry.classifier_name.as_deref(), Some("custom"));
    let b = Policy::http_defaults().normalize();
    assert_eq!(b.retry.classifier_name.as_deref(), Some("http"));
    assert_eq!((b.retry.backoff_multiplier, b.retry.max_attempts), (2.0, 3));
    let c = Policy::low_latency_defaults().normalize();
    assert!(c.hedge.enabled);
    assert_eq!(c.retry.max_attempts, 2);
    let d = zero()
        .exponential_backoff(ms(50), Duration::from_secs(5))
        .normalize();
    assert_eq!(
        (d.retry.initial_backoff, d.retry.max_backoff),
        (ms(50), Duration::from_secs(5))
    );
    assert_eq!(d.retry.jitter, Jitter::Equal);
    let e = zero().enable_hedging().normalize();
    assert_eq!((e.hedge.max_hedges, e.hedge.hedge_delay), (2, ms(200)));
}

#[test]
fn normalization_is_idempotent_with_the_same_report() {
    // Normalizing twice changes nothing, the report included.
    let once = zero().max_attempts(50).normalize();
    let twice = once.to_policy().normalize();
    assert_eq!(once, twice);
    assert_eq!(once.meta.changed_fields, twice.meta.changed_fields);
}

#[test]
fn circuit_only_policy_is_a_real_policy() {
    // A policy that only configures a circuit is a real policy.
    assert!(!zero().circuit(3, Duration::from_secs(1)).is_zero());
    assert!(zero().is_zero());
}

#[test]
fn policy_serde_uses_the_file_field_names_and_units() {
    let p = Policy::builtin()
        .max_attempts(4)
        .timeout_per_attempt(ms(800))
        .budget("payments-10pc");
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["retry"]["max_attempts"], 4);
    assert_eq!(json["retry"]["timeout_per_attempt"], "800ms");
    assert_eq!(json["retry"]["initial_backoff"], "10ms");
    assert_eq!(json["retry"]["budget"]["name"], "payments-10pc");
    let back: Policy = serde_json::from_value(json).unwrap();
    assert_eq!(back.retry, p.retry);
    let err = serde_json::from_str::<Policy>(r#"{"retry":{"initial_backoff":250}}"#).unwrap_err();
    assert!(err.to_string().contains("no unit"), "{err}");
    let err = serde_json::from_str::<Policy>(r#"{"retry":{"max_attempt":3}}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}
