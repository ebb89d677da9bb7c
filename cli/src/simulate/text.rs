//! The human output of `policy simulate`: each call as a small waterfall, then the state the
//! run ended in.

use std::fmt::Write as _;
use std::time::Duration;

use recourse_engine::{AttemptRecord, Timeline};
use serde_json::Value;

/// One call as a small waterfall: each attempt on a line, waits between them.
pub(crate) fn waterfall(index: usize, tl: &Timeline) -> String {
    let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1e3);
    let mut out = format!(
        "call {index}: {} {} in {} ({} attempt{})\n",
        tl.outcome.as_str(),
        tl.reason,
        ms(tl.duration()),
        tl.attempts.len(),
        if tl.attempts.len() == 1 { "" } else { "s" }
    );
    for a in &tl.attempts {
        let from = a.start.since(tl.start);
        let to = a.end.since(tl.start);
        if !a.backoff.is_zero() {
            out.push_str(&format!("    ~ wait {}\n", ms(a.backoff)));
        }
        let who = if a.is_hedge {
            format!("#{}.h{}", a.attempt, a.hedge_index)
        } else {
            format!("#{}", a.attempt)
        };
        let status = a
            .attributes
            .get("status")
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "    {who:<6} {:>9} → {:>9}  {}{status} {}{}\n",
            ms(from),
            ms(to),
            a.outcome.as_str(),
            a.reason,
            if a.budget_allowed {
                String::new()
            } else {
                // Which budget (or the bulkhead) refused it, as the record names it.
                let by = a.attributes.get(AttemptRecord::DENIED_BY);
                format!(" (refused by {})", by.unwrap_or(a.budget_reason.as_str()))
            }
        ));
    }
    // What the key's shadow policy would have done with this call.
    if let Some(outcome) = tl.attribute("shadow_outcome") {
        let attempts = tl.attribute("shadow_attempts").unwrap_or("?");
        let decisions = tl
            .attribute("shadow_decisions")
            .unwrap_or("same decisions as live");
        out.push_str(&format!(
            "    shadow: {outcome}, {attempts} attempt{} ({})\n",
            if attempts == "1" { "" } else { "s" },
            decisions.replace(',', ", ")
        ));
    }
    out
}

/// The state the run ended in, one field a line, nested fields indented under their name:
///
/// ```text
/// final state:
///   budgets:
///     retries: 40.494
///   circuit: closed
///   virtual_time_us: 2020000
/// ```
pub(crate) fn final_state(state: &Value) -> String {
    let mut out = String::from("final state:");
    fields(&mut out, state, 1);
    out.push('\n');
    out
}

/// `value`'s fields at `depth` (two spaces a level); an empty object reads `none`.
fn fields(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Object(map) if map.is_empty() => out.push_str(" none"),
        Value::Object(map) => {
            for (name, field) in map {
                let _ = write!(out, "\n{:width$}{name}:", "", width = depth * 2);
                fields(out, field, depth + 1);
            }
        }
        Value::String(text) => {
            let _ = write!(out, " {text}");
        }
        scalar => {
            let _ = write!(out, " {scalar}");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::final_state;

    #[test]
    fn the_final_state_reads_one_field_a_line() {
        let state = json!({
            "budgets": {},
            "circuit": "closed",
            "fleet": {"budget": {"name": "retries", "allowance": 112.2}, "calls": 500},
            "virtual_time_us": 2020000,
        });
        assert_eq!(
            final_state(&state),
            "final state:\n  budgets: none\n  circuit: closed\n  fleet:\n    budget:\n      \
             allowance: 112.2\n      name: retries\n    calls: 500\n  virtual_time_us: 2020000\n"
        );
    }
}
