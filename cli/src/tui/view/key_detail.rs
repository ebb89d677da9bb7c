//! The key detail: a key's figures, its top failure reasons, its figures on each target, and
//! its recent calls.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table, Wrap};

use super::budget::budget_line;
use super::columns::Column;
use super::log::event_log;
use super::{bordered, opt, sparkline, target_colour};
use crate::format::human_us;
use crate::tui::app::App;
use crate::tui::model::{Row, Shadow};
use recourse_engine::export::wire::WindowCounts;

pub(super) fn key_detail(frame: &mut Frame<'_>, app: &App, key: &str, area: Rect) {
    let row = app
        .rows()
        .into_iter()
        .find(|r| r.key == key)
        .unwrap_or_default();
    let budget = app
        .budget_of(key)
        .map(|(name, fill)| budget_line(name, fill));
    let window = row.window.map(window_line);
    let shadow = row.shadow.as_ref().map(|sh| shadow_lines(&row, sh));
    let lines = 4
        + u16::from(budget.is_some())
        + u16::from(window.is_some())
        + shadow.as_ref().map_or(0, |l| l.len() as u16);
    let summary_height = if area.height >= 12 { lines + 2 } else { 3 };
    let [summary, calls] =
        Layout::vertical([Constraint::Length(summary_height), Constraint::Min(0)]).areas(area);
    let line1 = Line::from(vec![
        format!(
            " calls/s {}",
            row.calls_s
                .map_or(row.calls.to_string(), |v| format!("{v:.1}"))
        )
        .into(),
        format!("   ok {}%", opt(row.ok_pct, 1)).into(),
        format!("   first try {}%", opt(row.first_pct, 1)).into(),
        format!("   attempts/call {}", opt(row.att_per_call, 2)).into(),
    ]);
    let line2 = Line::from(vec![
        format!(" p50 {}", row.p50_us.map_or("-".into(), human_us)).into(),
        format!("   p99 {}", row.p99_us.map_or("-".into(), human_us)).into(),
        format!("   budget denials/s {}", opt(row.deny_s, 1)).into(),
        format!(
            "   hedge wins {}{}",
            row.win_pct.map_or("-".into(), |v| format!("{v:.0}%")),
            match row.hedging.as_deref() {
                Some(state @ ("paused" | "probing")) => format!(" (hedging {state})"),
                _ => String::new(),
            }
        )
        .into(),
        format!("   circuit {}", row.circuit.as_deref().unwrap_or("-")).into(),
    ]);
    let top = app.top_reasons(key, 3);
    let failures = if top.is_empty() {
        "-".to_owned()
    } else {
        let shares: Vec<String> = top.iter().map(|(k, p)| format!("{k} {p:.0}%")).collect();
        shares.join(" · ")
    };
    let line3 = Line::from(format!(" failures seen: {failures}"));
    let line4 = Line::from(format!(" trend {}", sparkline(&row.spark, 30)));
    let mut text = vec![line1, line2];
    text.extend(budget);
    text.extend(window);
    text.extend(shadow.into_iter().flatten());
    text.extend([line3, line4]);
    let p = Paragraph::new(text)
        .wrap(Wrap { trim: true })
        .block(bordered(format!(" {key} "), false));
    frame.render_widget(p, summary);
    // With several services making the key, which one is sick: worst first, as many as fit
    // above a few rows of recent calls.
    let by_target = app.target_rows(key);
    let room = usize::from(calls.height.saturating_sub(3 + 6));
    let calls = if by_target.len() >= 2 && room >= 2 {
        let shown = by_target.len().min(room);
        let [table, calls] =
            Layout::vertical([Constraint::Length(shown as u16 + 3), Constraint::Min(0)])
                .areas(calls);
        targets_table(frame, &by_target[..shown], by_target.len(), table);
        calls
    } else {
        calls
    };
    if calls.height >= 3 {
        let visible = app.visible();
        event_log(frame, app, &visible, calls, " Recent calls ", true);
    }
}

/// The rates a failure-rate or slow-call breaker judges, over the calls in its window.
fn window_line(w: WindowCounts) -> Line<'static> {
    let pct = |n: u64| {
        if w.calls == 0 {
            "-".to_owned()
        } else {
            format!("{:.0}%", n as f64 * 100.0 / w.calls as f64)
        }
    };
    Line::from(format!(
        " breaker window {} calls   failure rate {}   slow rate {}",
        w.calls,
        pct(w.failures),
        pct(w.slow)
    ))
}

/// The key's live policy against its shadow over the window: a small table, then how often
/// they part.
fn shadow_lines(row: &Row, sh: &Shadow) -> Vec<Line<'static>> {
    let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}%"));
    let num = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    let cells = |label: &str, cols: [String; 6]| {
        Line::from(format!(
            " {label:<14}{:>8}{:>10}{:>11}{:>10}{:>10}  {}",
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
        ))
    };
    let w = &sh.would;
    let mut notes = vec![format!("differs on {}", pct(sh.pct(w.differs)))];
    if w.unknown > 0 {
        notes.push(format!("{} unknown (not in ok)", pct(sh.pct(w.unknown))));
    }
    if w.circuit_opens > 0 {
        notes.push(format!("opened {}x", w.circuit_opens));
    }
    let name = sh
        .policy
        .as_deref()
        .map_or("shadow".to_owned(), |p| format!("shadow {p}"));
    vec![
        cells(
            "policy",
            [
                "ok",
                "att/call",
                "retries/s",
                "denied/s",
                "reject/s",
                "circuit",
            ]
            .map(str::to_owned),
        )
        .style(Style::new().bold()),
        cells(
            "live",
            [
                pct(row.ok_pct),
                num(row.att_per_call, 2),
                num(row.retry_s, 1),
                num(row.deny_s, 1),
                num(sh.live_reject_s, 1),
                row.circuit.clone().unwrap_or_else(|| "-".to_owned()),
            ],
        ),
        cells(
            "shadow",
            [
                pct(sh.ok_pct()),
                num(sh.att_per_call(), 2),
                num(sh.retry_s, 1),
                num(sh.deny_s, 1),
                num(sh.reject_s, 1),
                w.circuit.clone().unwrap_or_else(|| "-".to_owned()),
            ],
        ),
        Line::from(format!(" {name}: {}", notes.join(" · "))),
    ]
}

/// A key's figures on each target (the worst of `total`), in the keys table's cells.
fn targets_table(frame: &mut Frame<'_>, by_target: &[(String, Row)], total: usize, area: Rect) {
    const SHOWN: [Column; 6] = [
        Column::CallRate,
        Column::OkPct,
        Column::FirstPct,
        Column::AttemptsPerCall,
        Column::P99,
        Column::Circuit,
    ];
    let header = TableRow::new(
        std::iter::once("TARGET")
            .chain(SHOWN.iter().map(|c| c.title()))
            .map(|t| Cell::from(t).style(Style::new().bold())),
    );
    let body = by_target.iter().map(|(name, r)| {
        let name = Cell::from(name.clone()).style(Style::new().fg(target_colour(name)));
        TableRow::new(std::iter::once(name).chain(SHOWN.iter().map(|c| c.cell(r, c.width()))))
    });
    let widths = std::iter::once(Constraint::Min(12))
        .chain(SHOWN.iter().map(|c| Constraint::Length(c.width())));
    let table = Table::new(body, widths).header(header).block(bordered(
        if by_target.len() < total {
            format!(" By target · the worst {} of {total} ", by_target.len())
        } else {
            " By target ".into()
        },
        false,
    ));
    frame.render_widget(table, area);
}
