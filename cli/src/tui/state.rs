//! The TUI's state and its updates: pure functions of feeds and key presses, tested without a
//! terminal.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use recourse_engine::export::KeyFilter;
use recourse_engine::export::wire::{CallEvent, CircuitEvent, Histogram, KeyStats, Message};
use rustc_hash::FxHashMap;

use super::keymap::{self, Action, Scope};
use crate::exit::Status;
use crate::tail::{Feed, MAX_TARGETS, Recording, Spec, parse_ts_micros, with_target};
use recourse_engine::clock::Timestamp;
use recourse_engine::export::wire::CallFilter;

/// Calls (and breaker changes) kept for the event log...
pub(crate) const RING: usize = 10_000;
/// ...and the most bytes they may take (each counted as its line and what it decodes to).
pub(crate) const RING_BYTES: usize = 32 << 20;
/// Keys the table tracks; the calls and stats of further keys are counted, not kept.
pub(crate) const MAX_KEYS: usize = 2_000;
/// `stats` series (a key on a target) kept.
pub(crate) const MAX_SERIES: usize = 2_000;
/// Latency buckets one series keeps over its snapshots (each snapshot holds at most 656); past
/// it the oldest long-window snapshots go, so a window can only get shorter.
pub(crate) const SERIES_BUCKETS: usize = 4_096;
/// Failure reasons counted per key; further ones count as `other`.
pub(crate) const MAX_REASONS: usize = 64;
/// `stats` snapshots kept per key and target: rates are over the last 10 intervals.
const WINDOW: usize = 11;
/// The windows `z`/`Z` choose between, in seconds; the first is the default.
pub(crate) const WINDOWS: [(i64, &str); 4] = [(10, "10s"), (60, "1m"), (300, "5m"), (900, "15m")];
/// One `stats` snapshot is kept per this many microseconds for the longer windows.
const COARSE_US: i64 = 10_000_000;
/// Coarse snapshots kept: the longest window, plus one.
const COARSE: usize = 91;
/// Points of a key's sparkline.
const SPARK: usize = 60;
/// A target that sent nothing for this long is stale.
const STALE: Duration = Duration::from_secs(3);

/// A service being tailed.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) connected: bool,
    pub(crate) stale: bool,
    /// A discovered service that stopped: no longer followed nor listed (its events keep its
    /// name).
    pub(crate) gone: bool,
    pub(crate) last_seen: Option<Instant>,
    /// The engine version the service runs, from its hello.
    pub(crate) engine: Option<String>,
}

#[derive(Debug, Default)]
struct Series {
    snaps: VecDeque<(i64, KeyStats)>,
    /// One snapshot per `COARSE_US`, for the windows past the recent one.
    coarse: VecDeque<(i64, KeyStats)>,
    spark: VecDeque<u64>,
    /// When this target's breaker opened from closed, over the last minute (µs). Reopening
    /// after a failed half-open probe is not counted: that is a dependency still down, not a
    /// breaker flapping.
    openings: VecDeque<i64>,
    /// This target's breaker for the key, as it last said.
    circuit: Option<String>,
}

/// The span over which breaker openings are counted.
const OPENINGS_SPAN_US: i64 = 60_000_000;

impl Series {
    fn opened(&mut self, ts: i64) {
        self.openings.push_back(ts);
        let old = |t: &i64| *t < ts - OPENINGS_SPAN_US;
        while self.openings.len() > 64 || self.openings.front().is_some_and(old) {
            self.openings.pop_front();
        }
    }

    /// Openings in the minute before the newest thing heard from this target.
    fn openings_last_minute(&self) -> u32 {
        let newest = self.snaps.back().map(|(t, _)| *t);
        let Some(newest) = newest.max(self.openings.back().copied()) else {
            return 0;
        };
        let recent = self
            .openings
            .iter()
            .filter(|&&t| t >= newest - OPENINGS_SPAN_US);
        recent.count() as u32
    }
}

impl Series {
    /// Latency buckets held over every snapshot.
    fn buckets(&self) -> usize {
        self.snaps
            .iter()
            .chain(&self.coarse)
            .map(|(_, k)| k.latency.counts.len())
            .sum()
    }

    /// Drops the oldest long-window snapshots until the series holds at most
    /// [`SERIES_BUCKETS`] latency buckets.
    fn trim(&mut self) {
        let mut held = self.buckets();
        while held > SERIES_BUCKETS {
            let Some((_, old)) = self.coarse.pop_front() else {
                break;
            };
            held -= old.latency.counts.len();
        }
    }
}

/// Everything known about one key.
#[derive(Debug, Default)]
pub(crate) struct KeyAgg {
    series: BTreeMap<usize, Series>,
    circuit: Option<String>,
    reasons: FxHashMap<String, u64>,
    /// The calls seen, counted as the services count them (for a recording without `stats`).
    seen: KeyStats,
}

