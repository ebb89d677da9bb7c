//! Shadow policies, on virtual time: what a shadow would have decided is recorded in the
//! timeline and counted, and the live call is never changed by it.

use proptest::prelude::*;
use recourse_engine::clock::{Clock, VirtualClock};
use recourse_engine::shadow::ShadowStats;
use recourse_engine::{AttemptInfo, Executor, Policy, PolicySet, Timeline};
use std::sync::{Arc, Mutex};

use crate::support::*;

/// A policy file with one key, `svc.op`, whose entry is `entry` (YAML flow mapping), and a
/// token bucket `tight` of capacity 1 that never refills.
fn file(entry: &str) -> PolicySet {
    let text = format!(
        "version: 1\nbudgets:\n  tight: {{ kind: token_bucket, capacity: 1, refill_per_second: 0 }}\npolicies:\n  svc.op: {entry}\n"
    );
    PolicySet::from_str(&text, "shadow.yaml").unwrap()
}

fn exec_of(set: PolicySet) -> (Executor, VirtualClock) {
    vexec(Executor::builder().policy_set(set))
}

/// An operation that answers each invocation (counted across calls) from `script`: (latency
/// in ms, success), the last entry repeating.
fn scripted(
    script: &[(u64, bool)],
    invoked: &Arc<Mutex<u32>>,
    clock: Clock,
) -> impl FnMut(AttemptInfo) -> std::pin::Pin<Box<dyn Future<Output = Result<(), E>>>> + use<> {
    let script = script.to_vec();
    let invoked = invoked.clone();
    move |_| {
        let i = {
            let mut n = invoked.lock().unwrap();
            *n += 1;
            *n as usize - 1
        };
        let (latency, ok) = script[i.min(script.len() - 1)];
        let clock = clock.clone();
        Box::pin(async move {
            clock.sleep(ms(latency)).await;
            if ok { Ok(()) } else { Err(E(i as u32)) }
        })
    }
}

/// Makes `calls` traced calls of `svc.op`, each answered from `script` in turn.
fn calls(
    exec: &Executor,
    vc: &VirtualClock,
    calls: usize,
    script: &[(u64, bool)],
) -> Vec<Timeline> {
    let invoked = Arc::default();
    (0..calls)
        .map(|_| {
            let op = scripted(script, &invoked, exec.clock().clone());
            vc.block_on(exec.call_traced("svc.op", op)).1
        })
        .collect()
}

fn stats(exec: &Executor) -> ShadowStats {
    exec.shadow_stats("svc.op").expect("the key has a shadow")
}

#[test]
fn a_shadow_with_more_attempts_would_retry_where_the_live_policy_stopped() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 2, initial_backoff: 1ms }, shadow: { id: more, retry: { max_attempts: 4 } } }",
    ));
    let tl = &calls(&exec, &vc, 1, &[(5, false), (5, false), (5, true)])[0];
    assert!(tl.outcome == recourse_engine::observe::CallOutcome::Failure);
    assert_eq!(tl.attempts.len(), 2, "the live policy ran its two attempts");
    assert_eq!(tl.attribute("shadow_outcome"), Some("unknown"));
    assert_eq!(tl.attribute("shadow_decisions"), Some("would_retry"));
    assert_eq!(tl.attribute("shadow_attempts"), Some("2"));
    let s = stats(&exec);
    assert_eq!((s.calls, s.unknown, s.differs, s.retries), (1, 1, 1, 2));
    assert_eq!(s.policy.as_deref(), Some("more"));
}

#[test]
fn a_shadow_with_fewer_attempts_would_stop_and_fail_a_call_the_live_policy_saved() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 4, initial_backoff: 1ms }, shadow: { retry: { max_attempts: 2 } } }",
    ));
    let tl = &calls(&exec, &vc, 1, &[(5, false), (5, false), (5, true)])[0];
    assert_eq!(tl.attempts.len(), 3);
    assert!(tl.outcome == recourse_engine::observe::CallOutcome::Success);
    assert_eq!(tl.attribute("shadow_outcome"), Some("failure"));
    assert_eq!(tl.attribute("shadow_decisions"), Some("would_stop"));
    let s = stats(&exec);
    assert_eq!((s.failures, s.attempts, s.retries, s.differs), (1, 2, 1, 1));
}

