//! The lint scanner on arbitrary bytes: it never panics, and findings point inside the text.
//!
//! `fuzz/run lint_scanner` (or `fuzz/run 600` for every target, ten minutes each).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| recourse_cli::fuzzing::lint_scanner(data));
