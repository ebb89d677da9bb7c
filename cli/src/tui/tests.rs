//! The TUI without a terminal: state updates as pure functions, and screens drawn on
//! ratatui's `TestBackend` at 120x30, 80x24 and 50x12 (snapshots in `snapshots/`).

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use recourse_engine::export::KeyFilter;
use recourse_engine::export::wire::{self, Message};

use super::keymap::Action;
use super::state::{App, Request, View};
use super::view;
use crate::exit::Status;
use crate::tail::Feed;

const RECORDING: &str = include_str!("../../../testdata/events/demo.ndjson");

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

fn press(app: &mut App, code: KeyCode) {
    app.key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render(f, app)).unwrap();
    // Times in the log come from the recording; nothing depends on the wall clock.
    format!("{}", t.backend())
}

#[test]
fn the_recording_fills_keys_and_log() {
    let app = app();
    let rows = app.rows();
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let charge = rows.iter().find(|r| r.key == "payments.Charge").unwrap();
    assert!(
        charge.att_per_call.unwrap() > 1.0,
        "retries amplify load: {charge:?}"
    );
    assert!(charge.denied > 0 && charge.deny_s.is_some(), "{charge:?}");
    assert!(charge.calls_s.unwrap() > 10.0, "{charge:?}");
    assert!(charge.first_pct.unwrap() < charge.ok_pct.unwrap());
    let refund = rows.iter().find(|r| r.key == "payments.Refund").unwrap();
    assert!(refund.win_pct.is_some(), "hedges were won: {refund:?}");
    let inventory = rows.iter().find(|r| r.key == "inventory.Get").unwrap();
    assert!(inventory.circuit.is_some());
    assert!(app.visible().len() > 300);
}

#[test]
fn rates_come_from_the_stats_window() {
    let stats = |ts: &str, calls: u64, retries: u64| {
        format!(
            r#"{{"target":"svc-1","t":"stats","seq":1,"ts":"{ts}","keys":{{"a.B":{{"calls":{calls},"successes":{calls},"attempts":{},"retries":{retries},"latency":{{"sub_buckets":16,"counts":[[100,{calls}]]}}}}}}}}"#,
            calls + retries
        )
    };
    let text = [
        stats("2026-01-01T00:00:00.000000Z", 100, 0),
        stats("2026-01-01T00:00:01.000000Z", 150, 10),
        stats("2026-01-01T00:00:02.000000Z", 300, 30),
    ]
    .join("\n");
    let row = app_with(&text).rows().remove(0);
    assert_eq!(row.calls_s, Some(100.0)); // 200 calls over 2 s
    assert_eq!(row.retry_s, Some(15.0));
    assert_eq!(row.att_per_call, Some(1.15));
    assert_eq!(row.spark, {
        let mut s = vec![0; 58];
        s.extend([50, 150]);
        s
    });
}

/// With two services making a key, its detail shows each one's figures: the sick one stands
/// out even when the key's totals look merely degraded.
#[test]
fn a_key_detail_shows_which_target_is_sick() {
    let stats = |ts: &str, calls: u64, ok: u64, circuit: &str| {
        format!(
            r#"{{"t":"stats","seq":1,"ts":"{ts}","keys":{{"a.B":{{"calls":{calls},"successes":{ok},"first_try_successes":{ok},"attempts":{calls},"circuit":"{circuit}","latency":{{"sub_buckets":16,"counts":[[100,{calls}]]}}}}}}}}"#
        )
    };
    let mut app = App::new("*", KeyFilter::default());
    let now = Instant::now();
    let feed = |target: usize, line: String| {
        let msg = wire::decode_line(line.as_bytes()).unwrap();
        Feed::Line {
            target,
            raw: line.into_bytes(),
            msg: Box::new(msg),
        }
    };
    for (target, label) in [(0, "checkout-1"), (1, "checkout-2")] {
        let label = label.to_owned();
        app.ingest(&Feed::Started { target, label }, now);
    }
    for f in [
        feed(0, stats("2026-01-01T00:00:00.000000Z", 100, 100, "closed")),
        feed(0, stats("2026-01-01T00:00:02.000000Z", 300, 300, "closed")),
        feed(1, stats("2026-01-01T00:00:00.000000Z", 100, 100, "closed")),
        feed(1, stats("2026-01-01T00:00:02.000000Z", 300, 120, "open")),
    ] {
        app.ingest(&f, now);
    }
    let by_target = app.target_rows("a.B");
    let shown: Vec<String> = by_target
        .iter()
        .map(|(n, r)| format!("{n} {:?} {:?} {:?}", r.calls_s, r.ok_pct, r.circuit))
        .collect();
    assert_eq!(
        shown,
        [
            r#"checkout-1 Some(100.0) Some(100.0) Some("closed")"#,
            r#"checkout-2 Some(100.0) Some(10.0) Some("open")"#,
        ]
    );
    app.view = View::Key("a.B".into());
    let screen = screen(&app, 100, 24);
    assert!(screen.contains(" By target "), "{screen}");
    let sick = screen.lines().find(|l| l.contains("│checkout-2")).unwrap();
    assert!(sick.contains("10.0") && sick.contains("OPEN"), "{screen}");
}

