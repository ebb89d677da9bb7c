//! Timelines serialize to the `call` object of `schemas/event.schema.json` (the contract shared
//! by the live stream and `recourse policy simulate`), whatever the call went through.

use std::time::Duration;

use recourse_engine::budget::TokenBucket;
use recourse_engine::policy::BudgetRef;
use recourse_engine::{Executor, Timeline};
use serde_json::{Value, json};

use crate::support::*;

fn validator(root: &str) -> jsonschema::Validator {
    let text = include_str!("../../../schemas/event.schema.json");
    let mut schema: Value = serde_json::from_str(text).unwrap();
    schema["$ref"] = json!(root);
    jsonschema::validator_for(&schema).expect("the event schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, value: &Value) {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
}

fn timelines() -> Vec<Timeline> {
    let mut out = Vec::new();
    // Success after retries, with errors recorded.
    let (exec, vc) = with_policy(zero().max_attempts(3).id("p-1"));
    out.push(
        run(
            &vc,
            exec.call_traced("svc.op", fails_then(&Calls::default(), 2, ())),
        )
        .1,
    );
    // Failure, HTTP attributes, a fallback classifier.
    let (exec, vc) = with_policy(zero().max_attempts(2).classifier("nope"));
    out.push(
        run(
            &vc,
            exec.call_traced("svc.op", |_| async {
                Err::<(), _>(recourse_engine::classify::HttpStatusError::new(503, "GET"))
            }),
        )
        .1,
    );
    // A budget denial.
    let mut p = zero().max_attempts(3);
    p.retry.budget = BudgetRef::named("empty");
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .budget("empty", TokenBucket::new(0, 0.0)),
    );
    out.push(
        run(
            &vc,
            exec.call_traced("svc.op", always_fails(&Calls::default())),
        )
        .1,
    );
    // A hedge that wins, its loser cancelled.
    let (exec, vc) = with_policy(zero().max_attempts(1).hedging(1, ms(10)));
    let clock = exec.clock().clone();
    out.push(
        run(
            &vc,
            exec.call_traced("svc.op", move |i| {
                let clock = clock.clone();
                async move {
                    clock
                        .sleep(if i.is_hedge {
                            ms(1)
                        } else {
                            Duration::from_secs(5)
                        })
                        .await;
                    Ok::<_, E>(())
                }
            }),
        )
        .1,
    );
    // A breaker rejection: no attempts at all.
    let (exec, vc) = with_policy(zero().max_attempts(1).circuit(1, Duration::from_secs(10)));
    let _ = run(&vc, exec.call("svc.op", always_fails(&Calls::default())));
    out.push(
        run(
            &vc,
            exec.call_traced("svc.op", always_fails(&Calls::default())),
        )
        .1,
    );
    out
}

#[test]
fn every_kind_of_timeline_is_a_valid_call_object() {
    let v = validator("#/$defs/call");
    let all = timelines();
    assert_eq!(all.len(), 5);
    for tl in &all {
        assert_valid(&v, &serde_json::to_value(tl).unwrap());
    }
    // Without error texts too (what an exporter sends by default).
    for tl in &all {
        assert_valid(&v, &serde_json::to_value(tl.without_errors()).unwrap());
    }
}

#[test]
fn a_call_message_and_the_other_messages_are_valid_stream_messages() {
    let v = validator("#/$defs/message");
    let mut call = serde_json::to_value(&timelines()[0]).unwrap();
    call["t"] = json!("call");
    call["seq"] = json!(7);
    call["ts"] = json!("2026-01-01T00:00:00.000000Z");
    assert_valid(&v, &call);
    for m in [
        json!({"t": "hello", "v": 1, "service": "checkout", "instance": "a1", "pid": 42, "engine": "0.1.0", "started_at": "2026-01-01T00:00:00Z"}),
        json!({"t": "subscribe", "keys": ["payments.*", "!payments.Health"], "events": ["call", "stats"], "max_rate": 500}),
        json!({"t": "circuit", "seq": 3, "ts": "2026-01-01T00:00:00Z", "key": "inventory.Get", "from": "closed", "to": "open", "reason": "consecutive_failures"}),
        json!({"t": "gap", "seq": 4, "ts": "2026-01-01T00:00:00Z", "dropped": 12, "cause": "client_slow"}),
        json!({"t": "stats", "seq": 5, "ts": "2026-01-01T00:00:00Z", "keys": {"payments.Charge": {"calls": 10, "successes": 9, "failures": 1, "circuit": "closed", "latency": {"sub_buckets": 16, "counts": [[40, 3]]}}}}),
    ] {
        assert_valid(&v, &m);
    }
    // The schema has teeth: a call without attempts is not one.
    let mut bad = call.clone();
    bad.as_object_mut().unwrap().remove("attempts");
    assert!(!v.is_valid(&bad));
}
