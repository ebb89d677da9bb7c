//! Fleet budgets on a real `redis-server`, started by the tests on a free loopback port.
//!
//! Without `redis-server` these tests say so and pass, unless `RECOURSE_REQUIRE_REDIS=1`
//! (which CI sets).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use recourse_engine::fleet::RedisFleet;
use recourse_engine::{Executor, PolicySet};

use crate::support::*;

/// The sync interval the tests run at.
const I: Duration = Duration::from_millis(200);

/// A `redis-server` of this test's own; killed when dropped.
struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    /// A fresh server, or none (the test is skipped) when `redis-server` is not installed.
    fn start() -> Option<Redis> {
        let found = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var_os("RECOURSE_REQUIRE_REDIS").is_none(),
                "redis-server is required (apt-get install -y redis-server)"
            );
            eprintln!("skipped: redis-server is not installed (apt-get install -y redis-server)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(Redis {
            port,
            child: spawn(port),
        })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, empty.
    fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port);
    }

    /// Runs a command on it with `redis-cli`, without waiting for the answer.
    fn cli(&self, args: &[&str]) -> Child {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-cli comes with redis-server")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "yes",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// The key `svc.op` retries up to 4 times (5ms apart) under the fleet bucket `retries` of
/// `capacity`, refilled at a token per 1,000 s.
fn policies(capacity: u64) -> PolicySet {
    let text = format!(
        r#"{{"version": 1,
            "budgets": {{"retries": {{"kind": "token_bucket", "capacity": {capacity},
                "refill_per_second": 0.001, "scope": "fleet"}}}},
            "policies": {{"svc.op": {{"retry": {{"max_attempts": 5, "initial_backoff": "5ms",
                "max_backoff": "5ms", "budget": {{"name": "retries"}}}}}}}}}}"#
    );
    PolicySet::from_str(&text, "fleet.json").unwrap()
}

/// A replica with a connection of its own, in `namespace`.
fn replica(redis: &Redis, namespace: &str, capacity: u64) -> Executor {
    let store = RedisFleet::connect(&redis.url())
        .unwrap()
        .interval(I)
        .namespace(namespace);
    Executor::builder()
        .policy_set(policies(capacity))
        .fleet(store)
        .build()
        .unwrap()
}

/// Makes `calls` failing calls, `gap` apart; returns the retries admitted and the slowest
/// call's duration.
async fn failing_calls(exec: Executor, calls: u32, gap: Duration) -> (u32, Duration) {
    let (mut retries, mut slowest) = (0, Duration::ZERO);
    for _ in 0..calls {
        let attempts = Calls::default();
        let started = Instant::now();
        let _ = exec.call("svc.op", always_fails(&attempts)).await;
        slowest = slowest.max(started.elapsed());
        retries += attempts.get() - 1;
        tokio::time::sleep(gap).await;
    }
    (retries, slowest)
}

/// Where the budget spent from, as a traced call's timeline says.
async fn scope_seen(exec: &Executor) -> String {
    let calls = Calls::default();
    let (_, tl) = exec.call_traced("svc.op", fails_then(&calls, 0, ())).await;
    tl.attributes
        .get("budget_scope")
        .unwrap_or("none")
        .to_owned()
}

