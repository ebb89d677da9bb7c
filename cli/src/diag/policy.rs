//! Policy validation diagnostics with the source snippet.

use miette::{Diagnostic, LabeledSpan, Severity};

use super::snippet::{Excerpt, Source};
use crate::terminal::clean;
use crate::validate::{self, FileReport, Level};

#[derive(Debug)]
struct Rendered<'a> {
    d: &'a validate::Diagnostic,
    source: Excerpt,
}

impl std::fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&clean(&self.d.message))
    }
}

impl std::error::Error for Rendered<'_> {}

impl Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(self.d.code))
    }
    fn severity(&self) -> Option<Severity> {
        Some(match self.d.severity {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.d
            .help
            .as_deref()
            .map(|h| Box::new(clean(h).into_owned()) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let label = if self.d.pointer.is_empty() {
            "here".to_owned()
        } else {
            clean(&self.d.pointer).into_owned()
        };
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(label),
            self.source.span(),
        ))))
    }
}

/// Prints every diagnostic of every file, then a summary line per file, on stderr.
pub(crate) fn print(reports: &[FileReport], color: bool) {
    for r in reports {
        eprint!("{}", render(r, color));
    }
}

/// One file's diagnostics and its summary line, as `print` shows them.
pub(crate) fn render(r: &FileReport, color: bool) -> String {
    let handler = super::handler(color);
    let source = Source::new(&r.path, &r.text);
    let mut out = String::new();
    for d in &r.diagnostics {
        let rendered = Rendered {
            d,
            source: source.excerpt((d.line, d.column), (d.line, d.column + 1)),
        };
        let _ = handler.render_report(&mut out, &rendered);
    }
    let errors = r
        .diagnostics
        .iter()
        .filter(|d| d.severity == Level::Error)
        .count();
    let warnings = r.diagnostics.len() - errors;
    out.push_str(&format!(
        "{}: {} ({errors} error{}, {warnings} warning{})\n",
        clean(&r.path),
        if r.valid { "valid" } else { "invalid" },
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    ));
    out
}
