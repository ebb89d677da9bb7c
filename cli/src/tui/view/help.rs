//! The help overlay: every key binding.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{bordered, fit};
use crate::tui::keymap::{KEYMAP, Scope};

/// Columns of the key labels, their leading space included.
const LABEL: u16 = 15;

/// `text` in lines of at most `width` columns, broken between words (a word longer than a
/// line is cut with an ellipsis).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(fit(word, width));
        } else {
            if len > 0 {
                line.push(' ');
            }
            line.push_str(&fit(word, width - len.min(width)));
        }
    }
    lines
}

/// The key help over `area`: the bindings that work in `scopes` (the replay's only in a
/// replay).
pub(super) fn help(frame: &mut Frame<'_>, area: Rect, scopes: &[Scope]) {
    let width = area.width.min(86);
    // A binding without help text is listed with the one before it (`z, Z`).
    let listed = || {
        KEYMAP
            .iter()
            .filter(|b| !b.help.is_empty())
            .filter(|b| b.scope != Scope::Replay || scopes.contains(&Scope::Replay))
    };
    // Descriptions wrap under themselves rather than run off a narrow screen.
    let room = usize::from(width.saturating_sub(2 + LABEL)).max(10);
    let lines: Vec<Line<'_>> = listed()
        .flat_map(|b| {
            wrap(b.help, room).into_iter().enumerate().map(|(i, text)| {
                let label = if i == 0 { b.label } else { "" };
                let label = format!(" {label:<w$}", w = usize::from(LABEL) - 1);
                Line::from(vec![label.bold(), Span::raw(text)])
            })
        })
        .collect();
    // Past the screen's height, the last row says how many more a taller terminal shows.
    let rows = usize::from(area.height.saturating_sub(2));
    let mut lines = lines;
    if lines.len() > rows && rows > 0 {
        let more = lines.len() - (rows - 1);
        lines.truncate(rows - 1);
        lines.push(
            Line::from(format!(
                " … {more} more lines: a taller terminal shows them"
            ))
            .dim(),
        );
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    // The way out sits in the bottom border, so it shows even when the rows fill the screen.
    let block = bordered(" keys ".into(), true)
        .title_bottom(Line::from(" ? or Esc closes this help ").dim().centered());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
