//! The human output of `policy simulate`: each call as a small waterfall, then the state the
//! run ended in.

use std::borrow::Cow;
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

/// The state the run ended in, one field a line, nested fields indented under their name (a
/// run with no budgets):
///
/// ```text
/// final state:
///   budgets: {}
///   circuit: closed
///   virtual_time_us: 2020000
/// ```
pub(crate) fn final_state(state: &Value) -> String {
    let mut out = String::from("final state:");
    fields(&mut out, state, 1);
    out.push('\n');
    out
}

/// `value` after its name: a scalar on the same line, an object's fields and an array's items
/// (`- `) on lines of their own at `depth` (two spaces a level).
fn fields(out: &mut String, value: &Value, depth: usize) {
    let line = |out: &mut String| {
        let _ = write!(out, "\n{:width$}", "", width = depth * 2);
    };
    match value {
        Value::Object(map) if map.is_empty() => out.push_str(" {}"),
        Value::Array(items) if items.is_empty() => out.push_str(" []"),
        Value::Object(map) => {
            for (name, field) in map {
                line(out);
                let _ = write!(out, "{name}:");
                fields(out, field, depth + 1);
            }
        }
        Value::Array(items) => {
            for item in items {
                line(out);
                out.push('-');
                fields(out, item, depth + 1);
            }
        }
        Value::String(text) => {
            out.push(' ');
            out.push_str(&shown(text));
        }
        scalar => {
            let _ = write!(out, " {scalar}");
        }
    }
}

/// `text` as it is, or quoted where it would read as something else: empty, padded, holding a
/// control character, or spelling a number, `true`, `null`, `{}` and the like.
fn shown(text: &str) -> Cow<'_, str> {
    let reads_as_other = matches!(serde_json::from_str::<Value>(text), Ok(v) if !v.is_string());
    let plain = !text.is_empty()
        && text.trim() == text
        && !text.chars().any(char::is_control)
        && !reads_as_other;
    if plain {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(Value::from(text).to_string())
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
            "final state:\n  budgets: {}\n  circuit: closed\n  fleet:\n    budget:\n      \
             allowance: 112.2\n      name: retries\n    calls: 500\n  virtual_time_us: 2020000\n"
        );
    }

    #[test]
    fn text_that_would_read_as_something_else_is_quoted() {
        let state = json!({
            "a": "", "b": "none", "c": "12", "d": "null", "e": " x", "f": "two\nlines",
            "g": [1, {"h": "i"}], "j": [], "k": null,
        });
        assert_eq!(
            final_state(&state),
            "final state:\n  a: \"\"\n  b: none\n  c: \"12\"\n  d: \"null\"\n  e: \" x\"\n  \
             f: \"two\\nlines\"\n  g:\n    - 1\n    -\n      h: i\n  j: []\n  k: null\n"
        );
    }
}
