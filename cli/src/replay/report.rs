//! `policy diff --traffic`: the recorded traffic replayed through the old and the new policies,
//! each key's figures side by side, and the risks the evidence shows.

use recourse_engine::tooling::Risk;
use serde_json::{Value, json};

use super::stats::{FIGURES, Figures, compared};
use super::{Recording, replay};
use recourse_engine::PolicySet;

/// A key's attempts per call may rise this much before the replay calls it high risk.
pub(crate) const AMPLIFICATION: f64 = 1.5;
/// A key's success rate may fall this many points before the replay calls it high risk.
pub(crate) const SUCCESS_DROP: f64 = 1.0;

/// What a risk rule found on one key.
#[derive(Debug, Clone)]
pub(crate) struct Evidence {
    pub(crate) key: String,
    pub(crate) risk: Risk,
    pub(crate) note: String,
}

/// Both replays of one recording.
#[derive(Debug)]
pub(crate) struct TrafficDiff {
    pub(crate) path: String,
    pub(crate) seed: u64,
    pub(crate) calls: usize,
    pub(crate) span_s: f64,
    pub(crate) drawn: (u64, u64),
    /// Calls the recording lost, and lines it skipped.
    pub(crate) dropped: u64,
    pub(crate) skipped: u64,
    pub(crate) keys: Vec<(String, Figures, Figures)>,
    pub(crate) evidence: Vec<Evidence>,
}

impl TrafficDiff {
    /// Replays `rec` (read from `path`) through `old` and `new` with `seed`.
    pub(crate) fn run(
        rec: &Recording,
        path: &str,
        old: PolicySet,
        new: PolicySet,
        seed: u64,
    ) -> TrafficDiff {
        let mut a = replay(rec, old, seed);
        let mut b = replay(rec, new, seed);
        let span = rec.span();
        let span_s = span.as_secs_f64();
        let keys: Vec<(String, Figures, Figures)> = a
            .figures(span)
            .into_iter()
            .zip(b.figures(span))
            .map(|((k, o), (_, n))| (k, o, n))
            .collect();
        let mut keys = keys;
        keys.sort_by(|x, y| x.0.cmp(&y.0));
        let evidence = keys.iter().flat_map(|(k, o, n)| rules(k, o, n)).collect();
        TrafficDiff {
            path: path.to_owned(),
            seed,
            calls: rec.calls.len(),
            span_s: (span_s * 1000.0).round() / 1000.0,
            drawn: (a.drawn, b.drawn),
            dropped: rec.dropped,
            skipped: rec.skipped,
            keys,
            evidence,
        }
    }

    /// The highest risk the evidence shows.
    pub(crate) fn highest(&self) -> Option<Risk> {
        self.evidence.iter().map(|e| e.risk).max()
    }

    /// The `traffic` object of the JSON report.
    pub(crate) fn json(&self, risk_name: fn(Risk) -> &'static str) -> Value {
        let keys: serde_json::Map<String, Value> = self
            .keys
            .iter()
            .map(|(k, o, n)| (k.clone(), compared(o, n)))
            .collect();
        let evidence: Vec<Value> = self
            .evidence
            .iter()
            .map(|e| json!({"key": e.key, "risk": risk_name(e.risk), "note": e.note}))
            .collect();
        json!({
            "recording": self.path,
            "seed": self.seed,
            "calls": self.calls,
            "span_s": self.span_s,
            "drawn_attempts": {"old": self.drawn.0, "new": self.drawn.1},
            "dropped_calls": self.dropped,
            "skipped_lines": self.skipped,
            "keys": keys,
            "evidence": evidence,
        })
    }

    /// What was replayed, on lines that fit 80 columns.
    fn headline(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "{} over {}s, seed {}",
                plural(self.calls as u64, "call"),
                self.span_s,
                self.seed
            ),
            format!(
                "attempts past the recording, drawn from its nearest: {} old, {} new",
                self.drawn.0, self.drawn.1
            ),
        ];
        lines.extend(caveats(self.dropped, self.skipped));
        lines
    }

    /// The human report: a block per key, then the evidence.
    pub(crate) fn human(&self, changed: &[String]) -> String {
        let mut out = format!("\n\ntraffic: {}\n", self.path);
        for line in self.headline() {
            out.push_str(&format!("  {line}\n"));
        }
        for (k, o, n) in &self.keys {
            out.push_str(&format!("  {k}\n"));
            for name in FIGURES {
                let (a, b) = (o.get(name), n.get(name));
                if name == "unfinished" && a == 0.0 && b == 0.0 {
                    continue;
                }
                let mark = if moved(a, b) { "  *" } else { "" };
                let line = format!("    {:<20} {:>10} -> {:<10}{mark}", label(name), a, b);
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        // Evidence on a key the diff did not change is said here; the rest is in its change.
        for e in self.evidence.iter().filter(|e| !changed.contains(&e.key)) {
            out.push_str(&format!("  {} (policy unchanged): {}\n", e.key, e.note));
        }
        if let Some(risk) = self.highest()
            && self.evidence.iter().any(|e| !changed.contains(&e.key))
        {
            out.push_str(&format!(
                "highest risk with the replay: {}\n",
                risk_label(risk)
            ));
        }
        out
    }

    /// The Markdown report: one table, a row per key and figure that changed.
    pub(crate) fn markdown(&self) -> String {
        let mut out = format!(
            "\n\n### Replayed traffic\n\n`{}`: {}.\n\n| key | figure | old | new |\n|---|---|---:|---:|\n",
            self.path,
            self.headline().join("; ")
        );
        let mut unmoved = Vec::new();
        for (k, o, n) in &self.keys {
            let moves: Vec<&str> = FIGURES
                .into_iter()
                .filter(|name| moved(o.get(name), n.get(name)))
                .collect();
            if moves.is_empty() {
                unmoved.push(format!("`{k}`"));
            }
            for name in moves {
                let (a, b) = (o.get(name), n.get(name));
                out.push_str(&format!("| `{k}` | {} | {a} | {b} |\n", label(name)));
            }
        }
        if !unmoved.is_empty() {
            out.push_str(&format!(
                "\nUnchanged on the replay: {}.\n",
                unmoved.join(", ")
            ));
        }
        for e in &self.evidence {
            out.push_str(&format!("\n**{}**: {}\n", e.key, e.note));
        }
        out
    }
}

/// Whether a figure moved by more than 1%: jitter is drawn from one generator for every key,
/// so a key whose policy did not change can move a little when another's did.
fn moved(a: f64, b: f64) -> bool {
    (a - b).abs() > 0.01 * a.abs().max(b.abs())
}

fn label(name: &str) -> &'static str {
    match name {
        "calls" => "calls",
        "attempts_per_call" => "attempts/call",
        "retries_per_second" => "retries/s",
        "hedges_per_second" => "hedges/s",
        "budget_denials" => "budget denials",
        "circuit_opens" => "circuit opens",
        "circuit_open_s" => "circuit open s",
        "success_rate" => "success %",
        "p50_ms" => "p50 ms",
        "p99_ms" => "p99 ms",
        _ => "unfinished",
    }
}

