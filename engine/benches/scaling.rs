//! Throughput of `Executor::call` by key string on 1 and 2 threads, over 10, 1,000 and
//! 100,000 distinct keys: how a call's cost grows with the number of keys an executor holds.
//!
//! Not a criterion benchmark: it measures calls per second over a fixed time on several
//! threads at once, which criterion does not model. Each thread runs its own current-thread
//! runtime and calls keys in a scattered order (a fixed-seed generator), so large key sets
//! miss the caches as a real service's would.
//!
//! ```sh
//! cargo bench -p recourse-engine --bench scaling                        # the table
//! cargo bench -p recourse-engine --bench scaling -- --svg "$PWD/docs/scaling.svg"  # and the chart
//! ```

#![allow(missing_docs)]

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{ok, runtime};
use recourse_engine::{Executor, PolicySet};

const THREADS: [usize; 2] = [1, 2];
const KEYS: [usize; 3] = [10, 1_000, 100_000];
/// How long each figure is measured, after a warm-up of a fifth of it.
const MEASURE: Duration = Duration::from_secs(2);

/// One measured configuration.
struct Figure {
    threads: usize,
    keys: usize,
    calls_per_second: f64,
}

fn main() {
    let svg = std::env::args()
        .skip_while(|a| a != "--svg")
        .nth(1)
        .map(std::path::PathBuf::from);
    let mut figures = Vec::new();
    println!("threads  keys      calls/s   ns/call/thread");
    for keys in KEYS {
        let (exec, names) = executor(keys);
        for threads in THREADS {
            let calls_per_second = measure(&exec, &names, threads);
            println!(
                "{threads:>7}  {keys:>7}  {:>11.0}  {:>8.1}",
                calls_per_second,
                threads as f64 * 1e9 / calls_per_second
            );
            figures.push(Figure {
                threads,
                keys,
                calls_per_second,
            });
        }
    }
    if let Some(path) = svg {
        // Written beside and renamed, so an interrupted run leaves the old chart whole.
        let partial = path.with_extension("svg.partial");
        let written = std::fs::write(&partial, chart(&figures))
            .and_then(|()| std::fs::rename(&partial, &path));
        match written {
            Ok(()) => println!("chart written to {}", path.display()),
            Err(e) => {
                eprintln!("error: cannot write the chart to {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
}

/// An executor whose policy set covers every key (each key compiles its own policy), with
/// room for all of them (`max_keys` above the largest set), every key already called once.
fn executor(keys: usize) -> (Executor, Arc<Vec<String>>) {
    let set = PolicySet::from_str(
        r#"{"version": 1, "policies": {"svc.*": {"retry": {"max_attempts": 3}}}}"#,
        "p.json",
    )
    .expect("a valid policy set");
    let exec = Executor::builder()
        .policy_set(set)
        .max_keys(keys + 1)
        .build()
        .expect("an executor");
    let names: Vec<String> = (0..keys).map(|i| format!("svc.key{i}")).collect();
    runtime().block_on(async {
        for name in &names {
            exec.call(name, ok).await.expect("a success");
        }
    });
    (exec, Arc::new(names))
}

/// Calls per second over all threads.
fn measure(exec: &Executor, names: &Arc<Vec<String>>, threads: usize) -> f64 {
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (exec, names, barrier) = (exec.clone(), names.clone(), barrier.clone());
            std::thread::spawn(move || {
                runtime().block_on(async {
                    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ t as u64;
                    let run = |until: Instant| {
                        let (exec, names) = (&exec, &names);
                        let mut calls = 0u64;
                        async move {
                            while Instant::now() < until {
                                for _ in 0..256 {
                                    // xorshift: a scattered, repeatable key order.
                                    rng ^= rng << 13;
                                    rng ^= rng >> 7;
                                    rng ^= rng << 17;
                                    let name = &names[(rng % names.len() as u64) as usize];
                                    exec.call(name, ok).await.expect("a success");
                                }
                                calls += 256;
                            }
                            calls
                        }
                    };
                    barrier.wait();
                    run(Instant::now() + MEASURE / 5).await;
                    let start = Instant::now();
                    let calls = run(start + MEASURE).await;
                    calls as f64 / start.elapsed().as_secs_f64()
                })
            })
        })
        .collect();
    workers
        .into_iter()
        .map(|w| w.join().expect("a worker"))
        .sum()
}

/// A line chart of millions of calls per second against the number of keys (a log scale),
/// one line per thread count.
fn chart(figures: &[Figure]) -> String {
    let (w, h, left, right, top, bottom) = (560.0, 320.0, 70.0, 130.0, 30.0, 50.0);
    let max = figures
        .iter()
        .map(|f| f.calls_per_second / 1e6)
        .fold(0.0f64, f64::max);
    let y_max = (max / 5.0).ceil() * 5.0;
    let x = |i: usize| left + (w - left - right) * i as f64 / (KEYS.len() - 1) as f64;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / y_max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    for step in 0..=5 {
        let v = y_max * f64::from(step) / 5.0;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            w - right,
            left - 6.0,
            y(v) + 4.0,
            y = y(v),
        );
    }
    for (i, keys) in KEYS.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{keys}</text>"#,
            x(i),
            h - bottom + 18.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">distinct keys</text><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">million calls/s</text>"#,
        (left + w - right) / 2.0,
        h - 10.0,
        h / 2.0,
        h / 2.0
    );
    for (threads, color) in THREADS.iter().zip(["#1f77b4", "#d62728"]) {
        let points: Vec<String> = KEYS
            .iter()
            .enumerate()
            .filter_map(|(i, keys)| {
                figures
                    .iter()
                    .find(|f| f.threads == *threads && f.keys == *keys)
                    .map(|f| format!("{:.1},{:.1}", x(i), y(f.calls_per_second / 1e6)))
            })
            .collect();
        let label = if *threads == 1 { "thread" } else { "threads" };
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{:.1}" fill="{color}">{threads} {label}</text>"#,
            points.join(" "),
            w - right + 10.0,
            points
                .last()
                .and_then(|p| p.split(',').nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(top)
                + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}
