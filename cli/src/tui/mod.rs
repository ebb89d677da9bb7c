//! The `recourse tail` TUI (ratatui + crossterm): a keys table over a live event log, with a
//! key detail and a call waterfall. Input is handled before data; frames are drawn only when
//! something changed, at most about 30 a second; the terminal is restored on every exit.

mod command;
mod keymap;
pub(crate) mod state;
pub(crate) mod view;
mod warnings;

use std::io::Write as _;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use recourse_engine::export::KeyFilter;
use tokio::sync::mpsc;

use crate::exit::Status;
use crate::tail::{Feed, Followers, Session};
use recourse_engine::export::wire::CallFilter;
use state::{App, Request};

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
    let live = start.live;
    let now = Instant::now();
    for f in &early {
        if let Err(e) = session.absorb(f) {
            return fail(&e);
        }
        app.ingest(f, now);
    }
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
        if let Some(s) = app.quit {
            break s;
        }
        let next_frame = last_frame + FRAME;
        tokio::select! {
            biased;
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => {
                    app.key(k);
                    if let Some(text) = app.clipboard.take() {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(osc52(&text).as_bytes()).and_then(|()| out.flush());
                    }
                    if let Some(r) = app.request.take() {
                        carry_out(r, live.as_ref(), &mut app);
                    }
                    dirty = true;
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
                    if let Err(e) = session.absorb(&f) {
                        app.say(e);
                    }
                    app.ingest(&f, now);
                    n += 1;
                    if n < BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if let Some(n) = session.notices.pop() {
                    app.say(n);
                    session.notices.clear();
                }
                dirty = true;
            }
            _ = tick.tick() => {
                app.tick(Instant::now());
                dirty = true;
            }
        }
    };
    ratatui::restore();
    status
}

/// Carries out what a `:` command asked for, with the followers of a live tail.
fn carry_out(request: Request, live: Option<&Followers>, app: &mut App) {
    let Some(live) = live else {
        if let Request::Target(_) = request {
            app.say("a replay has no targets to add");
        }
        // `:key` in a replay narrows what is shown, which `set_keys` did.
        return;
    };
    match request {
        Request::Keys(keys) => live.resubscribe(keys),
        Request::Target(spec) => {
            let label = spec.label();
            match live.spawn(spec, false) {
                Some(_) => app.say(format!("following {label}")),
                None => app.say(format!("{label} is followed already")),
            }
        }
    }
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

fn fail(e: &str) -> Status {
    eprintln!("error: {e}");
    Status::Usage
}

#[cfg(test)]
mod tests;