#[test]
fn the_same_policy_as_shadow_agrees_with_every_call() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 3, initial_backoff: 1ms }, shadow: {} }",
    ));
    let script = [
        (5, false),
        (5, true),
        (5, false),
        (5, false),
        (5, false),
        (5, true),
    ];
    let tls = calls(&exec, &vc, 4, &script);
    for tl in &tls {
        assert_eq!(tl.attribute("shadow_decisions"), None, "{tl:?}");
        assert_eq!(
            tl.attribute("shadow_attempts"),
            Some(tl.attempts.len().to_string().as_str())
        );
    }
    let s = stats(&exec);
    assert_eq!(s.differs, 0);
    assert_eq!(s.calls, 4);
    assert_eq!(
        s.attempts,
        tls.iter().map(|t| t.attempts.len() as u64).sum::<u64>()
    );
}

/// The live budget and the shadow's copy refuse the same retries: no difference.
#[test]
fn a_retry_both_budgets_refuse_is_no_difference() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 3, initial_backoff: 1ms, budget: { name: tight } }, shadow: {} }",
    ));
    let tls = calls(&exec, &vc, 2, &[(5, false)]);
    assert_eq!(tls[0].attempts.len(), 3, "two run, the third refused");
    for tl in &tls {
        assert_eq!(tl.attribute("shadow_decisions"), None, "{tl:?}");
    }
    let s = stats(&exec);
    assert_eq!((s.differs, s.budget_denied), (0, 2));
}

#[test]
fn a_tighter_shadow_timeout_would_cut_slow_attempts() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 2, initial_backoff: 1ms }, shadow: { retry: { timeout_per_attempt: 50ms } } }",
    ));
    // 80ms then a fast success: the live call succeeds at once; the shadow cuts the first at
    // 50ms and retries into the same success... which the live call never needed.
    let tl = &calls(&exec, &vc, 1, &[(80, true)])[0];
    assert_eq!(tl.attempts.len(), 1);
    assert_eq!(tl.attribute("shadow_outcome"), Some("unknown"));
    assert_eq!(
        tl.attribute("shadow_decisions"),
        Some("would_retry,would_time_out")
    );
    assert_eq!(stats(&exec).timeouts, 1);
}

#[test]
fn a_looser_shadow_timeout_cannot_know_what_a_cut_attempt_would_have_answered() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 1, timeout_per_attempt: 50ms }, shadow: { retry: { timeout_per_attempt: 200ms } } }",
    ));
    let tl = &calls(&exec, &vc, 1, &[(100, true)])[0];
    assert!(tl.outcome == recourse_engine::observe::CallOutcome::Failure);
    assert_eq!(tl.attribute("shadow_outcome"), Some("unknown"));
    assert_eq!(tl.attribute("shadow_decisions"), Some("would_wait"));
}

#[test]
fn a_shadow_breaker_opens_and_rejects_while_the_live_calls_go_on() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 1 }, shadow: { circuit: { enabled: true, threshold: 3, cooldown: 10s } } }",
    ));
    let tls = calls(&exec, &vc, 5, &[(5, false)]);
    // Every live call ran its attempt: the live policy has no breaker.
    assert!(tls.iter().all(|t| t.attempts.len() == 1));
    assert_eq!(tls[2].attribute("shadow_decisions"), Some("would_open"));
    assert_eq!(tls[3].attribute("shadow_decisions"), Some("would_reject"));
    assert_eq!(tls[3].attribute("shadow_attempts"), Some("0"));
    let s = stats(&exec);
    assert_eq!((s.circuit_opens, s.circuit_rejected), (1, 2));
    assert_eq!(s.circuit.as_deref(), Some("open"));
    assert_eq!(
        exec.circuit_state("svc.op"),
        recourse_engine::CircuitState::Closed
    );
}

#[test]
fn a_shadow_budget_is_a_copy_that_the_live_calls_never_spend() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 3, initial_backoff: 1ms }, shadow: { retry: { budget: { name: tight } } } }",
    ));
    let tls = calls(&exec, &vc, 2, &[(5, false)]);
    // The live policy has no budget: both calls ran three attempts.
    assert!(tls.iter().all(|t| t.attempts.len() == 3));
    // The shadow's bucket holds one token: the first call's second retry is refused, and
    // every retry after it.
    assert_eq!(
        tls[0].attribute("shadow_decisions"),
        Some("would_stop,would_deny")
    );
    assert_eq!(tls[0].attribute("shadow_attempts"), Some("2"));
    assert_eq!(tls[1].attribute("shadow_attempts"), Some("1"));
    assert_eq!(stats(&exec).budget_denied, 2);
    // The declared budget itself is untouched.
    assert_eq!(exec.budget_level("tight"), Some(1.0));
}