/// A breaker that closes and opens again is flapping; one that reopens after failed probes is
/// guarding a dependency still down, and is not.
#[test]
fn a_breaker_opening_again_and_again_is_flapping() {
    let circuit = |secs: u32, from: &str, to: &str| {
        format!(
            r#"{{"target":"svc-1","t":"circuit","seq":1,"ts":"2026-01-01T00:{:02}:{:02}.000000Z","key":"a.B","from":"{from}","to":"{to}","reason":"x"}}"#,
            secs / 60,
            secs % 60
        )
    };
    let down = [
        circuit(0, "closed", "open"),
        circuit(5, "open", "half-open"),
        circuit(5, "half-open", "open"),
        circuit(10, "open", "half-open"),
        circuit(10, "half-open", "open"),
    ];
    let row = app_with(&down.join("\n")).rows().remove(0);
    assert_eq!(row.opened_min, 1, "still down, not flapping");

    let mut flapping = Vec::new();
    for at in [0, 20, 40, 100] {
        flapping.extend([
            circuit(at, "closed", "open"),
            circuit(at + 5, "open", "half-open"),
            circuit(at + 5, "half-open", "closed"),
        ]);
    }
    // Openings at 0, 20, 40 and 100 s: the minute before the last has two (40, 100).
    let row = app_with(&flapping.join("\n")).rows().remove(0);
    assert_eq!(row.opened_min, 2);
    let screen = screen(&app_with(&flapping.join("\n")), 100, 20);
    assert!(
        screen.contains("a.B circuit flapping: opened 2× in 1m"),
        "{screen}"
    );
}

/// `z` widens the window the rates are over (10s, 1m, 5m, 15m), `Z` narrows it; a window
/// longer than what was received starts at the oldest snapshot kept.
#[test]
fn z_and_shift_z_zoom_the_rate_window() {
    // Two minutes of one stats message a second: 100 calls/s, then 10 calls/s for the last
    // 20 s.
    let mut calls = 0u64;
    let lines: Vec<String> = (0..=120u64)
        .map(|s| {
            if s > 0 {
                calls += if s > 100 { 10 } else { 100 };
            }
            let ts = format!("2026-01-01T00:{:02}:{:02}.000000Z", s / 60, s % 60);
            format!(
                r#"{{"target":"svc-1","t":"stats","seq":{s},"ts":"{ts}","keys":{{"a.B":{{"calls":{calls},"successes":{calls},"attempts":{calls},"latency":{{"sub_buckets":16,"counts":[]}}}}}}}}"#
            )
        })
        .collect();
    let mut app = app_with(&lines.join("\n"));
    let rate = |app: &App| app.rows()[0].calls_s.unwrap();
    assert_eq!(rate(&app), 10.0);
    assert!(!screen(&app, 120, 30).contains("· last"));
    press(&mut app, KeyCode::Char('z'));
    // The last minute: 40 s at 100/s and 20 s at 10/s.
    assert_eq!(rate(&app), (40.0 * 100.0 + 20.0 * 10.0) / 60.0);
    assert!(screen(&app, 120, 30).contains("· last 1m"));
    press(&mut app, KeyCode::Char('z'));
    // Five minutes asked, two received: from the first snapshot.
    assert_eq!(rate(&app), (100.0 * 100.0 + 20.0 * 10.0) / 120.0);
    press(&mut app, KeyCode::Char('z'));
    press(&mut app, KeyCode::Char('z'));
    assert_eq!(app.window, 3, "15m is the longest");
    assert!(screen(&app, 120, 30).contains("· last 15m"));
    for _ in 0..4 {
        press(&mut app, KeyCode::Char('Z'));
    }
    assert_eq!(rate(&app), 10.0);
    // A frozen table keeps its figures and says when the new window applies.
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char('z'));
    assert_eq!(rate(&app), 10.0);
    assert_eq!(
        app.status.as_deref(),
        Some("rates over the last 1m once unfrozen")
    );
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(rate(&app), (40.0 * 100.0 + 20.0 * 10.0) / 60.0);
}

