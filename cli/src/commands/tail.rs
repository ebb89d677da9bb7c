//! `recourse tail`: picks the targets, starts the followers, and hands their feeds to the
//! line printer or the TUI (docs/tail.md, docs/wire-protocol.md).

use std::io::IsTerminal;
use std::time::Duration;

use recourse_engine::export::KeyFilter;
use tokio::sync::mpsc;

use crate::args::{TailArgs, TailOutput};
use crate::exit::{Status, interrupted, sleep_until};
use crate::tail::{
    Consumer, Feed, Followers, LineMode, Lines, Recording, Session, Spec, Step, Subscription,
    discovery, list, replay, targets_file,
};

/// Feeds waiting for the consumer, at most.
const FEEDS: usize = 16;
/// Feeds kept while waiting for the other targets to answer, once one did.
const EARLY: usize = 1024;

fn token_from_env() -> Option<String> {
    std::env::var("RECOURSE_TAIL_TOKEN").ok()
}

/// Runs `recourse tail` on its own runtime.
pub(crate) fn run(args: TailArgs, color: bool) -> Status {
    crate::exit::block_on(tail(args, color, Vec::new()))
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
    // With --wait and nothing to follow yet: what tail says while it waits.
    let mut waiting: Option<String> = None;
    // The TUI's controls of a replay (pause, step, seek); the line modes play it once.
    let mut controls = None;
    if let Some(path) = args.replay.clone() {
        let rx = (output == TailOutput::Tui).then(|| {
            let (ctl, rx) = mpsc::channel(16);
            controls = Some(ctl);
            rx
        });
        tokio::spawn(replay::replay(path, args.speed.max(0.0), tx, rx));
    } else {
        let mut specs = extra;
        let mut file_targets: Vec<Spec> = Vec::new();
        for t in &args.targets {
            match Spec::parse(t) {
                Ok(s) => specs.push(s),
                Err(e) => {
                    eprintln!("error: --target {e}");
                    return Status::Usage;
                }
            }
        }
        if let Some(file) = &args.targets_file {
            let text = match crate::input::read(file, args.max_file_size) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    eprintln!("error: --targets-file {e}");
                    return Status::Usage;
                }
            };
            let (listed, problems) = targets_file::parse(&file.display().to_string(), &text);
            if !problems.is_empty() {
                for p in problems {
                    eprintln!("error: {p}");
                }
                return Status::Usage;
            }
            // The file's own targets: those a later edit of the file may let go.
            let named: Vec<Spec> = specs.iter().map(Spec::identity).collect();
            file_targets = listed
                .iter()
                .filter(|s| !named.contains(&s.identity()))
                .cloned()
                .collect();
            specs.extend(listed);
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
        if specs.is_empty() && args.targets_file.is_none() {
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
            if found.is_empty() && args.wait {
                waiting = Some(format!(
                    "waiting for a service to start in {} (Ctrl-c stops)",
                    dir.display()
                ));
            } else if found.is_empty() {
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
        if let Some(file) = args.targets_file.clone() {
            targets_file::watch(
                file,
                args.max_file_size,
                followers.clone(),
                std::mem::take(&mut file_targets),
            );
        }
        live = Some(followers);
        match reachable(&mut rx, &names, &mut early).await {
            Ok(()) => {}
            // The socket directory is watched, or the followers retry, until one answers.
            Err(_) if args.wait => {
                waiting.get_or_insert_with(|| {
                    "waiting for a target to answer (Ctrl-c stops)".to_owned()
                });
            }
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
    let mut session = Session::new(names, recording, output != TailOutput::Tui);
    if let Some(text) = waiting {
        match output {
            TailOutput::Tui => session.notices.push(text),
            _ => eprintln!("tail: {text}"),
        }
    }
    let deadline = args.duration.map(|d| tokio::time::Instant::now() + d);
    let status = match output {
        TailOutput::Tui => {
            let start = crate::tui::Start {
                keys: &args.keys,
                calls: args.calls,
                live,
                replay: args.replay.is_some().then_some(args.speed.max(0.0)),
                controls,
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
            Feed::Gone { target, why } => (*target, Some(format!("{}: {why}", name(target)))),
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
            Err(e) => return crate::exit::fail(&e),
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
                Err(e) => return crate::exit::fail(&e),
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
