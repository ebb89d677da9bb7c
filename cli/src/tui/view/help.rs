//! The help overlay: every key binding.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::bordered;
use crate::tui::keymap::KEYMAP;

pub(super) fn help(frame: &mut Frame<'_>, area: Rect) {
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