#[test]
fn gaps_are_counted_by_cause() {
    let text = r#"{"target":"s","t":"gap","seq":1,"dropped":5,"cause":"client_slow"}
{"target":"s","t":"gap","seq":2,"dropped":7,"cause":"source_queue_full"}
{"target":"s","t":"gap","seq":3,"dropped":2,"cause":"rate_limited"}
{"target":"s","t":"gap","seq":4,"dropped":1,"cause":"client_slow"}"#;
    let l = app_with(text).lost;
    assert_eq!((l.slow, l.source, l.rate), (6, 7, 2));
}

#[test]
fn the_filter_narrows_keys_and_events_and_can_invert() {
    let mut app = app();
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "refund");
    assert_eq!(app.prompt.as_deref(), Some("refund"));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.prompt, None);
    let rows = app.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key, "payments.Refund");
    assert!(app.visible().iter().all(|e| e.key() == "payments.Refund"));
    app.filter = "!payments".into();
    assert!(app.rows().iter().all(|r| !r.key.starts_with("payments")));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.filter, "");
    assert_eq!(app.rows().len(), 4);
}

#[test]
fn freezing_keeps_the_view_while_data_arrives() {
    let half = RECORDING.lines().count() / 2;
    let (first, rest): (Vec<&str>, Vec<&str>) = {
        let lines: Vec<&str> = RECORDING.lines().collect();
        (lines[..half].to_vec(), lines[half..].to_vec())
    };
    let mut app = app_with(&first.join("\n"));
    let before = app.visible().len();
    let rows = app.rows();
    app.act(Action::Freeze);
    let now = Instant::now();
    for f in feeds(&rest.join("\n")) {
        app.ingest(&f, now);
    }
    assert_eq!(app.visible().len(), before, "the log is frozen");
    assert_eq!(app.rows(), rows, "the table is frozen");
    assert!(app.frozen_behind() > 100);
    app.act(Action::Freeze);
    assert!(app.visible().len() > before);
}

#[test]
fn moving_up_stops_following_and_g_resumes() {
    let mut app = app();
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.event_sel, None);
    press(&mut app, KeyCode::Char('k'));
    let visible = app.visible();
    let second_last = visible[visible.len() - 2].id;
    assert_eq!(app.event_sel, Some(second_last));
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.event_sel, None);
}

#[test]
fn e_jumps_between_failed_calls() {
    let mut app = app();
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char('g'));
    press(&mut app, KeyCode::Char('e'));
    let visible = app.visible();
    let sel = app.selected(&visible).unwrap();
    assert!(visible[sel].failed());
    assert!(visible[..sel].iter().all(|e| !e.failed()) || sel > 0);
    press(&mut app, KeyCode::Char('e'));
    let visible = app.visible();
    let next = app.selected(&visible).unwrap();
    assert!(next > sel && visible[next].failed());
    press(&mut app, KeyCode::Char('E'));
    let visible = app.visible();
    assert_eq!(app.selected(&visible), Some(sel));
}