/// One row of the keys table.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    pub(crate) key: String,
    pub(crate) calls_s: Option<f64>,
    pub(crate) calls: u64,
    pub(crate) ok_pct: Option<f64>,
    pub(crate) first_pct: Option<f64>,
    pub(crate) att_per_call: Option<f64>,
    pub(crate) retry_s: Option<f64>,
    pub(crate) deny_s: Option<f64>,
    pub(crate) denied: u64,
    pub(crate) win_pct: Option<f64>,
    /// Hedges launched per 100 calls.
    pub(crate) hedged_pct: Option<f64>,
    /// Times the breaker opened from closed in the last minute, on the target with the most.
    pub(crate) opened_min: u32,
    pub(crate) circuit: Option<String>,
    pub(crate) p50_us: Option<u64>,
    pub(crate) p99_us: Option<u64>,
    pub(crate) top: Option<(String, f64)>,
    pub(crate) spark: Vec<u64>,
}

/// A line of the event log.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) id: u64,
    pub(crate) target: usize,
    pub(crate) kind: EventKind,
    /// The line as the service sent it, for `Ctrl-s` (unknown fields kept).
    pub(crate) raw: Box<[u8]>,
    /// Its key is among those asked for now: a `:key` that leaves it out hides it.
    pub(crate) kept: bool,
}

/// What a log line shows.
#[derive(Debug, Clone)]
pub(crate) enum EventKind {
    Call(Box<CallEvent>),
    Circuit(CircuitEvent),
}

impl Event {
    pub(crate) fn key(&self) -> &str {
        match &self.kind {
            EventKind::Call(c) => &c.key,
            EventKind::Circuit(c) => &c.key,
        }
    }

    pub(crate) fn failed(&self) -> bool {
        matches!(&self.kind, EventKind::Call(c) if !c.ok())
    }

    fn reason(&self) -> &str {
        match &self.kind {
            EventKind::Call(c) => &c.reason,
            EventKind::Circuit(c) => &c.reason,
        }
    }
}

/// Which screen is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum View {
    Overview,
    Key(String),
    Call { id: u64, key: Option<String> },
}

/// Which overview pane has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Focus {
    Keys,
    Events,
}

/// The sortable columns.
pub(crate) const SORTS: &[&str] = &["key", "calls/s", "ok%", "att/call", "p99"];

/// A frozen view: what was on screen, while data keeps arriving.
#[derive(Debug, Clone)]
pub(crate) struct Frozen {
    pub(crate) at_id: u64,
    rows: Vec<Row>,
}

/// Losses reported by the services (`gap` messages), by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Losses {
    pub(crate) source: u64,
    pub(crate) slow: u64,
    pub(crate) rate: u64,
}

/// What tail left out to stay within its memory bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Capped {
    /// Messages about keys past [`MAX_KEYS`].
    pub(crate) keys: u64,
    /// Snapshots of series past [`MAX_SERIES`].
    pub(crate) series: u64,
}

impl Capped {
    pub(crate) fn any(&self) -> bool {
        self.keys + self.series > 0
    }
}

/// What the app asks of the loop that runs it, which owns the followers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Subscribe every target to these key globs.
    Keys(Vec<String>),
    /// Follow one more target.
    Target(Spec),
}

/// The whole TUI state.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) title: String,
    pub(crate) keep: KeyFilter,
    /// The calls the services send and the log keeps (every call is counted).
    pub(crate) calls: CallFilter,
    /// The calls the log shows now, of those it keeps (`v` cycles).
    pub(crate) shown: CallFilter,
    /// Where `Ctrl-s` writes the event log.
    pub(crate) save_dir: PathBuf,
    /// Text `c` copied, for the loop to hand to the terminal's clipboard.
    pub(crate) clipboard: Option<String>,
    /// A `:` command's request, for the loop to carry out.
    pub(crate) request: Option<Request>,
    pub(crate) targets: Vec<Target>,
    pub(crate) keys: BTreeMap<String, KeyAgg>,
    pub(crate) events: VecDeque<Event>,
    /// What the events take, as counted against [`RING_BYTES`].
    event_bytes: usize,
    /// Series of stats snapshots kept, against [`MAX_SERIES`].
    series: usize,
    next_id: u64,
    pub(crate) lost: Losses,
    pub(crate) capped: Capped,
    pub(crate) view: View,
    pub(crate) help: bool,
    pub(crate) prompt: Option<String>,
    /// The `:` command line being typed.
    pub(crate) command: Option<String>,
    pub(crate) filter: String,
    pub(crate) frozen: Option<Frozen>,
    pub(crate) sort: usize,
    /// The window of the keys table's rates and ratios, an index into `WINDOWS` (`z`/`Z`).
    pub(crate) window: usize,
    pub(crate) descending: bool,
    pub(crate) focus: Focus,
    pub(crate) key_sel: usize,
    /// The selected event; `None` follows the newest.
    pub(crate) event_sel: Option<u64>,
    pub(crate) status: Option<String>,
    /// Ticks since the status was set (it goes after a few seconds).
    status_age: u32,
    pub(crate) quit: Option<Status>,
    pub(crate) ended: bool,
}

