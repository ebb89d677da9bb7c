//! Formatting shared by the line printer and the TUI: clock times, durations, target colours.

/// `HH:MM:SS.mmm` of an RFC 3339 time.
pub(crate) fn clock_of(ts: Option<&str>) -> &str {
    ts.and_then(|t| t.get(11..23)).unwrap_or("--:--:--.---")
}

/// `2026-11-28 15:32:39` (UTC) for `us` microseconds since the Unix epoch.
pub(crate) fn clock_of_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // The civil date of a day number (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tail::parse_ts_micros;

    #[test]
    fn micros_print_as_the_utc_time_they_parse_from() {
        for ts in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-11-28T15:32:39Z",
            "2100-03-01T00:00:01Z",
        ] {
            let us = parse_ts_micros(ts).unwrap();
            let expected = ts.replace('T', " ").replace('Z', "");
            assert_eq!(clock_of_micros(us), expected);
        }
    }
}