#[test]
fn sorting_cycles_columns_and_inverts() {
    let mut app = app();
    let by_rate: Vec<String> = app.rows().into_iter().map(|r| r.key).collect();
    let rates: Vec<f64> = app.rows().iter().map(|r| r.calls_s.unwrap()).collect();
    assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}");
    press(&mut app, KeyCode::Char('I'));
    let inverted: Vec<String> = app.rows().into_iter().map(|r| r.key).collect();
    assert_eq!(inverted, by_rate.iter().rev().cloned().collect::<Vec<_>>());
    press(&mut app, KeyCode::Char('<'));
    let by_key: Vec<String> = app.rows().into_iter().map(|r| r.key).collect();
    let mut sorted = by_key.clone();
    sorted.sort();
    assert_eq!(by_key, sorted);
}

#[test]
fn enter_drills_down_and_esc_and_q_come_back() {
    let mut app = app();
    let first = app.rows()[0].key.clone();
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Key(first.clone()));
    press(&mut app, KeyCode::Enter);
    let View::Call { key, .. } = &app.view else {
        panic!("{:?}", app.view)
    };
    assert_eq!(key.as_deref(), Some(first.as_str()));
    assert_eq!(app.shown_call().unwrap().key(), first);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Key(first));
    press(&mut app, KeyCode::Char('q'));
    assert_eq!(app.view, View::Overview);
    press(&mut app, KeyCode::Char('?'));
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.help && app.quit.is_none(), "q closes help first");
    press(&mut app, KeyCode::Char('q'));
    assert_eq!(app.quit, Some(Status::Ok));
    let mut app2 = super::state::App::new("", KeyFilter::default());
    app2.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(app2.quit, Some(Status::Interrupted));
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
    app.view = View::Key("inventory.Get".into());
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

