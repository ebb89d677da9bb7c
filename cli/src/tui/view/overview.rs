//! The overview: the keys table over the event log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table};

use super::bordered;
use super::columns::{Column, fitting};
use super::log::event_log;
use crate::tui::app::{App, Focus, View};
use crate::tui::model::{Row, WINDOWS};

pub(super) fn overview(frame: &mut Frame<'_>, app: &App, rows: &[Row], area: Rect) {
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

fn keys_table(frame: &mut Frame<'_>, app: &App, rows: &[Row], area: Rect) {
    let columns = fitting(area.width.saturating_sub(3), rows);
    let inner_rows = area.height.saturating_sub(3) as usize;
    let sel = app.key_sel.min(rows.len().saturating_sub(1));
    let offset = sel.saturating_sub(inner_rows.saturating_sub(1));
    let header = TableRow::new(columns.iter().map(|&(c, width)| {
        let title = c.title();
        let sorted = c.sort() == Some(app.sort);
        let mark = match (sorted, app.descending) {
            (true, true) => " ▼",
            (true, false) => " ▲",
            _ => "",
        };
        // A title that fills its column keeps the mark without the space (`CALL/s▼`).
        let text = if title.chars().count() + mark.chars().count() > usize::from(width) {
            format!("{title}{}", mark.trim_start())
        } else {
            format!("{title}{mark}")
        };
        Cell::from(text).style(Style::new().bold())
    }));
    let body: Vec<TableRow<'_>> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(inner_rows.max(1))
        .map(|(i, r)| {
            let row = TableRow::new(columns.iter().map(|&(c, w)| c.cell(r, w)));
            if i == sel && app.focus == Focus::Keys {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|&(c, width)| {
            if c == Column::Key {
                Constraint::Min(width)
            } else {
                Constraint::Length(width)
            }
        })
        .collect();
    let sort = app.sort.label();
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
