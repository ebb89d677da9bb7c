//! The line modes: `--output text` (one line per call or breaker change) and `--output json`
//! (the raw messages with `target` added). Data on stdout, notices on stderr.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};

use recourse_engine::export::KeyFilter;
use recourse_engine::export::wire::{CallEvent, CircuitEvent, Message};

use super::target::{Feed, with_target};
use super::{Consumer, Step};
use crate::args::TailEvent;
use crate::format::{clock_of, human_us, target_colour};
use recourse_engine::export::wire::CallFilter;

/// How calls and changes are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineMode {
    Text { color: bool },
    Json,
}

/// The line printer.
pub(crate) struct Lines {
    mode: LineMode,
    events: BTreeSet<&'static str>,
    filter: KeyFilter,
    calls: CallFilter,
    out: BufWriter<std::io::Stdout>,
    broken: bool,
}

impl Lines {
    pub(crate) fn new(mode: LineMode, events: &[TailEvent], filter: KeyFilter) -> Lines {
        let events = events.iter().map(|e| e.name()).collect();
        Lines {
            mode,
            events,
            filter,
            calls: CallFilter::All,
            out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            broken: false,
        }
    }

    /// Prints only these calls.
    pub(crate) fn calls(mut self, calls: CallFilter) -> Lines {
        self.calls = calls;
        self
    }

    fn emit(&mut self, bytes: &[u8]) {
        if !self.broken && self.out.write_all(bytes).is_err() {
            self.broken = true; // a closed pipe (`| head`) ends the output, not the process
        }
    }
}

impl Consumer for Lines {
    fn feed(&mut self, feed: &Feed, names: &[String]) -> Step {
        let name = |t: usize| names.get(t).map_or("?", String::as_str);
        match feed {
            Feed::Connected { target, raw, .. } => {
                if self.mode == LineMode::Json {
                    let line = with_target(raw, name(*target));
                    self.emit(&line);
                }
            }
            Feed::Line { target, raw, msg } => {
                let wanted = match &**msg {
                    Message::Call(c) => {
                        self.events.contains("call")
                            && self.filter.matches(&c.key)
                            && self.calls.admits(&c.summary())
                    }
                    Message::Circuit(c) => {
                        self.events.contains("circuit") && self.filter.matches(&c.key)
                    }
                    Message::Stats(_) => self.events.contains("stats"),
                    Message::Gap(_) | Message::Bye(_) => true,
                    _ => false,
                };
                if !wanted {
                    return Step::Go;
                }
                match self.mode {
                    LineMode::Json => {
                        let line = with_target(raw, name(*target));
                        self.emit(&line);
                    }
                    LineMode::Text { color } => {
                        let text = match &**msg {
                            Message::Call(c) => Some(call_line(name(*target), c, color)),
                            Message::Circuit(c) => Some(circuit_line(name(*target), c, color)),
                            _ => None,
                        };
                        if let Some(mut text) = text {
                            text.push('\n');
                            self.emit(text.as_bytes());
                        }
                    }
                }
            }
            Feed::Ended => return Step::Stop,
            // The line modes play a recording once, without controls.
            Feed::Rewound { .. } => {}
            Feed::Started { .. } | Feed::Lost { .. } | Feed::Gone { .. } | Feed::Notice { .. } => {}
        }
        if self.broken { Step::Stop } else { Step::Go }
    }

    fn idle(&mut self) {
        if self.out.flush().is_err() {
            self.broken = true;
        }
    }
}

fn paint(text: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// `12:03:04.118 checkout-4242 payments.Charge FAIL 812ms attempts=3 hedges=1 reason=budget_denied via=http_503,http_503`
pub(crate) fn call_line(target: &str, c: &CallEvent, color: bool) -> String {
    let status = if c.ok() {
        paint("OK  ", "32", color)
    } else {
        paint("FAIL", "31", color)
    };
    let summary = c.summary();
    let mut line = format!(
        "{} {} {} {} {} attempts={}",
        clock_of(c.common.ts.as_deref()),
        paint(target, &target_colour(target).to_string(), color),
        c.key,
        status,
        human_us(c.duration_us),
        summary.attempts
    );
    let hedges = summary.hedges;
    if hedges > 0 {
        line.push_str(&format!(" hedges={hedges}"));
    }
    let denied = summary.budget_denied;
    if denied > 0 {
        line.push_str(&format!(" denied={denied}"));
    }
    line.push_str(&format!(" reason={}", c.reason));
    let via: Vec<&str> = c
        .attempts
        .iter()
        .filter(|a| a.budget_allowed && a.outcome != "success")
        .map(|a| a.reason.as_str())
        .collect();
    if !via.is_empty() {
        line.push_str(&format!(" via={}", via.join(",")));
    }
    line
}

/// `12:03:04.200 checkout-4242 inventory.Get CIRCUIT closed -> open (consecutive_failures)`
pub(crate) fn circuit_line(target: &str, c: &CircuitEvent, color: bool) -> String {
    let code = match c.to.as_str() {
        "open" => "31",
        "half-open" => "33",
        _ => "32",
    };
    format!(
        "{} {} {} CIRCUIT {} -> {} ({})",
        clock_of(c.common.ts.as_deref()),
        paint(target, &target_colour(target).to_string(), color),
        c.key,
        c.from,
        paint(&c.to, code, color),
        c.reason
    )
}
