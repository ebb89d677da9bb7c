//! Drawing: a pure function of the state. Narrow terminals drop columns from the right and
//! panes from the bottom; nothing is drawn for rows that are not visible.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table, Wrap};
use recourse_engine::export::wire::CallFilter;

use super::keymap::KEYMAP;
use super::state::{App, Event, EventKind, Focus, Row, SORTS, View, WINDOWS};
use super::warnings::{Level, warnings};
use crate::format::{clock_of, human_us};

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Draws the whole screen.
pub(crate) fn render(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    let in_overview = matches!(app.view, View::Overview);
    // The overview's rows, computed once a frame for the warnings and the table.
    let rows = if in_overview { app.rows() } else { Vec::new() };
    let [header, targets, warned, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(area.height >= 16)),
        Constraint::Length(u16::from(area.height >= 20 && in_overview)),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(header_line(app, area.width), header);
    if targets.height > 0 {
        frame.render_widget(targets_line(app), targets);
    }
    if warned.height > 0 {
        frame.render_widget(warnings_line(&rows, area.width), warned);
    }
    match &app.view {
        View::Overview => overview(frame, app, &rows, body),
        View::Key(k) => key_detail(frame, app, k, body),
        View::Call { .. } => waterfall(frame, app, body),
    }
    frame.render_widget(footer_line(app), footer);
    if app.help {
        help(frame, area);
    }
}

fn header_line(app: &App, width: u16) -> Paragraph<'static> {
    let connected = app.targets.iter().filter(|t| t.connected).count();
    let followed = app.targets.iter().filter(|t| !t.gone).count();
    let mut spans = vec![
        " recourse tail ".bold().reversed(),
        format!("  keys: {}", app.title).into(),
    ];
    // The log shows only some calls: say so where the operator looks.
    if app.shown != CallFilter::All {
        spans.push(format!("  calls: {}", app.shown).yellow());
    }
    spans.push(format!("  targets {connected}/{followed}").into());
    spans.push(match &app.frozen {
        Some(_) => format!("  FROZEN +{}", app.frozen_behind()).yellow().bold(),
        None if app.ended => "  ENDED".dim(),
        None => "  LIVE".green().bold(),
    });
    let l = app.lost;
    let loss = format!(
        "  lost: src {} · slow {} · rate {}",
        l.source, l.slow, l.rate
    );
    let lossy = l.source + l.slow + l.rate > 0;
    if width >= 100 {
        spans.push(if lossy { loss.yellow() } else { loss.dim() });
    } else {
        spans.push(format!("  lost {}", l.source + l.slow + l.rate).dim());
    }
    // Past its memory bounds tail counts what it leaves out: say so.
    if app.capped.any() {
        let c = app.capped;
        spans.push(format!("  over caps: {}", c.keys + c.series).yellow());
    }
    if width >= 100 {
        spans.push("  ?:help".dim());
    }
    Paragraph::new(Line::from(spans))
}

fn targets_line(app: &App) -> Paragraph<'static> {
    let mut spans = Vec::new();
    for t in app.targets.iter().filter(|t| !t.gone) {
        let colour = target_colour(&t.name);
        let (dot, style, note) = match (t.connected, t.stale) {
            (true, false) => ("●", Style::new().fg(colour), ""),
            (true, true) => ("◌", Style::new().dim(), " (stale)"),
            (false, _) => ("○", Style::new().dim(), " (reconnecting)"),
        };
        spans.push(Span::styled(format!(" {dot} {}{note} ", t.name), style));
    }
    Paragraph::new(Line::from(spans))
}