impl App {
    pub(crate) fn new(title: impl Into<String>, keep: KeyFilter) -> App {
        App {
            title: title.into(),
            keep,
            calls: CallFilter::All,
            shown: CallFilter::All,
            save_dir: PathBuf::from("."),
            clipboard: None,
            request: None,
            targets: Vec::new(),
            keys: BTreeMap::new(),
            events: VecDeque::new(),
            event_bytes: 0,
            series: 0,
            next_id: 1,
            lost: Losses::default(),
            capped: Capped::default(),
            view: View::Overview,
            help: false,
            prompt: None,
            command: None,
            filter: String::new(),
            frozen: None,
            sort: 1,
            window: 0,
            descending: true,
            focus: Focus::Keys,
            key_sel: 0,
            event_sel: None,
            status: None,
            status_age: 0,
            quit: None,
            ended: false,
        }
    }

    fn target(&mut self, t: usize) -> &mut Target {
        while self.targets.len() <= t {
            let n = self.targets.len();
            self.targets.push(Target {
                name: format!("target {n}"),
                connected: false,
                stale: false,
                gone: false,
                last_seen: None,
                engine: None,
            });
        }
        &mut self.targets[t]
    }

    /// Events added since the view froze.
    pub(crate) fn frozen_behind(&self) -> u64 {
        self.frozen
            .as_ref()
            .map_or(0, |f| self.next_id.saturating_sub(f.at_id + 1))
    }

    /// Applies one feed; `now` marks the target alive.
    pub(crate) fn ingest(&mut self, feed: &Feed, now: Instant) {
        if feed.target().is_some_and(|t| t >= MAX_TARGETS) {
            return; // followers and replays stop short of it; this keeps the state bounded
        }
        match feed {
            Feed::Started { target, label } => self.target(*target).name.clone_from(label),
            Feed::Connected {
                target,
                name,
                hello,
                ..
            } => {
                let t = self.target(*target);
                t.name = name.clone();
                t.engine.clone_from(&hello.engine);
                t.connected = true;
                t.stale = false;
                t.last_seen = Some(now);
            }
            Feed::Lost { target, why } => {
                let t = self.target(*target);
                let was = std::mem::replace(&mut t.connected, false);
                if was {
                    let name = t.name.clone();
                    self.say(format!("{name}: {why}; reconnecting"));
                }
            }
            Feed::Gone { target } => {
                let t = self.target(*target);
                t.connected = false;
                t.gone = true;
            }
            Feed::Notice { text, .. } => self.say(text.clone()),
            Feed::Ended => {
                self.ended = true;
                self.say("end of the recording");
            }
            Feed::Line { target, msg, raw } => {
                let t = self.target(*target);
                t.last_seen = Some(now);
                t.stale = false;
                self.message(*target, msg, raw);
            }
        }
    }

    /// The aggregate of `key`, made on first sight while under [`MAX_KEYS`]; `None` (and
    /// counted) past it.
    fn agg(&mut self, key: &str) -> Option<&mut KeyAgg> {
        if !self.keys.contains_key(key) {
            if self.keys.len() >= MAX_KEYS {
                if !self.capped.any() {
                    self.say(format!(
                        "over {MAX_KEYS} keys: further keys are counted, not shown (:key narrows)"
                    ));
                }
                self.capped.keys += 1;
                return None;
            }
            self.keys.insert(key.to_owned(), KeyAgg::default());
        }
        self.keys.get_mut(key)
    }

    /// The series of `key` on `target`, made on first sight while under [`MAX_SERIES`].
    fn series(&mut self, key: &str, target: usize) -> Option<&mut Series> {
        let known = self.keys.get(key)?.series.contains_key(&target);
        if !known {
            if self.series >= MAX_SERIES {
                self.capped.series += 1;
                return None;
            }
            self.series += 1;
        }
        Some(self.agg(key)?.series.entry(target).or_default())
    }

