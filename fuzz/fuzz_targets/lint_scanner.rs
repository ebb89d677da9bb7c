//! The lint scanner on arbitrary bytes: it must never panic.
//!
//! `cargo fuzz run lint_scanner -- -max_total_time=60`

#![no_main]

use libfuzzer_sys::fuzz_target;
use recourse_lints::{Config, scan_source};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let scan = scan_source("fuzz.rs", &text, &Config::default());
    // Every location points inside the text.
    let lines = text.lines().count().max(1);
    for f in &scan.findings {
        assert!(f.line >= 1 && f.line <= lines + 1);
    }
});
