//! Fleet budgets (`scope: fleet`) on the in-memory store, on tokio's paused clock: replicas
//! share one allowance, fall back when the store is out of reach, and come back.

use std::time::Duration;

use recourse_engine::fleet::MemoryFleet;
use recourse_engine::{Executor, PolicySet, Reason};

use crate::support::*;

/// The default sync interval.
const I: Duration = Duration::from_millis(750);

/// A policy set whose key retries up to 4 times under the fleet bucket `retries` (capacity
/// 100, a token every 1,000 s), with `extra` fields on the budget.
fn policies(extra: &str) -> PolicySet {
    let text = format!(
        r#"{{"version": 1,
            "budgets": {{"retries": {{"kind": "token_bucket", "capacity": 100,
                "refill_per_second": 0.001, "scope": "fleet"{extra}}}}},
            "policies": {{"svc.op": {{"retry": {{"max_attempts": 5, "initial_backoff": "10ms",
                "max_backoff": "10ms", "budget": {{"name": "retries"}}}}}}}}}}"#
    );
    PolicySet::from_str(&text, "fleet.json").unwrap()
}

fn replica(store: &MemoryFleet, extra: &str) -> Executor {
    Executor::builder()
        .policy_set(policies(extra))
        .fleet(store.clone())
        .build()
        .unwrap()
}