    fn message(&mut self, target: usize, msg: &Message, raw: &[u8]) {
        match msg {
            Message::Call(c) if self.keep.matches(&c.key) => self.call(target, c, raw),
            Message::Circuit(c) if self.keep.matches(&c.key) => {
                if let Some(agg) = self.agg(&c.key) {
                    agg.circuit = Some(c.to.clone());
                }
                if let Some(series) = self.series(&c.key, target) {
                    series.circuit = Some(c.to.clone());
                    if c.from == "closed" && c.to == "open" {
                        let ts = c.common.ts.as_deref().and_then(parse_ts_micros);
                        series.opened(ts.unwrap_or(0));
                    }
                }
                self.push(target, EventKind::Circuit(c.clone()), raw);
            }
            Message::Stats(s) => {
                let ts = s
                    .common
                    .ts
                    .as_deref()
                    .and_then(parse_ts_micros)
                    .unwrap_or(0);
                for (key, stats) in &s.keys {
                    if !self.keep.matches(key) {
                        continue;
                    }
                    let Some(agg) = self.agg(key) else { continue };
                    if stats.circuit.is_some() {
                        agg.circuit.clone_from(&stats.circuit);
                    }
                    let Some(series) = self.series(key, target) else {
                        continue;
                    };
                    let mut stats = stats.clone();
                    stats.latency.tidy();
                    if stats.circuit.is_some() {
                        series.circuit.clone_from(&stats.circuit);
                    }
                    if let Some((_, prev)) = series.snaps.back() {
                        series
                            .spark
                            .push_back(stats.calls.saturating_sub(prev.calls));
                        if series.spark.len() > SPARK {
                            series.spark.pop_front();
                        }
                    }
                    if series
                        .coarse
                        .back()
                        .is_none_or(|(t, _)| ts - t >= COARSE_US)
                    {
                        series.coarse.push_back((ts, stats.clone()));
                        if series.coarse.len() > COARSE {
                            series.coarse.pop_front();
                        }
                    }
                    series.snaps.push_back((ts, stats));
                    if series.snaps.len() > WINDOW {
                        series.snaps.pop_front();
                    }
                    series.trim();
                }
            }
            Message::Gap(g) => match g.cause.as_str() {
                "source_queue_full" => self.lost.source += g.dropped,
                "client_slow" => self.lost.slow += g.dropped,
                _ => self.lost.rate += g.dropped,
            },
            _ => {}
        }
    }

    fn call(&mut self, target: usize, c: &CallEvent, raw: &[u8]) {
        if let Some(agg) = self.agg(&c.key) {
            agg.seen.count(&c.counts());
            if !c.ok() {
                let reason =
                    if agg.reasons.len() < MAX_REASONS || agg.reasons.contains_key(&c.reason) {
                        c.reason.as_str()
                    } else {
                        "other"
                    };
                *agg.reasons.entry(reason.to_owned()).or_default() += 1;
            }
        }
        if self.calls.admits(&c.summary()) {
            self.push(target, EventKind::Call(Box::new(c.clone())), raw);
        }
    }

    fn push(&mut self, target: usize, kind: EventKind, raw: &[u8]) {
        let id = self.next_id;
        self.next_id += 1;
        let event = Event {
            id,
            target,
            kind,
            raw: raw.into(),
            kept: true,
        };
        self.event_bytes += event_size(&event);
        self.events.push_back(event);
        while self.events.len() > RING || self.event_bytes > RING_BYTES {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            self.event_bytes -= event_size(&old);
        }
    }

    /// Shows a notice in the footer for a few seconds.
    pub(crate) fn say(&mut self, text: impl Into<String>) {
        self.status = Some(text.into());
        self.status_age = 0;
    }

