//! What key presses and time do to the state: [`update`] changes the [`App`] and returns what
//! the driver must carry out ([`Effect`]), so it runs without a terminal, a clipboard, a file
//! system or a network.

use std::path::PathBuf;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, Focus, Frozen, View};
use super::command::{self, Command};
use super::keymap::{self, Action};
use super::model::{EventKind, WINDOWS};
use crate::exit::Status;
use crate::tail::{Control, Spec};
use recourse_engine::export::wire::CallFilter;

/// Something that happened to the TUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// A second went by.
    Tick(Instant),
}

/// What the driver carries out for [`update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Put this text on the terminal's clipboard.
    Copy(String),
    /// Write the event log, to this file or a new one.
    Save(Option<PathBuf>),
    /// Subscribe every target to these key globs (none: every key).
    Subscribe(Vec<String>),
    /// Follow one more target.
    Follow(Spec),
    /// Tell the replay this.
    Replay(Control),
    /// End the TUI with this status.
    Quit(Status),
}

/// Applies `msg` to `app`; the effects it asks for, in order.
pub(crate) fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let mut effects = Vec::new();
    match msg {
        Msg::Key(key) => press(app, key, &mut effects),
        Msg::Tick(now) => app.tick(now),
    }
    effects
}

fn press(app: &mut App, key: KeyEvent, effects: &mut Vec<Effect>) {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    if app.command.is_some() {
        if ctrl_c {
            effects.push(Effect::Quit(Status::Interrupted));
        } else {
            command_key(app, key, effects);
        }
        return;
    }
    if let Some(prompt) = &mut app.prompt {
        match key.code {
            _ if ctrl_c => effects.push(Effect::Quit(Status::Interrupted)),
            KeyCode::Enter => {
                app.filter = app.prompt.take().unwrap_or_default();
                app.key_sel = 0;
            }
            KeyCode::Esc => {
                app.prompt = None;
                app.filter.clear();
            }
            KeyCode::Backspace => {
                prompt.pop();
                app.filter = prompt.clone();
            }
            KeyCode::Char(c) => {
                prompt.push(c);
                app.filter = prompt.clone();
                app.key_sel = 0;
            }
            _ => {}
        }
        return;
    }
    if let Some(a) = keymap::action(&key, &app.scopes()) {
        act(app, a, effects);
    }
}

/// A key pressed while the `:` line is open: Enter runs it, Esc closes it.
fn command_key(app: &mut App, key: KeyEvent, effects: &mut Vec<Effect>) {
    let Some(line) = &mut app.command else {
        return;
    };
    match key.code {
        KeyCode::Enter => {
            let text = std::mem::take(line);
            app.command = None;
            match command::parse(&text) {
                Ok(c) => run(app, c, effects),
                Err(e) => app.say(e),
            }
        }
        KeyCode::Esc => app.command = None,
        KeyCode::Backspace if line.is_empty() => app.command = None,
        KeyCode::Backspace => {
            line.pop();
        }
        KeyCode::Char(c) => line.push(c),
        _ => {}
    }
}

fn run(app: &mut App, command: Command, effects: &mut Vec<Effect>) {
    match command {
        Command::Key(keys) => {
            app.set_keys(&keys);
            app.say(format!("keys: {}", app.title));
            effects.push(Effect::Subscribe(keys));
        }
        Command::Target(spec) => effects.push(Effect::Follow(spec)),
        Command::Window(w) => app.set_window(w),
        Command::Save(file) => save(app, file, effects),
        Command::Quit => effects.push(Effect::Quit(Status::Ok)),
    }
}

fn act(app: &mut App, action: Action, effects: &mut Vec<Effect>) {
    if app.help && !matches!(action, Action::ForceQuit) {
        if matches!(action, Action::Help | Action::Quit | Action::Back) {
            app.help = false;
        }
        return;
    }
    match action {
        Action::Help => app.help = true,
        Action::ForceQuit => effects.push(Effect::Quit(Status::Interrupted)),
        Action::Quit if app.view == View::Overview => effects.push(Effect::Quit(Status::Ok)),
        Action::Back if app.view == View::Overview => app.filter.clear(),
        Action::Quit | Action::Back => back(app),
        Action::Filter => app.prompt = Some(app.filter.clone()),
        Action::Command => app.command = Some(String::new()),
        Action::Freeze => {
            app.frozen = match app.frozen {
                Some(_) => None,
                None => Some(Frozen {
                    at_id: app.events.last_id(),
                    rows: app.live_rows(),
                }),
            }
        }
        Action::Focus => {
            app.focus = match app.focus {
                Focus::Keys => Focus::Events,
                Focus::Events => Focus::Keys,
            }
        }
        Action::SortPrev => app.sort = app.sort.cycle(-1),
        Action::SortNext => app.sort = app.sort.cycle(1),
        Action::Invert => app.descending = !app.descending,
        Action::Enter => enter(app),
        Action::Down => step(app, 1),
        Action::Up => step(app, -1),
        Action::PageDown => step(app, 10),
        Action::PageUp => step(app, -10),
        Action::Top => step(app, isize::MIN / 2),
        Action::Bottom => {
            if app.on_keys() {
                app.key_sel = app.rows().len().saturating_sub(1);
            } else {
                app.event_sel = None;
                follow_shown(app);
            }
        }
        Action::NextFail => seek_failure(app, true),
        Action::PrevFail => seek_failure(app, false),
        Action::Calls => cycle_calls(app),
        Action::Save => save(app, None, effects),
        Action::Copy => copy(app, effects),
        Action::Longer => app.set_window((app.window + 1).min(WINDOWS.len() - 1)),
        Action::Shorter => app.set_window(app.window.saturating_sub(1)),
        Action::Pause => {
            app.paused = !app.paused;
            app.say(if app.paused {
                "paused: . plays the next call, p plays on"
            } else {
                "playing"
            });
            effects.push(Effect::Replay(Control::Pause));
        }
        Action::StepCall if app.paused => effects.push(Effect::Replay(Control::Step)),
        Action::StepCall => app.say(". plays the next call while paused (p)"),
        Action::Seek(by) => {
            // Forward plays on from the recording's own time; back starts it over.
            app.ended &= by > 0;
            let what = if by > 0 { "forward" } else { "back" };
            app.say(format!("{what} {}", human_seek(by.unsigned_abs())));
            effects.push(Effect::Replay(Control::Seek(by)));
        }
    }
}

