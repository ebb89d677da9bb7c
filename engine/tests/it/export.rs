//! The live export (feature `export`) on real sockets: handshake, filtering, exact counters,
//! and backpressure (a slow or stuck client never slows calls; losses are counted exactly).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use recourse_engine::Executor;
use recourse_engine::export::{Endpoint, ExportConfig, ExportError, ExportServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::support::*;

pub fn validator() -> jsonschema::Validator {
    let text = include_str!("../../../schemas/event.schema.json");
    let schema: Value = serde_json::from_str(text).unwrap();
    jsonschema::validator_for(&schema).expect("the event schema compiles")
}

pub fn socket(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("svc.sock")
}

/// A test client: reads lines with a timeout, writes subscriptions.
pub struct Client {
    pub lines: BufReader<OwnedReadHalf>,
    pub w: OwnedWriteHalf,
}

impl Client {
    /// The export of `exec` served on its socket in `dir`, and a client subscribed to its
    /// stats (keep the server: dropping it stops the export).
    pub async fn stats_of(exec: &Executor, dir: &tempfile::TempDir) -> (ExportServer, Client) {
        let server = ExportServer::start(exec).await.unwrap();
        let mut c = Client::connect(&socket(dir)).await;
        c.subscribe(json!({"t": "subscribe", "events": ["stats"]}))
            .await;
        (server, c)
    }

    pub async fn connect(path: &Path) -> Client {
        let (r, w) = UnixStream::connect(path)
            .await
            .expect("connects")
            .into_split();
        Client {
            lines: BufReader::new(r),
            w,
        }
    }

    pub async fn next(&mut self) -> Value {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), self.lines.read_line(&mut line))
            .await
            .expect("a message within 10 s")
            .expect("reads");
        assert!(n > 0, "the server closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The next message of type `t`, skipping others.
    pub async fn next_of(&mut self, t: &str) -> Value {
        loop {
            let m = self.next().await;
            if m["t"] == t {
                return m;
            }
        }
    }

    pub async fn subscribe(&mut self, sub: Value) -> Value {
        let mut line = serde_json::to_vec(&sub).unwrap();
        line.push(b'\n');
        self.w.write_all(&line).await.unwrap();
        self.next_of("subscribed").await
    }
}

pub fn exporting(config: ExportConfig) -> Executor {
    Executor::builder()
        .policy("payments.Charge", zero().max_attempts(3).id("charge-v1"))
        .policy("payments.Refund", zero().max_attempts(2))
        .policy("inventory.Get", zero().max_attempts(1))
        .export(config)
        .build()
        .unwrap()
}

/// Polls `fut` once: a call that would wait on the export would not be ready.
pub fn ready_now<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the call waited"),
    }
}

