//! What the live export costs a call (docs/export.md): a first-attempt
//! success through a key handle with no export configured, with export on and no client, with
//! backfill on and no client, with a client subscribed to other keys, and with a client
//! subscribed to this key (and reading).
//! Also the server's serialization rate through a fast reader.

#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use recourse_engine::export::{ExportConfig, ExportServer};
use recourse_engine::{Executor, KeyHandle, Policy};

fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the call waited"),
    }
}

fn call(h: &KeyHandle) {
    let r = now(h.call(|_| async { Ok::<_, std::io::Error>(black_box(1u32)) }));
    black_box(r.unwrap());
}

/// A client that subscribes to `keys` and reads everything on a thread; returns when subscribed.
fn client(
    path: &std::path::Path,
    keys: &str,
    lines: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let mut stream = UnixStream::connect(path).unwrap();
    writeln!(
        stream,
        r#"{{"t":"subscribe","keys":["{keys}"],"max_rate":2000000}}"#
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while !line.contains("\"subscribed\"") {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    std::thread::spawn(move || {
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|k| k > 0) {
            lines.fetch_add(1, Ordering::Relaxed);
            line.clear();
        }
    })
}

fn exporting(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    backfill: usize,
) -> (Executor, ExportServer) {
    let exec = Executor::builder()
        .policy("bench.Op", Policy::builtin().max_attempts(3))
        .export(
            ExportConfig::new("bench")
                .socket_path(dir.join(format!("bench-{backfill}.sock")))
                .backfill(backfill)
                .max_rate(2_000_000, 2_000_000)
                // Room for a whole burst, so the figure below is the server's throughput and
                // not the default 1,024-message cap on a slow client.
                .client_queue(16_384, 64 << 20),
        )
        .build()
        .unwrap();
    let server = rt.block_on(ExportServer::start(&exec)).unwrap();
    (exec, server)
}

fn export(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("export_call_path");

    let plain = Executor::builder()
        .policy("bench.Op", Policy::builtin().max_attempts(3))
        .build()
        .unwrap();
    let h = plain.key("bench.Op");
    g.bench_function("export_off", |b| b.iter(|| call(&h)));

    // Backfill records every call, client or not.
    let (kept, kept_server) = exporting(&rt, dir.path(), 256);
    let h = kept.key("bench.Op");
    g.bench_function("backfill_on_no_client", |b| b.iter(|| call(&h)));
    drop(kept_server);

    let (exec, server) = exporting(&rt, dir.path(), 0);
    let h = exec.key("bench.Op");
    g.bench_function("export_on_no_client", |b| b.iter(|| call(&h)));

    let path = dir.path().join("bench-0.sock");
    let other = client(&path, "other.*", Arc::default());
    std::thread::sleep(Duration::from_millis(50));
    g.bench_function("client_on_other_keys", |b| b.iter(|| call(&h)));

    let lines = Arc::new(AtomicU64::new(0));
    let reader = client(&path, "bench.*", lines.clone());
    std::thread::sleep(Duration::from_millis(50));
    g.bench_function("client_on_this_key", |b| b.iter(|| call(&h)));
    g.finish();

    // The server's side: calls queued, serialized and written to a reading client, in bursts
    // the source queue (8,192) can hold.
    std::thread::sleep(Duration::from_millis(500));
    let (before, dropped_before) = (lines.load(Ordering::Relaxed), server.dropped_at_source());
    let t0 = Instant::now();
    let mut last = (t0, before);
    for _ in 0..50 {
        for _ in 0..8_000 {
            call(&h);
        }
        // Let the server drain the burst (done when nothing arrived for 20 ms).
        let mut quiet = Instant::now();
        while quiet.elapsed() < Duration::from_millis(20) {
            std::thread::sleep(Duration::from_micros(200));
            let n = lines.load(Ordering::Relaxed);
            if n != last.1 {
                last = (Instant::now(), n);
                quiet = Instant::now();
            }
        }
    }
    let delivered = last.1 - before;
    let dropped = server.dropped_at_source() - dropped_before;
    eprintln!(
        "export: {delivered} calls serialized and delivered in {:?} ({:.0}/s through one reader); \
         {dropped} dropped at the source",
        last.0 - t0,
        delivered as f64 / (last.0 - t0).as_secs_f64()
    );
    drop(server);
    let _ = (other.join(), reader.join());
}

criterion_group!(benches, export);
criterion_main!(benches);