    /// Marks targets that went quiet as stale; retires old notices.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.status_age += 1;
        if self.status_age > 5 {
            self.status = None;
        }
        for t in &mut self.targets {
            t.stale = t.connected && t.last_seen.is_some_and(|s| now.duration_since(s) > STALE);
        }
    }

    /// The keys table, filtered and sorted (the frozen one while frozen).
    pub(crate) fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = match &self.frozen {
            Some(f) => f.rows.clone(),
            None => self
                .keys
                .iter()
                .map(|(k, a)| row(k, a, self.window))
                .collect(),
        };
        let matcher = self.matcher();
        rows.retain(|r| matcher.passes(&[&r.key]));
        let key = |r: &Row| -> f64 {
            match self.sort {
                1 => r.calls_s.unwrap_or(r.calls as f64),
                2 => r.ok_pct.unwrap_or(-1.0),
                3 => r.att_per_call.unwrap_or(0.0),
                _ => r.p99_us.unwrap_or(0) as f64,
            }
        };
        if self.sort == 0 {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            rows.sort_by(|a, b| key(a).total_cmp(&key(b)).then_with(|| b.key.cmp(&a.key)));
        }
        if self.descending {
            rows.reverse();
        }
        rows
    }

    /// The `n` most common reasons among `key`'s failed calls seen, with their share (%).
    pub(crate) fn top_reasons(&self, key: &str, n: usize) -> Vec<(String, f64)> {
        self.keys
            .get(key)
            .map_or_else(Vec::new, |a| top_reasons(a, n))
    }

    /// `key`'s figures on each target that sent stats for it, by target name: which
    /// instance is sick. The top reason is the key's, so it is left out.
    pub(crate) fn target_rows(&self, key: &str) -> Vec<(String, Row)> {
        let Some(a) = self.keys.get(key) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Row)> = a
            .series
            .iter()
            .filter(|(_, s)| !s.snaps.is_empty())
            .map(|(&t, s)| {
                let name = self.targets.get(t).map_or("?", |t| t.name.as_str());
                let mut r = row_over(key, a, std::iter::once(s), self.window);
                r.circuit.clone_from(&s.circuit);
                r.top = None;
                (name.to_owned(), r)
            })
            .collect();
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    }

    /// The typed filter, parsed once per listing (not once per row).
    fn matcher(&self) -> Matcher {
        let f = self.filter.as_str();
        let (negate, needle) = match f.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, f),
        };
        Matcher {
            negate,
            needle: needle.to_lowercase(),
        }
    }

    /// The events the current view lists, oldest first.
    pub(crate) fn visible(&self) -> Vec<&Event> {
        let matcher = self.matcher();
        let scope = match &self.view {
            View::Key(k) | View::Call { key: Some(k), .. } => Some(k.as_str()),
            _ => None,
        };
        let last = self.frozen.as_ref().map_or(u64::MAX, |f| f.at_id);
        self.events
            .iter()
            .filter(|e| e.id <= last && e.kept)
            .filter(|e| scope.is_none_or(|k| e.key() == k))
            .filter(|e| match &e.kind {
                EventKind::Call(c) => {
                    self.shown == CallFilter::All || self.shown.admits(&c.summary())
                }
                _ => true,
            })
            .filter(|e| {
                let target = self.targets.get(e.target).map_or("", |t| t.name.as_str());
                matcher.passes(&[e.key(), target, e.reason()])
            })
            .collect()
    }

    /// The index of the selected event in `visible` (the newest while following).
    pub(crate) fn selected(&self, visible: &[&Event]) -> Option<usize> {
        match self.event_sel {
            None => visible.len().checked_sub(1),
            Some(id) => visible
                .iter()
                .position(|e| e.id == id)
                .or(visible.len().checked_sub(1)),
        }
    }

    /// The call the waterfall shows.
    pub(crate) fn shown_call(&self) -> Option<&Event> {
        let View::Call { id, .. } = &self.view else {
            return None;
        };
        self.events.iter().find(|e| e.id == *id)
    }

    fn scopes(&self) -> Vec<Scope> {
        match self.view {
            View::Overview => vec![Scope::Overview, Scope::Lists],
            _ => vec![Scope::Lists],
        }
    }

    /// Footer hints for the current view.
    pub(crate) fn hints(&self) -> Vec<&'static str> {
        keymap::hints(&self.scopes())
    }

    /// Handles a key press.
    pub(crate) fn key(&mut self, key: KeyEvent) {
        if self.command.is_some() {
            self.command_key(key);
            return;
        }
        if let Some(prompt) = &mut self.prompt {
            match key.code {
                KeyCode::Enter => {
                    self.filter = self.prompt.take().unwrap_or_default();
                    self.key_sel = 0;
                }
                KeyCode::Esc => {
                    self.prompt = None;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    prompt.pop();
                    self.filter = prompt.clone();
                }
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.quit = Some(Status::Interrupted);
                }
                KeyCode::Char(c) => {
                    prompt.push(c);
                    self.filter = prompt.clone();
                    self.key_sel = 0;
                }
                _ => {}
            }
            return;
        }
        if let Some(a) = keymap::action(&key, &self.scopes()) {
            self.act(a);
        }
    }

    /// Applies an action.
    pub(crate) fn act(&mut self, action: Action) {
        if self.help && !matches!(action, Action::ForceQuit) {
            if matches!(action, Action::Help | Action::Quit | Action::Back) {
                self.help = false;
            }
            return;
        }
        match action {
            Action::Help => self.help = true,
            Action::ForceQuit => self.quit = Some(Status::Interrupted),
            Action::Quit => {
                if self.view == View::Overview {
                    self.quit = Some(Status::Ok);
                } else {
                    self.back();
                }
            }
            Action::Back => {
                if self.view == View::Overview {
                    self.filter.clear();
                } else {
                    self.back();
                }
            }
            Action::Filter => self.prompt = Some(self.filter.clone()),
            Action::Command => self.command = Some(String::new()),
            Action::Freeze => {
                self.frozen = match self.frozen {
                    Some(_) => None,
                    None => Some(Frozen {
                        at_id: self.next_id - 1,
                        rows: self
                            .keys
                            .iter()
                            .map(|(k, a)| row(k, a, self.window))
                            .collect(),
                    }),
                }
            }
            Action::Focus => {
                self.focus = match self.focus {
                    Focus::Keys => Focus::Events,
                    Focus::Events => Focus::Keys,
                }
            }
            Action::SortPrev => self.sort = (self.sort + SORTS.len() - 1) % SORTS.len(),
            Action::SortNext => self.sort = (self.sort + 1) % SORTS.len(),
            Action::Invert => self.descending = !self.descending,
            Action::Enter => self.enter(),
            Action::Down => self.step(1),
            Action::Up => self.step(-1),
            Action::PageDown => self.step(10),
            Action::PageUp => self.step(-10),
            Action::Top => self.step(isize::MIN / 2),
            Action::Bottom => {
                if self.on_keys() {
                    self.key_sel = self.rows().len().saturating_sub(1);
                } else {
                    self.event_sel = None;
                    self.follow_shown();
                }
            }
            Action::NextFail => self.seek_failure(true),
            Action::PrevFail => self.seek_failure(false),
            Action::Calls => self.cycle_calls(),
            Action::Save => self.save(None),
            Action::Copy => self.copy(),
            Action::Longer => self.set_window((self.window + 1).min(WINDOWS.len() - 1)),
            Action::Shorter => self.set_window(self.window.saturating_sub(1)),
        }
    }

    /// Rates over `WINDOWS[window]` from now on.
    pub(crate) fn set_window(&mut self, window: usize) {
        self.window = window;
        let when = if self.frozen.is_some() {
            " once unfrozen"
        } else {
            ""
        };
        self.say(format!(
            "rates over the last {}{when}",
            WINDOWS[self.window].1
        ));
    }

    /// Shows and keeps only `keys` (globs; none: every key) from now on: the keys table drops
    /// the others (their stats stop coming), the log hides their calls (`Ctrl-s` still saves
    /// them, and a `:key` that covers them again shows them).
    pub(crate) fn set_keys(&mut self, keys: &[String]) {
        self.keep = KeyFilter::new(keys);
        self.title = if keys.is_empty() {
            "*".to_owned()
        } else {
            keys.join(",")
        };
        let keep = &self.keep;
        self.keys.retain(|k, _| keep.matches(k));
        self.series = self.keys.values().map(|a| a.series.len()).sum();
        if let Some(f) = &mut self.frozen {
            f.rows.retain(|r| keep.matches(&r.key));
        }
        for e in &mut self.events {
            e.kept = keep.matches(e.key());
        }
        self.key_sel = 0;
        if let View::Key(k) | View::Call { key: Some(k), .. } = &self.view
            && !keep.matches(k)
        {
            self.view = View::Overview;
        }
    }

    /// `e`'s line as the service sent it, with its `target` (the `--record` format).
    fn recorded(&self, e: &Event) -> Vec<u8> {
        let name = self.targets.get(e.target).map_or("", |t| t.name.as_str());
        with_target(&e.raw, name)
    }

    /// Puts the selected call (or breaker change), as the service sent it and with its
    /// `target`, on the clipboard.
    fn copy(&mut self) {
        let chosen = match self.shown_call() {
            Some(e) => Some(e),
            None if self.on_keys() => None,
            None => {
                let visible = self.visible();
                self.selected(&visible)
                    .and_then(|i| visible.get(i).copied())
            }
        };
        let Some(e) = chosen else {
            self.say("nothing to copy: select a call (Tab moves to the events)");
            return;
        };
        let line = self.recorded(e);
        let text = String::from_utf8_lossy(line.trim_ascii_end()).into_owned();
        let what = match e.kind {
            EventKind::Call(_) => "the call",
            EventKind::Circuit(_) => "the breaker change",
        };
        self.clipboard = Some(text);
        self.say(format!("copied {what} as JSON to the terminal's clipboard"));
    }

    /// Writes the event log (every call and breaker change it holds, as the services sent
    /// them, each with its `target`) to `file` (relative to `save_dir`; an existing file is
    /// not overwritten) or to a new `recourse-tail-<time>.ndjson` there, in the `--record`
    /// format so `recourse tail --replay` plays it back. The file appears whole or not at all.
    pub(crate) fn save(&mut self, file: Option<PathBuf>) {
        if self.events.is_empty() {
            self.say("nothing to save yet: the log is empty");
            return;
        }
        let path = match file {
            Some(file) => {
                let path = self.save_dir.join(file);
                if path.exists() {
                    self.say(format!("not saved: {} exists", path.display()));
                    return;
                }
                path
            }
            None => self.new_save_path(),
        };
        let written = Recording::create(&path).and_then(|mut out| {
            for e in &self.events {
                let mut line = self.recorded(e);
                if line.last() != Some(&b'\n') {
                    line.push(b'\n');
                }
                out.write(&line)?;
            }
            out.finish_new()
        });
        match written {
            Ok(path) => {
                let n = self.events.len();
                self.say(format!(
                    "saved {n} events to {} (recourse tail --replay plays it)",
                    path.display()
                ));
            }
            Err(e) => self.say(format!("not saved: {e}")),
        }
    }

    /// `recourse-tail-<time>.ndjson` in `save_dir`, numbered when a file of that second exists.
    fn new_save_path(&self) -> PathBuf {
        let stamp = Timestamp::from_nanos(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() * 1_000_000_000),
        )
        .to_rfc3339();
        // 2026-11-28T23:30:12.000000Z -> 2026-11-28T23-30-12Z: no ':' in file names.
        let stamp = format!("{}Z", stamp.get(..19).unwrap_or(&stamp).replace(':', "-"));
        (1..)
            .map(|n| match n {
                1 => format!("recourse-tail-{stamp}.ndjson"),
                n => format!("recourse-tail-{stamp}-{n}.ndjson"),
            })
            .map(|name| self.save_dir.join(name))
            .find(|p| !p.exists())
            .unwrap_or_default()
    }

    /// Keeps only the calls of `filter`, as the services were asked to send them.
    pub(crate) fn keep_calls(&mut self, filter: CallFilter) {
        self.calls = filter;
        self.shown = filter;
    }

    /// The next narrower set of calls in the log, back to all that are kept after `failed`
    /// (the log cannot show what the services were told not to send).
    fn cycle_calls(&mut self) {
        let kept = CallFilter::EVERY
            .iter()
            .position(|c| *c == self.calls)
            .unwrap_or(0);
        let choices = &CallFilter::EVERY[kept..];
        let at = choices.iter().position(|c| *c == self.shown).unwrap_or(0);
        self.shown = choices[(at + 1) % choices.len()];
        self.say(format!("log: {} calls", self.shown));
    }

    fn on_keys(&self) -> bool {
        self.view == View::Overview && self.focus == Focus::Keys
    }

    fn back(&mut self) {
        self.view = match std::mem::replace(&mut self.view, View::Overview) {
            View::Call { key: Some(k), .. } => View::Key(k),
            _ => View::Overview,
        };
    }

    fn enter(&mut self) {
        match self.view.clone() {
            View::Overview if self.focus == Focus::Keys => {
                if let Some(r) = self.rows().get(self.key_sel) {
                    self.view = View::Key(r.key.clone());
                    self.event_sel = None;
                }
            }
            View::Overview | View::Key(_) => {
                let key = match &self.view {
                    View::Key(k) => Some(k.clone()),
                    _ => None,
                };
                let visible = self.visible();
                let chosen = self
                    .selected(&visible)
                    .and_then(|i| visible.get(i))
                    .filter(|e| matches!(e.kind, EventKind::Call(_)))
                    .map(|e| e.id);
                if let Some(id) = chosen {
                    self.event_sel = Some(id);
                    self.view = View::Call { id, key };
                }
            }
            View::Call { .. } => {}
        }
    }

    fn step(&mut self, by: isize) {
        if self.on_keys() {
            let n = self.rows().len();
            let i = (self.key_sel as isize + by).clamp(0, n.saturating_sub(1) as isize);
            self.key_sel = i as usize;
            return;
        }
        let visible = self.visible();
        let Some(cur) = self.selected(&visible) else {
            return;
        };
        let i = (cur as isize + by).clamp(0, visible.len() as isize - 1) as usize;
        let id = visible[i].id;
        self.event_sel = Some(id);
        self.follow_shown();
    }

    /// In the waterfall, show the selected call.
    fn follow_shown(&mut self) {
        let visible = self.visible();
        let chosen = self.selected(&visible).map(|i| visible[i].id);
        if let (View::Call { id, .. }, Some(sel)) = (&mut self.view, chosen) {
            *id = sel;
        }
    }

    fn seek_failure(&mut self, forward: bool) {
        if self.on_keys() {
            self.focus = Focus::Events;
        }
        let visible = self.visible();
        let cur = self.selected(&visible).unwrap_or(0);
        let found = if forward {
            visible.iter().skip(cur + 1).find(|e| e.failed())
        } else {
            visible.iter().take(cur).rev().find(|e| e.failed())
        };
        if let Some(e) = found {
            self.event_sel = Some(e.id);
            self.follow_shown();
        } else {
            self.say(format!(
                "no {} failed call",
                if forward { "later" } else { "earlier" }
            ));
        }
    }
}