/// What needs a look first, worst first, as many whole warnings as fit in `width` and a count
/// of the rest; a quiet line when nothing needs a look.
fn warnings_line(rows: &[Row], width: u16) -> Paragraph<'static> {
    let found = warnings(rows);
    if found.is_empty() {
        let quiet = if rows.is_empty() {
            ""
        } else {
            " ✓ no warnings"
        };
        return Paragraph::new(quiet.dim());
    }
    let total = found.len();
    let mut spans = vec![" ⚠ ".yellow().bold()];
    // Room for " · +N more" after the last whole warning shown.
    let mut room = usize::from(width).saturating_sub(3 + 12);
    for (shown, w) in found.into_iter().enumerate() {
        let what = format!(" {}", w.what.join(", "));
        let needed = w.key.chars().count() + what.chars().count() + 3;
        let last = shown + 1 == total;
        if shown > 0 && needed > room + if last { 12 } else { 0 } {
            spans.push(format!(" · +{} more", total - shown).dim());
            break;
        }
        room = room.saturating_sub(needed);
        if shown > 0 {
            spans.push(" · ".dim());
        }
        spans.push(match w.level {
            Level::Failing => w.key.red().bold(),
            Level::Strained => w.key.yellow(),
        });
        spans.push(Span::raw(what));
    }
    Paragraph::new(Line::from(spans))
}

fn footer_line(app: &App) -> Paragraph<'static> {
    if let Some(c) = &app.command {
        return Paragraph::new(Line::from(vec![
            " :".bold(),
            Span::raw(c.clone()),
            "█".slow_blink(),
            format!("   {}", super::command::SUMMARY).dim(),
        ]));
    }
    if let Some(p) = &app.prompt {
        return Paragraph::new(Line::from(vec![
            " filter: /".bold(),
            Span::raw(p.clone()),
            "█".slow_blink(),
            "   Enter keep · Esc clear".dim(),
        ]));
    }
    let mut spans: Vec<Span<'static>> = Vec::new();
    if !app.filter.is_empty() {
        spans.push(format!(" /{} ", app.filter).black().on_yellow());
    }
    if let Some(s) = &app.status {
        spans.push(format!(" {s} ").italic());
        spans.push(" ·".dim());
    }
    spans.push(format!(" {}", app.hints().join("  ")).dim());
    Paragraph::new(Line::from(spans))
}

pub(crate) fn target_colour(name: &str) -> Color {
    match crate::format::target_colour(name) {
        34 => Color::Blue,
        35 => Color::Magenta,
        36 => Color::Cyan,
        _ => Color::LightBlue,
    }
}

fn overview(frame: &mut Frame<'_>, app: &App, rows: &[Row], area: Rect) {
    let keys_height = if area.height < 8 {
        area.height
    } else {
        (rows.len() as u16 + 3).clamp(4, area.height / 2 + 1)
    };
    let [keys, events] =
        Layout::vertical([Constraint::Length(keys_height), Constraint::Min(0)]).areas(area);
    keys_table(frame, app, rows, keys);
    if events.height >= 3 {
        let visible = app.visible();
        let focused = app.focus == Focus::Events;
        event_log(frame, app, &visible, events, " Events ", focused);
    }
}

fn bordered(title: String, focused: bool) -> Block<'static> {
    let b = Block::default().borders(Borders::ALL).title(title);
    if focused {
        b.border_style(Style::new().cyan())
    } else {
        b
    }
}

struct Column {
    title: &'static str,
    width: u16,
    /// Lower goes first when space is short.
    priority: u8,
}

const COLUMNS: &[Column] = &[
    Column {
        title: "KEY",
        width: 22,
        priority: 0,
    },
    Column {
        title: "CALL/s",
        width: 7,
        priority: 1,
    },
    Column {
        title: "OK%",
        width: 6,
        priority: 2,
    },
    Column {
        title: "1ST%",
        width: 6,
        priority: 6,
    },
    Column {
        title: "ATT/C",
        width: 6,
        priority: 5,
    },
    Column {
        title: "RETRY/s",
        width: 8,
        priority: 10,
    },
    Column {
        title: "BDENY/s",
        width: 8,
        priority: 7,
    },
    Column {
        title: "WIN%",
        width: 5,
        priority: 11,
    },
    Column {
        title: "CIRCUIT",
        width: 10,
        priority: 3,
    },
    Column {
        title: "p50",
        width: 7,
        priority: 9,
    },
    Column {
        title: "p99",
        width: 7,
        priority: 4,
    },
    Column {
        title: "TOP REASON",
        width: 22,
        priority: 8,
    },
    Column {
        title: "TREND",
        width: 12,
        priority: 12,
    },
];

