//! `recourse lint` on a file's bytes, down to the findings it prints: no panic, no control
//! character reaches the terminal.
//!
//! `fuzz/run lint_render` (or `fuzz/run 600` for every target, ten minutes each).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| recourse_cli::fuzzing::lint_and_render(data));