/// A case-insensitive substring filter; `!` inverts it.
struct Matcher {
    negate: bool,
    needle: String,
}

impl Matcher {
    fn passes(&self, fields: &[&str]) -> bool {
        if self.needle.is_empty() {
            return true;
        }
        let hit = fields.iter().any(|s| contains_folded(s, &self.needle));
        hit != self.negate
    }
}

/// Whether `haystack` contains `needle` (already lower-case), ignoring case; without an
/// allocation for ASCII text, which keys, targets and reason codes are.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}

/// The row of one key: rates over the stats window, percentages, latencies, top reason.
/// The snapshot a window over `s` starts from: the newest at least `window` seconds before
/// the last one, else the oldest kept (the window is then shorter than asked).
fn window_start(s: &Series, window: usize) -> Option<&(i64, KeyStats)> {
    let (t1, _) = s.snaps.back()?;
    let (secs, _) = WINDOWS[window.min(WINDOWS.len() - 1)];
    if window == 0 {
        return s.snaps.front();
    }
    let from = t1 - secs * 1_000_000;
    s.coarse
        .iter()
        .chain(&s.snaps)
        .filter(|(t, _)| *t <= from)
        .max_by_key(|(t, _)| *t)
        .or_else(|| s.coarse.iter().chain(&s.snaps).min_by_key(|(t, _)| *t))
}

