//! Moving around: filters, freezing, selection, sorting, drilling down, notices.

use super::*;
use crate::tail::NOTHING_MATCHES;

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
    press(&mut app, KeyCode::Char('f'));
    let now = Instant::now();
    for f in feeds(&rest.join("\n")) {
        app.ingest(&f, now);
    }
    assert_eq!(app.visible().len(), before, "the log is frozen");
    assert_eq!(app.rows(), rows, "the table is frozen");
    assert!(app.frozen_behind() > 100);
    press(&mut app, KeyCode::Char('f'));
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
    let effects = press(&mut app, KeyCode::Char('q'));
    assert!(!app.help && effects.is_empty(), "q closes help first");
    assert_eq!(
        press(&mut app, KeyCode::Char('q')),
        [Effect::Quit(Status::Ok)]
    );
    let mut app2 = App::new("", KeyFilter::default());
    assert_eq!(ctrl(&mut app2, 'c'), [Effect::Quit(Status::Interrupted)]);
}

/// `v` narrows the log to interesting calls, then failed ones, then back; the header says
/// which, and the keys table still counts every call. A log that keeps only some calls (the
/// services were asked for fewer) cycles among what it keeps.
#[test]
fn v_cycles_the_calls_the_log_shows() {
    use crate::tui::model::EventKind;
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

#[test]
fn notices_leave_the_footer_after_a_few_seconds() {
    let mut app = app();
    app.say("target x: reconnecting");
    let now = Instant::now();
    for _ in 0..5 {
        app.tick(now);
    }
    assert!(app.status().is_some());
    app.tick(now);
    assert_eq!(app.status(), None);
}

/// Several notices in one batch of feeds are each shown in turn, not only the last one; two
/// services that say the same thing (lost at once) share one notice that names both.
#[test]
fn every_notice_of_a_batch_reaches_the_footer() {
    let mut app = app();
    let mut session = crate::tail::Session::new(vec!["a".into(), "b".into()], None, false);
    for (target, why) in [
        (0, "connection refused"),
        (1, "connection refused"),
        (0, "reset"),
    ] {
        let feed = Feed::Lost {
            target,
            why: why.into(),
        };
        session.absorb(&feed).unwrap();
        app.ingest(&feed, Instant::now());
    }
    crate::tui::take_notices(&mut session, &mut app);
    assert!(screen(&app, 120, 30).contains("(+1)"), "one more waits");
    assert_eq!(
        shown(&mut app),
        [
            "a, b: connection refused; reconnecting",
            "a: reset; reconnecting"
        ]
    );
}

/// Every notice the footer shows, in turn, until none is left.
fn shown(app: &mut App) -> Vec<String> {
    let mut shown: Vec<String> = Vec::new();
    while let Some(s) = app.status() {
        if shown.last().map(String::as_str) != Some(s) {
            shown.push(s.to_owned());
        }
        update(app, Msg::Tick(Instant::now()));
    }
    shown
}

/// A service subscribed before it called any key says it waits for one; its first matching
/// call takes that back, so the footer never says it waits while the table shows its keys.
#[test]
fn a_waiting_notice_goes_with_the_first_matching_call() {
    let waiting = RECORDING.replacen(
        r#""matched":["inventory.Get","payments.Auth","payments.Charge","payments.Refund"]"#,
        r#""matched":[]"#,
        1,
    );
    let feeds = feeds(&waiting);
    let (head, calls) = feeds.split_at(2);
    assert!(matches!(&calls[0], Feed::Line { msg, .. } if matches!(**msg, Message::Call(_))));
    let run = |feeds: &[Feed]| {
        let mut app = App::new("payments.*,inventory.*", KeyFilter::default());
        let mut session = crate::tail::Session::new(Vec::new(), None, false);
        for f in feeds {
            crate::tui::feed_in(&mut session, &mut app, f, Instant::now());
        }
        shown(&mut app)
    };
    let says_it_waits = |s: &[String]| s.iter().any(|s| s.ends_with(NOTHING_MATCHES));
    assert!(says_it_waits(&run(head)), "{:?}", run(head));
    let with_a_call = run(&feeds[..3]);
    assert!(!says_it_waits(&with_a_call), "{with_a_call:?}");
    assert!(with_a_call.iter().any(|s| s.ends_with(": connected")));
}