/// Makes `calls` failing calls, one every 100ms; returns the retries the budget admitted.
async fn failing_calls(exec: Executor, calls: u32) -> u32 {
    let mut retries = 0;
    for _ in 0..calls {
        let attempts = Calls::default();
        let _ = exec.call("svc.op", always_fails(&attempts)).await;
        retries += attempts.get() - 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    retries
}

/// The budget scope a traced call's timeline reports.
async fn scope_seen(exec: &Executor) -> String {
    let calls = Calls::default();
    let (_, tl) = exec.call_traced("svc.op", fails_then(&calls, 0, ())).await;
    tl.attributes
        .get("budget_scope")
        .expect("a fleet budget's call says where it spent from")
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn twenty_replicas_admit_the_fleets_hundred_retries_not_two_thousand() {
    let store = MemoryFleet::new();
    let tasks: Vec<_> = (0..20)
        .map(|_| tokio::spawn(failing_calls(replica(&store, ""), 60)))
        .collect();
    let mut admitted = 0;
    for t in tasks {
        admitted += t.await.unwrap();
    }
    // Each replica asked for 240 retries; twenty local buckets of 100 would admit 2,000.
    assert!(admitted <= 100, "the fleet admitted {admitted} retries");
    assert!(
        admitted >= 95,
        "the fleet's tokens were spent, not stranded: {admitted}"
    );
}

#[tokio::test(start_paused = true)]
async fn replicas_fall_back_within_three_intervals_and_return_within_two() {
    let store = MemoryFleet::new();
    let replicas: Vec<Executor> = (0..3).map(|_| replica(&store, "")).collect();
    for r in &replicas {
        let _ = scope_seen(r).await; // builds the budget and starts its sync
    }
    // Two settlements each, so every replica knows it is one of three.
    tokio::time::sleep(I * 3).await;
    for r in &replicas {
        assert_eq!(scope_seen(r).await, "fleet");
    }

    store.set_down(true);
    tokio::time::sleep(I * 3 + Duration::from_millis(1)).await;
    for r in &replicas {
        assert_eq!(scope_seen(r).await, "local_fallback");
    }
    // The fallback holds a third of the fleet's allowance: 34 tokens.
    let admitted = failing_calls(replicas[0].clone(), 20).await;
    assert_eq!(admitted, 34, "a replica's share of 100, rounded up");

    store.set_down(false);
    tokio::time::sleep(I * 2).await;
    for r in &replicas {
        assert_eq!(scope_seen(r).await, "fleet");
    }
}

#[tokio::test(start_paused = true)]
async fn fallback_deny_refuses_every_retry_while_the_store_is_down() {
    let store = MemoryFleet::new();
    let exec = replica(&store, r#", "fallback": "deny""#);
    let _ = scope_seen(&exec).await;
    tokio::time::sleep(I).await;
    store.set_down(true);
    tokio::time::sleep(I * 3 + Duration::from_millis(1)).await;
    let calls = Calls::default();
    let err = exec.call("svc.op", always_fails(&calls)).await.unwrap_err();
    assert_eq!((calls.get(), err.reason_code()), (1, Reason::BUDGET_DENIED));
    assert_eq!(exec.budget_level("retries"), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn a_store_that_forgot_everything_is_rejoined_with_the_leases_in_hand() {
    let store = MemoryFleet::new();
    let a = replica(&store, "");
    let b = replica(&store, "");
    let spent = failing_calls(a.clone(), 10).await + failing_calls(b.clone(), 10).await;
    assert!(spent > 0);
    store.restart();
    // The restarted store starts a full pool; each replica's lease is counted against it when
    // the replica settles, so the fleet gets one fresh capacity plus, at most, the leases not
    // yet settled (all of them are within the 100 - spent the replicas held).
    let after = failing_calls(a.clone(), 40).await + failing_calls(b.clone(), 40).await;
    assert!(after >= 95, "the budget works after the restart: {after}");
    assert!(
        after <= 100 + (100 - spent),
        "one fresh capacity plus the leases in hand: {after} after {spent}"
    );
    assert_eq!(scope_seen(&a).await, "fleet");
}

#[tokio::test(start_paused = true)]
async fn without_a_store_a_fleet_budget_spends_from_the_whole_local_budget() {
    let exec = Executor::builder()
        .policy_set(policies(""))
        .build()
        .unwrap();
    assert_eq!(scope_seen(&exec).await, "local_fallback");
    assert_eq!(failing_calls(exec, 40).await, 100);
}

#[tokio::test(start_paused = true)]
async fn a_lease_given_up_in_a_short_outage_returns_to_the_fleet() {
    let store = MemoryFleet::new();
    let exec = replica(&store, "");
    let _ = scope_seen(&exec).await;
    tokio::time::sleep(I * 2).await;
    assert_eq!(exec.budget_level("retries"), Some(100.0));
    // Down long enough for the replica to give up its lease, not for the store to forget it.
    store.set_down(true);
    tokio::time::sleep(I * 3 + Duration::from_millis(1)).await;
    assert_eq!(scope_seen(&exec).await, "local_fallback");
    store.set_down(false);
    tokio::time::sleep(I * 2).await;
    assert_eq!(scope_seen(&exec).await, "fleet");
    assert_eq!(
        exec.budget_level("retries"),
        Some(100.0),
        "the lease it let go of was not spent"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fleet_ratio_budget_admits_a_tenth_of_the_fleets_calls() {
    let text = r#"{"version": 1,
        "budgets": {"retries": {"kind": "ratio", "ratio": 0.1, "scope": "fleet"}},
        "policies": {"svc.op": {"retry": {"max_attempts": 3, "initial_backoff": "10ms",
            "max_backoff": "10ms", "budget": {"name": "retries"}}}}}"#;
    let store = MemoryFleet::new();
    let replicas: Vec<Executor> = (0..4)
        .map(|_| {
            Executor::builder()
                .policy_set(PolicySet::from_str(text, "ratio.json").unwrap())
                .fleet(store.clone())
                .build()
                .unwrap()
        })
        .collect();
    let tasks: Vec<_> = replicas
        .iter()
        .map(|r| tokio::spawn(failing_calls(r.clone(), 50)))
        .collect();
    let mut admitted = 0;
    for t in tasks {
        admitted += t.await.unwrap();
    }
    // 200 calls in the fleet deposit 20 retries; 400 were asked for.
    assert!(admitted <= 20, "the fleet admitted {admitted}");
    assert!(admitted >= 10, "deposits reached the replicas: {admitted}");
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_never_reaches_its_store_denies_for_three_intervals_then_falls_back() {
    let store = MemoryFleet::new();
    store.set_down(true);
    let exec = replica(&store, "");
    let calls = Calls::default();
    let err = exec.call("svc.op", always_fails(&calls)).await.unwrap_err();
    assert_eq!(
        (calls.get(), err.reason_code()),
        (1, Reason::BUDGET_DENIED),
        "no retry on a fleet it knows nothing of"
    );
    assert_eq!(scope_seen(&exec).await, "fleet");
    tokio::time::sleep(I * 3).await;
    // Nothing known of the fleet: the local rules, the whole budget.
    assert_eq!(scope_seen(&exec).await, "local_fallback");
    assert_eq!(failing_calls(exec, 30).await, 100);
}