/// What an event is counted as against [`RING_BYTES`]: its line, and what it decodes to
/// (every string, and the allocations around each attempt and attribute).
fn event_size(e: &Event) -> usize {
    let attributes = |a: &BTreeMap<String, String>| -> usize {
        a.iter().map(|(k, v)| k.len() + v.len() + 96).sum()
    };
    let decoded = match &e.kind {
        EventKind::Call(c) => {
            let attempts: usize = c
                .attempts
                .iter()
                .map(|a| {
                    256 + a.outcome.len()
                        + a.reason.len()
                        + a.budget_reason.len()
                        + a.error.as_ref().map_or(0, String::len)
                        + attributes(&a.attributes)
                })
                .sum();
            256 + c.key.len() + c.reason.len() + attributes(&c.attributes) + attempts
        }
        EventKind::Circuit(c) => 256 + c.key.len() + c.from.len() + c.to.len() + c.reason.len(),
    };
    e.raw.len() + decoded
}

/// The `n` most common reasons among the failed calls seen, with their share of them (%).
fn top_reasons(a: &KeyAgg, n: usize) -> Vec<(String, f64)> {
    let total: u64 = a.reasons.values().sum();
    let mut counted: Vec<(&String, &u64)> = a.reasons.iter().collect();
    counted.sort_by(|x, y| y.1.cmp(x.1).then_with(|| x.0.cmp(y.0)));
    counted
        .into_iter()
        .take(n)
        .map(|(k, c)| (k.clone(), *c as f64 * 100.0 / total as f64))
        .collect()
}