#[test]
fn a_shadow_that_hedges_counts_the_hedges_the_live_call_did_not_send() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 1 }, shadow: { hedge: { enabled: true, max_hedges: 2, hedge_delay: 20ms } } }",
    ));
    let tl = &calls(&exec, &vc, 1, &[(50, true)])[0];
    assert_eq!(tl.attempts.len(), 1);
    assert_eq!(tl.attribute("shadow_decisions"), Some("would_hedge"));
    assert_eq!(tl.attribute("shadow_attempts"), Some("3"));
    assert_eq!(stats(&exec).hedges, 2);
}

#[test]
fn a_key_without_a_shadow_has_no_shadow_counters_and_no_shadow_attributes() {
    let (exec, vc) = exec_of(file("{ retry: { max_attempts: 2 } }"));
    let tl = &calls(&exec, &vc, 1, &[(5, true)])[0];
    assert_eq!(tl.attribute("shadow_outcome"), None);
    assert_eq!(exec.shadow_stats("svc.op"), None);
}

#[test]
fn a_shadowed_call_nobody_traces_is_still_judged() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 2, initial_backoff: 1ms }, shadow: { retry: { max_attempts: 1 } } }",
    ));
    let invoked = Arc::default();
    let op = scripted(&[(5, false), (5, true)], &invoked, exec.clock().clone());
    vc.block_on(exec.key("svc.op").call(op)).unwrap();
    let s = stats(&exec);
    assert_eq!((s.calls, s.failures, s.differs), (1, 1, 1));
}

/// With a refilling bucket and backoffs between attempts, the same policy as shadow spends
/// its copy exactly as the live call spends the budget: asked at the live retries' moments.
#[test]
fn the_same_policy_as_shadow_spends_a_refilling_budget_as_the_live_call_does() {
    let text = "version: 1\nbudgets:\n  b: { kind: token_bucket, capacity: 2, refill_per_second: 1 }\npolicies:\n  svc.op: { retry: { max_attempts: 4, initial_backoff: 700ms, max_backoff: 700ms, budget: { name: b } }, shadow: {} }\n";
    let (exec, vc) = exec_of(PolicySet::from_str(text, "b.yaml").unwrap());
    let tls = calls(&exec, &vc, 6, &[(5, false)]);
    for tl in &tls {
        assert_eq!(tl.attribute("shadow_decisions"), None, "{tl:?}");
    }
    assert_eq!(stats(&exec).differs, 0);
}

/// The live primary was dropped when a hedge won; a shadow that would not have sent that
/// hedge cannot know what the primary would have answered.
#[test]
fn a_primary_dropped_for_a_hedge_the_shadow_would_not_send_is_unknown() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 1 }, hedge: { enabled: true, max_hedges: 1, hedge_delay: 50ms }, shadow: { hedge: { hedge_delay: 200ms } } }",
    ));
    let clock = exec.clock().clone();
    let op = move |info: AttemptInfo| {
        let clock = clock.clone();
        Box::pin(async move {
            clock.sleep(ms(if info.is_hedge { 30 } else { 300 })).await;
            Ok::<_, E>(())
        }) as std::pin::Pin<Box<dyn Future<Output = Result<(), E>>>>
    };
    let (r, tl) = vc.block_on(exec.call_traced("svc.op", op));
    r.unwrap();
    assert_eq!(tl.attribute("shadow_outcome"), Some("unknown"));
    assert_eq!(
        tl.attribute("shadow_decisions"),
        Some("would_not_hedge,would_wait")
    );
}

/// A call its caller cancelled is no failure for either breaker.
#[test]
fn cancelled_calls_never_open_the_shadows_breaker() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 3 }, shadow: { circuit: { enabled: true, threshold: 1, cooldown: 10s } } }",
    ));
    for _ in 0..5 {
        let token = recourse_engine::CancellationToken::new();
        let options = recourse_engine::CallOptions::cancel_on(token.clone());
        let op = move |_| {
            token.cancel();
            std::future::ready(Err::<(), _>(E(0)))
        };
        let (r, _) = vc.block_on(exec.call_with("svc.op", &options, op));
        assert!(r.is_err());
    }
    let s = stats(&exec);
    assert_eq!(
        (s.calls, s.circuit_opens, s.circuit.as_deref()),
        (5, 0, Some("closed"))
    );
    assert_eq!(s.differs, 0);
}

