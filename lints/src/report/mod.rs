//! What a scan found: findings, the keys seen, a summary. JSON exactly as docs/lint.md
//! (`serde_json::to_string(&report)`); SARIF 2.1.0 in [`sarif`].

pub mod sarif;

use serde::Serialize;

use crate::config::Severity;
use crate::rules::Rule;

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Its severity (after configuration).
    pub severity: Severity,
    /// The file, as given or found by the walk.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// 1-based line where the flagged text ends.
    pub end_line: usize,
    /// 1-based column just past the flagged text.
    pub end_column: usize,
    /// The key, when it is known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
}

/// A key found at a call site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeySite {
    /// The key.
    pub key: String,
    /// The file.
    pub path: String,
    /// 1-based line of the key argument.
    pub line: usize,
    /// 1-based column of the key argument.
    pub column: usize,
    /// 1-based line where the key argument ends (not in the JSON report, whose `keys` shape is
    /// fixed: it lets `uncovered-key` underline the whole argument).
    #[serde(skip)]
    pub end_line: usize,
    /// 1-based column just past the key argument (not in the JSON report either).
    #[serde(skip)]
    pub end_column: usize,
}

/// Counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files scanned (after the prefilter too).
    pub files: usize,
    /// Distinct keys seen.
    pub keys: usize,
    /// Findings at error level.
    pub errors: usize,
    /// Findings at warning level.
    pub warnings: usize,
}

/// The result of a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Always 1.
    pub version: u32,
    /// Findings, by path, line and column.
    pub findings: Vec<Finding>,
    /// Every key seen, by path, line and column.
    pub keys: Vec<KeySite>,
    /// Counts.
    pub summary: Summary,
}

impl Report {
    /// True when a finding is at error level.
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }

    pub(crate) fn finish(mut self, files: usize) -> Report {
        self.version = 1;
        self.findings.retain(|f| f.severity != Severity::Off);
        self.findings.sort_by(|a, b| {
            (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
        });
        self.keys
            .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        let distinct: std::collections::BTreeSet<&str> =
            self.keys.iter().map(|k| k.key.as_str()).collect();
        self.summary = Summary {
            files,
            keys: distinct.len(),
            errors: self
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count(),
            warnings: self
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .count(),
        };
        self
    }
}
