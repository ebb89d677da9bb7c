//! The keys table's columns: what each shows, how wide it is, and which go first when the
//! terminal is narrow.

use ratatui::style::Style;
use ratatui::widgets::Cell;

use super::{fit, opt, sparkline};
use crate::format::human_us;
use crate::tui::model::{Row, Sort};

/// A column of the keys table (and of the key detail's by-target table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    Key,
    CallRate,
    OkPct,
    FirstPct,
    AttemptsPerCall,
    RetryRate,
    DenyRate,
    WinPct,
    Circuit,
    InFlight,
    P50,
    P99,
    TopReason,
    Trend,
}

impl Column {
    /// Every column, in display order.
    const ALL: [Column; 14] = [
        Column::Key,
        Column::CallRate,
        Column::OkPct,
        Column::FirstPct,
        Column::AttemptsPerCall,
        Column::RetryRate,
        Column::DenyRate,
        Column::WinPct,
        Column::Circuit,
        Column::InFlight,
        Column::P50,
        Column::P99,
        Column::TopReason,
        Column::Trend,
    ];

    pub(super) fn title(self) -> &'static str {
        match self {
            Column::Key => "KEY",
            Column::CallRate => "CALL/s",
            Column::OkPct => "OK%",
            Column::FirstPct => "1ST%",
            Column::AttemptsPerCall => "ATT/C",
            Column::RetryRate => "RETRY/s",
            Column::DenyRate => "BDENY/s",
            Column::WinPct => "WIN%",
            Column::Circuit => "CIRCUIT",
            Column::InFlight => "INFLT",
            Column::P50 => "p50",
            Column::P99 => "p99",
            Column::TopReason => "TOP REASON",
            Column::Trend => "TREND",
        }
    }

    /// Its width when its content does not decide it (the key and the top reason are sized
    /// to the rows shown, see [`fitting`]).
    pub(super) fn width(self) -> u16 {
        match self {
            Column::Key | Column::TopReason => 12,
            Column::CallRate | Column::P50 | Column::P99 => 7,
            Column::OkPct | Column::FirstPct | Column::AttemptsPerCall => 6,
            Column::RetryRate | Column::DenyRate => 8,
            Column::WinPct => 5,
            Column::Circuit => 10,
            Column::InFlight => 7,
            Column::Trend => 12,
        }
    }

    /// Lower stays longest when space is short: after the key and the call rate, what says
    /// whether retries are making things worse (budget denials, success, amplification, the
    /// breaker, the tail latency), then why, then the rest.
    fn priority(self) -> u8 {
        match self {
            Column::Key => 0,
            Column::CallRate => 1,
            Column::DenyRate => 2,
            Column::OkPct => 3,
            Column::AttemptsPerCall => 4,
            Column::Circuit => 5,
            Column::P99 => 6,
            Column::TopReason => 7,
            Column::RetryRate => 8,
            Column::FirstPct => 9,
            Column::P50 => 10,
            Column::WinPct => 11,
            Column::Trend => 12,
            Column::InFlight => 13,
        }
    }

    /// The sort this column shows, if the table can be sorted by it.
    pub(super) fn sort(self) -> Option<Sort> {
        match self {
            Column::Key => Some(Sort::Key),
            Column::CallRate => Some(Sort::CallRate),
            Column::OkPct => Some(Sort::OkPct),
            Column::AttemptsPerCall => Some(Sort::AttemptsPerCall),
            Column::P99 => Some(Sort::P99),
            _ => None,
        }
    }

    /// This column's cell of `r`, `width` wide (cut with an ellipsis when longer).
    pub(super) fn cell(self, r: &Row, width: u16) -> Cell<'static> {
        let width = usize::from(width);
        match self {
            Column::Key => Cell::from(fit(&r.key, width)),
            Column::CallRate => {
                Cell::from(r.calls_s.map_or(r.calls.to_string(), |v| format!("{v:.1}")))
            }
            Column::OkPct => {
                let style = match r.ok_pct {
                    Some(v) if v < 90.0 => Style::new().red(),
                    Some(v) if v < 99.0 => Style::new().yellow(),
                    _ => Style::new(),
                };
                Cell::from(opt(r.ok_pct, 1)).style(style)
            }
            Column::FirstPct => Cell::from(opt(r.first_pct, 1)),
            Column::AttemptsPerCall => {
                let style = match r.att_per_call {
                    Some(v) if v >= 2.0 => Style::new().red(),
                    Some(v) if v >= 1.2 => Style::new().yellow(),
                    _ => Style::new(),
                };
                Cell::from(r.att_per_call.map_or("-".into(), |v| format!("{v:.2}×"))).style(style)
            }
            Column::RetryRate => Cell::from(opt(r.retry_s, 1)),
            Column::DenyRate => {
                Cell::from(r.deny_s.map_or(r.denied.to_string(), |v| format!("{v:.1}")))
            }
            Column::WinPct => Cell::from(r.win_pct.map_or("-".into(), |v| format!("{v:.0}%"))),
            Column::Circuit => circuit_cell(r.circuit.as_deref()),
            Column::InFlight => in_flight_cell(r.in_flight),
            Column::P50 => Cell::from(r.p50_us.map_or("-".into(), human_us)),
            Column::P99 => Cell::from(r.p99_us.map_or("-".into(), human_us)),
            Column::TopReason => Cell::from(fit(&top_reason(r), width)),
            Column::Trend => Cell::from(sparkline(&r.spark, 12)),
        }
    }
}

