//! Lint findings as miette diagnostics with the source snippet.

use miette::{Diagnostic, LabeledSpan, Severity as MietteSeverity};
use recourse_lints::{Finding, Report, Severity};

use super::snippet::{Excerpt, Source};
use crate::terminal::clean;

/// `findings` of one file whose text is `text`, as `print` shows them.
pub(crate) fn render(findings: &[Finding], text: &str, color: bool) -> String {
    let handler = super::handler(color);
    let mut out = String::new();
    let Some(first) = findings.first() else {
        return out;
    };
    let source = Source::new(&first.path, text);
    for f in findings {
        let rendered = Rendered {
            finding: f,
            source: source.excerpt((f.line, f.column), (f.end_line, f.end_column)),
        };
        let _ = handler.render_report(&mut out, &rendered);
    }
    out
}

/// One finding, rendered with its file's text.
#[derive(Debug)]
struct Rendered<'a> {
    finding: &'a Finding,
    source: Excerpt,
}

impl std::fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&clean(&self.finding.message))
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
        Some(Box::new(clean(&self.finding.help).into_owned()))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let label = match (&self.finding.key, self.finding.rule) {
            (Some(k), _) => clean(&format!("key {k:?}")).into_owned(),
            (None, recourse_lints::Rule::DynamicKey) => "built at run time".to_owned(),
            (None, _) => "here".to_owned(),
        };
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(label),
            self.source.span(),
        ))))
    }
}

/// Prints every finding with its snippet. Each file is read once, however many findings it has.
pub(crate) fn print(report: &Report, color: bool, limit: u64) {
    for findings in report.findings.chunk_by(|a, b| a.path == b.path) {
        let path = &findings[0].path;
        // The file was scanned already: only a file changed since can fail here.
        let text = crate::input::read(std::path::Path::new(path), limit)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        eprint!("{}", render(findings, &text, color));
    }
}

/// The summary line, on stderr: files, keys, errors, warnings.
pub(crate) fn summary(report: &Report) {
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

/// One line per finding: `path:line:column: severity[rule] message`.
pub(crate) fn concise(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!(
            "{}:{}:{}: {}[{}] {}\n",
            f.path,
            f.line,
            f.column,
            f.severity.as_str(),
            f.rule.id(),
            clean(&f.message)
        ));
    }
    out
}

/// GitHub Actions workflow commands: one `::error` or `::warning` annotation per finding.
pub(crate) fn github(report: &Report) -> String {
    // Workflow-command escaping: data, then property values.
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for f in &report.findings {
        let level = if f.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        out.push_str(&format!(
            "::{level} title={},file={},line={},col={},endLine={},endColumn={}::{}\n",
            property(&format!("recourse-lint ({})", f.rule.id())),
            property(&f.path),
            f.line,
            f.column,
            f.end_line,
            f.end_column,
            data(&format!("{} ({})", f.message, f.help)),
        ));
    }
    out
}

/// Findings counted by rule, most first: `count  severity  rule  description`.
pub(crate) fn statistics(report: &Report) -> String {
    let mut counts: Vec<(usize, recourse_lints::Rule, Severity)> = Vec::new();
    for f in &report.findings {
        match counts
            .iter_mut()
            .find(|(_, r, s)| *r == f.rule && *s == f.severity)
        {
            Some((n, ..)) => *n += 1,
            None => counts.push((1, f.rule, f.severity)),
        }
    }
    counts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let width = counts.first().map_or(1, |c| c.0.to_string().len());
    counts
        .iter()
        .map(|(n, rule, severity)| {
            format!(
                "{n:>width$}  {:<7}  {:<20}  {}\n",
                severity.as_str(),
                rule.id(),
                rule.description()
            )
        })
        .collect()
}
