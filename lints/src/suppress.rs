//! `// recourse-lint: allow(rule-id, ...)`: a comment alone on its line covers the whole
//! statement that follows it (however rustfmt splits it); a comment after code covers its own
//! line.

use crate::rules::Rule;

/// The rules allowed on ranges of lines (1-based, inclusive) of one file.
#[derive(Debug, Default)]
pub(crate) struct Suppressions(Vec<(usize, usize, Vec<Rule>)>);

/// One parsed suppression comment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Allow {
    pub(crate) rules: Vec<Rule>,
    /// Ids that name no rule: each is reported, never silently ignored.
    pub(crate) unknown: Vec<String>,
}

/// The suppression a comment holds: a plain `//` or `/* */` comment whose text starts with
/// `recourse-lint:`. Doc comments document, they never suppress.
pub(crate) fn parse(comment: &str) -> Option<Allow> {
    if ["///", "//!", "/**", "/*!"]
        .iter()
        .any(|doc| comment.starts_with(doc))
    {
        return None;
    }
    let body = comment
        .strip_prefix("//")
        .or_else(|| comment.strip_prefix("/*"))?;
    let rest = body.trim_start().strip_prefix("recourse-lint:")?;
    let list = rest
        .trim()
        .strip_prefix("allow(")
        .and_then(|r| r.split(')').next())?;
    let mut allow = Allow {
        rules: Vec::new(),
        unknown: Vec::new(),
    };
    for id in list.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        match Rule::from_id(id) {
            Some(rule) => allow.rules.push(rule),
            None => allow.unknown.push(id.to_owned()),
        }
    }
    Some(allow)
}

impl Suppressions {
    /// Allows `rules` on lines `first..=last`.
    pub(crate) fn add(&mut self, first: usize, last: usize, rules: Vec<Rule>) {
        if !rules.is_empty() {
            self.0.push((first, last.max(first), rules));
        }
    }

    /// The rules allowed anywhere on lines `first..=last`.
    pub(crate) fn allowed(&self, first: usize, last: usize) -> Vec<Rule> {
        let mut out: Vec<Rule> = self
            .0
            .iter()
            .filter(|(a, b, _)| *a <= last && first <= *b)
            .flat_map(|(_, _, rules)| rules.iter().copied())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules_and_keeps_unknown_ids() {
        assert_eq!(
            parse("// recourse-lint: allow(dynamic-key, no-such-rule)"),
            Some(Allow {
                rules: vec![Rule::DynamicKey],
                unknown: vec!["no-such-rule".into()]
            })
        );
        assert_eq!(parse("// an ordinary comment"), None);
        assert_eq!(
            parse("/// `// recourse-lint: allow(rule-id, ...)` is documented"),
            None
        );
        assert_eq!(parse("// see recourse-lint: allow(x) in the docs"), None);
        assert!(parse("/* recourse-lint: allow(key-format) */").is_some());
    }
}
