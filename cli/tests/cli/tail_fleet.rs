//! `recourse tail` over a fleet: 50 services on TCP, 200 calls a second each, one of them sick.
//! The TUI must keep answering keys and stay within its memory bound.
//!
//! Ignored by default: it loads both cores of a CI host for half a minute. Run it by hand,
//! in release, with the figures printed:
//!
//! ```sh
//! cargo test --release -p recourse-cli --test cli tail_fleet -- --ignored --nocapture
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use recourse_engine::classify::HttpStatusError;
use recourse_engine::export::{Endpoint, ExportConfig, ExportServer};
use recourse_engine::{Executor, Policy};

use crate::tui::{Tmux, have_tmux};

/// Services in the fleet.
const SERVICES: usize = 50;
/// Calls a second each service makes.
const RATE: u64 = 200;
/// The instance whose dependency fails half the time.
const SICK: usize = 7;

/// Starts the fleet on a runtime of its own; the TCP address of each service.
fn start_fleet(rt: &tokio::runtime::Runtime) -> Vec<SocketAddr> {
    rt.block_on(async {
        let mut addrs = Vec::new();
        for i in 0..SERVICES {
            let exec = Executor::builder()
                .policy("payments.*", Policy::builtin().max_attempts(3))
                .policy("inventory.*", Policy::builtin().max_attempts(2))
                .export(
                    ExportConfig::new(format!("fleet-{i:02}"))
                        .no_unix_socket()
                        .tcp("127.0.0.1:0".parse().unwrap()),
                )
                .build()
                .unwrap();
            let server = ExportServer::start(&exec).await.unwrap();
            let Endpoint::Tcp(addr) = server.endpoints()[0].clone() else {
                panic!("a TCP endpoint");
            };
            addrs.push(addr);
            tokio::spawn(drive(exec, i, server));
        }
        addrs
    })
}

/// Makes `RATE` calls a second over four keys, forever.
async fn drive(exec: Executor, i: usize, _server: ExportServer) {
    const KEYS: [&str; 4] = [
        "payments.Charge",
        "payments.Refund",
        "inventory.Get",
        "inventory.Reserve",
    ];
    let mut every = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    for n in 0u64.. {
        every.tick().await;
        let key = KEYS[(n % 4) as usize];
        let fail_every = if i == SICK { 2 } else { 20 };
        let exec = exec.clone();
        tokio::spawn(async move {
            let mut attempt = 0u64;
            let _ = exec
                .call(key, |_| {
                    attempt += 1;
                    // Each key's calls in turn: the sick instance fails every other first
                    // attempt of every key, the others one in twenty.
                    let fail = (n / 4 + attempt).is_multiple_of(fail_every);
                    async move {
                        if fail {
                            Err(HttpStatusError::new(503, "GET"))
                        } else {
                            Ok(())
                        }
                    }
                })
                .await;
        });
    }
}

/// The CPU time process `pid` has used so far (user and system), in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The process the pane runs (under `sh -c`): tail.
fn tail_pid(t: &Tmux) -> String {
    let pid = t.tmux(&["display-message", "-p", "-t", "t", "#{pane_pid}"]);
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", pid.trim()))
        .unwrap_or_default();
    children.split_whitespace().next().unwrap_or("").to_owned()
}

/// The peak resident memory of process `pid`, in MiB (Linux).
fn peak_mib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[test]
#[ignore = "a load test: run by hand (see the module's doc)"]
fn fifty_services_at_200_calls_a_second_keep_the_tui_responsive() {
    if !have_tmux() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addrs = start_fleet(&rt);
    let targets: Vec<String> = addrs.iter().map(|a| format!("-t tcp://{a}")).collect();
    let t = Tmux::start_sized(
        "fleet",
        &format!(
            "{} tail {} --output tui",
            env!("CARGO_BIN_EXE_recourse"),
            targets.join(" ")
        ),
        (120, 40),
    );
    t.wait("every target", |s| {
        s.contains(&format!("targets {SERVICES}/{SERVICES}"))
    });
    // Let the counters and the log fill for a while, and see what that costs tail.
    let pid = tail_pid(&t);
    let (cpu0, wall0) = (cpu_ticks(&pid), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    // Clock ticks are 1/100 s on Linux: ticks per second of wall time is a core's percent.
    let cpu = cpu_ticks(&pid)
        .zip(cpu0)
        .map(|(b, a)| (b - a) as f64 / wall0.elapsed().as_secs_f64());
    // Key to screen: open and close the help, and time each until the screen shows it.
    let mut latencies = Vec::new();
    for _ in 0..20 {
        for (key, shown) in [("?", true), ("?", false)] {
            let sent = Instant::now();
            t.keys_now(key);
            let poll = Duration::from_millis(5);
            t.wait_every("the help to toggle", poll, |s| {
                s.contains("this help") == shown
            });
            latencies.push(sent.elapsed());
        }
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let p90 = latencies[latencies.len() * 9 / 10];
    // The sick instance leads the key's per-target table.
    t.keys_now("Enter");
    let detail = t.wait("the key's targets", |s| s.contains("By target"));
    let first = detail
        .lines()
        .skip_while(|l| !l.contains("By target"))
        .nth(2)
        .unwrap_or_default();
    assert!(
        first.contains("fleet-07"),
        "the sick instance first:\n{detail}"
    );
    t.keys_now("Escape");
    let peak = peak_mib(&pid);
    let screen = t.screen();
    println!(
        "fleet: {SERVICES} services x {RATE} calls/s; key-to-screen median {median:?}, p90 \
         {p90:?}; tail's peak memory {peak:?} MiB, CPU {cpu:.0?}% of a core\n{screen}"
    );
    // Ten redraws a second at least: a key shows within 100 ms.
    assert!(p90 < Duration::from_millis(100), "p90 {p90:?}");
    assert!(peak.is_some_and(|m| m < 512), "{peak:?} MiB");
    t.keys_now("q");
}