#[test]
fn the_log_stays_bounded_whatever_the_duration() {
    let calls: Vec<&str> = RECORDING
        .lines()
        .filter(|l| l.contains(r#""t":"call""#))
        .collect();
    let mut app = App::new("*", KeyFilter::default());
    let now = Instant::now();
    let feeds = feeds(&calls.join("\n"));
    let rounds = super::state::RING * 3 / calls.len() + 1;
    for _ in 0..rounds {
        for f in &feeds {
            app.ingest(f, now);
        }
    }
    assert_eq!(app.events.len(), super::state::RING);
    assert_eq!(app.keys.len(), 4);
}

#[test]
fn the_log_is_bounded_by_bytes_too() {
    use super::state::{RING, RING_BYTES};
    // Calls of about 256 KiB: the byte bound holds long before the count does.
    let attempt = r#"{"attempt":1,"outcome":"retryable","reason":"http_5xx","error":"x"}"#;
    let attempts = vec![attempt; 256 * 1024 / attempt.len()].join(",");
    let line = format!(
        r#"{{"t":"call","seq":1,"key":"a.B","outcome":"failure","reason":"x","attempts":[{attempts}]}}"#
    );
    let mut app = App::new("*", KeyFilter::default());
    let now = Instant::now();
    for f in feeds(&line) {
        for _ in 0..1_000 {
            app.ingest(&f, now);
        }
    }
    let held: usize = app.events.iter().map(|e| e.raw.len()).sum();
    assert!(app.events.len() < RING / 10, "{} events", app.events.len());
    assert!(held <= RING_BYTES, "{held} bytes of lines held");
    assert!(!app.events.is_empty());
}

#[test]
fn keys_past_the_cap_are_counted_and_said_not_kept() {
    use super::state::MAX_KEYS;
    let keys: Vec<String> = (0..MAX_KEYS + 10)
        .map(|i| format!(r#""k.K{i}":{{"calls":1}}"#))
        .collect();
    let line = format!(r#"{{"t":"stats","seq":1,"keys":{{{}}}}}"#, keys.join(","));
    let app = app_with(&line);
    assert_eq!(app.keys.len(), MAX_KEYS);
    assert_eq!(app.capped.keys, 10);
    let shown = screen(&app, 120, 30);
    assert!(shown.contains("over caps: 10"), "{shown}");
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("2000 keys")),
        "{:?}",
        app.status
    );
}

/// The client's ingest rate: decode and apply a recorded stream (run in release:
/// `cargo test --release -p recourse-cli --bin recourse ingest_rate -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement; run in release"]
fn ingest_rate() {
    let lines: Vec<&str> = RECORDING.lines().collect();
    let mut app = App::new("*", KeyFilter::default());
    let now = Instant::now();
    let target = 200_000;
    let start = Instant::now();
    let mut n = 0;
    while n < target {
        for line in &lines {
            let msg = wire::decode_line(line.as_bytes()).unwrap();
            let feed = Feed::Line {
                target: 0,
                raw: line.as_bytes().to_vec(),
                msg: Box::new(msg),
            };
            app.ingest(&feed, now);
            n += 1;
        }
    }
    let took = start.elapsed();
    let mut t = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let frame = Instant::now();
    for _ in 0..100 {
        t.draw(|f| view::render(f, &app)).unwrap();
    }
    let per_frame = frame.elapsed() / 100;
    eprintln!(
        "ingest: {n} messages in {took:?} = {:.0}/s; a 200x60 frame in {per_frame:?}",
        n as f64 / took.as_secs_f64()
    );
}

/// docs/tail.md shows the screens as they are: the overview and the waterfall drawn here.
#[test]
fn the_docs_show_the_current_screens() {
    let docs = include_str!("../../../docs/tail.md");
    let doc_lines: Vec<&str> = docs.lines().map(str::trim_end).collect();
    let mut waterfall = app();
    waterfall.view = View::Key("payments.Charge".into());
    press(&mut waterfall, KeyCode::Char('E'));
    press(&mut waterfall, KeyCode::Enter);
    let screens = [screen(&app(), 120, 30), screen(&waterfall, 120, 30)];
    for (i, s) in screens.iter().enumerate() {
        for line in s.lines().take(if i == 0 { 30 } else { 12 }) {
            let line = line.trim_matches('"').trim_end();
            assert!(
                doc_lines.contains(&line),
                "docs/tail.md lacks the line\n{line}"
            );
        }
    }
}

#[test]
fn notices_leave_the_footer_after_a_few_seconds() {
    let mut app = app();
    app.say("target x: reconnecting");
    let now = Instant::now();
    for _ in 0..5 {
        app.tick(now);
    }
    assert!(app.status.is_some());
    app.tick(now);
    assert_eq!(app.status, None);
}

#[test]
fn the_log_shows_only_the_calls_asked_for_and_the_keys_count_them_all() {
    use super::state::EventKind;
    use recourse_engine::export::wire::CallFilter;
    let calls_in_log = |app: &App| -> Vec<wire::CallEvent> {
        app.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Call(c) => Some((**c).clone()),
                _ => None,
            })
            .collect()
    };
    let all = app();
    let ingest = |calls: CallFilter| {
        let mut app = App::new("*", KeyFilter::default());
        app.calls = calls;
        let now = Instant::now();
        for f in feeds(RECORDING) {
            app.ingest(&f, now);
        }
        app
    };
    let failed = ingest(CallFilter::Failed);
    let interesting = ingest(CallFilter::Interesting);
    let every = calls_in_log(&all);
    let want_failed: Vec<_> = every.iter().filter(|c| !c.ok()).cloned().collect();
    let want_interesting: Vec<_> = every
        .iter()
        .filter(|c| !c.summary().is_routine())
        .cloned()
        .collect();
    assert!(!want_failed.is_empty() && want_interesting.len() > want_failed.len());
    assert!(want_interesting.len() < every.len());
    assert_eq!(calls_in_log(&failed), want_failed);
    assert_eq!(calls_in_log(&interesting), want_interesting);
    // The keys table is the same: every call counts.
    assert_eq!(format!("{:?}", failed.rows()), format!("{:?}", all.rows()));
}

/// `v` narrows the log to interesting calls, then failed ones, then back; the header says
/// which, and the keys table still counts every call. A log that keeps only some calls (the
/// services were asked for fewer) cycles among what it keeps.
#[test]
fn v_cycles_the_calls_the_log_shows() {
    use super::state::EventKind;
    use recourse_engine::export::wire::CallFilter;
    let shown = |app: &App| -> Vec<bool> {
        app.visible()
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Call(c) => Some(c.ok()),
                _ => None,
            })
            .collect()
    };
    let mut app = app();
    let rows = format!("{:?}", app.rows());
    let every = shown(&app);
    assert!(every.contains(&true) && every.contains(&false));
    assert!(!screen(&app, 120, 30).contains("calls: "));

    press(&mut app, KeyCode::Char('v'));
    assert_eq!(app.shown, CallFilter::Interesting);
    let interesting = shown(&app);
    assert!(interesting.len() < every.len() && interesting.contains(&false));
    assert!(screen(&app, 120, 30).contains("calls: interesting"));

    press(&mut app, KeyCode::Char('v'));
    assert_eq!(app.shown, CallFilter::Failed);
    let failed = shown(&app);
    assert_eq!(failed, vec![false; every.iter().filter(|ok| !**ok).count()]);
    assert!(screen(&app, 120, 30).contains("calls: failed"));
    assert_eq!(
        format!("{:?}", app.rows()),
        rows,
        "the keys count every call"
    );

    press(&mut app, KeyCode::Char('v'));
    assert_eq!(app.shown, CallFilter::All);
    assert_eq!(shown(&app), every);

    let mut kept = App::new("*", KeyFilter::default());
    kept.keep_calls(CallFilter::Interesting);
    press(&mut kept, KeyCode::Char('v'));
    assert_eq!(kept.shown, CallFilter::Failed);
    press(&mut kept, KeyCode::Char('v'));
    assert_eq!(
        kept.shown,
        CallFilter::Interesting,
        "never all: those were not sent"
    );
}

