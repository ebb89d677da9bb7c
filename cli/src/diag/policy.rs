//! Policy validation diagnostics with the source snippet.

use miette::{Diagnostic, LabeledSpan, Severity};

use super::snippet::{Excerpt, Source};
use crate::validate::{self, FileReport, Level};

#[derive(Debug)]
struct Rendered<'a> {
    d: &'a validate::Diagnostic,
    source: Excerpt,
}

impl std::fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
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
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let label = if self.d.pointer.is_empty() {
            "here".to_owned()
        } else {
            self.d.pointer.clone()
        };
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(label),
            self.source.span(),
        ))))
    }
}

/// Prints every diagnostic of every file, then a summary line per file.
pub(crate) fn print(reports: &[FileReport], color: bool) {
    let handler = super::handler(color);
    for r in reports {
        let source = Source::new(&r.path, &r.text);
        for d in &r.diagnostics {
            let rendered = Rendered {
                d,
                source: source.excerpt((d.line, d.column), (d.line, d.column + 1)),
            };
            let mut out = String::new();
            let _ = handler.render_report(&mut out, &rendered);
            eprint!("{out}");
        }
        let errors = r
            .diagnostics
            .iter()
            .filter(|d| d.severity == Level::Error)
            .count();
        let warnings = r.diagnostics.len() - errors;
        eprintln!(
            "{}: {} ({errors} error{}, {warnings} warning{})",
            r.path,
            if r.valid { "valid" } else { "invalid" },
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        );
    }
}
