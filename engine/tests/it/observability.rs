//! Observability: timelines, observers, attempt info.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::budget::{BudgetEvent, BudgetKind, TokenBucket};
use recourse_engine::classify::Kind;
use recourse_engine::observe::{CallOutcome, Fanout};
use recourse_engine::{
    AttemptInfo, AttemptRecord, CircuitState, Executor, Key, Observer, Policy, Reason, Timeline,
};

use crate::support::*;

#[test]
fn s099_callbacks_on_success_and_failure() {
    let rec = Recording::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().max_attempts(3))
            .observer(rec.clone()),
    );
    let calls = Calls::default();
    let (c, s) = (calls.clone(), seen.clone());
    let (res, tl) = run(
        &vc,
        exec.call_traced("svc.op", move |info: AttemptInfo| {
            s.lock().unwrap().push((info.attempt, info.retry_index()));
            let n = c.hit();
            async move { if n < 2 { Err(E(n)) } else { Ok(42) } }
        }),
    );
    assert_eq!(res.unwrap(), 42);
    let ev = rec.events();
    let count = |f: fn(&Ev) -> bool| ev.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Ev::Start { .. })), 1);
    assert_eq!(count(|e| matches!(e, Ev::Attempt { .. })), 3);
    assert_eq!(count(|e| matches!(e, Ev::Success { records: 3 })), 1);
    assert_eq!(count(|e| matches!(e, Ev::Failure { .. })), 0);
    assert_eq!(*seen.lock().unwrap(), [(0, 0), (1, 1), (2, 2)]);
    assert_eq!(
        (tl.attempts.len(), tl.error.as_deref(), tl.key.as_str()),
        (3, None, "svc.op")
    );
    // (b)
    let (exec, vc, rec) = recorded(zero().max_attempts(2));
    let calls = Calls::default();
    assert!(run(&vc, exec.call("svc.op", always_fails(&calls))).is_err());
    assert_eq!(calls.get(), 2);
    let ev = rec.events();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Ev::Attempt { .. }))
            .count(),
        2
    );
    assert!(matches!(ev.last(), Some(Ev::Failure { error: Some(e), .. }) if e == "op error 1"));
}

#[test]
fn s100_attempt_info_without_an_observer() {
    let (exec, vc) = with_policy(zero().max_attempts(1));
    let info = run(
        &vc,
        exec.call(
            "svc.op",
            |info: AttemptInfo| async move { Ok::<_, E>(info) },
        ),
    )
    .unwrap();
    assert_eq!(
        (
            info.attempt,
            info.retry_index(),
            info.hedge_index,
            info.is_hedge
        ),
        (0, 0, 0, false)
    );
}

#[test]
fn s101_full_event_order_with_a_budget() {
    // The first attempt is not gated, so its budget event is absent.
    let (exec, vc, rec) = recorded(zero().max_attempts(3).budget("unlimited"));
    run(
        &vc,
        exec.call("svc.op", fails_then(&Calls::default(), 2, ())),
    )
    .unwrap();
    let attempt = |attempt, outcome, reason: &str, budget_reason: &str, backoff| Ev::Attempt {
        attempt,
        hedge: 0,
        outcome,
        reason: reason.into(),
        budget_allowed: true,
        budget_reason: budget_reason.into(),
        backoff,
    };
    let budget = |attempt| Ev::Budget {
        attempt,
        kind: BudgetKind::Retry,
        budget: "unlimited".into(),
        mode: "standard".into(),
        allowed: true,
        reason: "allowed".into(),
    };
    assert_eq!(
        rec.events(),
        [
            Ev::Start {
                key: "svc.op".into(),
                max_attempts: Some(3)
            },
            attempt(0, Kind::Retryable, "retryable_error", "not_gated", ms(0)),
            budget(1),
            attempt(1, Kind::Retryable, "retryable_error", "allowed", ms(10)),
            budget(2),
            attempt(2, Kind::Success, "success", "allowed", ms(20)),
            Ev::Success { records: 3 },
        ]
    );
}

