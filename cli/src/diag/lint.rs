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

/// Prints every finding, then a summary line. Each file is read once, however many findings it
/// has.
pub(crate) fn print(report: &Report, color: bool, limit: u64) {
    for findings in report.findings.chunk_by(|a, b| a.path == b.path) {
        let path = &findings[0].path;
        // The file was scanned already: only a file changed since can fail here.
        let text = crate::input::read(std::path::Path::new(path), limit)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        eprint!("{}", render(findings, &text, color));
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