fn row(key: &str, a: &KeyAgg, window: usize) -> Row {
    row_over(key, a, a.series.values(), window)
}

/// The row of `key` over some of its targets' series.
fn row_over<'a>(
    key: &str,
    a: &KeyAgg,
    series: impl Iterator<Item = &'a Series>,
    window: usize,
) -> Row {
    let mut r = Row {
        key: key.to_owned(),
        circuit: a.circuit.clone(),
        ..Row::default()
    };
    let (mut d, mut rate, mut lat) = (KeyStats::default(), None::<[f64; 3]>, Histogram::default());
    let mut spark: Vec<u64> = Vec::new();
    for s in series {
        r.opened_min = r.opened_min.max(s.openings_last_minute());
        let (Some((t1, last)), Some((t0, first))) = (s.snaps.back(), window_start(s, window))
        else {
            continue;
        };
        let windowed = s.snaps.len() > 1 && t1 > t0;
        let base = if windowed {
            first.clone()
        } else {
            KeyStats::default()
        };
        let delta = |f: fn(&KeyStats) -> u64| f(last).saturating_sub(f(&base));
        d.calls += delta(|k| k.calls);
        d.successes += delta(|k| k.successes);
        d.first_try_successes += delta(|k| k.first_try_successes);
        d.attempts += delta(|k| k.attempts);
        d.retries += delta(|k| k.retries);
        d.hedges += delta(|k| k.hedges);
        d.hedge_wins += delta(|k| k.hedge_wins);
        d.budget_denied += delta(|k| k.budget_denied);
        r.calls += last.calls;
        r.denied += last.budget_denied;
        lat.merge(&last.latency.since(&base.latency));
        if windowed {
            let secs = (t1 - t0) as f64 / 1e6;
            let per = |f: fn(&KeyStats) -> u64| delta(f) as f64 / secs;
            let add = [
                per(|k| k.calls),
                per(|k| k.retries),
                per(|k| k.budget_denied),
            ];
            rate = Some(match rate {
                Some(x) => [x[0] + add[0], x[1] + add[1], x[2] + add[2]],
                None => add,
            });
        }
        let offset = SPARK.saturating_sub(s.spark.len());
        spark.resize(SPARK, 0);
        for (i, v) in s.spark.iter().enumerate() {
            spark[offset + i] += v;
        }
    }
    if a.series.is_empty() {
        d = a.seen.clone();
        r.calls = d.calls;
        r.denied = d.budget_denied;
        lat = std::mem::take(&mut d.latency);
    }
    let pct = |n: u64, of: u64| (of > 0).then(|| n as f64 * 100.0 / of as f64);
    r.ok_pct = pct(d.successes, d.calls);
    r.first_pct = pct(d.first_try_successes, d.calls);
    r.att_per_call = (d.calls > 0).then(|| d.attempts as f64 / d.calls as f64);
    r.win_pct = pct(d.hedge_wins, d.hedges);
    r.hedged_pct = pct(d.hedges, d.calls);
    if let Some([c, re, de]) = rate {
        (r.calls_s, r.retry_s, r.deny_s) = (Some(c), Some(re), Some(de));
    }
    r.p50_us = lat.quantile_us(0.5);
    r.p99_us = lat.quantile_us(0.99);
    r.top = top_reasons(a, 1).pop();
    if spark.iter().any(|&v| v > 0) {
        r.spark = spark;
    }
    r
}
