//! What every consumer of feeds shares: target names, the recording, and the notices a feed
//! gives (connected, lost, gaps, errors).

use recourse_engine::export::wire::Message;

use super::record::Recording;
use super::target::{self, Feed};

/// What a target's notice says when no key it has called matches the subscription yet; the
/// live view takes it back once one does.
pub(crate) const NOTHING_MATCHES: &str = "no key called so far matches; waiting";

/// What every consumer shares: target names, the recording, notices.
pub(crate) struct Session {
    pub(crate) names: Vec<String>,
    recording: Option<Recording>,
    /// The last loss reported per target (reported once until it changes or reconnects).
    lost: Vec<Option<String>>,
    /// Notices not yet shown (the TUI takes them).
    pub(crate) notices: Vec<String>,
    to_stderr: bool,
}

impl Session {
    /// A session over `names` (known so far), writing `recording` if any; notices go to stderr
    /// when `to_stderr`, else they wait in `notices`.
    pub(crate) fn new(
        names: Vec<String>,
        recording: Option<Recording>,
        to_stderr: bool,
    ) -> Session {
        Session {
            names,
            recording,
            lost: Vec::new(),
            notices: Vec::new(),
            to_stderr,
        }
    }

    /// Names, recording and notices for one feed.
    pub(crate) fn absorb(&mut self, feed: &Feed) -> Result<(), String> {
        fn grow<T: Default + Clone>(v: &mut Vec<T>, t: usize) {
            if v.len() <= t {
                v.resize(t + 1, T::default());
            }
        }
        match feed {
            Feed::Started { target, label } => {
                grow(&mut self.names, *target);
                if self.names[*target].is_empty() {
                    self.names[*target].clone_from(label);
                }
            }
            Feed::Connected {
                target, name, raw, ..
            } => {
                grow(&mut self.names, *target);
                grow(&mut self.lost, *target);
                let reconnected = self.lost[*target].take().is_some();
                self.names[*target] = name.clone();
                self.record(raw, *target)?;
                let verb = if reconnected {
                    "reconnected"
                } else {
                    "connected"
                };
                self.notice(format!("{name}: {verb}"));
            }
            Feed::Line { target, raw, msg } => {
                self.record(raw, *target)?;
                let name = self.name(*target);
                let text = match &**msg {
                    Message::Subscribed(s) if s.matched.is_empty() => {
                        Some(format!("{name}: {NOTHING_MATCHES}"))
                    }
                    Message::Subscribed(s) => Some(format!(
                        "{name}: matching {} key{}: {}",
                        s.matched.len(),
                        if s.matched.len() == 1 { "" } else { "s" },
                        s.matched.join(", ")
                    )),
                    Message::Gap(g) => {
                        Some(format!("{name}: lost {} calls ({})", g.dropped, g.cause))
                    }
                    Message::Error(e) => Some(format!("{name}: {} ({})", e.msg, e.code)),
                    Message::Bye(_) => Some(format!("{name}: the service is shutting down")),
                    _ => None,
                };
                if let Some(t) = text {
                    self.notice(t);
                }
            }
            Feed::Lost { target, why } => {
                grow(&mut self.lost, *target);
                if self.lost[*target].as_deref() != Some(why) {
                    self.lost[*target] = Some(why.clone());
                    let name = self.name(*target);
                    self.notice(format!("{name}: {why}; reconnecting"));
                }
            }
            Feed::Gone { target, why } => {
                let name = self.name(*target);
                self.notice(format!("{name}: {why}"));
            }
            Feed::Notice { target, text } => {
                let name = self.name(*target);
                self.notice(format!("{name}: {text}"));
            }
            Feed::Ended | Feed::Rewound { .. } => {}
        }
        Ok(())
    }

    fn name(&self, target: usize) -> String {
        self.names
            .get(target)
            .cloned()
            .unwrap_or_else(|| "recording".into())
    }

    fn record(&mut self, raw: &[u8], target: usize) -> Result<(), String> {
        let name = self.name(target);
        match &mut self.recording {
            Some(r) => r.write(&target::with_target(raw, &name)),
            None => Ok(()),
        }
    }

    fn notice(&mut self, text: String) {
        let text = crate::terminal::clean(&text).into_owned();
        if self.to_stderr {
            eprintln!("tail: {text}");
        } else {
            self.notices.push(text);
        }
    }

    pub(crate) fn finish(&mut self) -> Result<Option<std::path::PathBuf>, String> {
        self.recording.take().map(Recording::finish).transpose()
    }
}
