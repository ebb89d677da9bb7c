//! How far `Clock::tsc` strays from the OS's monotonic clock over time, on this host.
//!
//! ```text
//! cargo run --release -p recourse-engine --features tsc --example clock_drift -- 60
//! ```
//!
//! Every second for the given number of seconds (10 by default) it prints the time each clock
//! says has passed since the start and their difference; the last line is the drift in parts
//! per million. Run it on the hosts a service runs on before trusting long durations to the
//! counter.

use std::time::{Duration, Instant};

use recourse_engine::clock::Clock;

fn main() {
    let seconds: u64 = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 10,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: clock_drift [SECONDS > 0]");
            std::process::exit(2);
        }
    };
    let calibrating = Instant::now();
    let tsc = Clock::tsc();
    println!("calibration took {:?}", calibrating.elapsed());
    let (os_zero, zero) = (Instant::now(), tsc.now());
    let mut last = (Duration::ZERO, 0i128);
    println!(
        "{:>8} {:>16} {:>16} {:>10}",
        "second", "os (ns)", "tsc (ns)", "tsc - os"
    );
    for second in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        // Both read together: again if the thread was preempted between the OS readings.
        let (os, counted) = loop {
            let before = os_zero.elapsed();
            let counted = tsc.now().since(zero);
            let after = os_zero.elapsed();
            if after - before < Duration::from_micros(20) {
                break (before + (after - before) / 2, counted);
            }
        };
        let diff = counted.as_nanos() as i128 - os.as_nanos() as i128;
        println!(
            "{second:>8} {:>16} {:>16} {diff:>10}",
            os.as_nanos(),
            counted.as_nanos()
        );
        last = (os, diff);
    }
    let ppm = last.1 as f64 / last.0.as_nanos() as f64 * 1e6;
    println!("drift: {} ns over {:?}, {ppm:.2} ppm", last.1, last.0);
}