pub fn ok_call(exec: &Executor, key: &str) {
    let r = ready_now(exec.call(key, |_| async { Ok::<_, E>(()) }));
    assert!(r.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sees_exactly_its_keys_as_schema_valid_messages() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(ExportConfig::new("checkout").socket_path(socket(&dir)));
    // Some calls go through a key handle made before anyone subscribed: a handle's call
    // that would otherwise run its first attempt bare is recorded for the client too.
    let charge = exec.key("payments.Charge");
    let server = ExportServer::start(&exec).await.unwrap();
    assert_eq!(server.endpoints(), [Endpoint::Unix(socket(&dir))]);
    let schema = validator();

    let mut c = Client::connect(&socket(&dir)).await;
    let hello = c.next().await;
    assert_eq!(
        (hello["t"].as_str(), hello["v"].as_u64()),
        (Some("hello"), Some(1))
    );
    assert_eq!(hello["service"], "checkout");
    assert_eq!(hello["pid"], std::process::id());
    let sub = c
        .subscribe(json!({"t": "subscribe", "keys": ["payments.*", "!payments.Refund"]}))
        .await;
    assert!(schema.is_valid(&sub), "{sub}");

    for i in 0..5u32 {
        ok_call(&exec, "inventory.Get");
        let op = fails_then(&Calls::default(), u32::from(i % 2 == 1), ());
        let r = if i % 4 < 2 {
            charge.call(op).await
        } else {
            exec.call("payments.Charge", op).await
        };
        assert!(r.is_ok());
        ok_call(&exec, "payments.Refund");
    }
    let mut seen = Vec::new();
    let mut last_seq = 0;
    let five_calls = async {
        while seen.len() < 5 {
            let m = c.next().await;
            assert!(schema.is_valid(&m), "{m}");
            let seq = m["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "seq increases");
            last_seq = seq;
            if m["t"] == "call" {
                assert_eq!(m["key"], "payments.Charge", "{m}");
                seen.push(m["attempts"].as_array().unwrap().len());
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), five_calls)
        .await
        .is_err()
    {
        panic!("five calls within 10 s; saw {seen:?}");
    }
    assert_eq!(seen, [1, 2, 1, 2, 1]);
    // Error texts stay home unless the service opts in.
    let stats = c.next_of("stats").await;
    assert!(schema.is_valid(&stats), "{stats}");
    let charge = &stats["keys"]["payments.Charge"];
    assert_eq!(
        (charge["calls"].as_u64(), charge["retries"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(charge["first_try_successes"], 3);
    assert!(stats["keys"].get("inventory.Get").is_none());
    assert!(stats["keys"].get("payments.Refund").is_none());
    server.shutdown().await;
    assert!(!socket(&dir).exists(), "the socket is removed on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_texts_are_sent_only_when_the_service_opts_in() {
    for include in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let exec = exporting(
            ExportConfig::new("svc")
                .socket_path(socket(&dir))
                .include_errors(include),
        );
        let _server = ExportServer::start(&exec).await.unwrap();
        let mut c = Client::connect(&socket(&dir)).await;
        assert_eq!(c.next().await["include_errors"], include);
        c.subscribe(json!({"t": "subscribe"})).await;
        let r = exec
            .call("inventory.Get", |_| async { Err::<(), _>(E(42)) })
            .await;
        assert!(r.is_err());
        let call = c.next_of("call").await;
        let text = call["attempts"][0].get("error").and_then(Value::as_str);
        assert_eq!(text, include.then_some("op error 42"), "{call}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_subscription_replaces_the_old_one_without_reconnecting() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(ExportConfig::new("svc").socket_path(socket(&dir)));
    let _server = ExportServer::start(&exec).await.unwrap();
    ok_call(&exec, "inventory.Get");
    let mut c = Client::connect(&socket(&dir)).await;
    let sub = c
        .subscribe(json!({"t": "subscribe", "keys": ["payments.*"]}))
        .await;
    assert_eq!(sub["matched"], json!([]));
    ok_call(&exec, "inventory.Get");
    ok_call(&exec, "payments.Charge");
    assert_eq!(c.next_of("call").await["key"], "payments.Charge");
    let sub = c
        .subscribe(json!({"t": "subscribe", "keys": ["inventory.*"], "events": ["call"]}))
        .await;
    assert_eq!(sub["matched"], json!(["inventory.Get"]));
    ok_call(&exec, "payments.Charge");
    ok_call(&exec, "inventory.Get");
    assert_eq!(c.next_of("call").await["key"], "inventory.Get");
}

/// What a client that stops reading can have on its way besides its queue (docs/export.md,
/// "Security"): the writer's batch (64 KiB and the frame that crosses it) and the kernel's
/// socket buffer (64 KiB, which the kernel doubles, and one more write).
const IN_FLIGHT: usize = 64 * 1024 + 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_client_never_slows_calls_and_learns_what_it_missed() {
    const N: u64 = 20_000;
    const QUEUE_BYTES: usize = 64 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(
        ExportConfig::new("svc")
            .socket_path(socket(&dir))
            .client_queue(1_000_000, QUEUE_BYTES)
            .max_rate(1_000_000, 1_000_000)
            .stats_interval(Duration::from_millis(250)),
    );
    let server = ExportServer::start(&exec).await.unwrap();
    // Baseline: the same calls with a client that keeps reading.
    let mut reader = Client::connect(&socket(&dir)).await;
    reader
        .subscribe(json!({"t": "subscribe", "keys": ["payments.*"], "events": ["call"]}))
        .await;
    let drain = tokio::spawn(async move {
        let mut n = 0;
        while n < 2_000 {
            let m = reader.next().await;
            match m["t"].as_str() {
                Some("call") => n += 1,
                Some("gap") => n += m["dropped"].as_u64().unwrap(),
                _ => {}
            }
        }
    });
    let t0 = Instant::now();
    for _ in 0..2_000 {
        ok_call(&exec, "payments.Charge");
    }
    let reading = t0.elapsed();
    drain.await.unwrap();

    // A client that subscribes and then reads nothing.
    let mut stuck = Client::connect(&socket(&dir)).await;
    stuck
        .subscribe(json!({"t": "subscribe", "keys": ["payments.*"], "events": ["call", "stats"]}))
        .await;
    let t0 = Instant::now();
    for _ in 0..N {
        ok_call(&exec, "payments.Charge"); // panics if a call ever waits
    }
    let stuck_time = t0.elapsed();
    assert!(
        stuck_time < reading * 50 + Duration::from_millis(500),
        "{N} calls with a stuck client took {stuck_time:?}; 2,000 with a reading one {reading:?}"
    );

    // Reading again: every call is either delivered or counted in a gap, and the stats
    // after the last gap count exactly the gaps before them.
    let (mut delivered, mut delivered_bytes, mut longest) = (0, 0, 0);
    let mut lost = json!({"source_queue_full": 0, "client_slow": 0, "rate_limited": 0});
    let deadline = Instant::now() + Duration::from_secs(20);
    let total = |lost: &Value| {
        ["source_queue_full", "client_slow", "rate_limited"]
            .iter()
            .map(|c| lost[c].as_u64().unwrap())
            .sum::<u64>()
    };
    while delivered + total(&lost) < N {
        assert!(
            Instant::now() < deadline,
            "delivered {delivered}, lost {lost}"
        );
        let m = stuck.next().await;
        match m["t"].as_str() {
            Some("call") => {
                let size = serde_json::to_vec(&m).unwrap().len();
                delivered += 1;
                delivered_bytes += size;
                longest = longest.max(size);
            }
            Some("gap") => {
                let cause = m["cause"].as_str().unwrap();
                let n = lost[cause].as_u64().unwrap() + m["dropped"].as_u64().unwrap();
                lost[cause] = n.into();
            }
            Some("stats") => assert_eq!(m["dropped"], lost, "stats count the gaps before them"),
            _ => {}
        }
    }
    assert!(
        lost["client_slow"].as_u64().unwrap() > 0,
        "the stuck client was told it lost calls"
    );
    // What reached it besides its queue is bounded by the documented buffers.
    assert!(
        delivered_bytes <= QUEUE_BYTES + IN_FLIGHT + longest,
        "{delivered} calls, {delivered_bytes} bytes, reached a client that read nothing"
    );
    // The counters stay exact whatever was lost.
    loop {
        let stats = stuck.next_of("stats").await;
        assert_eq!(stats["dropped"], lost, "no loss after the last gap");
        if stats["keys"]["payments.Charge"]["calls"] == N + 2_000 {
            break;
        }
    }
    assert_eq!(
        server.dropped_at_source(),
        lost["source_queue_full"].as_u64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_client_beside_a_stuck_one_receives_everything() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(
        ExportConfig::new("svc")
            .socket_path(socket(&dir))
            .client_queue(64, 1 << 20)
            .max_rate(1_000_000, 1_000_000),
    );
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut stuck = Client::connect(&socket(&dir)).await;
    stuck
        .subscribe(json!({"t": "subscribe", "events": ["call"]}))
        .await;
    let mut fast = Client::connect(&socket(&dir)).await;
    fast.subscribe(json!({"t": "subscribe", "events": ["call"]}))
        .await;
    let mut received = 0;
    for _round in 0..50 {
        for _ in 0..40 {
            ok_call(&exec, "inventory.Get");
        }
        // The fast client keeps up, round by round; the stuck one overflows its 64 slots.
        let target = received + 40;
        while received < target {
            let m = fast.next().await;
            assert_ne!(m["t"], "gap", "the fast client lost nothing: {m}");
            if m["t"] == "call" {
                received += 1;
            }
        }
    }
    assert_eq!(received, 2_000);
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_source_queue_drops_and_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(
        ExportConfig::new("svc")
            .socket_path(socket(&dir))
            .source_queue(16)
            .max_rate(1_000_000, 1_000_000)
            .stats_interval(Duration::from_millis(250)),
    );
    let server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&socket(&dir)).await;
    c.subscribe(json!({"t": "subscribe"})).await;
    // On this one-thread runtime the server cannot run while these calls do.
    for _ in 0..1_000 {
        ok_call(&exec, "inventory.Get");
    }
    assert_eq!(server.dropped_at_source(), 984);
    let (mut calls, mut dropped) = (0, 0);
    while calls + dropped < 1_000 {
        let m = c.next().await;
        match m["t"].as_str() {
            Some("call") => calls += 1,
            Some("gap") => {
                assert_eq!(m["cause"], "source_queue_full");
                dropped += m["dropped"].as_u64().unwrap();
            }
            _ => {}
        }
    }
    assert_eq!((calls, dropped), (16, 984));
    let stats = c.next_of("stats").await;
    assert_eq!(stats["keys"]["inventory.Get"]["calls"], 1_000);
    assert_eq!(stats["dropped"]["source_queue_full"], 984);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_cap_limits_calls_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(ExportConfig::new("svc").socket_path(socket(&dir)));
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&socket(&dir)).await;
    let sub = c.subscribe(json!({"t": "subscribe", "max_rate": 10})).await;
    assert_eq!(sub["max_rate"], 10);
    for _ in 0..100 {
        ok_call(&exec, "inventory.Get");
    }
    let (mut calls, mut limited) = (0, 0);
    while calls + limited < 100 {
        let m = c.next().await;
        match m["t"].as_str() {
            Some("call") => calls += 1,
            Some("gap") if m["cause"] == "rate_limited" => {
                limited += m["dropped"].as_u64().unwrap()
            }
            _ => {}
        }
    }
    assert!(calls <= 11, "{calls} calls through a cap of 10/s");
    assert_eq!(calls + limited, 100);
}

/// `(key, attempts)` of each call a client receives, up to the first call of `last`; a `gap`
/// fails the test.
async fn calls_until(c: &mut Client, last: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    loop {
        let m = c.next().await;
        assert_ne!(m["t"], "gap", "left out by request is not lost: {m}");
        if m["t"] == "call" {
            let attempts = m["attempts"].as_array().unwrap().len();
            out.push((m["key"].as_str().unwrap().to_owned(), attempts));
            if m["key"] == last {
                return out;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_can_ask_for_interesting_or_failed_calls_only() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(ExportConfig::new("svc").socket_path(socket(&dir)));
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut interesting = Client::connect(&socket(&dir)).await;
    let mut failed = Client::connect(&socket(&dir)).await;
    let sub = interesting
        .subscribe(json!({"t": "subscribe", "calls": "interesting"}))
        .await;
    assert_eq!(sub["calls"], "interesting");
    let sub = failed
        .subscribe(json!({"t": "subscribe", "calls": "failed", "events": ["call"]}))
        .await;
    assert_eq!(sub["calls"], "failed");

    ok_call(&exec, "payments.Charge"); // routine: first attempt, alone
    let mut left = 1;
    let r = exec
        .call("payments.Charge", |_| {
            left -= 1;
            let fail = left >= 0;
            async move { if fail { Err(E(1)) } else { Ok(()) } }
        })
        .await;
    assert!(r.is_ok()); // a success after a retry: interesting
    let r = ready_now(exec.call("inventory.Get", |_| async { Err::<(), _>(E(2)) }));
    assert!(r.is_err()); // a failure

    assert_eq!(
        calls_until(&mut interesting, "inventory.Get").await,
        [
            ("payments.Charge".to_owned(), 2),
            ("inventory.Get".to_owned(), 1)
        ]
    );
    assert_eq!(
        calls_until(&mut failed, "inventory.Get").await,
        [("inventory.Get".to_owned(), 1)]
    );
    // The counters still count every call.
    let stats = loop {
        let m = interesting.next_of("stats").await;
        if m["keys"]["inventory.Get"]["calls"] == 1 {
            break m;
        }
    };
    assert_eq!(stats["keys"]["payments.Charge"]["calls"], 2);
    assert_eq!(stats["keys"]["payments.Charge"]["first_try_successes"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_changes_are_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let exec = Executor::builder()
        .policy(
            "payments.Charge",
            zero().max_attempts(1).circuit(2, ms(60_000)),
        )
        .export(ExportConfig::new("svc").socket_path(socket(&dir)))
        .build()
        .unwrap();
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&socket(&dir)).await;
    c.subscribe(json!({"t": "subscribe", "events": ["circuit", "stats"]}))
        .await;
    for _ in 0..3 {
        let _ = exec
            .call("payments.Charge", |_| async { Err::<(), _>(E(1)) })
            .await;
    }
    let m = c.next_of("circuit").await;
    assert!(validator().is_valid(&m), "{m}");
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some("closed"), Some("open"))
    );
    // A `stats` snapshot taken between the breaker opening and the rejected call can still
    // be on its way: wait for the one that counts the rejection.
    let stats = loop {
        let m = c.next_of("stats").await;
        if m["keys"]["payments.Charge"]["circuit_rejected"] == 1 {
            break m;
        }
    };
    let key = &stats["keys"]["payments.Charge"];
    assert_eq!(
        (key["circuit"].as_str(), key["circuit_rejected"].as_u64()),
        (Some("open"), Some(1))
    );
}

/// A key with a bulkhead reports its attempts in flight against the cap in `stats`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulkhead_reports_its_attempts_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let exec = Executor::builder()
        .policy("inventory.Reserve", zero().max_attempts(1).bulkhead(5))
        .policy("payments.Charge", zero().max_attempts(1))
        .export(ExportConfig::new("svc").socket_path(socket(&dir)))
        .build()
        .unwrap();
    let (_server, mut c) = Client::stats_of(&exec, &dir).await;
    for key in ["inventory.Reserve", "payments.Charge"] {
        let _ = exec.call(key, |_| async { Ok::<_, E>(()) }).await;
    }
    // Two attempts held open while the stats are taken.
    let (release, hold) = tokio::sync::watch::channel(false);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (exec, hold) = (exec.clone(), hold.clone());
            tokio::spawn(async move {
                exec.call("inventory.Reserve", move |_| {
                    let mut hold = hold.clone();
                    async move {
                        let _ = hold.wait_for(|go| *go).await;
                        Ok::<_, E>(())
                    }
                })
                .await
            })
        })
        .collect();
    let stats = loop {
        let m = c.next_of("stats").await;
        if m["keys"]["inventory.Reserve"]["in_flight"] == 2 {
            break m;
        }
    };
    assert!(validator().is_valid(&stats), "{stats}");
    assert_eq!(stats["keys"]["inventory.Reserve"]["max_concurrent"], 5);
    let plain = &stats["keys"]["payments.Charge"];
    assert!(plain.get("in_flight").is_none() && plain.get("max_concurrent").is_none());
    release.send(true).unwrap();
    for h in held {
        h.await.unwrap().unwrap();
    }
}

/// An operator's isolation streams as a circuit change (reason `manual_isolate`), and the
/// key's `stats` say `isolated` until it is released, breaker in the policy or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_is_streamed_and_shown_in_stats() {
    let dir = tempfile::tempdir().unwrap();
    let exec = Executor::builder()
        .policy("payments.Charge", zero().max_attempts(1))
        .export(ExportConfig::new("svc").socket_path(socket(&dir)))
        .build()
        .unwrap();
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&socket(&dir)).await;
    c.subscribe(json!({"t": "subscribe", "events": ["circuit", "stats"]}))
        .await;
    let _ = exec
        .call("payments.Charge", |_| async { Ok::<_, E>(()) })
        .await;
    exec.isolate("payments.Charge").unwrap();
    let m = c.next_of("circuit").await;
    assert!(validator().is_valid(&m), "{m}");
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str(), m["reason"].as_str()),
        (Some("closed"), Some("open"), Some("manual_isolate"))
    );
    let stats = loop {
        let m = c.next_of("stats").await;
        if m["keys"]["payments.Charge"]["circuit"] == "isolated" {
            break m;
        }
    };
    assert!(validator().is_valid(&stats), "{stats}");
    exec.release("payments.Charge").unwrap();
    let m = c.next_of("circuit").await;
    assert_eq!(m["reason"].as_str(), Some("manual_release"));
}

/// A denied retry names its budget, and `stats` say which budget each key uses and how full
/// every budget is: the on-call engineer can tell which budget ran dry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_named_and_their_fill_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let exec = Executor::builder()
        .policy(
            "payments.Charge",
            zero().max_attempts(3).budget("charge-retries"),
        )
        .budget(
            "charge-retries",
            recourse_engine::budget::TokenBucket::new(2, 0.0),
        )
        .export(
            ExportConfig::new("svc")
                .socket_path(socket(&dir))
                .stats_interval(ms(50)),
        )
        .build()
        .unwrap();
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&socket(&dir)).await;
    c.subscribe(json!({"t": "subscribe", "events": ["call", "stats"]}))
        .await;
    // Two calls of three failing attempts: the bucket's two tokens pay the first call's
    // retries, and the second call's first retry is refused.
    for _ in 0..2 {
        let _ = exec
            .call("payments.Charge", |_| async { Err::<(), _>(E(1)) })
            .await;
    }
    let schema = validator();
    let first = c.next_of("call").await;
    assert_eq!(first["reason"], "retryable_error", "{first}");
    let denied_call = c.next_of("call").await;
    assert!(schema.is_valid(&denied_call), "{denied_call}");
    let denied = denied_call["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["budget_allowed"] == false)
        .unwrap_or_else(|| panic!("a denied attempt in {denied_call}"));
    assert_eq!(denied["attributes"]["budget"], "charge-retries");
    let stats = loop {
        let m = c.next_of("stats").await;
        if m["keys"]["payments.Charge"]["calls"] == 2 {
            break m;
        }
    };
    assert!(schema.is_valid(&stats), "{stats}");
    assert_eq!(stats["keys"]["payments.Charge"]["budget"], "charge-retries");
    let fill = &stats["budgets"]["charge-retries"];
    assert_eq!(
        (fill["level"].as_f64(), fill["capacity"].as_f64()),
        (Some(0.0), Some(2.0)),
        "{stats}"
    );
}

/// With backfill on, a client that connects after a burst of failures sees the burst: the
/// kept calls its subscription matches come right after `subscribed`, oldest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_connects_after_a_burst_sees_it_through_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(
        ExportConfig::new("checkout")
            .socket_path(socket(&dir))
            .backfill(3),
    );
    let server = ExportServer::start(&exec).await.unwrap();
    // Nobody is connected: four failed calls, and routine successes around them.
    for i in 0..4u32 {
        ok_call(&exec, "payments.Refund");
        let _ = exec
            .call("payments.Charge", |_| async move { Err::<(), _>(E(i)) })
            .await;
        let _ = exec
            .call("inventory.Get", |_| async { Err::<(), _>(E(9)) })
            .await;
    }
    // The pump keeps calls as it routes them: ask again until it has.
    let until = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < until {
        let mut c = Client::connect(&socket(&dir)).await;
        c.next().await;
        let sub = c
            .subscribe(json!({"t": "subscribe", "keys": ["payments.*"]}))
            .await;
        assert!(validator().is_valid(&sub));
        let mut seen = Vec::new();
        while let Ok(m) = tokio::time::timeout(Duration::from_millis(300), c.next()).await {
            if m["t"] == "call" {
                assert!(validator().is_valid(&m), "{m}");
                seen.push(m);
            }
        }
        // The last three interesting calls were kept: inventory.Get, payments.Charge,
        // inventory.Get. The client asked for payments.* only, and routine successes are
        // never kept. A client that connects before the pump has routed the last calls sees
        // an earlier window: ask again.
        let keys: Vec<&str> = seen.iter().map(|m| m["key"].as_str().unwrap()).collect();
        if keys != ["payments.Charge"] {
            last = format!("{seen:?}");
            continue;
        }
        assert_eq!(seen[0]["outcome"], "failure");
        assert_eq!(seen[0]["attempts"].as_array().map(Vec::len), Some(3));
        drop(server);
        return;
    }
    panic!("no backfill of the last calls within 10 s; last seen: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_private_and_stale_ones_are_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("run/recourse");
    let path = nested.join("svc.sock");
    // A socket left behind by a process that died.
    std::fs::create_dir_all(&nested).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let exec = exporting(ExportConfig::new("svc").socket_path(&path));
    let server = ExportServer::start(&exec).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second server on a live socket is refused, and the first keeps it.
    let other = exporting(ExportConfig::new("svc").socket_path(&path));
    assert!(matches!(
        ExportServer::start(&other).await,
        Err(ExportError::InUse(_))
    ));
    assert_eq!(Client::connect(&path).await.next().await["t"], "hello");
    drop(server);
    // A fresh directory is created private.
    let fresh = dir.path().join("fresh");
    let exec = exporting(ExportConfig::new("svc").socket_path(fresh.join("s.sock")));
    let _server = ExportServer::start(&exec).await.unwrap();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_off_loopback_requires_a_token_and_checks_it() {
    let exec = exporting(
        ExportConfig::new("svc")
            .no_unix_socket()
            .tcp("0.0.0.0:0".parse().unwrap()),
    );
    let err = ExportServer::start(&exec).await.unwrap_err();
    assert!(matches!(err, ExportError::TokenRequired(_)), "{err}");

    let exec = exporting(
        ExportConfig::new("svc")
            .no_unix_socket()
            .tcp("127.0.0.1:0".parse().unwrap())
            .token("s3cret"),
    );
    let server = ExportServer::start(&exec).await.unwrap();
    let Endpoint::Tcp(addr) = server.endpoints()[0] else {
        panic!()
    };
    for (token, ok) in [("wrong", false), ("s3cret", true)] {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r);
        let mut line = String::new();
        lines.read_line(&mut line).await.unwrap();
        // Before its token, a client learns that one is needed and nothing about the service.
        let hello: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(hello["auth"], "token", "{line}");
        for field in ["service", "instance", "pid", "engine", "started_at"] {
            assert!(
                hello.get(field).is_none(),
                "{field} before the token: {line}"
            );
        }
        w.write_all(format!("{{\"t\":\"subscribe\",\"token\":\"{token}\"}}\n").as_bytes())
            .await
            .unwrap();
        line.clear();
        lines.read_line(&mut line).await.unwrap();
        let m: Value = serde_json::from_str(&line).unwrap();
        if ok {
            // Then who the service is, and the subscription.
            assert_eq!(
                (m["t"].as_str(), m["service"].as_str()),
                (Some("hello"), Some("svc"))
            );
            assert_eq!(m["pid"], std::process::id());
            line.clear();
            lines.read_line(&mut line).await.unwrap();
            let m: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(m["t"], "subscribed");
        } else {
            assert_eq!(
                (m["t"].as_str(), m["code"].as_str()),
                (Some("error"), Some("unauthorized"))
            );
            line.clear();
            assert_eq!(lines.read_line(&mut line).await.unwrap(), 0, "then closed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_get_an_error_and_pings_a_pong() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(ExportConfig::new("svc").socket_path(socket(&dir)));
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&socket(&dir)).await;
    c.next().await;
    c.w.write_all(b"not json\n{\"t\":\"ping\"}\n{\"t\":\"from_the_future\"}\n")
        .await
        .unwrap();
    let e = c.next_of("error").await;
    assert_eq!(
        (e["code"].as_str(), e["fatal"].as_bool()),
        (Some("bad_request"), Some(false))
    );
    c.next_of("pong").await;
    c.w.write_all(&vec![b'x'; 70 * 1024]).await.unwrap();
    let e = c.next_of("error").await;
    assert_eq!(e["fatal"], true);
}

#[test]
fn without_a_configuration_there_is_nothing_to_start() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(ExportServer::start(&Executor::new()))
        .unwrap_err();
    assert!(matches!(err, ExportError::NotConfigured));
}

/// A key with a shadow policy carries the shadow's counters in its `stats`, schema-valid; a
/// key without one carries none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_policy_reports_what_it_would_have_done_in_stats() {
    let dir = tempfile::tempdir().unwrap();
    let shadow = recourse_engine::Policy::new()
        .id("charge-v4")
        .max_attempts(1)
        .circuit(1, Duration::from_secs(60));
    let exec = Executor::builder()
        .policy(
            "payments.Charge",
            zero()
                .max_attempts(2)
                .backoff(Duration::ZERO, Duration::ZERO, 1.0)
                .shadow(shadow),
        )
        .policy("payments.Refund", zero().max_attempts(1))
        .export(ExportConfig::new("svc").socket_path(socket(&dir)))
        .build()
        .unwrap();
    let (_server, mut c) = Client::stats_of(&exec, &dir).await;
    // Three calls, each failing once then succeeding: the live policy saves every one; the
    // shadow (one attempt, a breaker on the first failure) fails the first and rejects the
    // others.
    for _ in 0..3 {
        let calls = Calls::default();
        exec.call("payments.Charge", fails_then(&calls, 1, ()))
            .await
            .unwrap();
    }
    ok_call(&exec, "payments.Refund");
    let stats = loop {
        let m = c.next_of("stats").await;
        if m["keys"]["payments.Charge"]["shadow"]["calls"] == 3 {
            break m;
        }
    };
    assert!(validator().is_valid(&stats), "{stats}");
    let live = &stats["keys"]["payments.Charge"];
    assert_eq!(
        (live["successes"].as_u64(), live["circuit"].as_str()),
        (Some(3), None)
    );
    let shadow = &live["shadow"];
    assert_eq!(shadow["policy"], "charge-v4");
    assert_eq!(shadow["failures"], 3);
    assert_eq!(shadow["circuit_rejected"], 2);
    assert_eq!(shadow["circuit_opens"], 1);
    assert_eq!(shadow["differs"], 3);
    assert_eq!(shadow["circuit"], "open");
    assert!(stats["keys"]["payments.Refund"].get("shadow").is_none());
}

