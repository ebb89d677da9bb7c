//! The TUI's state: the aggregated data (see `model`) and what the operator is looking at.
//! Feeds come in through [`App::ingest`]; key presses through `update`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use recourse_engine::export::KeyFilter;
use recourse_engine::export::wire::{BudgetFill, CallEvent, CallFilter, Message};

use super::filter::Matcher;
use super::keymap::{self, Scope};
use super::model::{Event, EventKind, KeyAgg, Log, Row, Series, Sort, WINDOWS};
use super::notices::Notices;
use crate::format::clock_of_micros;
use crate::tail::{Feed, MAX_TARGETS, NOTHING_MATCHES, parse_ts_micros, with_target};

/// Keys the table tracks; the calls and stats of further keys are counted, not kept.
pub(crate) const MAX_KEYS: usize = 2_000;
/// `stats` series (a key on a target) kept.
pub(crate) const MAX_SERIES: usize = 2_000;
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
    /// It disconnected (or is gone) since it last connected: its figures leave the totals
    /// until it connects again.
    pub(crate) departed: bool,
    pub(crate) last_seen: Option<Instant>,
    /// The engine version the service runs, from its hello.
    pub(crate) engine: Option<String>,
    /// Its budgets' fill, as its last `stats` said.
    pub(crate) budgets: BTreeMap<String, BudgetFill>,
    /// When the service behind it started, as its last hello said.
    started_at: Option<String>,
    /// Times it came back as a new process (a restart under the same address).
    pub(crate) restarts: u32,
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

/// A frozen view: what was on screen, while data keeps arriving.
#[derive(Debug, Clone)]
pub(crate) struct Frozen {
    pub(crate) at_id: u64,
    pub(crate) rows: Vec<Row>,
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

/// The whole TUI state.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) title: String,
    pub(crate) keep: KeyFilter,
    /// The calls the services send and the log keeps (every call is counted).
    pub(crate) calls: CallFilter,
    /// The calls the log shows now, of those it keeps (`v` cycles).
    pub(crate) shown: CallFilter,
    pub(crate) targets: Vec<Target>,
    pub(crate) keys: BTreeMap<String, KeyAgg>,
    pub(crate) events: Log,
    /// Series of stats snapshots kept, against [`MAX_SERIES`].
    series: usize,
    pub(crate) lost: Losses,
    pub(crate) capped: Capped,
    pub(crate) view: View,
    pub(crate) help: bool,
    pub(crate) prompt: Option<String>,
    /// The `:` command line being typed.
    pub(crate) command: Option<String>,
    pub(crate) filter: String,
    pub(crate) frozen: Option<Frozen>,
    pub(crate) sort: Sort,
    /// The window of the keys table's rates and ratios, an index into `WINDOWS` (`z`/`Z`).
    pub(crate) window: usize,
    pub(crate) descending: bool,
    pub(crate) focus: Focus,
    pub(crate) key_sel: usize,
    /// The selected event; `None` follows the newest.
    pub(crate) event_sel: Option<u64>,
    pub(crate) notices: Notices,
    /// The feeds ended (a replay played to its end).
    pub(crate) ended: bool,
    /// A replay's speed (0: as fast as possible); `None` when live.
    pub(crate) replay: Option<f64>,
    /// The replay is paused (`p`).
    pub(crate) paused: bool,
    /// The newest time the feeds told of (µs since the epoch): in a replay, the recording's
    /// wall-clock time.
    pub(crate) clock_us: Option<i64>,
}

