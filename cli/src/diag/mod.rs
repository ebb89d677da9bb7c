//! miette glue: library errors and findings as diagnostics, on stderr.

pub(crate) mod lint;
pub(crate) mod policy;
mod snippet;

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
    message(&e.to_string(), None, color);
}

/// Prints a message that stopped a command, as an error diagnostic, with what to do about it.
pub(crate) fn message(text: &str, help: Option<&str>, color: bool) {
    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    #[error("{text}")]
    #[diagnostic(code(recourse::error))]
    struct Plain {
        text: String,
        #[help]
        help: Option<String>,
    }
    let plain = Plain {
        text: crate::terminal::clean(text).into_owned(),
        help: help.map(|h| crate::terminal::clean(h).into_owned()),
    };
    let mut out = String::new();
    let _ = handler(color).render_report(&mut out, &plain);
    eprint!("{out}");
}

/// Prints why an input was refused or did not load.
pub(crate) fn refused(e: &crate::input::LoadFailure, color: bool) {
    message(&e.to_string(), e.help().as_deref(), color);
}

/// Prints a note that did not stop the command (stderr, so data on stdout stays clean).
pub(crate) fn notice(text: &str) {
    eprintln!("note: {text}");
}
