//! The keys table's columns: what each shows, how wide it is, and which go first when the
//! terminal is narrow.

use ratatui::style::Style;
use ratatui::widgets::Cell;

use super::{opt, sparkline};
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
    P50,
    P99,
    TopReason,
    Trend,
}

impl Column {
    /// Every column, in display order.
    const ALL: [Column; 13] = [
        Column::Key,
        Column::CallRate,
        Column::OkPct,
        Column::FirstPct,
        Column::AttemptsPerCall,
        Column::RetryRate,
        Column::DenyRate,
        Column::WinPct,
        Column::Circuit,
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
            Column::P50 => "p50",
            Column::P99 => "p99",
            Column::TopReason => "TOP REASON",
            Column::Trend => "TREND",
        }
    }

    pub(super) fn width(self) -> u16 {
        match self {
            Column::Key | Column::TopReason => 22,
            Column::CallRate | Column::P50 | Column::P99 => 7,
            Column::OkPct | Column::FirstPct | Column::AttemptsPerCall => 6,
            Column::RetryRate | Column::DenyRate => 8,
            Column::WinPct => 5,
            Column::Circuit => 10,
            Column::Trend => 12,
        }
    }

    /// Lower goes first when space is short.
    fn priority(self) -> u8 {
        match self {
            Column::Key => 0,
            Column::CallRate => 1,
            Column::OkPct => 2,
            Column::Circuit => 3,
            Column::P99 => 4,
            Column::AttemptsPerCall => 5,
            Column::FirstPct => 6,
            Column::DenyRate => 7,
            Column::TopReason => 8,
            Column::P50 => 9,
            Column::RetryRate => 10,
            Column::WinPct => 11,
            Column::Trend => 12,
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

    /// This column's cell of `r`.
    pub(super) fn cell(self, r: &Row) -> Cell<'static> {
        match self {
            Column::Key => Cell::from(r.key.clone()),
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
            Column::P50 => Cell::from(r.p50_us.map_or("-".into(), human_us)),
            Column::P99 => Cell::from(r.p99_us.map_or("-".into(), human_us)),
            Column::TopReason => Cell::from(
                r.top
                    .as_ref()
                    .map_or("-".into(), |(k, p)| format!("{k} {p:.0}%")),
            ),
            Column::Trend => Cell::from(sparkline(&r.spark, 12)),
        }
    }
}

/// The columns that fit in `width`, in display order.
pub(super) fn fitting(width: u16) -> Vec<Column> {
    let mut order = Column::ALL.to_vec();
    order.sort_by_key(|c| c.priority());
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for c in order {
        let w = c.width() + 1;
        if used + w <= width {
            used += w;
            chosen.push(c);
        }
    }
    chosen.sort_by_key(|c| Column::ALL.iter().position(|x| x == c));
    chosen
}

fn circuit_cell(state: Option<&str>) -> Cell<'static> {
    match state {
        Some("open") => Cell::from("○ OPEN").style(Style::new().red().bold()),
        Some("half-open") => Cell::from("◐ half-open").style(Style::new().yellow()),
        Some("closed") => Cell::from("● closed").style(Style::new().green()),
        Some(other) => Cell::from(other.to_owned()),
        None => Cell::from("-"),
    }
}