#[test]
fn s102_timeline_timestamps_on_the_virtual_clock() {
    let (exec, vc) = with_policy(zero().max_attempts(3));
    let clock = exec.clock().clone();
    let calls = Calls::default();
    let c = calls.clone();
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", move |_| {
            let n = c.hit();
            let clock = clock.clone();
            async move {
                clock.sleep(ms(1)).await;
                if n < 2 { Err(E(n)) } else { Ok(()) }
            }
        }),
    );
    let a = &tl.attempts;
    assert!(tl.start <= a[0].start && a[0].start < a[0].end && a[0].end <= a[1].start);
    assert!(a[1].start.since(a[0].end) >= ms(10));
    assert!(a[2].start.since(a[1].end) >= ms(20));
    assert!(tl.end >= a[2].end);
    assert_eq!(
        a.iter().map(|r| r.backoff).collect::<Vec<_>>(),
        [ms(0), ms(10), ms(20)]
    );
    assert_eq!(tl.duration(), ms(1 + 10 + 1 + 20 + 1));
}

#[test]
fn s103_capture_basics() {
    let (exec, vc) = vexec(Executor::builder());
    let (res, tl) = run(
        &vc,
        exec.call_traced("test.capture", |_| async { Ok::<_, E>(42) }),
    );
    assert_eq!(res.unwrap(), 42);
    assert_eq!(
        (tl.key.as_str(), tl.attempts.len(), tl.outcome),
        ("test.capture", 1, CallOutcome::Success)
    );
}

#[test]
fn s104_capture_and_nested_calls() {
    let (exec, vc) = vexec(Executor::builder());
    let inner_exec = exec.clone();
    let child = Arc::new(Mutex::new(None::<Timeline>));
    let ch = child.clone();
    let (_, parent) = run(
        &vc,
        exec.call_traced("parent", move |_| {
            let (e, ch) = (inner_exec.clone(), ch.clone());
            async move {
                // (a) an untraced nested call leaves no trace in the parent's timeline;
                e.call("child", |_| async { Ok::<_, E>(()) }).await.unwrap();
                // (b) a traced nested call has its own timeline.
                let (_, t) = e.call_traced("child", |_| async { Ok::<_, E>(()) }).await;
                *ch.lock().unwrap() = Some(t);
                Ok::<_, E>(())
            }
        }),
    );
    assert_eq!((parent.key.as_str(), parent.attempts.len()), ("parent", 1));
    let child = child.lock().unwrap().clone().unwrap();
    assert_eq!((child.key.as_str(), child.attempts.len()), ("child", 1));
}

#[test]
fn s105_attempt_info_round_trip() {
    // Rust passes attempt info to the operation directly: nothing to read back from a context.
    let (exec, vc) = with_policy(
        zero()
            .max_attempts(2)
            .id("pid-9")
            .overall_timeout(Duration::from_secs(1)),
    );
    let infos = Arc::new(Mutex::new(Vec::new()));
    let i = infos.clone();
    let _ = run(
        &vc,
        exec.call("svc.op", move |info: AttemptInfo| {
            i.lock().unwrap().push(info);
            async { Err::<(), _>(E(0)) }
        }),
    );
    let infos = infos.lock().unwrap();
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[1].attempt, 1);
    assert_eq!(
        infos[1].policy_id.and_then(|id| id.name()).as_deref(),
        Some("pid-9")
    );
    let deadline = infos[0]
        .deadline
        .expect("the overall deadline is passed on");
    assert_eq!(
        infos[0].remaining(recourse_engine::clock::VIRTUAL_EPOCH),
        Some(Duration::from_secs(1))
    );
    assert_eq!(infos[1].deadline, Some(deadline));
}

#[derive(Debug, Default)]
struct CountAll([AtomicU32; 8]);
impl CountAll {
    fn hit(&self, i: usize) {
        self.0[i].fetch_add(1, Ordering::SeqCst);
    }
    fn counts(&self) -> [u32; 8] {
        std::array::from_fn(|i| self.0[i].load(Ordering::SeqCst))
    }
}
impl Observer for CountAll {
    fn on_start(&self, _: &Key, _: &Policy) {
        self.hit(0)
    }
    fn on_attempt(&self, _: &Key, _: &AttemptRecord) {
        self.hit(1)
    }
    fn on_budget_decision(&self, _: &BudgetEvent<'_>) {
        self.hit(2)
    }
    fn on_hedge_spawn(&self, _: &Key, _: &AttemptRecord) {
        self.hit(3)
    }
    fn on_hedge_cancel(&self, _: &Key, _: &AttemptRecord, _: &Reason) {
        self.hit(4)
    }
    fn on_circuit_change(&self, _: &Key, _: CircuitState, _: CircuitState, _: &Reason) {
        self.hit(5)
    }
    fn on_success(&self, _: &Key, _: &Timeline) {
        self.hit(6)
    }
    fn on_failure(&self, _: &Key, _: &Timeline) {
        self.hit(7)
    }
}

