//! The `recourse tail` TUI (ratatui + crossterm): a keys table over a live event log, with a
//! key detail and a call waterfall. Input is handled before data; frames are drawn only when
//! something changed, at most about 30 a second; the terminal is restored on every exit.
//!
//! Model, update, view: `model` and `app` hold the state, `update` turns key presses into
//! state changes and [`Effect`]s, `view` draws. This module is the driver: it owns the
//! terminal and the followers, and carries the effects out.

pub(crate) mod app;
mod command;
mod filter;
mod keymap;
mod model;
mod notices;
mod save;
mod update;
pub(crate) mod view;
mod warnings;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use recourse_engine::export::KeyFilter;
use tokio::sync::mpsc;

use crate::exit::Status;
use crate::tail::{Control, Feed, Followers, Session};
use app::App;
use recourse_engine::export::wire::CallFilter;
use update::{Effect, Msg, update};

/// The shortest time between two frames.
const FRAME: Duration = Duration::from_millis(33);
/// Feeds applied before the loop looks at input again.
const BATCH: usize = 20_000;

/// What the TUI starts from.
pub(crate) struct Start<'a> {
    /// The key globs the services were asked for.
    pub(crate) keys: &'a [String],
    /// The calls they were asked for.
    pub(crate) calls: CallFilter,
    /// The followers, for `:key` and `:target` (none in a replay).
    pub(crate) live: Option<Followers>,
    /// A replay's speed (0: as fast as possible); `None` when live.
    pub(crate) replay: Option<f64>,
    /// Where the TUI sends a replay's controls.
    pub(crate) controls: Option<mpsc::Sender<Control>>,
}

/// Runs the TUI until `q`, Ctrl-c, a signal or the deadline.
pub(crate) async fn run(
    mut rx: mpsc::Receiver<Feed>,
    early: Vec<Feed>,
    session: &mut Session,
    deadline: Option<tokio::time::Instant>,
    start: Start<'_>,
) -> Status {
    let mut app = App::new("*", KeyFilter::default());
    app.set_keys(start.keys);
    app.keep_calls(start.calls);
    app.replay = start.replay;
    let live = start.live;
    let controls = start.controls;
    let now = Instant::now();
    for f in &early {
        if let Err(e) = session.absorb(f) {
            return crate::exit::fail(&e);
        }
        app.ingest(f, now);
    }
    take_notices(session, &mut app);
    if std::env::var_os("RECOURSE_TUI_TEST_PANIC").is_some() && cfg!(debug_assertions) {
        // Lets the tests prove the panic hook restores the terminal.
        let mut terminal = ratatui::init();
        let _ = terminal.draw(|f| view::render(f, &app));
        panic!("test panic requested by RECOURSE_TUI_TEST_PANIC");
    }
    let mut terminal = ratatui::init();
    let mut input = EventStream::new();
    let mut interrupted = std::pin::pin!(crate::exit::interrupted());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    let mut last_frame = tokio::time::Instant::now() - FRAME;
    let status = loop {
        let next_frame = last_frame + FRAME;
        tokio::select! {
            biased;
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => {
                    let effects = update(&mut app, Msg::Key(k));
                    dirty = true;
                    if let Some(s) = carry_out(effects, (live.as_ref(), controls.as_ref()), &mut app, Path::new(".")) {
                        break s;
                    }
                }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break Status::Usage,
            },
            _ = &mut interrupted => break Status::Interrupted,
            _ = crate::exit::sleep_until(deadline) => break Status::Ok,
            _ = tokio::time::sleep_until(next_frame), if dirty => {
                if terminal.draw(|f| view::render(f, &app)).is_err() {
                    break Status::Usage;
                }
                dirty = false;
                last_frame = tokio::time::Instant::now();
            }
            feed = rx.recv(), if !app.ended => {
                let Some(f) = feed else {
                    app.ended = true;
                    continue;
                };
                let now = Instant::now();
                let mut next = Some(f);
                let mut n = 0;
                while let Some(f) = next.take() {
                    feed_in(session, &mut app, &f, now);
                    n += 1;
                    if n < BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                dirty = true;
            }
            _ = tick.tick() => {
                update(&mut app, Msg::Tick(Instant::now()));
                dirty = true;
            }
        }
    };
    ratatui::restore();
    status
}

/// One feed into the session (names, the recording, notices) and the view. The session's
/// notices reach the footer before the view takes the feed, which may take one back (a target
/// waiting for a matching key that calls one).
fn feed_in(session: &mut Session, app: &mut App, feed: &Feed, now: Instant) {
    if let Err(e) = session.absorb(feed) {
        app.say(e);
    }
    take_notices(session, app);
    app.ingest(feed, now);
}

/// Moves the session's notices (connections, losses, gaps) to the footer, every one.
fn take_notices(session: &mut Session, app: &mut App) {
    for n in session.notices.drain(..) {
        app.notices.push(n);
    }
}

/// Carries out `effects`: the clipboard, files in `dir`, the followers of a live tail (none
/// in a replay), a replay's controls. The status to end with, if one asked to quit.
fn carry_out(
    effects: Vec<Effect>,
    (live, controls): (Option<&Followers>, Option<&mpsc::Sender<Control>>),
    app: &mut App,
    dir: &Path,
) -> Option<Status> {
    for effect in effects {
        match effect {
            Effect::Quit(status) => return Some(status),
            Effect::Copy(text) => {
                let mut out = std::io::stdout();
                let _ = out
                    .write_all(osc52(&text).as_bytes())
                    .and_then(|()| out.flush());
            }
            Effect::Save(file) => {
                let said = save::save(app, dir, file);
                app.say(said);
            }
            // `:key` in a replay narrows what is shown, which `update` did.
            Effect::Subscribe(keys) => {
                if let Some(live) = live {
                    live.resubscribe(keys);
                }
            }
            Effect::Replay(control) => {
                // A full queue means keys come faster than the replay takes them: drop one.
                if let Some(c) = controls {
                    let _ = c.try_send(control);
                }
            }
            Effect::Follow(spec) => {
                let label = spec.label();
                match live.map(|l| l.spawn(spec, false)) {
                    None => app.say("a replay has no targets to add"),
                    Some(Some(_)) => app.say(format!("following {label}")),
                    Some(None) => app.say(format!("{label} is followed already")),
                }
            }
        }
    }
    None
}

/// The OSC 52 sequence that asks the terminal to put `text` on the system clipboard
/// (xterm, kitty, WezTerm, iTerm2, Windows Terminal; tmux with `set-clipboard on`).
pub(crate) fn osc52(text: &str) -> String {
    use base64::Engine as _;
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

#[cfg(test)]
mod tests;
