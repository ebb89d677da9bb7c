//! The fuzz targets' bodies (`fuzz/fuzz_targets/`), in one place for `cargo fuzz` and for the
//! test suite's short runs over mutants of the test data (`tests/cli/fuzz_smoke.rs`): what
//! recourse does with bytes it reads, end to end, down to the text a terminal would receive,
//! with the properties that must hold whatever the bytes. Not an API.

use std::path::Path;
use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use recourse_engine::Key;
use recourse_engine::export::KeyFilter;
use recourse_engine::export::wire::{self, Message};
use recourse_engine::policy::PolicySet;
use recourse_lints::{Config, scan_source};

use crate::tail::{Feed, call_line, circuit_line, clean_line, with_target};
use crate::tui::app::App;
use crate::validate::{Known, validate_bytes};

/// Panics when `shown` holds a control character other than a line break: something that
/// would reach an operator's terminal and act on it.
fn assert_printable(what: &str, shown: &str) {
    if let Some(c) = shown.chars().find(|&c| c.is_control() && c != '\n') {
        panic!("{what} would print {c:?}:\n{shown}");
    }
}

/// The engine's policy loader: any text loads or fails cleanly; a set that loads resolves any
/// key.
pub fn policy_loader(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(set) = PolicySet::from_str(&text, "fuzz.yaml") {
        let _ = recourse_engine::tooling::resolve(&set, &Key::parse("a.B"));
    }
}

/// The wire decoder: any line decodes or fails cleanly; decoded histograms answer quantiles.
pub fn event_line(bytes: &[u8]) {
    if let Ok(Message::Stats(s)) = wire::decode_line(bytes) {
        for k in s.keys.values() {
            let _ = k.latency.quantile_us(0.99);
            let _ = k.latency.since(&k.latency);
        }
    }
}

/// The lint scanner: any bytes scan without a panic, and every finding points inside the text.
pub fn lint_scanner(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let scan = scan_source("fuzz.rs", &text, &Config::default());
    let lines = text.lines().count().max(1);
    for f in &scan.findings {
        assert!(f.line >= 1 && f.line <= lines + 1, "line {}", f.line);
    }
}

/// `recourse policy validate` on one file's bytes (`p.yaml`, or `p.json` when the first byte
/// is odd), its diagnostics rendered as they would be printed: no panic, no control character.
pub fn validate_and_render(bytes: &[u8]) {
    let json = bytes.first().is_some_and(|b| b % 2 == 1);
    let path = Path::new(if json { "p.json" } else { "p.yaml" });
    let shown = match crate::input::check("p.yaml", bytes, u64::MAX) {
        Ok(()) => {
            let report = validate_bytes(path, bytes.to_vec(), &Known::default());
            crate::diag::policy::render(&report, false)
        }
        Err(e) => e.to_string(),
    };
    assert_printable("policy validate", &shown);
}

/// `recourse lint` on one file's bytes, its findings rendered as they would be printed: no
/// panic, no control character.
pub fn lint_and_render(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let scan = scan_source("fuzz.rs", &text, &Config::default());
    let shown = crate::diag::lint::render(&scan.findings, &text, false);
    assert_printable("lint", &shown);
}

/// What `recourse tail` does with bytes a service sends: lines of at most 1 MiB, cleaned,
/// decoded, printed as text and as JSON, fed to the TUI and drawn at 80x24. Nothing of it
/// may hold a control character; the JSON lines stay JSON.
pub fn tail_reader(bytes: &[u8]) {
    let mut app = App::new("*", KeyFilter::default());
    let mut shown = String::new();
    let now = Instant::now();
    for raw in bytes.split_inclusive(|&b| b == b'\n') {
        if raw.len() > wire::MAX_LINE {
            continue;
        }
        let mut line = raw.to_vec();
        clean_line(&mut line);
        let Ok(msg) = wire::decode_line(&line) else {
            continue;
        };
        match &msg {
            Message::Call(c) => shown.push_str(&call_line("svc", c, false)),
            Message::Circuit(c) => shown.push_str(&circuit_line("svc", c, false)),
            _ => {}
        }
        shown.push('\n');
        let json = with_target(&line, "svc");
        let reread: Result<serde_json::Value, _> = serde_json::from_slice(&json);
        assert!(
            reread.is_ok(),
            "--output json printed a line that is not JSON"
        );
        shown.push_str(&String::from_utf8_lossy(&json));
        let feed = Feed::Line {
            target: 0,
            raw: line,
            msg: Box::new(msg),
        };
        app.ingest(&feed, now);
    }
    let Ok(mut terminal) = Terminal::new(TestBackend::new(80, 24));
    let _ = terminal.draw(|f| crate::tui::view::render(f, &app));
    shown.push_str(&format!("{}", terminal.backend()));
    assert_printable("tail", &shown);
}

/// `recourse policy diff --traffic` on a recording's bytes: it reads or is refused cleanly,
/// replays through the demo's policies (every call ends: the replay has a limit), and its
/// reports print no control character.
pub fn traffic_replay(bytes: &[u8]) {
    let Ok(rec) = crate::replay::Recording::read(bytes, "fuzz.ndjson") else {
        return;
    };
    // Keep a run short whatever the bytes: a few dozen calls are plenty to find a panic.
    let mut rec = rec;
    rec.calls.truncate(40);
    static DEMO: std::sync::OnceLock<PolicySet> = std::sync::OnceLock::new();
    let set = DEMO
        .get_or_init(|| {
            PolicySet::from_str(crate::commands::demo::service::POLICIES, "demo.yaml")
                .expect("the demo's policies load")
        })
        .clone();
    let diff = crate::replay::TrafficDiff::run(&rec, "fuzz.ndjson", set.clone(), set, 1);
    assert_printable("the replay", &diff.human(&[]));
    assert_printable("the replay's markdown", &diff.markdown());
    let json = diff.json(|_| "low").to_string();
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
}
