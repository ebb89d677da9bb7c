//! What sharing a retry budget with the fleet costs a call: a call whose first attempt fails
//! and whose retry, gated by the budget, succeeds, with the budget a local token bucket and
//! then a fleet bucket of the same shape spending from its lease (`MemoryFleet`: the store
//! is never on the call path, whatever it is), and the same fleet bucket with its store down,
//! spending from its local fallback, and with its store answering 500ms late. In one group, one
//! runtime, one operation.

#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use recourse_engine::fleet::{FleetSettings, MemoryFleet};
use recourse_engine::{AttemptInfo, Executor, PolicySet};

use common::{Op, RetryNow, runtime};

/// One retry, at once (the `now` classifier), under `retries`: a bucket too large to run dry,
/// of `scope`.
fn policies(scope: &str) -> PolicySet {
    let text = format!(
        r#"{{"version": 1,
            "budgets": {{"retries": {{"kind": "token_bucket", "capacity": 1000000000000000,
                "refill_per_second": 1000000000, "scope": "{scope}"}}}},
            "policies": {{"svc.op": {{"retry": {{"max_attempts": 2, "classifier_name": "now",
                "budget": {{"name": "retries"}}}}}}}}}}"#
    );
    PolicySet::from_str(&text, "bench.json").expect("the bench's policies parse")
}

/// Fails the first attempt, succeeds the retry.
fn fail_once(a: AttemptInfo) -> Op {
    if a.attempt == 0 {
        Op::reset()
    } else {
        Op::succeed()
    }
}

fn fleet_lease(c: &mut Criterion) {
    let rt = runtime();
    let local = Executor::builder()
        .classifier("now", RetryNow)
        .policy_set(policies("local"))
        .build()
        .unwrap();
    let fleet = Executor::builder()
        .classifier("now", RetryNow)
        .policy_set(policies("fleet"))
        .fleet(MemoryFleet::new())
        .build()
        .unwrap();
    rt.block_on(async {
        // Builds the fleet budget, then lets it settle for its lease.
        let _ = fleet.call("svc.op", fail_once).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let budget = fleet.budget_level("retries").unwrap_or_default();
        assert!(budget > 1e12, "the lease is in hand: {budget}");
    });
    // The store down for three intervals: the budget spends from its local fallback.
    let down = MemoryFleet::with_settings(fast_sync());
    let fallback = Executor::builder()
        .classifier("now", RetryNow)
        .policy_set(policies("fleet"))
        .fleet(down.clone())
        .build()
        .unwrap();
    rt.block_on(async {
        let _ = fallback.call("svc.op", fail_once).await;
        down.set_down(true);
        tokio::time::sleep(Duration::from_millis(20)).await;
    });
    // The store answering 500ms late: settlements are slow, calls spend from the lease.
    let late = MemoryFleet::with_settings(slow_store());
    let slow = Executor::builder()
        .classifier("now", RetryNow)
        .policy_set(policies("fleet"))
        .fleet(late.clone())
        .build()
        .unwrap();
    rt.block_on(async {
        let _ = slow.call("svc.op", fail_once).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        late.set_latency(Duration::from_millis(500));
    });
    let mut g = c.benchmark_group("fleet_lease");
    g.bench_function("local_bucket_retry", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(local.call("svc.op", fail_once).await.is_ok()) })
    });
    g.bench_function("fleet_lease_retry", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(fleet.call("svc.op", fail_once).await.is_ok()) })
    });
    g.bench_function("fleet_store_late_retry", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(slow.call("svc.op", fail_once).await.is_ok()) })
    });
    g.bench_function("fleet_fallback_retry", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(fallback.call("svc.op", fail_once).await.is_ok()) })
    });
    g.finish();
}

/// Settles every 2s, each settlement allowed a second: a store answering 500ms late still
/// settles, and the lease holds while each answer is awaited.
fn slow_store() -> FleetSettings {
    let mut settings = FleetSettings::default();
    settings.interval = Duration::from_secs(2);
    settings.timeout = Duration::from_secs(1);
    settings
}

/// Settles every millisecond, so three intervals of an outage pass quickly.
fn fast_sync() -> FleetSettings {
    let mut settings = FleetSettings::default();
    settings.interval = Duration::from_millis(1);
    settings
}

criterion_group!(benches, fleet_lease);
criterion_main!(benches);