/// The caller's one-attempt option binds the shadow too.
#[test]
fn a_single_attempt_call_is_single_for_the_shadow_too() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 3, initial_backoff: 1ms }, shadow: { retry: { max_attempts: 5 } } }",
    ));
    let options = recourse_engine::CallOptions::default()
        .single_attempt()
        .traced();
    let (_, tl) = vc.block_on(exec.call_with("svc.op", &options, |_| {
        std::future::ready(Err::<(), _>(E(0)))
    }));
    let tl = tl.unwrap();
    assert_eq!(tl.attribute("shadow_outcome"), Some("failure"));
    assert_eq!(tl.attribute("shadow_decisions"), None);
}

/// A wait the live deadline refused is refused by a shadow with the same deadline.
#[test]
fn a_backoff_past_the_shared_deadline_ends_both() {
    let (exec, vc) = exec_of(file(
        "{ retry: { max_attempts: 3, initial_backoff: 500ms, max_backoff: 500ms, overall_timeout: 300ms }, shadow: { retry: { max_attempts: 4 } } }",
    ));
    let tl = &calls(&exec, &vc, 1, &[(5, false)])[0];
    assert_eq!(tl.reason, recourse_engine::Reason::BACKOFF_EXCEEDS_DEADLINE);
    assert_eq!(tl.attribute("shadow_outcome"), Some("failure"));
    assert_eq!(tl.attribute("shadow_decisions"), None);
}

/// A reload that drops the shadow ends its report; one that brings a shadow back reports
/// the key's counters again.
#[test]
fn a_reload_without_the_shadow_ends_its_report() {
    let with = zero().max_attempts(1).shadow(Policy::new().max_attempts(2));
    let provider = Reloadable::new(with.clone());
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    let op = |_| std::future::ready(Ok::<_, E>(()));
    vc.block_on(exec.call("svc.op", op)).unwrap();
    assert_eq!(stats(&exec).calls, 1);
    provider.set(zero().max_attempts(1));
    vc.block_on(exec.call("svc.op", op)).unwrap();
    assert_eq!(exec.shadow_stats("svc.op"), None);
    provider.set(with);
    vc.block_on(exec.call("svc.op", op)).unwrap();
    assert_eq!(stats(&exec).calls, 2, "the same candidate's counters, kept");
}

/// Another candidate (another id) starts afresh: its counters and its breaker.
#[test]
fn a_new_candidate_starts_afresh() {
    let candidate = |id: &str| {
        zero()
            .max_attempts(1)
            .shadow(Policy::new().id(id).circuit(1, ms(60_000)))
    };
    let provider = Reloadable::new(candidate("v1"));
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    let fail = |_| std::future::ready(Err::<(), _>(E(0)));
    vc.block_on(exec.call("svc.op", fail)).unwrap_err();
    let s = stats(&exec);
    assert_eq!((s.calls, s.circuit.as_deref()), (1, Some("open")));
    provider.set(candidate("v2"));
    vc.block_on(exec.call("svc.op", |_| std::future::ready(Ok::<_, E>(()))))
        .unwrap();
    let s = stats(&exec);
    assert_eq!(s.policy.as_deref(), Some("v2"));
    assert_eq!(
        (s.calls, s.successes, s.circuit.as_deref()),
        (1, 1, Some("closed"))
    );
}

// --- A shadow never changes the live call ---

fn arb_live() -> impl Strategy<Value = String> {
    (
        1u32..5,
        prop_oneof![Just(""), Just("timeout_per_attempt: 40ms,"), Just("overall_timeout: 120ms,")],
        prop_oneof![Just(""), Just("budget: { name: tight },")],
        prop_oneof![
            Just(""),
            Just("hedge: { enabled: true, max_hedges: 1, hedge_delay: 30ms },")
        ],
        prop_oneof![
            Just(""),
            Just("circuit: { enabled: true, threshold: 2, cooldown: 100ms },")
        ],
    )
        .prop_map(|(attempts, timeout, budget, hedge, circuit)| {
            format!(
                "retry: {{ max_attempts: {attempts}, initial_backoff: 5ms, {timeout} {budget} }}, {hedge} {circuit}"
            )
        })
}

