//! `recourse tail`: live calls of running services (docs/tail.md, docs/wire-protocol.md).
//!
//! Followers (one per target, or a replay) feed one channel; a consumer (the line printer or
//! the TUI) reads it. Notices go to stderr in the line modes and to the status line in the TUI.

mod discovery;
mod follow;
mod line;
mod list;
mod record;
mod replay;
mod sanitize;
mod target;
mod trust;

use std::io::IsTerminal;
use std::time::Duration;

use recourse_engine::export::KeyFilter;
use recourse_engine::export::wire::Message;
use tokio::sync::mpsc;

pub(crate) use follow::Followers;
pub(crate) use line::{call_line, circuit_line, clock_of, human_us, target_colour};
pub(crate) use record::Recording;
pub(crate) use replay::parse_ts_micros;
pub(crate) use sanitize::clean_line;
pub(crate) use target::{Feed, MAX_TARGETS, Spec, with_target};

use follow::Subscription;

use crate::args::{TailArgs, TailOutput};
use crate::exit::Status;
use line::{LineMode, Lines};

/// Feeds waiting for the consumer, at most.
const FEEDS: usize = 16;
/// Feeds kept while waiting for the other targets to answer, once one did.
const EARLY: usize = 1024;

/// What a consumer says after a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Go,
    Stop,
}

/// Something that shows feeds.
pub(crate) trait Consumer {
    fn feed(&mut self, feed: &Feed, names: &[String]) -> Step;
    /// The channel is empty for now (flush).
    fn idle(&mut self) {}
}

fn token_from_env() -> Option<String> {
    std::env::var("RECOURSE_TAIL_TOKEN").ok()
}

/// Runs `recourse tail` on its own runtime.
pub(crate) fn run(args: &TailArgs, color: bool) -> Status {
    crate::exit::block_on(tail(args.clone(), color, Vec::new()))
}

/// Tails `args` (plus `extra` targets, for the demo).
pub(crate) async fn tail(args: TailArgs, color: bool, extra: Vec<Spec>) -> Status {
    let output = args.output.unwrap_or(if std::io::stdout().is_terminal() {
        TailOutput::Tui
    } else {
        TailOutput::Text
    });
    // Each feed holds up to a 1 MiB line and what it decodes to: a short channel bounds what
    // waits for the consumer (the followers wait instead).
    let (tx, mut rx) = mpsc::channel::<Feed>(FEEDS);
    let mut names: Vec<String> = Vec::new();
    let mut early = Vec::new();
    // Who starts followers and holds their subscription (none in a replay).
    let mut live = None;
    if let Some(path) = args.replay.clone() {
        tokio::spawn(replay::replay(path, args.speed.max(0.0), tx));
    } else {
        let mut specs = extra;
        for t in &args.targets {
            match Spec::parse(t) {
                Ok(s) => specs.push(s),
                Err(e) => {
                    eprintln!("error: --target {e}");
                    return Status::Usage;
                }
            }
        }
        // A target named twice (`./a.sock` and `/tmp/a.sock`) is followed once.
        let mut seen = Vec::new();
        specs.retain(|s| {
            let identity = s.identity();
            let first = !seen.contains(&identity);
            seen.push(identity);
            first
        });
        if args.list {
            let token = args.token.clone().or_else(token_from_env);
            return list::list(specs, args.keys.clone(), token, output == TailOutput::Json).await;
        }
        // Without targets, the socket directory's services, as they come and go.
        let mut discovered = None;
        if specs.is_empty() {
            let (dir, found, stale) = match discovery::discover() {
                Ok(found) => found,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Status::Usage;
                }
            };
            if stale > 0 {
                eprintln!(
                    "tail: skipped {stale} stale socket{} in {}",
                    if stale == 1 { "" } else { "s" },
                    dir.display()
                );
            }
            if found.is_empty() {
                eprintln!(
                    "error: no services found in {}\n  help: start a service with export on \
                     (or `recourse demo`), or pass --target",
                    dir.display()
                );
                return Status::Usage;
            }
            specs = found.iter().cloned().map(Spec::Unix).collect();
            discovered = Some((dir, found));
        }
        let events: Vec<&'static str> = match output {
            TailOutput::Tui => vec!["call", "circuit", "stats"],
            _ => {
                let mut e: Vec<&'static str> = args.events.iter().map(|e| e.name()).collect();
                // A recording keeps everything, so a replay can drive the TUI.
                if args.record.is_some() {
                    e.extend(["call", "circuit", "stats"]);
                    e.sort_unstable();
                    e.dedup();
                }
                e
            }
        };
        let token = args.token.clone().or_else(token_from_env);
        let followers = Followers::new(
            tx,
            Subscription {
                keys: args.keys.clone(),
                events,
                max_rate: args.max_rate,
                calls: args.calls,
                token,
            },
        );
        names = specs.iter().map(Spec::label).collect();
        match discovered {
            Some((dir, found)) => discovery::follow_all(dir, found, followers.clone()),
            None => {
                for spec in specs {
                    followers.spawn(spec, false);
                }
            }
        }
        live = Some(followers);
        match reachable(&mut rx, &names, &mut early).await {
            Ok(()) => {}
            Err(whys) => {
                eprintln!("error: no target reachable");
                for why in whys {
                    eprintln!("  {why}");
                }
                return Status::Usage;
            }
        }
    }
    let recording = match args.record.as_deref().map(Recording::create).transpose() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Status::Usage;
        }
    };
    let mut session = Session {
        names,
        recording,
        lost: Vec::new(),
        notices: Vec::new(),
        to_stderr: output != TailOutput::Tui,
    };
    let deadline = args.duration.map(|d| tokio::time::Instant::now() + d);
    let status = match output {
        TailOutput::Tui => {
            let start = crate::tui::Start {
                keys: &args.keys,
                calls: args.calls,
                live,
            };
            crate::tui::run(rx, early, &mut session, deadline, start).await
        }
        TailOutput::Text | TailOutput::Json => {
            drop(live); // the line modes add no targets
            let mode = if output == TailOutput::Json {
                LineMode::Json
            } else {
                let on = color && std::io::stdout().is_terminal();
                LineMode::Text { color: on }
            };
            let filter = KeyFilter::new(&args.keys);
            let mut lines = Lines::new(mode, &args.events, filter).calls(args.calls);
            drive(rx, early, &mut session, &mut lines, deadline).await
        }
    };
    match session.finish() {
        Ok(Some(path)) => {
            eprintln!("tail: recorded to {}", path.display());
            status
        }
        Ok(None) => status,
        Err(e) => {
            eprintln!("error: {e}");
            Status::Usage
        }
    }
}