impl App {
    pub(crate) fn new(title: impl Into<String>, keep: KeyFilter) -> App {
        App {
            title: title.into(),
            keep,
            calls: CallFilter::All,
            shown: CallFilter::All,
            targets: Vec::new(),
            keys: BTreeMap::new(),
            events: Log::default(),
            series: 0,
            lost: Losses::default(),
            capped: Capped::default(),
            view: View::Overview,
            help: false,
            prompt: None,
            command: None,
            filter: String::new(),
            frozen: None,
            sort: Sort::CallRate,
            window: 0,
            descending: true,
            focus: Focus::Keys,
            key_sel: 0,
            event_sel: None,
            notices: Notices::default(),
            ended: false,
            replay: None,
            paused: false,
            clock_us: None,
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
                departed: false,
                last_seen: None,
                engine: None,
                budgets: BTreeMap::new(),
                started_at: None,
                restarts: 0,
            });
        }
        &mut self.targets[t]
    }

    /// Events added since the view froze.
    pub(crate) fn frozen_behind(&self) -> u64 {
        self.frozen
            .as_ref()
            .map_or(0, |f| self.events.last_id().saturating_sub(f.at_id))
    }

    /// Applies one feed; `now` marks the target alive. What the feed says about connections
    /// (connected, lost, gaps) is the session's to tell: this only keeps the figures.
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
                // The same target answering from a process that started anew: a restart. Its
                // counters start again from zero (the series see them drop and start over).
                let restarted = t.started_at.is_some() && hello.started_at != t.started_at;
                t.started_at.clone_from(&hello.started_at);
                if restarted {
                    t.restarts += 1;
                }
                t.connected = true;
                t.departed = false;
                t.stale = false;
                t.last_seen = Some(now);
                if restarted {
                    let text = format!("{name} restarted (a new process): its counters start over");
                    self.notices.push(text);
                }
            }
            Feed::Lost { target, .. } => {
                let t = self.target(*target);
                t.connected = false;
                t.departed = true;
            }
            Feed::Gone { target, .. } => {
                let t = self.target(*target);
                t.connected = false;
                t.departed = true;
                t.gone = true;
            }
            Feed::Notice { .. } => {}
            Feed::Ended => {
                self.ended = true;
                self.notices.push("end of the recording".into());
            }
            Feed::Rewound { to_us } => self.rewound(*to_us),
            Feed::Line { target, msg, raw } => {
                let t = self.target(*target);
                t.last_seen = Some(now);
                t.stale = false;
                // Calls, breaker changes and stats tell the time; a hello's is when the
                // connection began.
                if !matches!(**msg, Message::Hello(_))
                    && let Some(ts) = msg.common().and_then(|c| c.ts.as_deref())
                    && let Some(us) = parse_ts_micros(ts)
                {
                    self.clock_us = Some(self.clock_us.map_or(us, |c| c.max(us)));
                }
                self.message(*target, msg, raw);
            }
        }
    }

    /// `target` told of a key the view shows: a notice that it waits for one no longer holds.
    fn matched(&mut self, target: usize) {
        if let Some(t) = self.targets.get(target) {
            self.notices.withdraw(&t.name, NOTHING_MATCHES);
        }
    }

    /// The aggregate of `key`, made on first sight while under [`MAX_KEYS`]; `None` (and
    /// counted) past it.
    fn agg(&mut self, key: &str) -> Option<&mut KeyAgg> {
        if !self.keys.contains_key(key) {
            if self.keys.len() >= MAX_KEYS {
                if !self.capped.any() {
                    self.notices.push(format!(
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
                self.events.push(target, EventKind::Circuit(c.clone()), raw);
            }
            Message::Stats(s) => {
                let ts = s.common.ts.as_deref().and_then(parse_ts_micros);
                // A split `stats` carries the budgets in its first part only.
                if !s.budgets.is_empty() {
                    self.target(target).budgets.clone_from(&s.budgets);
                }
                for (key, stats) in &s.keys {
                    if !self.keep.matches(key) {
                        continue;
                    }
                    self.matched(target);
                    let Some(agg) = self.agg(key) else { continue };
                    if stats.circuit.is_some() {
                        agg.circuit.clone_from(&stats.circuit);
                    }
                    if stats.hedging.is_some() {
                        agg.hedging.clone_from(&stats.hedging);
                    }
                    if stats.budget.is_some() {
                        agg.budget.clone_from(&stats.budget);
                    }
                    if let Some(series) = self.series(key, target) {
                        series.push(ts.unwrap_or(0), stats.clone());
                    }
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
        self.matched(target);
        if let Some(agg) = self.agg(&c.key) {
            agg.count(c);
        }
        if self.calls.admits(&c.summary()) {
            self.events
                .push(target, EventKind::Call(Box::new(c.clone())), raw);
        }
    }

    /// A replay went back to its start: forget what was shown (the operator's choices stay);
    /// the replay plays again up to `to_us` at once.
    fn rewound(&mut self, to_us: i64) {
        self.targets.clear();
        self.keys.clear();
        self.events = Log::default();
        self.series = 0;
        self.lost = Losses::default();
        self.capped = Capped::default();
        self.frozen = None;
        self.event_sel = None;
        self.key_sel = 0;
        self.ended = false;
        self.clock_us = None;
        if matches!(self.view, View::Call { .. }) {
            self.view = View::Overview;
        }
        self.say(format!("back to {}", clock_of_micros(to_us)));
    }

    /// The notice the footer shows now.
    pub(crate) fn status(&self) -> Option<&str> {
        self.notices.current()
    }

    /// Replies to the operator at once, in the footer.
    pub(crate) fn say(&mut self, text: impl Into<String>) {
        self.notices.reply(text.into());
    }

    /// Marks targets that went quiet as stale; retires notices shown long enough.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.notices.tick();
        for t in &mut self.targets {
            t.stale = t.connected && t.last_seen.is_some_and(|s| now.duration_since(s) > STALE);
        }
    }

    /// The keys table, filtered and sorted (the frozen one while frozen).
    pub(crate) fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = match &self.frozen {
            Some(f) => f.rows.clone(),
            None => self.live_rows(),
        };
        let matcher = Matcher::new(&self.filter);
        rows.retain(|r| matcher.passes(&[&r.key]));
        self.sort.sort(&mut rows);
        if self.descending {
            rows.reverse();
        }
        rows
    }

    /// Every key's row now, unsorted and unfiltered.
    pub(crate) fn live_rows(&self) -> Vec<Row> {
        self.keys
            .iter()
            .map(|(k, a)| {
                let mut row = a.row(k, self.window, |t| self.present(t));
                row.fleet_fallback = self.on_fleet_fallback(a.budget.as_deref());
                row
            })
            .collect()
    }

    /// Whether the fleet budget `name` spends from its local fallback on a present target.
    fn on_fleet_fallback(&self, name: Option<&str>) -> bool {
        let Some(name) = name else { return false };
        self.targets.iter().enumerate().any(|(i, t)| {
            self.present(i)
                && t.budgets
                    .get(name)
                    .is_some_and(|b| b.budget_scope.as_deref() == Some("local_fallback"))
        })
    }

    /// Whether target `t` is still there: not disconnected or gone since it last connected, or
    /// a replay's (a recording's targets stay to the end). A departed target's figures leave
    /// the totals.
    pub(crate) fn present(&self, t: usize) -> bool {
        self.replay.is_some() || self.targets.get(t).is_none_or(|t| !t.departed)
    }

    /// The `n` most common reasons among `key`'s failed calls seen, with their share (%).
    pub(crate) fn top_reasons(&self, key: &str, n: usize) -> Vec<(String, f64)> {
        self.keys
            .get(key)
            .map_or_else(Vec::new, |a| a.top_reasons(n))
    }

    /// The budget `key` retries under (as its service said, or as a denied attempt named
    /// it), with its fill on the target where it is lowest, if any target reported it.
    pub(crate) fn budget_of(&self, key: &str) -> Option<(&str, Option<&BudgetFill>)> {
        let name = self.keys.get(key)?.budget.as_deref()?;
        let lowest = self
            .targets
            .iter()
            .filter(|t| !t.gone)
            .filter_map(|t| t.budgets.get(name))
            .min_by(|a, b| a.level.total_cmp(&b.level));
        Some((name, lowest))
    }

    /// `key`'s figures on each target that sent stats for it, worst first (lowest success,
    /// then lowest first-try success, then name): which instance is sick. The top reason is the key's, so it is left out.
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
                let mut r = a.row_over(key, std::iter::once(s), self.window);
                r.circuit.clone_from(&s.circuit);
                r.top = None;
                (name.to_owned(), r)
            })
            .collect();
        // Failing calls first, then failing first attempts (retries hiding trouble).
        let ok = |r: &Row| r.ok_pct.unwrap_or(100.0);
        let first = |r: &Row| r.first_pct.unwrap_or(100.0);
        out.sort_by(|x, y| {
            (ok(&x.1).total_cmp(&ok(&y.1)))
                .then_with(|| first(&x.1).total_cmp(&first(&y.1)))
                .then_with(|| x.0.cmp(&y.0))
        });
        out
    }

    /// The events the current view lists, oldest first.
    pub(crate) fn visible(&self) -> Vec<&Event> {
        let matcher = Matcher::new(&self.filter);
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

    /// The keymap scopes of the current view.
    pub(crate) fn scopes(&self) -> Vec<Scope> {
        let mut scopes = match self.view {
            View::Overview => vec![Scope::Overview, Scope::Lists],
            _ => vec![Scope::Lists],
        };
        if self.replay.is_some() {
            scopes.push(Scope::Replay);
        }
        scopes
    }

    /// Footer hints for the current view.
    pub(crate) fn hints(&self) -> Vec<&'static str> {
        keymap::hints(&self.scopes())
    }

    /// The keys pane has the cursor.
    pub(crate) fn on_keys(&self) -> bool {
        self.view == View::Overview && self.focus == Focus::Keys
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
        for e in self.events.iter_mut() {
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
    pub(crate) fn recorded(&self, e: &Event) -> Vec<u8> {
        let name = self.targets.get(e.target).map_or("", |t| t.name.as_str());
        with_target(&e.raw, name)
    }

    /// Keeps only the calls of `filter`, as the services were asked to send them.
    pub(crate) fn keep_calls(&mut self, filter: CallFilter) {
        self.calls = filter;
        self.shown = filter;
    }
}
