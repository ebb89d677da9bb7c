//! The event log pane: one line per call or breaker change.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bordered, clip, target_colour};
use crate::format::{clock_of, human_us};
use crate::tui::app::App;
use crate::tui::model::{Event, EventKind};

/// One log line.
fn event_line(app: &App, e: &Event, width: u16) -> Line<'static> {
    let target = app.targets.get(e.target).map_or("?", |t| t.name.as_str());
    let tstyle = Style::new().fg(target_colour(target));
    let mut spans = Vec::new();
    // The target is named only when there is more than one to tell apart, and room for it.
    let narrow = width < 70 || app.targets.len() < 2;
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
    // Whatever does not fit ends in an ellipsis, never mid-word without a mark.
    clip(Line::from(spans), width.saturating_sub(2))
}

pub(super) fn event_log(
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
    // `G` resumes following only where it works: with the cursor in this pane.
    let follow = match (app.event_sel.is_none(), focused) {
        (true, _) => "follow ●",
        (false, true) => "follow ○ (G resumes)",
        (false, false) => "follow ○",
    };
    let title = format!("{title}· {} · {follow} ", visible.len());
    let p = Paragraph::new(lines).block(bordered(title, focused));
    frame.render_widget(p, area);
}