/// `10 s`, `1 min`.
fn human_seek(us: u64) -> String {
    match us / 1_000_000 {
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Asks for the event log to be saved, unless it is empty.
fn save(app: &mut App, file: Option<PathBuf>, effects: &mut Vec<Effect>) {
    if app.events.is_empty() {
        app.say("nothing to save yet: the log is empty");
    } else {
        effects.push(Effect::Save(file));
    }
}

/// Puts the selected call (or breaker change), as the service sent it and with its
/// `target`, on the clipboard.
fn copy(app: &mut App, effects: &mut Vec<Effect>) {
    let chosen = match app.shown_call() {
        Some(e) => Some(e),
        None if app.on_keys() => None,
        None => {
            let visible = app.visible();
            app.selected(&visible).and_then(|i| visible.get(i).copied())
        }
    };
    let Some(e) = chosen else {
        app.say("nothing to copy: select a call (Tab moves to the events)");
        return;
    };
    let line = app.recorded(e);
    let text = String::from_utf8_lossy(line.trim_ascii_end()).into_owned();
    let what = match e.kind {
        EventKind::Call(_) => "the call",
        EventKind::Circuit(_) => "the breaker change",
    };
    effects.push(Effect::Copy(text));
    app.say(format!("copied {what} as JSON to the terminal's clipboard"));
}

/// The next narrower set of calls in the log, back to all that are kept after `failed`
/// (the log cannot show what the services were told not to send).
fn cycle_calls(app: &mut App) {
    let kept = CallFilter::EVERY
        .iter()
        .position(|c| *c == app.calls)
        .unwrap_or(0);
    let choices = &CallFilter::EVERY[kept..];
    let at = choices.iter().position(|c| *c == app.shown).unwrap_or(0);
    app.shown = choices[(at + 1) % choices.len()];
    app.say(format!("log: {} calls", app.shown));
}

fn back(app: &mut App) {
    app.view = match std::mem::replace(&mut app.view, View::Overview) {
        View::Call { key: Some(k), .. } => View::Key(k),
        _ => View::Overview,
    };
}

fn enter(app: &mut App) {
    match app.view.clone() {
        View::Overview if app.focus == Focus::Keys => {
            if let Some(r) = app.rows().get(app.key_sel) {
                app.view = View::Key(r.key.clone());
                app.event_sel = None;
            }
        }
        View::Overview | View::Key(_) => {
            let key = match &app.view {
                View::Key(k) => Some(k.clone()),
                _ => None,
            };
            let visible = app.visible();
            let chosen = app
                .selected(&visible)
                .and_then(|i| visible.get(i))
                .filter(|e| matches!(e.kind, EventKind::Call(_)))
                .map(|e| e.id);
            if let Some(id) = chosen {
                app.event_sel = Some(id);
                app.view = View::Call { id, key };
            }
        }
        View::Call { .. } => {}
    }
}

fn step(app: &mut App, by: isize) {
    if app.on_keys() {
        let n = app.rows().len();
        let i = (app.key_sel as isize + by).clamp(0, n.saturating_sub(1) as isize);
        app.key_sel = i as usize;
        return;
    }
    let visible = app.visible();
    let Some(cur) = app.selected(&visible) else {
        return;
    };
    let i = (cur as isize + by).clamp(0, visible.len() as isize - 1) as usize;
    app.event_sel = Some(visible[i].id);
    follow_shown(app);
}

/// In the waterfall, show the selected call.
fn follow_shown(app: &mut App) {
    let visible = app.visible();
    let chosen = app.selected(&visible).map(|i| visible[i].id);
    if let (View::Call { id, .. }, Some(sel)) = (&mut app.view, chosen) {
        *id = sel;
    }
}

fn seek_failure(app: &mut App, forward: bool) {
    if app.on_keys() {
        app.focus = Focus::Events;
    }
    let visible = app.visible();
    let cur = app.selected(&visible).unwrap_or(0);
    let found = if forward {
        visible.iter().skip(cur + 1).find(|e| e.failed())
    } else {
        visible.iter().take(cur).rev().find(|e| e.failed())
    };
    match found.map(|e| e.id) {
        Some(id) => {
            app.event_sel = Some(id);
            follow_shown(app);
        }
        None => app.say(format!(
            "no {} failed call",
            if forward { "later" } else { "earlier" }
        )),
    }
}