async fn all_in(replicas: &[Executor], scope: &str) -> bool {
    for r in replicas {
        if scope_seen(r).await != scope {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_replicas_share_one_bucket_of_a_hundred() {
    let Some(redis) = Redis::start() else { return };
    let replicas: Vec<Executor> = (0..20).map(|_| replica(&redis, "share", 100)).collect();
    let tasks: Vec<_> = replicas
        .iter()
        .map(|r| tokio::spawn(failing_calls(r.clone(), 40, Duration::from_millis(25))))
        .collect();
    let mut admitted = 0;
    for t in tasks {
        admitted += t.await.unwrap().0;
    }
    eprintln!("20 replicas × 160 retries asked: {admitted} admitted by the fleet");
    // Twenty local buckets of 100 would admit 2,000. While the store is reachable the fleet
    // admits at most its capacity (plus its refill: 0.001/s).
    assert!(admitted <= 100, "the fleet admitted {admitted}");
    assert!(admitted >= 90, "the fleet's tokens were spent: {admitted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_then_restarted() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let replicas: Vec<Executor> = (0..4).map(|_| replica(&redis, "outage", 100)).collect();
    for r in &replicas {
        let _ = scope_seen(r).await;
    }
    tokio::time::sleep(I * 3).await;
    assert!(all_in(&replicas, "fleet").await);

    redis.kill();
    let killed = Instant::now();
    // Calls go on, none waiting for the store.
    let (_, slowest) = failing_calls(replicas[0].clone(), 10, Duration::from_millis(10)).await;
    assert!(
        slowest < Duration::from_millis(100),
        "a call took {slowest:?}"
    );
    tokio::time::sleep((I * 3 + Duration::from_millis(50)).saturating_sub(killed.elapsed())).await;
    assert!(
        all_in(&replicas, "local_fallback").await,
        "every replica on its fallback {:?} after the kill",
        killed.elapsed()
    );

    redis.restart();
    let restarted = Instant::now();
    tokio::time::sleep(I * 2).await;
    assert!(
        all_in(&replicas, "fleet").await,
        "every replica back {:?} after the restart",
        restarted.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_answers_late_does_not_slow_a_call() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let exec = replica(&redis, "late", 1_000_000);
    let _ = scope_seen(&exec).await;
    tokio::time::sleep(I).await;
    let baseline = call_latencies(&exec, 400).await;
    // Redis stalls for longer than the test measures, by construction: every settlement sent
    // meanwhile is answered late, if at all, and nothing else happens to the store while the
    // calls are timed.
    const STALL: Duration = Duration::from_secs(60);
    let mut stall = redis.cli(&["DEBUG", "SLEEP", &STALL.as_secs().to_string()]);
    let stalled_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let stalled = call_latencies(&exec, 400).await;
    assert!(
        stalled_at.elapsed() < STALL,
        "the calls outlasted the stall"
    );
    redis.kill();
    let _ = stall.wait();
    eprintln!("call p50/p99 with Redis answering: {baseline:?}; stalled: {stalled:?}");
    assert!(
        stalled.1 <= baseline.1 * 3 + Duration::from_millis(2),
        "p99 {:?} against {:?}",
        stalled.1,
        baseline.1
    );
}

/// Retries go on through a store that stalls and comes back while calls run: the lease holds,
/// then the local fallback, then the fleet again; no retry is denied on the way (the budget
/// is far from spent). A denial says when it came and on which scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_go_on_through_a_stall_and_the_stores_return() {
    let Some(redis) = Redis::start() else { return };
    let exec = replica(&redis, "return", 1_000_000);
    let _ = scope_seen(&exec).await;
    tokio::time::sleep(I).await;
    // About 3 s of stalls, queued together; the calls run on past their end.
    let mut stalls: Vec<Child> = (0..6)
        .map(|_| redis.cli(&["DEBUG", "SLEEP", "0.5"]))
        .collect();
    let stalled = Instant::now();
    let mut denied = Vec::new();
    while stalled.elapsed() < Duration::from_millis(4_500) {
        let calls = Calls::default();
        let (r, tl) = exec.call_traced("svc.op", fails_then(&calls, 1, ())).await;
        if r.is_err() {
            denied.push(format!(
                "{:?} after the stall began: {r:?}, scope {:?}, sync age {:?} ms",
                stalled.elapsed(),
                tl.attribute("budget_scope"),
                tl.attribute("budget_sync_age_ms"),
            ));
        }
    }
    for s in &mut stalls {
        let _ = s.wait();
    }
    assert!(denied.is_empty(), "{} denied: {denied:#?}", denied.len());
    // A replica finds a store that is back within two intervals (given ten, for a busy host).
    let back = Instant::now();
    while scope_seen(&exec).await != "fleet" {
        assert!(back.elapsed() < I * 10, "not back on the fleet");
        tokio::time::sleep(I / 4).await;
    }
}

/// The p50 and p99 of `n` calls that succeed after one retry.
async fn call_latencies(exec: &Executor, n: usize) -> (Duration, Duration) {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let calls = Calls::default();
        let started = Instant::now();
        exec.call("svc.op", fails_then(&calls, 1, ()))
            .await
            .unwrap();
        took.push(started.elapsed());
    }
    took.sort_unstable();
    (took[n / 2], took[n * 99 / 100])
}
