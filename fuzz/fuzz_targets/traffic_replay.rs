//! What `recourse policy diff --traffic` does with a recording's bytes: read or refused
//! cleanly, replayed through the demo's policies, its reports printable.
//!
//! `fuzz/run traffic_replay` (or `fuzz/run 600` for every target, ten minutes each).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| recourse_cli::fuzzing::traffic_replay(data));
