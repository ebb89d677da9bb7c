//! The policy loader on arbitrary bytes: it must never panic.
//!
//! `cargo fuzz run policy_loader -s none -- -max_total_time=60`

#![no_main]

use libfuzzer_sys::fuzz_target;
use recourse_engine::policy::PolicySet;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(set) = PolicySet::from_str(&text, "fuzz.yaml") {
        // A set that loads resolves any key.
        let _ = set.resolve(&recourse_engine::Key::parse("a.B"));
    }
});