/// The columns that fit in `width`, in display order.
fn fitting(width: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..COLUMNS.len()).collect();
    order.sort_by_key(|&i| COLUMNS[i].priority);
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for i in order {
        let w = COLUMNS[i].width + 1;
        if used + w <= width {
            used += w;
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

fn cell(r: &Row, column: usize) -> Cell<'static> {
    match column {
        0 => Cell::from(r.key.clone()),
        1 => Cell::from(r.calls_s.map_or(r.calls.to_string(), |v| format!("{v:.1}"))),
        2 => {
            let style = match r.ok_pct {
                Some(v) if v < 90.0 => Style::new().red(),
                Some(v) if v < 99.0 => Style::new().yellow(),
                _ => Style::new(),
            };
            Cell::from(opt(r.ok_pct, 1)).style(style)
        }
        3 => Cell::from(opt(r.first_pct, 1)),
        4 => {
            let style = match r.att_per_call {
                Some(v) if v >= 2.0 => Style::new().red(),
                Some(v) if v >= 1.2 => Style::new().yellow(),
                _ => Style::new(),
            };
            Cell::from(r.att_per_call.map_or("-".into(), |v| format!("{v:.2}×"))).style(style)
        }
        5 => Cell::from(opt(r.retry_s, 1)),
        6 => Cell::from(r.deny_s.map_or(r.denied.to_string(), |v| format!("{v:.1}"))),
        7 => Cell::from(r.win_pct.map_or("-".into(), |v| format!("{v:.0}%"))),
        8 => circuit_cell(r.circuit.as_deref()),
        9 => Cell::from(r.p50_us.map_or("-".into(), human_us)),
        10 => Cell::from(r.p99_us.map_or("-".into(), human_us)),
        11 => Cell::from(
            r.top
                .as_ref()
                .map_or("-".into(), |(k, p)| format!("{k} {p:.0}%")),
        ),
        _ => Cell::from(sparkline(&r.spark, 12)),
    }
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

/// The last `width` points as block characters, scaled to their maximum.
fn sparkline(values: &[u64], width: usize) -> String {
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter()
        .map(|&v| SPARKS[((v * 7).div_ceil(max)) as usize].to_string())
        .collect()
}

fn keys_table(frame: &mut Frame<'_>, app: &App, rows: &[Row], area: Rect) {
    let columns = fitting(area.width.saturating_sub(3));
    let inner_rows = area.height.saturating_sub(3) as usize;
    let sel = app.key_sel.min(rows.len().saturating_sub(1));
    let offset = sel.saturating_sub(inner_rows.saturating_sub(1));
    let header = TableRow::new(columns.iter().map(|&c| {
        let title = COLUMNS[c].title;
        let sorted = SORTS[app.sort] == title.to_lowercase().replace("att/c", "att/call");
        let mark = match (sorted, app.descending) {
            (true, true) => " ▼",
            (true, false) => " ▲",
            _ => "",
        };
        Cell::from(format!("{title}{mark}")).style(Style::new().bold())
    }));
    let body: Vec<TableRow<'_>> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(inner_rows.max(1))
        .map(|(i, r)| {
            let row = TableRow::new(columns.iter().map(|&c| cell(r, c)));
            if i == sel && app.focus == Focus::Keys {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|&c| {
            if c == 0 {
                Constraint::Min(COLUMNS[c].width)
            } else {
                Constraint::Length(COLUMNS[c].width)
            }
        })
        .collect();
    let sort = SORTS[app.sort];
    let window = match app.window {
        0 => String::new(),
        w => format!(" · last {}", WINDOWS[w].1),
    };
    let title = format!(" Keys ({}) · sort: {sort}{window} ", rows.len());
    let empty = rows.is_empty();
    let table = Table::new(body, widths).header(header).block(bordered(
        title,
        app.focus == Focus::Keys && app.view == View::Overview,
    ));
    frame.render_widget(table, area);
    if empty && area.height > 3 {
        let msg = if app.filter.is_empty() {
            "waiting for calls…"
        } else {
            "no key matches the filter"
        };
        let inner = Rect::new(area.x + 2, area.y + 2, area.width.saturating_sub(4), 1);
        frame.render_widget(Paragraph::new(msg.dim()), inner);
    }
}

/// One log line.
fn event_line(app: &App, e: &Event, width: u16) -> Line<'static> {
    let target = app.targets.get(e.target).map_or("?", |t| t.name.as_str());
    let tstyle = Style::new().fg(target_colour(target));
    let mut spans = Vec::new();
    let narrow = width < 70;
    match &e.kind {
        EventKind::Call(c) => {
            spans.push(Span::raw(format!("{} ", clock_of(c.common.ts.as_deref()))));
            if !narrow {
                spans.push(Span::styled(format!("{target} "), tstyle));
            }
            spans.push(Span::raw(format!("{:<18} ", c.key)));
            spans.push(if c.ok() {
                "OK   ".green()
            } else {
                "FAIL ".red().bold()
            });
            let summary = c.summary();
            spans.push(Span::raw(format!(
                "{:>6} ×{}",
                human_us(c.duration_us),
                summary.attempts
            )));
            spans.push(Span::raw(if summary.hedges > 0 { " +h " } else { "    " }));
            let via: Vec<&str> = c
                .attempts
                .iter()
                .filter(|a| a.outcome != "success")
                .map(|a| a.reason.as_str())
                .collect();
            let story = match (c.ok(), via.is_empty()) {
                (true, true) => String::new(),
                (true, false) => format!("recovered after {}", via.join(" → ")),
                (false, true) => c.reason.clone(),
                (false, false) => format!("{} ← {}", c.reason, via.join(" → ")),
            };
            spans.push(Span::raw(story));
        }
        EventKind::Circuit(c) => {
            spans.push(Span::raw(format!("{} ", clock_of(c.common.ts.as_deref()))));
            if !narrow {
                spans.push(Span::styled(format!("{target} "), tstyle));
            }
            spans.push(Span::raw(format!("{:<18} ", c.key)));
            let to = match c.to.as_str() {
                "open" => "OPEN".red().bold(),
                "half-open" => "half-open".yellow(),
                other => Span::raw(other.to_owned()).green(),
            };
            spans.push("CIRCUIT ".bold());
            spans.push(Span::raw(format!("{} → ", c.from)));
            spans.push(to);
            spans.push(Span::raw(format!("  ({})", c.reason)).dim());
        }
    }
    Line::from(spans)
}

fn event_log(
    frame: &mut Frame<'_>,
    app: &App,
    visible: &[&Event],
    area: Rect,
    title: &str,
    focused: bool,
) {
    let height = area.height.saturating_sub(2) as usize;
    let sel = app.selected(visible);
    let end = match (app.event_sel, sel) {
        (Some(_), Some(s)) => (s + 1).max(height.min(visible.len())),
        _ => visible.len(),
    };
    let start = end.saturating_sub(height);
    let lines: Vec<Line<'_>> = visible[start..end.min(visible.len())]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let line = event_line(app, e, area.width);
            if focused && Some(start + i) == sel && app.event_sel.is_some() {
                line.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                line
            }
        })
        .collect();
    let follow = if app.event_sel.is_none() {
        "follow ●"
    } else {
        "follow ○ (G resumes)"
    };
    let title = format!("{title}· {} · {follow} ", visible.len());
    let p = Paragraph::new(lines).block(bordered(title, focused));
    frame.render_widget(p, area);
}

fn key_detail(frame: &mut Frame<'_>, app: &App, key: &str, area: Rect) {
    let row = app
        .rows()
        .into_iter()
        .find(|r| r.key == key)
        .unwrap_or_default();
    let summary_height = if area.height >= 12 { 6 } else { 3 };
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
            "   hedge wins {}",
            row.win_pct.map_or("-".into(), |v| format!("{v:.0}%"))
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
    let p = Paragraph::new(vec![line1, line2, line3, line4])
        .wrap(Wrap { trim: true })
        .block(bordered(format!(" {key} "), false));
    frame.render_widget(p, summary);
    // With several services making the key, which one is sick.
    let by_target = app.target_rows(key);
    let calls = if by_target.len() >= 2 && calls.height >= by_target.len() as u16 + 6 {
        let [table, calls] = Layout::vertical([
            Constraint::Length(by_target.len() as u16 + 3),
            Constraint::Min(0),
        ])
        .areas(calls);
        targets_table(frame, &by_target, table);
        calls
    } else {
        calls
    };
    if calls.height >= 3 {
        let visible = app.visible();
        event_log(frame, app, &visible, calls, " Recent calls ", true);
    }
}

/// A key's figures on each target, in the keys table's cells.
fn targets_table(frame: &mut Frame<'_>, by_target: &[(String, Row)], area: Rect) {
    // CALL/s, OK%, 1ST%, ATT/C, p99, CIRCUIT of COLUMNS.
    const SHOWN: [usize; 6] = [1, 2, 3, 4, 10, 8];
    let header = TableRow::new(
        std::iter::once("TARGET")
            .chain(SHOWN.iter().map(|&c| COLUMNS[c].title))
            .map(|t| Cell::from(t).style(Style::new().bold())),
    );
    let body = by_target.iter().map(|(name, r)| {
        let name = Cell::from(name.clone()).style(Style::new().fg(target_colour(name)));
        TableRow::new(std::iter::once(name).chain(SHOWN.iter().map(|&c| cell(r, c))))
    });
    let widths = std::iter::once(Constraint::Min(12))
        .chain(SHOWN.iter().map(|&c| Constraint::Length(COLUMNS[c].width)));
    let table = Table::new(body, widths)
        .header(header)
        .block(bordered(" By target ".into(), false));
    frame.render_widget(table, area);
}

fn waterfall(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(e) = app.shown_call() else {
        let p = Paragraph::new("this call left the buffer").block(bordered(" call ".into(), true));
        frame.render_widget(p, area);
        return;
    };
    let EventKind::Call(c) = &e.kind else { return };
    let target = app.targets.get(e.target).map_or("?", |t| t.name.as_str());
    let outcome = if c.ok() {
        "OK".to_owned()
    } else {
        format!("FAILED {}", c.reason)
    };
    let title = format!(
        " {} · {} · {} · {} · {} ",
        c.key,
        target,
        clock_of(c.common.ts.as_deref()),
        human_us(c.duration_us),
        outcome
    );
    let mut attempts: Vec<_> = c.attempts.iter().collect();
    attempts.sort_by_key(|a| (a.start_us, a.attempt, a.hedge_index));
    let span_us = attempts
        .iter()
        .map(|a| a.end_us)
        .max()
        .unwrap_or(0)
        .max(c.duration_us)
        .max(1);
    let fixed = 8 + 9 + 8 + 11 + 24 + 14;
    let bar_width = (area.width as usize).saturating_sub(fixed + 4).clamp(8, 80);
    let col = |us: u64| ((us as u128 * bar_width as u128) / span_us as u128) as usize;
    let mut lines = vec![
        Line::from(format!(
            " policy {} · {} attempt{} · started {}",
            c.policy_id.as_deref().unwrap_or("-"),
            attempts.len(),
            if attempts.len() == 1 { "" } else { "s" },
            c.start.as_deref().map_or("-", |s| clock_of(Some(s)))
        ))
        .dim(),
    ];
    lines.push(
        Line::from(format!(
            " {:<6} {:<8} {:<w$} {:>7}  {:<10} {:<22} {}",
            "#",
            "kind",
            "0 → ".to_owned() + &human_us(span_us),
            "dur",
            "outcome",
            "reason",
            "budget",
            w = bar_width
        ))
        .bold(),
    );
    for a in attempts {
        let (label, kind) = if a.is_hedge {
            (format!("{}h{}", a.attempt, a.hedge_index), "hedge")
        } else if a.attempt == 0 {
            (a.attempt.to_string(), "primary")
        } else {
            (a.attempt.to_string(), "retry")
        };
        if a.backoff_us > 0 && !a.is_hedge {
            let from = col(a.start_us.saturating_sub(a.backoff_us));
            let to = col(a.start_us).max(from + 1);
            let bar = format!("{}{}", " ".repeat(from), "░".repeat(to - from));
            lines.push(Line::from(vec![
                Span::raw(format!(" {:<6} {:<8} ", "", "backoff")),
                Span::raw(format!("{bar:<bar_width$}")).dim(),
                Span::raw(format!(" {:>7}", human_us(a.backoff_us))).dim(),
            ]));
        }
        let from = col(a.start_us);
        let (bar, style) = if !a.budget_allowed {
            (format!("{}⊘", " ".repeat(from)), Style::new().red())
        } else {
            let to = col(a.end_us).max(from + 1);
            let glyph = if a.reason == "hedge_cancelled" {
                "▒"
            } else {
                "█"
            };
            let style = match a.outcome.as_str() {
                "success" => Style::new().green(),
                "retryable" => Style::new().yellow(),
                _ => Style::new().red(),
            };
            (
                format!("{}{}", " ".repeat(from), glyph.repeat(to - from)),
                style,
            )
        };
        let dur = if a.budget_allowed {
            human_us(a.end_us.saturating_sub(a.start_us))
        } else {
            "-".into()
        };
        let outcome = if a.budget_allowed {
            a.outcome.as_str()
        } else {
            "denied"
        };
        lines.push(Line::from(vec![
            Span::raw(format!(" {label:<6} {kind:<8} ")),
            Span::styled(format!("{bar:<bar_width$}"), style),
            Span::raw(format!(
                " {dur:>7}  {outcome:<10} {:<22} {}",
                a.reason, a.budget_reason
            )),
        ]));
    }
    lines.push(Line::from(format!(
        " final: {}{}",
        c.reason,
        if c.error.is_none() && c.attempts.iter().all(|a| a.error.is_none()) {
            " · error texts not sent (the service opts in with include_errors)"
        } else {
            ""
        }
    )));
    for a in c.attempts.iter().filter(|a| a.error.is_some()) {
        lines.push(
            Line::from(format!(
                "   attempt {}: {}",
                a.attempt,
                a.error.as_deref().unwrap_or_default()
            ))
            .dim(),
        );
    }
    let p = Paragraph::new(lines).block(bordered(title, true));
    frame.render_widget(p, area);
}

fn help(frame: &mut Frame<'_>, area: Rect) {
    let width = area.width.min(86);
    // A binding without help text is listed with the one before it (`z, Z`).
    let listed = || KEYMAP.iter().filter(|b| !b.help.is_empty());
    let height = (listed().count() as u16 + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    let lines: Vec<Line<'_>> = listed()
        .map(|b| Line::from(vec![format!(" {:<14}", b.label).bold(), Span::raw(b.help)]))
        .collect();
    // The way out sits in the bottom border, so it shows even when the rows fill the screen.
    let block = bordered(" keys ".into(), true)
        .title_bottom(Line::from(" ? or Esc closes this help ").dim().centered());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
