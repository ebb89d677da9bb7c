//! The engine's policy loader on arbitrary bytes: it loads or fails cleanly, never panics.
//!
//! `fuzz/run policy_loader` (or `fuzz/run 600` for every target, ten minutes each).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| recourse_cli::fuzzing::policy_loader(data));
