//! `// recourse-lint: allow(rule-id, ...)` on the finding's line or the line above.

use crate::rules::Rule;

/// The rules allowed on lines (1-based) of a file, from its line comments: a comment alone on
/// its line covers that line and the next; a comment after code covers its own line only.
#[derive(Debug, Default)]
pub(crate) struct Suppressions(Vec<(usize, usize, Vec<Rule>)>);

impl Suppressions {
    pub(crate) fn add(&mut self, line: usize, standalone: bool, comment: &str) {
        let Some(rest) = comment.split("recourse-lint:").nth(1) else {
            return;
        };
        let Some(list) = rest
            .trim()
            .strip_prefix("allow(")
            .and_then(|r| r.split(')').next())
        else {
            return;
        };
        let rules: Vec<Rule> = list
            .split(',')
            .filter_map(|id| Rule::from_id(id.trim()))
            .collect();
        if !rules.is_empty() {
            self.0
                .push((line, if standalone { line + 1 } else { line }, rules));
        }
    }

    /// Whether `rule` is allowed at `line`.
    pub(crate) fn allows(&self, rule: Rule, line: usize) -> bool {
        self.0
            .iter()
            .any(|(first, last, rules)| (*first..=*last).contains(&line) && rules.contains(&rule))
    }
}
