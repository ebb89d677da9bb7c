//! The worst case `recourse policy diff` reports is an upper bound (issue #6, acceptance 3):
//! random policies run through the simulator against adversarial scripts (hangs, slow failures,
//! 503s asking for long Retry-After waits) never take longer or invoke the operation more often.

use proptest::prelude::*;
use recourse_engine::Key;
use recourse_engine::PolicySet;
use recourse_engine::tooling::{Envelope, resolve};

use super::{Scenario, run};

fn arb_policy() -> impl Strategy<Value = String> {
    (
        (1u32..6, 0u32..4, 10u64..80),
        (1u64..100, 1u64..400, 1u32..4),
        prop_oneof![Just("none"), Just("full"), Just("equal"), Just("decorrelated")],
        prop_oneof![Just("always"), Just("http"), Just("auto")],
        (1u64..300, proptest::option::of(1u64..3000), 0u64..5000),
    )
        .prop_map(
            |((attempts, hedges, delay), (initial, max, mult), jitter, classifier, (per, overall, retry_after))| {
                let hedge = if hedges > 0 {
                    format!("\n  hedge: {{ enabled: true, max_hedges: {hedges}, hedge_delay: {delay}ms }}")
                } else {
                    String::new()
                };
                let overall = overall.map_or(String::new(), |o| format!(", overall_timeout: {o}ms"));
                format!(
                    "  retry: {{ max_attempts: {attempts}, initial_backoff: {initial}ms, max_backoff: {max}ms, \
                     backoff_multiplier: {mult}, jitter: {jitter}, classifier_name: {classifier}, \
                     timeout_per_attempt: {per}ms, max_retry_after: {retry_after}ms{overall} }}{hedge}"
                )
            },
        )
}

fn arb_step() -> impl Strategy<Value = String> {
    (
        0u64..400,
        prop_oneof![
            Just("error: boom".to_owned()),
            Just("timeout: true".to_owned()),
            (0u64..10_000).prop_map(|ms| format!("status: 503, retry_after: {ms}ms")),
            Just("status: 429, retry_after: 60s".to_owned()),
        ],
    )
        .prop_map(|(latency, outcome)| format!("      - {{ latency: {latency}ms, {outcome} }}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn no_simulated_call_exceeds_the_reported_worst_case(
        policy in arb_policy(),
        steps in proptest::collection::vec(arb_step(), 1..16),
        seed in any::<u64>(), // the whole range, past i64::MAX included
    ) {
        let text = format!(
            "version: 1\nkey: w.Op\nseed: {seed}\npolicy:\n{policy}\ncalls:\n  - attempts:\n{}\n",
            steps.join("\n")
        );
        let scenario = Scenario::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let nested = format!("  {}", policy.replace('\n', "\n  "));
        let set = PolicySet::from_str(&format!("version: 1\npolicies:\n  w.Op:\n{nested}\n"), "p.yaml")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{policy}")))?;
        let envelope = Envelope::of(&resolve(&set, &Key::parse("w.Op")).policy);
        let bound = envelope.duration.expect("a per-attempt timeout bounds every call");
        let mut attempts = 0;
        let sim = run(&scenario, set, |_, tl, _| attempts = tl.attempts.len() as u32);
        let took_us = sim.final_state["virtual_time_us"].as_u64().unwrap();
        prop_assert!(attempts <= envelope.attempts, "{attempts} attempts, worst case {}\n{text}", envelope.attempts);
        prop_assert!(
            u128::from(took_us) <= bound.as_micros(),
            "took {took_us}us, worst case {bound:?}\n{text}"
        );
    }
}
