//! Output conventions: data on stdout, diagnostics on stderr, colour only when wanted.

use std::io::{IsTerminal, Write};

use crate::args::ColorChoice;

/// Whether to colour diagnostics on stderr.
pub(crate) fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

/// Writes data to stdout; a closed pipe (`recourse lint | head`) is not an error.
pub(crate) fn data(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"));
}