/// Many keys with a shadow each: `stats` is split in parts of about 256 KiB, the shadows'
/// counters counted, and together the parts carry every key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_of_many_shadowed_keys_stay_in_bounded_parts() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"{"version": 1, "defaults": {"retry": {"max_attempts": 1}, "shadow": {"id": "candidate", "retry": {"max_attempts": 2}}}, "policies": {}}"#;
    let exec = Executor::builder()
        .policy_set(recourse_engine::PolicySet::from_str(text, "d.json").unwrap())
        .export(ExportConfig::new("svc").socket_path(socket(&dir)))
        .build()
        .unwrap();
    let (_server, mut c) = Client::stats_of(&exec, &dir).await;
    // Keys are counted for the export once someone subscribes.
    let keys: Vec<String> = (0..3000).map(|i| format!("svc.Key{i:04}")).collect();
    for key in &keys {
        ok_call(&exec, key);
    }
    // A part cut while the calls above still run may show a key whose shadow has not
    // counted its call yet; the counts are cumulative, so a later part shows it.
    let mut counted = std::collections::BTreeSet::new();
    let mut largest = 0;
    for _ in 0..200 {
        if counted.len() == keys.len() {
            break;
        }
        let m = c.next_of("stats").await;
        largest = largest.max(m.to_string().len());
        for (key, stats) in m["keys"].as_object().unwrap() {
            let calls = stats["shadow"]["calls"].as_u64().unwrap_or(0);
            assert!(calls <= 1, "{key}: {calls} shadow calls of one call");
            if calls == 1 {
                counted.insert(key.clone());
            }
        }
    }
    assert_eq!(
        counted.len(),
        keys.len(),
        "every key counted within 200 messages"
    );
    assert!(largest <= 272 * 1024, "a stats part of {largest} bytes");
}
