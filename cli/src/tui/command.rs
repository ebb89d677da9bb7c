//! The `:` command line: what can be typed there, parsed into a [`Command`] that `update` carries out.

use std::path::PathBuf;

use super::model::WINDOWS;
use crate::tail::Spec;

/// What the commands are, for the prompt and the help overlay.
pub(crate) const SUMMARY: &str = "key GLOB… · target T · window 10s|1m|5m|15m · save [FILE] · q";

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Ask the services for these key globs from now on (none: every key).
    Key(Vec<String>),
    /// Tail one more service.
    Target(Spec),
    /// Rates over this window (an index into [`WINDOWS`]).
    Window(usize),
    /// Save the event log, to this file or to a new `recourse-tail-<time>.ndjson`.
    Save(Option<PathBuf>),
    Quit,
}

/// Parses what was typed after `:`; the error says what is accepted.
pub(crate) fn parse(text: &str) -> Result<Command, String> {
    let mut words = text.split_whitespace();
    let Some(name) = words.next() else {
        return Err(format!("commands: {SUMMARY}"));
    };
    let rest: Vec<&str> = words.collect();
    let one = |what: &str| match rest.as_slice() {
        [one] => Ok(*one),
        _ => Err(format!(":{name} takes one {what}")),
    };
    match name {
        "key" | "keys" | "k" => Ok(Command::Key(
            rest.iter()
                .filter(|g| **g != "*")
                .map(|g| (*g).to_owned())
                .collect(),
        )),
        "target" | "t" => Spec::parse(one("target")?).map(Command::Target),
        "window" => {
            let w = one("window")?;
            WINDOWS
                .iter()
                .position(|(_, name)| *name == w)
                .map(Command::Window)
                .ok_or_else(|| {
                    let names: Vec<&str> = WINDOWS.iter().map(|(_, n)| *n).collect();
                    format!("no window {w:?}: {}", names.join(", "))
                })
        }
        "save" | "w" => match rest.as_slice() {
            [] => Ok(Command::Save(None)),
            [file] => Ok(Command::Save(Some(PathBuf::from(file)))),
            _ => Err(":save takes at most one file".into()),
        },
        "q" | "quit" => Ok(Command::Quit),
        other => Err(format!("no command :{other}; commands: {SUMMARY}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(
            parse("key payments.* !payments.Health"),
            Ok(Command::Key(vec![
                "payments.*".into(),
                "!payments.Health".into()
            ]))
        );
        assert_eq!(parse(" k  * "), Ok(Command::Key(vec![])));
        assert_eq!(parse("key"), Ok(Command::Key(vec![])));
        assert_eq!(
            parse("target tcp://127.0.0.1:7079"),
            Ok(Command::Target(Spec::Tcp("127.0.0.1:7079".into())))
        );
        assert_eq!(
            parse("t /run/x.sock"),
            Ok(Command::Target(Spec::Unix("/run/x.sock".into())))
        );
        assert_eq!(parse("window 5m"), Ok(Command::Window(2)));
        assert_eq!(parse("window 10s"), Ok(Command::Window(0)));
        assert_eq!(parse("w"), Ok(Command::Save(None)), "as in vi");
        assert_eq!(parse("save"), Ok(Command::Save(None)));
        assert_eq!(
            parse("save incident.ndjson"),
            Ok(Command::Save(Some("incident.ndjson".into())))
        );
        assert_eq!(parse("q"), Ok(Command::Quit));
    }

    #[test]
    fn mistakes_say_what_is_accepted() {
        let err = |text: &str| parse(text).unwrap_err();
        assert!(err("").contains("key GLOB"), "{}", err(""));
        assert!(err("frobnicate").starts_with("no command :frobnicate; commands: key"));
        assert_eq!(err("window 2m"), "no window \"2m\": 10s, 1m, 5m, 15m");
        assert_eq!(err("window"), ":window takes one window");
        assert_eq!(err("target"), ":target takes one target");
        assert!(err("target http://x").contains("expected a socket path"));
        assert_eq!(err("save a b"), ":save takes at most one file");
    }
}
