//! The event-line decoder `recourse tail` runs on every line a service (or a recording) sends:
//! any bytes give a message or an error, never a panic; decoded histograms answer quantiles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recourse_engine::export::wire::{Message, decode_line};

fuzz_target!(|data: &[u8]| {
    if let Ok(Message::Stats(s)) = decode_line(data) {
        for k in s.keys.values() {
            let _ = k.latency.quantile_us(0.99);
            let _ = k.latency.since(&k.latency);
        }
    }
});