#[test]
fn s106_fan_out_observer() {
    let (a, b) = (Arc::new(CountAll::default()), Arc::new(CountAll::default()));
    let fan = Arc::new(Fanout::new(vec![a.clone(), b.clone()]));
    // A call that fails once, its retry gated by a budget: a start, two attempts, one budget
    // decision, a success.
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("k.k", zero().max_attempts(2).budget("b"))
            .budget("b", TokenBucket::new(10, 0.0))
            .observer_arc(fan.clone()),
    );
    let calls = Calls::default();
    run(&vc, exec.call("k.k", fails_then(&calls, 1, ()))).unwrap();
    // The events a plain call does not have.
    let key = Key::parse("k.k");
    let rec = AttemptRecord::default();
    fan.on_hedge_spawn(&key, &rec);
    fan.on_hedge_cancel(&key, &rec, &Reason::HEDGE_CANCELLED);
    fan.on_circuit_change(
        &key,
        CircuitState::Closed,
        CircuitState::Open,
        &Reason::CIRCUIT_OPEN,
    );
    fan.on_failure(&key, &Timeline::default());
    for each in [a, b] {
        assert_eq!(each.counts(), [1, 2, 1, 1, 1, 1, 1, 1]);
    }
}

#[test]
fn s107_policy_id_propagation() {
    let rec = Recording::default();
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().id("pid-1"))
            .observer(rec),
    );
    let (res, tl) = run(
        &vc,
        exec.call_traced("svc.op", |info: AttemptInfo| async move {
            Ok::<_, E>(info.policy_id)
        }),
    );
    assert_eq!(
        res.unwrap().and_then(|id| id.name()).as_deref(),
        Some("pid-1")
    );
    assert_eq!(tl.policy_id.as_deref(), Some("pid-1"));
}

#[test]
fn timelines_carry_policy_source_and_normalization() {
    let (exec, vc) = with_policy(zero().max_attempts(50));
    let (_, tl) = run(
        &vc,
        exec.call_traced("svc.op", |_| async { Ok::<_, E>(()) }),
    );
    assert_eq!(tl.attribute("policy_source"), Some("static"));
    let normalized = tl.attribute("policy_normalized").unwrap();
    assert!(
        normalized.starts_with("retry.max_attempts,"),
        "{normalized}"
    );
    let (exec, vc) = vexec(Executor::builder());
    let (_, tl) = run(
        &vc,
        exec.call_traced("other.op", |_| async { Ok::<_, E>(()) }),
    );
    assert_eq!(
        (
            tl.attribute("policy_source"),
            tl.attribute("policy_normalized")
        ),
        (Some("default"), None)
    );
}

#[test]
fn timeline_serializes_as_the_wire_call_object() {
    let (exec, vc) = vexec(
        Executor::builder().policy("payments.Charge", zero().max_attempts(2).id("charge-v3")),
    );
    let (_, tl) = run(
        &vc,
        exec.call_traced("payments.Charge", fails_then(&Calls::default(), 1, ())),
    );
    let json = serde_json::to_value(&tl).unwrap();
    assert_eq!(json["key"], "payments.Charge");
    assert_eq!(json["policy_id"], "charge-v3");
    assert_eq!(json["outcome"], "success");
    assert_eq!(json["reason"], "success");
    assert_eq!(json["duration_us"], 10_000);
    assert_eq!(json["start"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(json["attributes"]["policy_source"], "static");
    let a = &json["attempts"];
    assert_eq!(a[0]["outcome"], "retryable");
    assert_eq!(a[0]["error"], "op error 0");
    assert_eq!(a[1]["start_us"], 10_000);
    assert_eq!(a[1]["backoff_us"], 10_000);
    assert_eq!(a[1]["budget_reason"], "no_budget");
    assert_eq!(a[1]["is_hedge"], false);
}
