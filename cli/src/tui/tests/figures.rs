//! What the feeds add up to: rates, ratios, per-target figures, bounds.

use super::*;

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
/// out, listed first, even when the key's totals look merely degraded.
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
    // Worst first: the instance with the lowest success leads, whatever its name.
    assert_eq!(
        shown,
        [
            r#"checkout-2 Some(100.0) Some(10.0) Some("open")"#,
            r#"checkout-1 Some(100.0) Some(100.0) Some("closed")"#,
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
    assert_eq!(app.status(), Some("rates over the last 1m once unfrozen"));
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
fn the_log_stays_bounded_whatever_the_duration() {
    let calls: Vec<&str> = RECORDING
        .lines()
        .filter(|l| l.contains(r#""t":"call""#))
        .collect();
    let mut app = App::new("*", KeyFilter::default());
    let now = Instant::now();
    let feeds = feeds(&calls.join("\n"));
    let rounds = crate::tui::model::RING * 3 / calls.len() + 1;
    for _ in 0..rounds {
        for f in &feeds {
            app.ingest(f, now);
        }
    }
    assert_eq!(app.events.len(), crate::tui::model::RING);
    assert_eq!(app.keys.len(), 4);
}

#[test]
fn the_log_is_bounded_by_bytes_too() {
    use crate::tui::model::{RING, RING_BYTES};
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
    use crate::tui::app::MAX_KEYS;
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
        app.status().is_some_and(|s| s.contains("2000 keys")),
        "{:?}",
        app.status()
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

#[test]
fn the_log_shows_only_the_calls_asked_for_and_the_keys_count_them_all() {
    use crate::tui::model::EventKind;
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
    app.ingest(
        &Feed::Gone {
            target: 0,
            why: "stopped".into(),
        },
        now,
    );
    let after = screen(&app, 120, 30);
    assert!(after.contains("targets 1/1"), "{after}");
    assert!(after.contains("● recourse-demo-2"), "{after}");
    assert!(!after.contains(&format!("● {first}")), "{after}");
    assert!(!after.contains(&format!("○ {first}")), "{after}");
    // The log keeps the stopped service's calls.
    assert!(app.visible().len() > 300);
}

/// A denied retry names its budget: the key detail shows the budget and how full it is, the
/// waterfall marks the refused attempt with the budget's name and shows its fill now.
#[test]
fn the_budget_that_denied_is_named_with_its_fill() {
    let text = [
        r#"{"t":"hello","v":1,"seq":0,"service":"checkout","ts":"2026-01-01T00:00:00.000000Z"}"#,
        r#"{"t":"stats","seq":1,"ts":"2026-01-01T00:00:01.000000Z","keys":{"a.B":{"calls":1,"failures":1,"attempts":2,"retries":1,"budget_denied":1,"budget":"b-retries"}},"budgets":{"b-retries":{"level":1,"capacity":10}}}"#,
        r#"{"t":"call","seq":2,"ts":"2026-01-01T00:00:01.500000Z","key":"a.B","outcome":"failure","reason":"budget_denied","duration_us":3000,"attempts":[{"attempt":0,"start_us":0,"end_us":1000,"outcome":"retryable","reason":"http_5xx","budget_reason":"not_gated"},{"attempt":1,"start_us":2000,"end_us":2000,"backoff_us":1000,"outcome":"abort","reason":"budget_denied","budget_allowed":false,"budget_reason":"budget_denied","attributes":{"budget":"b-retries"}}]}"#,
    ]
    .join("\n");
    let mut app = app_with(&text);
    app.view = View::Key("a.B".into());
    let detail = screen(&app, 80, 24);
    let line = detail
        .lines()
        .find(|l| l.contains("budget b-retries"))
        .unwrap_or_else(|| panic!("no budget line:\n{detail}"));
    assert!(line.contains("▕█░░░░░░░░░▏ 1/10"), "{line}");
    press(&mut app, KeyCode::Char('E'));
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.view, View::Call { .. }));
    let waterfall = screen(&app, 80, 24);
    let denied = waterfall
        .lines()
        .find(|l| l.contains(" retry ") && l.contains("denied"))
        .unwrap_or_else(|| panic!("no denied attempt:\n{waterfall}"));
    assert!(denied.contains("⊘ b-retries"), "{waterfall}");
    let fill = waterfall
        .lines()
        .find(|l| l.contains("budget b-retries"))
        .unwrap_or_else(|| panic!("no fill:\n{waterfall}"));
    assert!(fill.contains("▕█░░░░░░░░░▏ 1/10 now"), "{fill}");
}

#[test]
fn a_rate_breaker_shows_its_window_rates_summed_over_targets() {
    let stats = |service: &str, calls: u64, failures: u64, slow: u64| {
        [
            format!(
                r#"{{"t":"hello","v":1,"seq":0,"service":"{service}","ts":"2026-01-01T00:00:00.000000Z"}}"#
            ),
            format!(
                r#"{{"t":"stats","seq":1,"ts":"2026-01-01T00:00:01.000000Z","keys":{{"a.B":{{"calls":{calls},"circuit":"closed","window":{{"calls":{calls},"failures":{failures},"slow":{slow}}}}}}}}}"#
            ),
        ]
        .join("\n")
    };
    let mut app = app_with(&stats("checkout", 60, 30, 6));
    app.view = View::Key("a.B".into());
    let detail = screen(&app, 80, 24);
    let line = detail
        .lines()
        .find(|l| l.contains("breaker window"))
        .unwrap_or_else(|| panic!("no window line:\n{detail}"));
    assert!(
        line.contains("60 calls")
            && line.contains("failure rate 50%")
            && line.contains("slow rate 10%"),
        "{line}"
    );
    // A key whose breaker judges no rates has no such line.
    let plain = app_with(
        &stats("checkout", 60, 30, 6)
            .replace(r#","window":{"calls":60,"failures":30,"slow":6}"#, ""),
    );
    let mut plain = plain;
    plain.view = View::Key("a.B".into());
    assert!(!screen(&plain, 80, 24).contains("breaker window"));
}

/// A saved log has calls and breaker changes but no `stats`: rates come from the calls' own
/// times, for keys with breaker changes too.
#[test]
fn a_log_without_stats_shows_true_rates() {
    let ts = |ms: u64| {
        let (s, ms) = (ms / 1000, ms % 1000);
        format!("2026-01-01T00:{:02}:{:02}.{ms:03}000Z", s / 60, s % 60)
    };
    let call = |ms: u64, key: &str| {
        format!(
            r#"{{"t":"call","seq":1,"ts":"{}","key":"{key}","outcome":"success","reason":"success","duration_us":1000,"attempts":[{{"attempt":0,"end_us":1000,"outcome":"success","reason":"success"}}]}}"#,
            ts(ms)
        )
    };
    let mut lines = Vec::new();
    // 20 s of a.B at 40 calls/s and c.D at 10 calls/s, whose breaker opens and closes.
    for ms in (0..20_000).step_by(25) {
        lines.push(call(ms, "a.B"));
        if ms % 100 == 0 {
            lines.push(call(ms, "c.D"));
        }
        if ms == 5_000 || ms == 9_000 {
            let (from, to) = if ms == 5_000 {
                ("closed", "open")
            } else {
                ("open", "closed")
            };
            lines.push(format!(
                r#"{{"t":"circuit","seq":1,"ts":"{}","key":"c.D","from":"{from}","to":"{to}","reason":"x"}}"#,
                ts(ms)
            ));
        }
    }
    let app = app_with(&lines.join("\n"));
    let rows = app.rows();
    let rate = |key: &str| {
        let r = rows.iter().find(|r| r.key == key).unwrap();
        (r.calls_s.unwrap_or(0.0), r.calls)
    };
    let (ab, _) = rate("a.B");
    assert!((ab - 40.0).abs() <= 4.0, "a.B at {ab}/s, not 40");
    let (cd, calls) = rate("c.D");
    assert!((cd - 10.0).abs() <= 1.0, "c.D at {cd}/s, not 10");
    assert_eq!(
        calls, 200,
        "every call of the key with breaker changes is counted"
    );
}

/// Two services make a key; one exits. Its figures leave the totals at once: the rates are
/// the live one's alone, not the sum of a live and a dead instance.
#[test]
fn a_departed_service_leaves_the_totals() {
    let stats = |ts: &str, calls: u64| {
        format!(
            r#"{{"t":"stats","seq":1,"ts":"{ts}","keys":{{"a.B":{{"calls":{calls},"successes":{calls},"attempts":{calls}}}}}}}"#
        )
    };
    let mut app = App::new("*", KeyFilter::default());
    let now = Instant::now();
    for (target, name, per_s) in [(0, "svc-1", 20), (1, "svc-2", 30)] {
        let hello = format!(
            r#"{{"t":"hello","v":1,"seq":0,"service":"{name}","ts":"2026-01-01T00:00:00.000000Z"}}"#
        );
        for line in [
            hello,
            stats("2026-01-01T00:00:01.000000Z", per_s),
            stats("2026-01-01T00:00:03.000000Z", per_s * 3),
        ] {
            let feed = match wire::decode_line(line.as_bytes()).unwrap() {
                Message::Hello(h) => Feed::Connected {
                    target,
                    name: name.into(),
                    hello: Box::new(h),
                    raw: line.into_bytes(),
                },
                msg => Feed::Line {
                    target,
                    raw: line.into_bytes(),
                    msg: Box::new(msg),
                },
            };
            app.ingest(&feed, now);
        }
    }
    assert_eq!(app.rows()[0].calls_s, Some(50.0));
    let lost = Feed::Lost {
        target: 1,
        why: "connection reset".into(),
    };
    app.ingest(&lost, now);
    assert_eq!(app.rows()[0].calls_s, Some(20.0), "svc-1's rate alone");
}

/// A service that restarts under the same address is one target, marked with its restarts;
/// its counters start over from zero, and its rate is measured from the new start, not read as
/// a drop to nothing.
#[test]
fn a_restart_is_marked_and_its_counters_start_over() {
    let hello = |started: &str| {
        format!(
            r#"{{"t":"hello","v":1,"seq":0,"service":"svc","started_at":"{started}","ts":"{started}"}}"#
        )
    };
    let stats = |ts: &str, calls: u64| {
        format!(
            r#"{{"t":"stats","seq":1,"ts":"{ts}","keys":{{"a.B":{{"calls":{calls},"successes":{calls},"attempts":{calls}}}}}}}"#
        )
    };
    let mut app = App::new("*", KeyFilter::default());
    let now = Instant::now();
    let lines = [
        hello("2026-01-01T00:00:00.000000Z"),
        stats("2026-01-01T00:00:01.000000Z", 100),
        stats("2026-01-01T00:00:03.000000Z", 300),
        hello("2026-01-01T00:00:04.000000Z"),
        stats("2026-01-01T00:00:05.000000Z", 10),
        stats("2026-01-01T00:00:07.000000Z", 90),
    ];
    for line in lines {
        let feed = match wire::decode_line(line.as_bytes()).unwrap() {
            Message::Hello(h) => Feed::Connected {
                target: 0,
                name: "svc".into(),
                hello: Box::new(h),
                raw: line.into_bytes(),
            },
            msg => Feed::Line {
                target: 0,
                raw: line.into_bytes(),
                msg: Box::new(msg),
            },
        };
        app.ingest(&feed, now);
    }
    assert_eq!(app.targets.len(), 1);
    assert_eq!(app.targets[0].restarts, 1);
    assert_eq!(
        app.rows()[0].calls_s,
        Some(40.0),
        "80 calls over 2 s since the restart"
    );
    let screen = screen(&app, 100, 24);
    assert!(screen.contains("● svc ↻1"), "{screen}");
}

/// A key with a shadow policy: its detail sets the live figures beside the shadow's, over the
/// rate window.
#[test]
fn a_shadowed_key_shows_live_against_shadow() {
    let stats = |ts: &str, calls: u64, retries: u64, shadow: &str| {
        format!(
            r#"{{"target":"svc-1","t":"stats","seq":1,"ts":"{ts}","keys":{{"a.B":{{"calls":{calls},"successes":{calls},"attempts":{},"retries":{retries},"circuit":"closed","shadow":{shadow},"latency":{{"sub_buckets":16,"counts":[[100,{calls}]]}}}}}}}}"#,
            calls + retries
        )
    };
    let text = [
        stats(
            "2026-01-01T00:00:00.000000Z",
            100,
            0,
            r#"{"calls":100,"successes":100,"attempts":100}"#,
        ),
        stats(
            "2026-01-01T00:00:02.000000Z",
            300,
            20,
            r#"{"policy":"v4","calls":300,"differs":40,"successes":260,"failures":30,"unknown":10,"attempts":360,"retries":60,"budget_denied":12,"circuit_rejected":5,"circuit_opens":1,"circuit":"open"}"#,
        ),
    ]
    .join("\n");
    let mut app = app_with(&text);
    let sh = app.rows().remove(0).shadow.expect("a shadow");
    assert_eq!(sh.would.calls, 200, "over the window");
    assert_eq!(sh.retry_s, Some(30.0));
    assert_eq!(sh.att_per_call(), Some(1.3));
    // 160 successes of the 190 calls it could judge.
    assert!((sh.ok_pct().unwrap() - 84.2).abs() < 0.1, "{sh:?}");
    app.view = View::Key("a.B".into());
    let detail = screen(&app, 80, 24);
    let line = |start: &str| {
        detail
            .lines()
            .find(|l| l.trim_start_matches(['"', '│']).starts_with(start))
            .unwrap_or_else(|| panic!("no {start:?} line:\n{detail}"))
            .to_owned()
    };
    let cells = |l: &str| {
        l.trim_matches(['"', '│'])
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // ok, attempts per call, retries/s, denials/s, rejections/s (over the 2 s window), circuit.
    let live = cells(&line("live  "));
    assert_eq!(
        live[1..7],
        ["100.0%", "1.10", "10.0", "0.0", "0.0", "closed"],
        "{live:?}"
    );
    let shadow = cells(&line("shadow  "));
    assert_eq!(
        shadow[1..7],
        ["84.2%", "1.30", "30.0", "6.0", "2.5", "open"],
        "{shadow:?}"
    );
    let note = line("shadow v4:");
    assert!(
        note.contains("differs on 20.0% · 5.0% unknown (not in ok) · opened 1x"),
        "{note}"
    );
    assert!(
        detail.contains("trend"),
        "the summary keeps its last line:\n{detail}"
    );
    // A key without a shadow has no such lines.
    let plain = text.replace(r#","shadow":"#, r#","x":"#);
    assert!(app_with(&plain).rows().remove(0).shadow.is_none());
}
