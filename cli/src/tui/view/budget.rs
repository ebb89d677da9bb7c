//! A budget's line: its name and how full it is, as the key detail and the waterfall show it.

use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use recourse_engine::export::wire::BudgetFill;

/// ` budget NAME ▕███░░░░░░░▏ 3/10`: the name, and the fill as a gauge when the budget has a
/// capacity (red under 10%, amber under half), else the level alone. A fleet budget says so,
/// and warns when it spends from its local fallback.
pub(super) fn budget_line(name: &str, fill: Option<&BudgetFill>) -> Line<'static> {
    let mut spans = vec![Span::raw(format!(" budget {name} "))];
    match fill {
        Some(&BudgetFill {
            level,
            capacity: Some(capacity),
            ..
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
    if let Some(fill) = fill {
        spans.extend(fleet_spans(fill));
    }
    Line::from(spans)
}

/// ` fleet of 20` for a fleet budget; a warning when it has fallen back to a local budget.
fn fleet_spans(fill: &BudgetFill) -> Option<Span<'static>> {
    let age = match fill.sync_age_ms {
        Some(ms) => format!("last sync {:.1}s ago", ms as f64 / 1000.0),
        None => "never synced".to_owned(),
    };
    match fill.budget_scope.as_deref()? {
        "local_fallback" => Some(Span::styled(
            format!(" ⚠ fleet store unreachable: local fallback, {age}"),
            Style::new().yellow().bold(),
        )),
        _ => Some(Span::raw(format!(" fleet of {}", fill.replicas.unwrap_or(1))).dim()),
    }
}

/// `share` (0 to 1) of `width` cells, filled from the left.
fn gauge(share: f64, width: usize) -> String {
    let full = ((share * width as f64).round() as usize).min(width);
    format!("▕{}{}▏", "█".repeat(full), "░".repeat(width - full))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_fleet_budget_says_how_many_share_it_and_warns_on_its_fallback() {
        let mut fill = BudgetFill {
            level: 40.0,
            capacity: Some(100.0),
            budget_scope: Some("fleet".into()),
            sync_age_ms: Some(300),
            replicas: Some(20),
        };
        assert_eq!(
            text(&budget_line("retries", Some(&fill))),
            " budget retries ▕████░░░░░░▏ 40/100 fleet of 20"
        );
        fill.budget_scope = Some("local_fallback".into());
        fill.sync_age_ms = Some(2_345);
        assert_eq!(
            text(&budget_line("retries", Some(&fill))),
            " budget retries ▕████░░░░░░▏ 40/100 ⚠ fleet store unreachable: local fallback, \
             last sync 2.3s ago"
        );
        fill.budget_scope = None;
        assert_eq!(
            text(&budget_line("retries", Some(&fill))),
            " budget retries ▕████░░░░░░▏ 40/100",
            "a local budget says nothing more"
        );
    }
}