/// `Ctrl-s` writes the event log, as the services sent it and with each line's target, to a
/// new file that `--replay` reads back into the same log; a second save gets its own file.
#[test]
fn ctrl_s_saves_the_log_for_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app();
    app.save_dir = dir.path().to_owned();
    let save = |app: &mut App| app.key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    save(&mut app);
    let status = app.status.clone().unwrap_or_default();
    assert!(
        status.starts_with(&format!("saved {} events to ", app.events.len())),
        "{status}"
    );

    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("recourse-tail-") && name.ends_with(".ndjson") && !name.contains(':'));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text.lines().count(), app.events.len());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["target"], app.targets[0].name.as_str(), "{line}");
    }

    // Played back, the saved lines make the same log.
    let replayed = app_with(&text);
    let log =
        |app: &App| -> Vec<String> { app.events.iter().map(|e| format!("{:?}", e.kind)).collect() };
    assert_eq!(log(&replayed), log(&app));

    save(&mut app);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// An empty log writes no file.
#[test]
fn an_empty_log_is_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new("*", KeyFilter::default());
    app.save_dir = dir.path().to_owned();
    app.key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(
        app.status.as_deref(),
        Some("nothing to save yet: the log is empty")
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A save that cannot be written says why and leaves nothing behind.
#[test]
fn a_failed_save_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app();
    app.save_dir = dir.path().join("no-such-dir");
    app.key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    let status = app.status.clone().unwrap_or_default();
    assert!(status.starts_with("not saved: "), "{status}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `c` copies the selected event's line, with its target; on the keys table it says how to
/// select one instead.
#[test]
fn c_copies_the_selected_call_with_its_target() {
    let mut app = app();
    press(&mut app, KeyCode::Char('c'));
    assert_eq!(app.clipboard, None);
    assert!(
        app.status
            .as_deref()
            .unwrap_or_default()
            .starts_with("nothing to copy")
    );

    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char('E'));
    press(&mut app, KeyCode::Char('c'));
    let copied = app.clipboard.take().expect("copied");
    let v: serde_json::Value = serde_json::from_str(&copied).unwrap();
    assert_eq!(v["t"], "call");
    assert_ne!(
        v["outcome"], "success",
        "E selected a failed call: {copied}"
    );
    assert_eq!(v["target"], app.targets[0].name.as_str());
    assert_eq!(
        super::osc52(&copied),
        format!("\x1b]52;c;{}\x07", {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&copied)
        })
    );
}

#[test]
fn osc52_encodes_the_text_in_base64() {
    assert_eq!(super::osc52("hi"), "\x1b]52;c;aGk=\x07");
}

