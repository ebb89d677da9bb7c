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

/// Data written to stdout piece by piece (a large output is never held whole); a closed pipe
/// ends the writing quietly.
pub(crate) struct Stream {
    out: std::io::BufWriter<std::io::Stdout>,
    closed: bool,
}

impl Stream {
    pub(crate) fn stdout() -> Stream {
        Stream {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            closed: false,
        }
    }

    pub(crate) fn write(&mut self, text: &str) {
        if !self.closed && self.out.write_all(text.as_bytes()).is_err() {
            self.closed = true;
        }
    }

    pub(crate) fn flush(&mut self) {
        if !self.closed && self.out.flush().is_err() {
            self.closed = true;
        }
    }
}
