//! Scanner throughput over a tree of Rust sources, beside `rg -c 'call\('` on the same tree in
//! the same run (when ripgrep is installed).
//!
//! `cargo run --release -p recourse-lints --example throughput -- ~/.cargo/registry/src`

use std::path::PathBuf;
use std::time::Instant;

use recourse_lints::{Config, scan_paths};

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let mut bytes = 0u64;
    let mut lines = 0u64;
    for entry in ignore::WalkBuilder::new(&root).build().flatten() {
        if entry.path().extension().is_some_and(|e| e == "rs")
            && let Ok(b) = std::fs::read(entry.path())
        {
            bytes += b.len() as u64;
            lines += memchr::memchr_iter(b'\n', &b).count() as u64;
        }
    }
    let mb = bytes as f64 / 1e6;
    for (label, scan_all) in [
        ("every file (scan_all)", true),
        ("default (prefiltered)", false),
    ] {
        let config = Config {
            scan_all,
            ..Config::default()
        };
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                let report = scan_paths(std::slice::from_ref(&root), &config, None).expect("scan");
                std::hint::black_box(report.findings.len());
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min);
        println!(
            "recourse lint, {label}: {lines} lines, {mb:.1} MB in {best:.3}s = {:.0} MB/s, {:.2} M lines/s",
            mb / best,
            lines as f64 / best / 1e6
        );
    }
    let rg = (0..3)
        .filter_map(|_| {
            let t = Instant::now();
            let status = std::process::Command::new("rg")
                .args(["-c", r"call\(", "--type", "rust"])
                .arg(&root)
                .stdout(std::process::Stdio::null())
                .status()
                .ok()?;
            status.code().map(|_| t.elapsed().as_secs_f64())
        })
        .fold(f64::MAX, f64::min);
    if rg < f64::MAX {
        println!("rg -c 'call\\(': {rg:.3}s = {:.0} MB/s", mb / rg);
    } else {
        println!("rg not installed: no comparison");
    }
}
