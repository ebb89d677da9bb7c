//! Drawing: a pure function of the state, one module per screen. Narrow terminals drop
//! columns from the right and panes from the bottom; nothing is drawn for rows that are not
//! visible.

mod budget;
mod columns;
mod help;
mod key_detail;
mod log;
mod overview;
mod waterfall;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use recourse_engine::export::wire::CallFilter;

use super::app::{App, View};
use super::model::Row;
use super::warnings::{Level, warnings};
use crate::format::clock_of_micros;

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
        frame.render_widget(targets_line(app, area.width), targets);
    }
    if warned.height > 0 {
        frame.render_widget(warnings_line(&rows, area.width), warned);
    }
    match &app.view {
        View::Overview => overview::overview(frame, app, &rows, body),
        View::Key(k) => key_detail::key_detail(frame, app, k, body),
        View::Call { .. } => waterfall::waterfall(frame, app, body),
    }
    frame.render_widget(footer_line(app, area.width), footer);
    if app.help {
        help::help(frame, area, &app.scopes());
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
    spans.push(match (&app.frozen, app.replay) {
        (Some(_), _) => format!("  FROZEN +{}", app.frozen_behind()).yellow().bold(),
        (None, _) if app.ended => "  ENDED".dim(),
        (None, Some(_)) if app.paused => "  REPLAY ⏸".yellow().bold(),
        (None, Some(speed)) => format!("  REPLAY {}", speed_label(speed)).cyan().bold(),
        (None, None) => "  LIVE".green().bold(),
    });
    // A replay says when its recording is at: the time of the newest message played.
    if app.replay.is_some()
        && let Some(us) = app.clock_us
    {
        spans.push(format!(" {}", clock_of_micros(us)).cyan());
    }
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
    Paragraph::new(clip(Line::from(spans), width))
}

/// `×1`, `×0.5`, or `×max` for as fast as possible.
fn speed_label(speed: f64) -> String {
    if speed <= 0.0 {
        "×max".to_owned()
    } else {
        format!("×{speed}")
    }
}

fn targets_line(app: &App, width: u16) -> Paragraph<'static> {
    let mut spans = Vec::new();
    for t in app.targets.iter().filter(|t| !t.gone) {
        let colour = target_colour(&t.name);
        let (dot, style, note) = match (t.connected, t.stale) {
            (true, false) => ("●", Style::new().fg(colour), ""),
            (true, true) => ("◌", Style::new().dim(), " (stale)"),
            (false, _) => ("○", Style::new().dim(), " (reconnecting)"),
        };
        // A restarted service is one series, marked with how often it came back.
        let restarts = match t.restarts {
            0 => String::new(),
            n => format!(" ↻{n}"),
        };
        spans.push(Span::styled(
            format!(" {dot} {}{restarts}{note} ", t.name),
            style,
        ));
    }
    Paragraph::new(clip(Line::from(spans), width))
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
    let room = usize::from(width);
    let mut spans = vec![" ⚠ ".yellow().bold()];
    let mut used = 3;
    for (shown, w) in found.into_iter().enumerate() {
        let what = format!(" {}", w.what.join(", "));
        let sep = if shown > 0 { 3 } else { 0 };
        let needed = sep + w.key.chars().count() + what.chars().count();
        // Room is kept for " · +N more" unless this is the last warning.
        let more = if shown + 1 == total {
            0
        } else {
            format!(" · +{} more", total - shown - 1).chars().count()
        };
        if shown > 0 && used + needed + more > room {
            spans.push(format!(" · +{} more", total - shown).dim());
            break;
        }
        used += needed;
        if shown > 0 {
            spans.push(" · ".dim());
        }
        spans.push(match w.level {
            Level::Failing => w.key.red().bold(),
            Level::Strained => w.key.yellow(),
        });
        spans.push(Span::raw(what));
    }
    Paragraph::new(clip(Line::from(spans), width))
}

fn footer_line(app: &App, width: u16) -> Paragraph<'static> {
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
    if let Some(s) = app.status() {
        spans.push(format!(" {s} ").italic());
        let waiting = app.notices.waiting();
        if waiting > 0 {
            spans.push(format!("(+{waiting}) ").dim());
        }
        spans.push(" ·".dim());
    }
    spans.push(format!(" {}", app.hints().join("  ")).dim());
    Paragraph::new(clip(Line::from(spans), width))
}

pub(crate) fn target_colour(name: &str) -> Color {
    match crate::format::target_colour(name) {
        34 => Color::Blue,
        35 => Color::Magenta,
        36 => Color::Cyan,
        _ => Color::LightBlue,
    }
}

pub(super) fn bordered(title: String, focused: bool) -> Block<'static> {
    let b = Block::default().borders(Borders::ALL).title(title);
    if focused {
        b.border_style(Style::new().cyan())
    } else {
        b
    }
}

/// `text` cut to `width` columns, its last one an ellipsis when anything was cut: nothing is
/// ever truncated without a mark.
pub(super) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

/// `line` cut to `width` columns, ending in an ellipsis (in the style of the span it cuts)
/// when anything was cut.
pub(super) fn clip(line: Line<'static>, width: u16) -> Line<'static> {
    let width = usize::from(width);
    if line.width() <= width {
        return line;
    }
    // Everything past `width - 1` columns goes; the ellipsis takes the last one.
    let mut room = width.saturating_sub(1);
    let mut spans = Vec::new();
    for span in line.spans {
        let n = span.content.chars().count();
        if n <= room {
            room -= n;
            spans.push(span);
            continue;
        }
        let mut kept: String = span.content.chars().take(room).collect();
        kept.push('…');
        spans.push(Span::styled(kept, span.style));
        break;
    }
    Line { spans, ..line }
}

pub(super) fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

/// The last `width` points as block characters, scaled to their maximum.
pub(super) fn sparkline(values: &[u64], width: usize) -> String {
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter()
        .map(|&v| SPARKS[((v * 7).div_ceil(max)) as usize].to_string())
        .collect()
}
