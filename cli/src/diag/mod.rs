//! miette glue: library errors and findings as diagnostics, on stderr.

pub(crate) mod lint;
pub(crate) mod policy;

use miette::{GraphicalReportHandler, GraphicalTheme};

/// A graphical handler, coloured or not.
pub(crate) fn handler(color: bool) -> GraphicalReportHandler {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme).with_width(100)
}

/// Prints an error that stopped a command.
pub(crate) fn error(e: &(dyn std::error::Error + 'static), color: bool) {
    message(&e.to_string(), color);
}

/// Prints a message that stopped a command, as an error diagnostic.
pub(crate) fn message(text: &str, color: bool) {
    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    #[error("{0}")]
    #[diagnostic(code(recourse::error))]
    struct Plain(String);
    let mut out = String::new();
    let _ = handler(color).render_report(&mut out, &Plain(text.to_owned()));
    eprint!("{out}");
}

/// Prints a note that did not stop the command (stderr, so data on stdout stays clean).
pub(crate) fn notice(text: &str) {
    eprintln!("note: {text}");
}
