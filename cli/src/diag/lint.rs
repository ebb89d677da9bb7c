//! Lint findings as miette diagnostics with the source snippet.

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity as MietteSeverity};
use recourse_lints::{Finding, Report, Severity};

/// One finding, rendered with its file's text.
#[derive(Debug)]
struct Rendered<'a> {
    finding: &'a Finding,
    source: NamedSource<String>,
    span: (usize, usize),
}

impl std::fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.finding.message)
    }
}

impl std::error::Error for Rendered<'_> {}

impl Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(self.finding.rule.id()))
    }
    fn severity(&self) -> Option<MietteSeverity> {
        Some(match self.finding.severity {
            Severity::Error => MietteSeverity::Error,
            _ => MietteSeverity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(&self.finding.help))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let label = match (&self.finding.key, self.finding.rule) {
            (Some(k), _) => format!("key {k:?}"),
            (None, recourse_lints::Rule::DynamicKey) => "built at run time".to_owned(),
            (None, _) => "here".to_owned(),
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(label),
            self.span.0,
            self.span.1.saturating_sub(self.span.0),
        ))))
    }
}

/// Byte offset of a 1-based line and character column.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let rest = &text[start.min(text.len())..];
    start
        + rest
            .char_indices()
            .nth(column - 1)
            .map_or(rest.len(), |(i, _)| i)
}

/// Prints every finding, then a summary line.
pub(crate) fn print(report: &Report, color: bool) {
    let handler = super::handler(color);
    for f in &report.findings {
        let text = std::fs::read(&f.path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let start = offset(&text, f.line, f.column);
        let end = offset(&text, f.end_line, f.end_column).max(start);
        let rendered = Rendered {
            finding: f,
            source: NamedSource::new(&f.path, text),
            span: (start, end),
        };
        let mut out = String::new();
        let _ = handler.render_report(&mut out, &rendered);
        eprint!("{out}");
    }
    let s = &report.summary;
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    eprintln!(
        "recourse lint: {}, {}, {}, {}",
        plural(s.files, "file"),
        plural(s.keys, "key"),
        plural(s.errors, "error"),
        plural(s.warnings, "warning"),
    );
}
