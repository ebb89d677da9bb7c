//! What `recourse tail` does with bytes a service sends: lines capped, cleaned, decoded, printed
//! as text and JSON, drawn by the TUI. No panic, no control character on the terminal.
//!
//! `fuzz/run tail_reader` (or `fuzz/run 600` for every target, ten minutes each).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| recourse_cli::fuzzing::tail_reader(data));
