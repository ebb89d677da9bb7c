//! `recourse policy validate` on a file's bytes, down to the diagnostics it prints: no panic,
//! no control character reaches the terminal.
//!
//! `fuzz/run validate_render` (or `fuzz/run 600` for every target, ten minutes each).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| recourse_cli::fuzzing::validate_and_render(data));
