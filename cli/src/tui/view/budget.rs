//! A budget's line: its name and how full it is, as the key detail and the waterfall show it.

use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use recourse_engine::export::wire::BudgetFill;

/// ` budget NAME ▕███░░░░░░░▏ 3/10`: the name, and the fill as a gauge when the budget has a
/// capacity (red under 10%, amber under half), else the level alone.
pub(super) fn budget_line(name: &str, fill: Option<BudgetFill>) -> Line<'static> {
    let mut spans = vec![Span::raw(format!(" budget {name} "))];
    match fill {
        Some(BudgetFill {
            level,
            capacity: Some(capacity),
        }) if capacity > 0.0 => {
            let share = (level / capacity).clamp(0.0, 1.0);
            let style = match share {
                s if s < 0.1 => Style::new().red(),
                s if s < 0.5 => Style::new().yellow(),
                _ => Style::new().green(),
            };
            spans.push(Span::styled(gauge(share, 10), style));
            spans.push(Span::raw(format!(" {level:.0}/{capacity:.0}")));
        }
        Some(BudgetFill { level, .. }) => spans.push(Span::raw(format!("{level:.1} left"))),
        None => spans.push("fill not reported".dim()),
    }
    Line::from(spans)
}

/// `share` (0 to 1) of `width` cells, filled from the left.
fn gauge(share: f64, width: usize) -> String {
    let full = ((share * width as f64).round() as usize).min(width);
    format!("▕{}{}▏", "█".repeat(full), "░".repeat(width - full))
}