/// Waits until each of the first `names.len()` targets connected or failed once (at most 5 s);
/// an error when none did. (Targets discovered meanwhile are not waited for.)
async fn reachable(
    rx: &mut mpsc::Receiver<Feed>,
    names: &[String],
    early: &mut Vec<Feed>,
) -> Result<(), Vec<String>> {
    let mut heard = vec![false; names.len()];
    let mut connected = 0;
    let mut whys = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while heard.iter().any(|h| !h) && !(connected > 0 && early.len() >= EARLY) {
        let Ok(Some(feed)) = tokio::time::timeout_at(until, rx.recv()).await else {
            break;
        };
        let name = |t: &usize| names.get(*t).map_or("?", String::as_str);
        let (target, why) = match &feed {
            Feed::Connected { target, .. } => (*target, None),
            Feed::Lost { target, why } => (*target, Some(format!("{}: {why}", name(target)))),
            Feed::Gone { target } => (*target, Some(format!("{}: stopped", name(target)))),
            _ => (usize::MAX, None),
        };
        if let Some(h) = heard.get_mut(target).filter(|h| !**h) {
            *h = true;
            match why {
                None => connected += 1,
                Some(why) => whys.push(why),
            }
        }
        early.push(feed);
    }
    if connected == 0 { Err(whys) } else { Ok(()) }
}

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
                        Some(format!("{name}: no key called so far matches; waiting"))
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
            Feed::Gone { target } => {
                let name = self.name(*target);
                self.notice(format!(
                    "{name}: stopped (its socket is gone, or nothing listens on it); \
                     a restart shows up as a new target"
                ));
            }
            Feed::Notice { target, text } => {
                let name = self.name(*target);
                self.notice(format!("{name}: {text}"));
            }
            Feed::Ended => {}
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

    fn finish(&mut self) -> Result<Option<std::path::PathBuf>, String> {
        self.recording.take().map(Recording::finish).transpose()
    }
}

/// The line modes' loop: feeds until the deadline, the end of a replay, or Ctrl-c.
async fn drive(
    mut rx: mpsc::Receiver<Feed>,
    early: Vec<Feed>,
    session: &mut Session,
    lines: &mut Lines,
    deadline: Option<tokio::time::Instant>,
) -> Status {
    let step = |session: &mut Session, lines: &mut Lines, f: Feed| -> Result<Step, String> {
        session.absorb(&f)?;
        Ok(lines.feed(&f, &session.names))
    };
    for f in early {
        match step(session, lines, f) {
            Ok(Step::Go) => {}
            Ok(Step::Stop) => return Status::Ok,
            Err(e) => return fail(&e),
        }
    }
    lines.idle();
    let mut interrupted = std::pin::pin!(interrupted());
    loop {
        let feed = tokio::select! {
            biased;
            _ = &mut interrupted => {
                lines.idle();
                return Status::Interrupted;
            }
            _ = sleep_until(deadline) => break,
            f = rx.recv() => f,
        };
        let Some(f) = feed else { break };
        let mut next = Some(f);
        let mut n = 0;
        while let Some(f) = next.take() {
            match step(session, lines, f) {
                Ok(Step::Go) => {}
                Ok(Step::Stop) => {
                    lines.idle();
                    return Status::Ok;
                }
                Err(e) => return fail(&e),
            }
            n += 1;
            if n < 4096 {
                next = rx.try_recv().ok();
            }
        }
        lines.idle();
    }
    lines.idle();
    Status::Ok
}

fn fail(e: &str) -> Status {
    eprintln!("error: {e}");
    Status::Usage
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Ctrl-c, SIGTERM or SIGHUP.
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let hup = signal(SignalKind::hangup());
        if let (Ok(mut term), Ok(mut hup)) = (term, hup) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