fn arb_shadow() -> impl Strategy<Value = String> {
    (
        1u32..6,
        prop_oneof![Just(""), Just("timeout_per_attempt: 25ms,"), Just("overall_timeout: 60ms,")],
        prop_oneof![Just(""), Just("budget: { name: tight },")],
        prop_oneof![
            Just(""),
            Just("hedge: { enabled: true, max_hedges: 2, hedge_delay: 15ms },")
        ],
        prop_oneof![
            Just(""),
            Just("circuit: { enabled: true, threshold: 1, cooldown: 50ms },")
        ],
    )
        .prop_map(|(attempts, timeout, budget, hedge, circuit)| {
            format!(
                "shadow: {{ retry: {{ max_attempts: {attempts}, {timeout} {budget} }}, {hedge} {circuit} }}"
            )
        })
}

/// The timeline without the shadow's attributes.
fn unshadowed(mut t: Timeline) -> Timeline {
    let mut attributes = recourse_engine::classify::Attributes::new();
    for (k, v) in t.attributes.iter() {
        if !k.starts_with("shadow_") {
            attributes.insert(k, v);
        }
    }
    t.attributes = attributes;
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// With any live policy, any shadow and any dependency, a run of calls ends the same with
    /// and without the shadow: the same results, attempts, timelines (times included) and
    /// virtual time, the same budget level and breaker state.
    #[test]
    fn a_shadow_never_changes_a_live_call(
        live in arb_live(),
        shadow in arb_shadow(),
        script in proptest::collection::vec((0u64..80, any::<bool>()), 1..10),
        n in 1usize..6,
        untraced in any::<bool>(),
    ) {
        let run = |entry: String| {
            let (exec, vc) = exec_of(file(&entry));
            let invoked = Arc::default();
            let mut out = Vec::new();
            for _ in 0..n {
                let op = scripted(&script, &invoked, exec.clock().clone());
                if untraced {
                    let r = vc.block_on(exec.call("svc.op", op)).map_err(|e| e.to_string());
                    out.push((r, None));
                } else {
                    let (r, t) = vc.block_on(exec.call_traced("svc.op", op));
                    out.push((r.map_err(|e| e.to_string()), Some(unshadowed(t))));
                }
                vc.advance(ms(7));
            }
            let end = (
                *invoked.lock().unwrap(),
                vc.now(),
                exec.budget_level("tight"),
                exec.circuit_state("svc.op"),
            );
            (out, end, exec.shadow_stats("svc.op").map(|s| s.calls))
        };
        let (alone, end_alone, none) = run(format!("{{ {live} }}"));
        let (shadowed, end_shadowed, judged) = run(format!("{{ {live} {shadow} }}"));
        prop_assert_eq!(none, None);
        prop_assert_eq!(judged, Some(n as u64));
        prop_assert_eq!(alone, shadowed);
        prop_assert_eq!(end_alone, end_shadowed);
    }
}

#[test]
fn a_shadow_inherits_the_live_policy_and_is_shown_normalized() {
    let set = file(
        "{ id: live, retry: { max_attempts: 2, initial_backoff: 5ms }, shadow: { retry: { max_attempts: 50 } } }",
    );
    let (_, policy, _) = set.entries().next().unwrap();
    let n = policy.clone().normalize();
    let shadow = n.shadow.as_ref().expect("a shadow");
    assert_eq!(shadow.retry.max_attempts, 10, "clamped");
    assert_eq!(shadow.retry.initial_backoff, ms(5), "inherited");
    assert_eq!(shadow.id, None, "a shadow is named by its own id only");
    assert!(shadow.meta.changed_fields.contains(&"retry.max_attempts"));
    // Written out and read again, the same policy, shadow included.
    let again = n.to_policy().normalize();
    assert_eq!(again.shadow, n.shadow);
}

#[test]
fn a_shadow_set_in_code_is_judged_too() {
    let (exec, vc) = with_policy(zero().max_attempts(1).shadow(Policy::new().max_attempts(3)));
    let invoked = Arc::default();
    let op = scripted(&[(5, false)], &invoked, exec.clock().clone());
    let (_, tl) = vc.block_on(exec.call_traced("svc.op", op));
    assert_eq!(tl.attribute("shadow_decisions"), Some("would_retry"));
}
