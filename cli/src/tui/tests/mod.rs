//! The TUI without a terminal: state updates as pure functions, and screens drawn on
//! ratatui's `TestBackend` at 120x30, 80x24 and 50x12 (snapshots in `snapshots/`).

mod effects;
mod figures;
mod navigation;

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use recourse_engine::export::KeyFilter;
use recourse_engine::export::wire::{self, Message};

use super::app::{App, View};
use super::update::{Effect, Msg, update};
use super::view;
use crate::exit::Status;
use crate::tail::Feed;

const RECORDING: &str = include_str!("../../../../testdata/events/demo.ndjson");

/// The recorded demo stream as the followers would feed it.
fn feeds(text: &str) -> Vec<Feed> {
    let mut out = Vec::new();
    for line in text.lines() {
        match wire::decode_line(line.as_bytes()).unwrap() {
            Message::Hello(h) => out.push(Feed::Connected {
                target: 0,
                name: h.common.target.clone().unwrap_or_default(),
                hello: Box::new(h),
                raw: line.as_bytes().to_vec(),
            }),
            msg => out.push(Feed::Line {
                target: 0,
                raw: line.as_bytes().to_vec(),
                msg: Box::new(msg),
            }),
        }
    }
    out
}

fn app_with(text: &str) -> App {
    let mut app = App::new("payments.*,inventory.*", KeyFilter::default());
    let now = Instant::now();
    for f in feeds(text) {
        app.ingest(&f, now);
    }
    app
}

fn app() -> App {
    app_with(RECORDING)
}

/// Presses `code`; the effects asked for.
fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| press(app, KeyCode::Char(c)))
        .collect()
}

/// Carries `effects` out as the driver does in a replay, saving into `dir`.
fn carry(app: &mut App, effects: Vec<Effect>, dir: &std::path::Path) -> Option<Status> {
    super::carry_out(effects, (None, None), app, dir)
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render(f, app)).unwrap();
    // Times in the log come from the recording; nothing depends on the wall clock.
    format!("{}", t.backend())
}

#[test]
fn snapshot_overview_120x30() {
    insta::assert_snapshot!(screen(&app(), 120, 30));
}

#[test]
fn snapshot_overview_80x24() {
    insta::assert_snapshot!(screen(&app(), 80, 24));
}

#[test]
fn snapshot_overview_50x12() {
    insta::assert_snapshot!(screen(&app(), 50, 12));
}

#[test]
fn snapshot_waterfall_120x30() {
    let mut app = app();
    app.view = View::Key("payments.Charge".into());
    press(&mut app, KeyCode::Char('E'));
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.view, View::Call { .. }));
    insta::assert_snapshot!(screen(&app, 120, 30));
}

#[test]
fn snapshot_key_detail_and_help_80x24() {
    let mut app = app();
    app.view = View::Key("payments.Charge".into());
    insta::assert_snapshot!("key_detail_80x24", screen(&app, 80, 24));
    app.view = View::Overview;
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("help_80x24", screen(&app, 80, 24));
}

#[test]
fn status_colours_mark_open_breakers_and_failures() {
    let mut t = Terminal::new(TestBackend::new(120, 30)).unwrap();
    let app = app();
    t.draw(|f| view::render(f, &app)).unwrap();
    let buf = t.backend().buffer();
    let mut saw_fail = false;
    for y in 0..30 {
        for x in 0..116 {
            let cells: String = (x..x + 4).map(|x| buf[(x, y)].symbol()).collect();
            if cells == "FAIL" {
                assert_eq!(buf[(x, y)].fg, ratatui::style::Color::Red);
                saw_fail = true;
            }
        }
    }
    assert!(saw_fail);
}

/// docs/tail.md shows the screens as they are: the overview and the waterfall at 120x30, the
/// overview and a key's detail at 80x24, drawn here.
#[test]
fn the_docs_show_the_current_screens() {
    let docs = include_str!("../../../../docs/tail.md");
    let doc_lines: Vec<&str> = docs.lines().map(str::trim_end).collect();
    let mut waterfall = app();
    waterfall.view = View::Key("payments.Charge".into());
    press(&mut waterfall, KeyCode::Char('E'));
    press(&mut waterfall, KeyCode::Enter);
    let mut detail = app();
    detail.view = View::Key("payments.Charge".into());
    // Whole screens, but the waterfall's first 12 rows (the rest is empty).
    let screens = [
        (screen(&app(), 120, 30), 30),
        (screen(&waterfall, 120, 30), 12),
        (screen(&app(), 80, 24), 24),
        (screen(&detail, 80, 24), 24),
    ];
    for (s, rows) in &screens {
        for line in s.lines().take(*rows) {
            let line = line.trim_matches('"').trim_end();
            assert!(
                doc_lines.contains(&line),
                "docs/tail.md lacks the line\n{line}"
            );
        }
    }
}
