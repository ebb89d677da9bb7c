//! The call waterfall: one call's attempts, backoffs and hedges on a time axis.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use recourse_engine::AttemptRecord;
use recourse_engine::export::wire::AttemptEvent;

use super::budget::budget_line;
use super::{bordered, clip, fit};
use crate::format::{clock_of, human_us};
use crate::tui::app::App;
use crate::tui::model::{EventKind, denied_by};

pub(super) fn waterfall(frame: &mut Frame<'_>, app: &App, area: Rect) {
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
    // The budget column names the budget that refused an attempt (`⊘ name`), else its reason.
    let budget_of = |a: &AttemptEvent| match a.attributes.get(AttemptRecord::DENIED_BY) {
        Some(name) if !a.budget_allowed => format!("⊘ {name}"),
        _ => a.budget_reason.clone(),
    };
    let widest = |f: &dyn Fn(&AttemptEvent) -> usize, least: usize, most: usize| {
        let w = attempts.iter().map(|a| f(a)).max().unwrap_or(0);
        w.clamp(least, most)
    };
    let reason_w = widest(&|a| a.reason.chars().count(), 6, 26);
    let budget_w = widest(&|a| budget_of(a).chars().count(), 6, 26);
    // Label, kind, duration and outcome columns, the reason and budget, and their gaps.
    let fixed = 8 + 9 + 8 + 2 + 11 + reason_w + 1 + budget_w;
    let inner_width = area.width.saturating_sub(2);
    let inner = usize::from(inner_width);
    let bar_width = inner.saturating_sub(fixed + 1).clamp(8, 80);
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
            " {:<6} {:<8} {:<w$} {:>7}  {:<10} {:<rw$} {}",
            "#",
            "kind",
            "0 → ".to_owned() + &human_us(span_us),
            "dur",
            "outcome",
            "reason",
            "budget",
            w = bar_width,
            rw = reason_w,
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
                " {dur:>7}  {outcome:<10} {:<reason_w$} {}",
                a.reason,
                budget_of(a)
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
    // What the key's shadow policy would have done with this call.
    if let Some(outcome) = c.attributes.get("shadow_outcome") {
        let attempts = c
            .attributes
            .get("shadow_attempts")
            .map_or("?", String::as_str);
        let decisions = c
            .attributes
            .get("shadow_decisions")
            .map_or("same decisions as live".to_owned(), |d| {
                d.replace(',', ", ")
            });
        lines.push(Line::from(format!(
            " shadow: {outcome} · {attempts} attempt{} · {decisions}",
            if attempts == "1" { "" } else { "s" }
        )));
    }
    // The budget that refused an attempt, and how full it is now on this call's target.
    if let Some(name) = denied_by(c) {
        let fill = app.targets.get(e.target).and_then(|t| t.budgets.get(name));
        let mut line = budget_line(name, fill);
        line.spans.push(Span::raw(" now").dim());
        lines.push(line);
    }
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
    let lines: Vec<Line<'static>> = lines.into_iter().map(|l| clip(l, inner_width)).collect();
    let title = fit(&title, inner);
    let p = Paragraph::new(lines).block(bordered(title, true));
    frame.render_widget(p, area);
}
