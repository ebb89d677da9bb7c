//! Formatting shared by the line printer and the TUI: clock times, durations, target colours.

/// `HH:MM:SS.mmm` of an RFC 3339 time.
pub(crate) fn clock_of(ts: Option<&str>) -> &str {
    ts.and_then(|t| t.get(11..23)).unwrap_or("--:--:--.---")
}

/// `1.2s`, `812ms`, `95µs`.
pub(crate) fn human_us(us: u64) -> String {
    if us >= 10_000_000 {
        format!("{:.0}s", us as f64 / 1e6)
    } else if us >= 1_000_000 {
        format!("{:.1}s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}µs")
    }
}

/// A stable colour per target (FNV-1a over its name), avoiding red, yellow and green, which
/// mean status.
pub(crate) fn target_colour(name: &str) -> u8 {
    const PALETTE: [u8; 4] = [34, 35, 36, 94];
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    PALETTE[(h % PALETTE.len() as u32) as usize]
}