/// A discovered service that stopped leaves the targets line and the header's count; its
/// calls stay in the log under its name.
#[test]
fn a_stopped_target_is_no_longer_listed() {
    let mut app = app();
    let now = Instant::now();
    let first = app.targets[0].name.clone();
    let mut restarted = feeds(RECORDING).remove(0);
    if let Feed::Connected { target, name, .. } = &mut restarted {
        *target = 1;
        *name = "recourse-demo-2".into();
    }
    app.ingest(&restarted, now);
    let both = screen(&app, 120, 30);
    assert!(
        both.contains("targets 2/2") && both.contains(&first),
        "{both}"
    );
    app.ingest(&Feed::Gone { target: 0 }, now);
    let after = screen(&app, 120, 30);
    assert!(after.contains("targets 1/1"), "{after}");
    assert!(after.contains("● recourse-demo-2"), "{after}");
    assert!(!after.contains(&format!("● {first}")), "{after}");
    assert!(!after.contains(&format!("○ {first}")), "{after}");
    // The log keeps the stopped service's calls.
    assert!(app.visible().len() > 300);
}

/// Types `:text` and Enter.
fn command(app: &mut App, text: &str) {
    press(app, KeyCode::Char(':'));
    type_text(app, text);
    press(app, KeyCode::Enter);
}

#[test]
fn colon_key_narrows_the_view_and_asks_the_services() {
    let mut app = app();
    command(&mut app, "key inventory.*");
    assert_eq!(
        app.request,
        Some(Request::Keys(vec!["inventory.*".to_owned()]))
    );
    assert_eq!(app.title, "inventory.*");
    let keys: Vec<String> = app.rows().into_iter().map(|r| r.key).collect();
    assert_eq!(keys, ["inventory.Get"]);
    let visible = app.visible();
    assert!(!visible.is_empty());
    assert!(visible.iter().all(|e| e.key() == "inventory.Get"));
    // Every key again: the log shows what it held all along.
    app.request = None;
    command(&mut app, "key *");
    assert_eq!(app.request, Some(Request::Keys(vec![])));
    assert_eq!(app.title, "*");
    assert!(app.visible().len() > 300);
    assert!(screen(&app, 80, 24).contains("keys: *"));
}

#[test]
fn colon_commands_set_the_window_save_quit_and_report_mistakes() {
    let mut app = app();
    command(&mut app, "window 15m");
    assert_eq!(app.window, 3);
    assert_eq!(app.status.as_deref(), Some("rates over the last 15m"));

    let dir = tempfile::tempdir().unwrap();
    app.save_dir = dir.path().to_owned();
    command(&mut app, "save incident.ndjson");
    let saved = std::fs::read_to_string(dir.path().join("incident.ndjson")).unwrap();
    assert_eq!(saved.lines().count(), app.events.len());
    // A file is never overwritten.
    command(&mut app, "save incident.ndjson");
    let status = app.status.clone().unwrap_or_default();
    assert!(
        status.starts_with("not saved: ") && status.ends_with("exists"),
        "{status}"
    );

    command(&mut app, "target http://nope");
    assert!(app.request.is_none());
    let status = app.status.clone().unwrap_or_default();
    assert!(status.contains("expected a socket path"), "{status}");
    command(&mut app, "target tcp://127.0.0.1:7079");
    assert_eq!(
        app.request,
        Some(Request::Target(crate::tail::Spec::Tcp(
            "127.0.0.1:7079".into()
        )))
    );

    command(&mut app, "nonsense");
    assert!(
        app.status
            .as_deref()
            .unwrap_or_default()
            .starts_with("no command :nonsense")
    );
    assert_eq!(app.quit, None);
    command(&mut app, "q");
    assert_eq!(app.quit, Some(Status::Ok));
}

#[test]
fn the_colon_line_shows_what_is_typed_and_esc_leaves_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "window 5");
    let typed = screen(&app, 120, 30);
    assert!(typed.contains(" :window 5"), "{typed}");
    assert!(typed.contains("key GLOB…"), "{typed}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.command, None);
    assert_eq!(app.window, 0, "nothing ran");
    // Keys typed on the line are not actions: `q` did not quit.
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "q");
    assert_eq!(app.quit, None);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.command, None, "backspace on an empty line closes it");
}
