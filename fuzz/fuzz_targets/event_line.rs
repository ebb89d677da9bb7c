//! The wire decoder `recourse tail` runs on every line a service (or a recording) sends.
//!
//! `fuzz/run event_line` (or `fuzz/run 600` for every target, ten minutes each).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| recourse_cli::fuzzing::event_line(data));