/// The top reason cell's text.
fn top_reason(r: &Row) -> String {
    r.top
        .as_ref()
        .map_or("-".into(), |(k, p)| format!("{k} {p:.0}%"))
}

/// Widest a key or a reason column grows to fit its content.
const MAX_TEXT: u16 = 40;

/// The columns that fit in `width` for `rows`, in display order, each with its width. The key
/// and top-reason columns are as wide as the widest of the rows' (within bounds); columns go
/// by priority when space is short.
pub(super) fn fitting(width: u16, rows: &[Row]) -> Vec<(Column, u16)> {
    let widest = |f: &dyn Fn(&Row) -> usize, least: u16| {
        let most = rows.iter().map(f).max().unwrap_or(0);
        u16::try_from(most)
            .unwrap_or(MAX_TEXT)
            .clamp(least, MAX_TEXT)
    };
    // The key column's title carries the sort mark when sorted by key ("KEY ▼").
    let key = widest(&|r| r.key.chars().count(), 5);
    let reason = widest(&|r| top_reason(r).chars().count(), 10);
    let width_of = |c: Column| match c {
        Column::Key => key,
        Column::TopReason => reason,
        c => c.width(),
    };
    let mut order = Column::ALL.to_vec();
    // The in-flight column only where a key has a bulkhead: other screens stay as they were.
    if rows.iter().all(|r| r.in_flight.is_none()) {
        order.retain(|c| *c != Column::InFlight);
    }
    order.sort_by_key(|c| c.priority());
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for c in order {
        let w = width_of(c) + 1;
        if used + w <= width {
            used += w;
            chosen.push((c, width_of(c)));
        }
    }
    chosen.sort_by_key(|(c, _)| Column::ALL.iter().position(|x| x == c));
    chosen
}

/// Attempts in flight against the bulkhead's cap: yellow from 80% of it, red when full.
fn in_flight_cell(in_flight: Option<(u32, u32)>) -> Cell<'static> {
    match in_flight {
        Some((n, max)) => {
            let style = if n >= max {
                Style::new().red().bold()
            } else if u64::from(n) * 5 >= u64::from(max) * 4 {
                Style::new().yellow()
            } else {
                Style::new()
            };
            Cell::from(format!("{n}/{max}")).style(style)
        }
        None => Cell::from("-"),
    }
}

fn circuit_cell(state: Option<&str>) -> Cell<'static> {
    match state {
        Some("open") => Cell::from("○ OPEN").style(Style::new().red().bold()),
        Some("half-open") => Cell::from("◐ half-open").style(Style::new().yellow()),
        Some("closed") => Cell::from("● closed").style(Style::new().green()),
        Some("isolated") => Cell::from("⊘ ISOLATED").style(Style::new().red().bold()),
        Some("forced-closed") => Cell::from("● FORCED").style(Style::new().yellow()),
        Some(other) => Cell::from(other.to_owned()),
        None => Cell::from("-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(width: u16, rows: &[Row]) -> Vec<&'static str> {
        fitting(width, rows)
            .iter()
            .map(|(c, _)| c.title())
            .collect()
    }

    #[test]
    fn the_in_flight_column_shows_only_where_a_key_has_a_bulkhead() {
        let plain = Row {
            key: "payments.Charge".into(),
            ..Row::default()
        };
        let capped = Row {
            key: "inventory.Reserve".into(),
            in_flight: Some((48, 50)),
            ..Row::default()
        };
        assert!(!titles(200, std::slice::from_ref(&plain)).contains(&"INFLT"));
        assert!(titles(200, &[plain.clone(), capped.clone()]).contains(&"INFLT"));
        // Narrow terminals keep what matters more.
        let narrow = titles(60, &[plain, capped]);
        assert!(
            !narrow.contains(&"INFLT") && narrow.contains(&"CIRCUIT"),
            "{narrow:?}"
        );
    }

    #[test]
    fn an_in_flight_cell_reads_as_count_over_cap() {
        let text = |c: Option<(u32, u32)>| {
            let row = Row {
                in_flight: c,
                ..Row::default()
            };
            format!("{:?}", Column::InFlight.cell(&row, 7))
        };
        assert!(text(Some((3, 50))).contains("3/50"));
        assert!(text(None).contains('-'));
    }
}