/// `1 call`, `2 calls`.
fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What the reader of a replay should know about its recording.
fn caveats(dropped: u64, skipped: u64) -> Vec<String> {
    let mut out = Vec::new();
    if dropped > 0 {
        out.push(format!(
            "the recording lost {} (gaps): rates undercount",
            plural(dropped, "call")
        ));
    }
    if skipped > 0 {
        out.push(format!(
            "{} not recorded events skipped",
            plural(skipped, "line")
        ));
    }
    out
}

fn risk_label(r: Risk) -> &'static str {
    match r {
        Risk::High => "high",
        Risk::Medium => "medium",
        _ => "low",
    }
}

/// The risk rules on one key's replays.
fn rules(key: &str, old: &Figures, new: &Figures) -> Vec<Evidence> {
    let mut out = Vec::new();
    if old.attempts_per_call > 0.0 && new.attempts_per_call > AMPLIFICATION * old.attempts_per_call
    {
        out.push(Evidence {
            key: key.to_owned(),
            risk: Risk::High,
            note: format!(
                "replay: attempts/call {} -> {}, x{:.2} (high risk past x{AMPLIFICATION})",
                old.attempts_per_call,
                new.attempts_per_call,
                new.attempts_per_call / old.attempts_per_call
            ),
        });
    }
    if old.success_rate - new.success_rate > SUCCESS_DROP {
        out.push(Evidence {
            key: key.to_owned(),
            risk: Risk::High,
            note: format!(
                "replay: success {:.1}% -> {:.1}%, down {:.1} points (high risk past {SUCCESS_DROP})",
                old.success_rate,
                new.success_rate,
                old.success_rate - new.success_rate
            ),
        });
    }
    out
}

/// `policy simulate --traffic`: one replay of a recording, each key's figures.
#[derive(Debug)]
pub(crate) struct TrafficReport {
    path: String,
    seed: u64,
    calls: usize,
    span_s: f64,
    drawn: u64,
    dropped: u64,
    skipped: u64,
    keys: Vec<(String, Figures)>,
}

impl TrafficReport {
    /// Replays the recording at `path` through `set` with `seed`.
    pub(crate) fn run(
        path: &std::path::Path,
        set: PolicySet,
        seed: u64,
    ) -> Result<TrafficReport, crate::input::LoadFailure> {
        let rec = super::load(path)?;
        let mut r = replay(&rec, set, seed);
        let span = rec.span();
        let mut keys = r.figures(span);
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(TrafficReport {
            path: path.display().to_string(),
            seed,
            calls: rec.calls.len(),
            span_s: (span.as_secs_f64() * 1000.0).round() / 1000.0,
            drawn: r.drawn,
            dropped: rec.dropped,
            skipped: rec.skipped,
            keys,
        })
    }

    /// `{"version": 1, "traffic": {..., "keys": {key: {figure: value}}}}`.
    pub(crate) fn json(&self) -> Value {
        let keys: serde_json::Map<String, Value> = self
            .keys
            .iter()
            .map(|(k, f)| {
                let figures: serde_json::Map<String, Value> = FIGURES
                    .iter()
                    .map(|n| ((*n).to_owned(), super::stats::number(n, f.get(n))))
                    .collect();
                (k.clone(), Value::Object(figures))
            })
            .collect();
        json!({"version": 1, "traffic": {
            "recording": self.path,
            "seed": self.seed,
            "calls": self.calls,
            "span_s": self.span_s,
            "drawn_attempts": self.drawn,
            "dropped_calls": self.dropped,
            "skipped_lines": self.skipped,
            "keys": keys,
        }})
    }

    /// A block per key.
    pub(crate) fn human(&self) -> String {
        let mut out = format!(
            "traffic: {}\n  {} over {}s, seed {}\n  attempts past the recording, drawn from its nearest: {}\n",
            self.path,
            plural(self.calls as u64, "call"),
            self.span_s,
            self.seed,
            self.drawn
        );
        for line in caveats(self.dropped, self.skipped) {
            out.push_str(&format!("  {line}\n"));
        }
        for (k, f) in &self.keys {
            out.push_str(&format!("  {k}\n"));
            for name in FIGURES {
                out.push_str(&format!("    {:<20} {:>10}\n", label(name), f.get(name)));
            }
        }
        out
    }
}
