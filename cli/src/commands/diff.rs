//! `recourse policy diff OLD NEW`: a semantic diff of two policy sets with risk notes.

use std::path::{Path, PathBuf};
use std::process::Command;

use recourse_engine::PolicySet;
use recourse_engine::tooling::{
    Change, ChangeKind, Risk, WorstCase, diff, format_duration, mark_still_called,
};
use recourse_lints::scan_paths;
use serde_json::json;

use super::lint;
use crate::args::{DiffFormat, FailOn};
use crate::exit::Status;
use crate::input::{self, LoadFailure};
use crate::replay::TrafficDiff;
use crate::{diag, output};

/// What `policy diff` was asked, besides the two policy sets.
#[derive(Debug)]
pub(crate) struct Options {
    /// Sources to check removed policies against.
    pub(crate) sources: Vec<PathBuf>,
    pub(crate) format: DiffFormat,
    pub(crate) fail_on: FailOn,
    /// A recording to replay through both sets, and the replay's seed.
    pub(crate) traffic: Option<(PathBuf, u64)>,
}

pub(crate) fn run(old: &str, new: &str, options: &Options, color: bool, limit: u64) -> Status {
    let Options {
        sources,
        format,
        fail_on,
        traffic,
    } = options;
    let (format, fail_on) = (*format, *fail_on);
    let (old_set, new_set) = match (load(old, limit), load(new, limit)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            diag::refused(&e, color);
            return Status::Usage;
        }
    };
    let traffic = match traffic {
        None => None,
        Some((path, seed)) => match replay_traffic(path, &old_set, &new_set, *seed) {
            Ok(t) => Some(t),
            Err(e) => {
                diag::refused(&e, color);
                return Status::Usage;
            }
        },
    };
    let mut changes = diff(&old_set, &new_set);
    let removed = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Removed)
        .count();
    if sources.is_empty() {
        if removed > 0 && format == DiffFormat::Human {
            diag::notice(&format!(
                "{removed} removed {} not checked against code: pass --source <PATH> to rate one that code still calls as high risk",
                if removed == 1 { "policy" } else { "policies" }
            ));
        }
    } else if removed > 0 {
        let scanned = lint::config(None).and_then(|mut c| {
            c.max_file_size = limit;
            scan_paths(sources, &c, None)
        });
        let report = match scanned {
            Ok(r) => r,
            Err(e) => {
                diag::error(&e, color);
                return Status::Usage;
            }
        };
        let sites = report.keys.iter().map(|s| {
            (
                s.key.as_str(),
                format!("{}:{}:{}", s.path, s.line, s.column),
            )
        });
        mark_still_called(&mut changes, &old_set, sites);
    }
    // The replay's evidence raises the risk of the change it is about; evidence on a key
    // the diff did not change stays in the traffic report alone.
    if let Some(t) = &traffic {
        for e in &t.evidence {
            if let Some(c) = changes.iter_mut().find(|c| c.key == e.key) {
                c.risk = c.risk.max(e.risk);
                c.notes.push(e.note.clone());
            }
        }
    }
    let count = |k: ChangeKind| changes.iter().filter(|c| c.kind == k).count();
    let highest = changes
        .iter()
        .map(|c| c.risk)
        .chain(traffic.as_ref().and_then(TrafficDiff::highest))
        .max();
    match format {
        DiffFormat::Json => {
            let mut report = json!({
                "version": 1,
                "changes": changes,
                "summary": {
                    "added": count(ChangeKind::Added),
                    "removed": count(ChangeKind::Removed),
                    "modified": count(ChangeKind::Modified),
                    "highest_risk": highest.map_or("none", risk_name),
                },
            });
            if let Some(t) = &traffic {
                report["traffic"] = t.json(risk_name);
            }
            output::data(&serde_json::to_string_pretty(&report).expect("changes serialize"))
        }
        DiffFormat::Markdown => {
            let mut text = markdown(&changes);
            if let Some(t) = &traffic {
                text.push_str(&t.markdown());
            }
            output::data(&text)
        }
        DiffFormat::Human => {
            let mut text = human(&changes, color);
            if let Some(t) = &traffic {
                let changed: Vec<String> = changes.iter().map(|c| c.key.clone()).collect();
                text.push_str(&t.human(&changed));
            }
            output::data(&text)
        }
    }
    let threshold = match fail_on {
        FailOn::None => None,
        FailOn::Low => Some(Risk::Low),
        FailOn::Medium => Some(Risk::Medium),
        FailOn::High => Some(Risk::High),
    };
    match (threshold, highest) {
        (Some(t), Some(h)) if h >= t => Status::Findings,
        _ => Status::Ok,
    }
}

fn risk_name(r: Risk) -> &'static str {
    match r {
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
    }
}

fn kind_name(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Modified => "modified",
    }
}

/// `9 attempts, 1.53s` (or `unbounded`).
pub(crate) fn worst(w: WorstCase) -> String {
    let d = w.duration_us.map_or("unbounded".to_owned(), |us| {
        format_duration(std::time::Duration::from_micros(us))
    });
    let plural = if w.attempts == 1 { "" } else { "s" };
    format!("{} attempt{plural}, {d}", w.attempts)
}

fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    }
}

fn human(changes: &[Change], color: bool) -> String {
    if changes.is_empty() {
        return "no changes".to_owned();
    }
    let paint = |r: Risk, s: &str| {
        if !color {
            return s.to_owned();
        }
        let code = match r {
            Risk::High => "31",
            Risk::Medium => "33",
            Risk::Low => "32",
        };
        format!("\u{1b}[{code}m{s}\u{1b}[0m")
    };
    let mut out = String::new();
    for c in changes {
        let sign = match c.kind {
            ChangeKind::Added => "+",
            ChangeKind::Removed => "-",
            ChangeKind::Modified => "~",
        };
        out.push_str(&format!(
            "{sign} {} [{}]\n",
            c.key,
            paint(c.risk, risk_name(c.risk))
        ));
        for f in &c.fields {
            out.push_str(&format!(
                "    {}: {} -> {}\n",
                f.path,
                value(&f.old),
                value(&f.new)
            ));
        }
        for n in &c.notes {
            out.push_str(&format!("    note: {n}\n"));
        }
        out.push_str(&format!(
            "    worst case: {} -> {}\n",
            worst(c.worst_case.old),
            worst(c.worst_case.new)
        ));
    }
    let highest = changes
        .iter()
        .map(|c| c.risk)
        .max()
        .map_or("none", risk_name);
    let count = |k| changes.iter().filter(|c| c.kind == k).count();
    out.push_str(&format!(
        "{} added, {} removed, {} modified; highest risk: {highest}",
        count(ChangeKind::Added),
        count(ChangeKind::Removed),
        count(ChangeKind::Modified)
    ));
    out
}

/// One table for a pull-request comment; the notes that say why a change is risky are in its
/// last column.
fn markdown(changes: &[Change]) -> String {
    let cell = |s: String| s.replace('|', "\\|");
    let mut out = String::from(
        "| key | change | risk | fields | worst case (before → after) | why |\n\
         |---|---|---|---|---|---|\n",
    );
    for c in changes {
        let fields: Vec<String> = c
            .fields
            .iter()
            .map(|f| format!("`{}`: {} → {}", f.path, value(&f.old), value(&f.new)))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | **{}** | {} | {} → {} | {} |\n",
            cell(c.key.clone()),
            kind_name(c.kind),
            risk_name(c.risk),
            cell(fields.join("<br>")),
            worst(c.worst_case.old),
            worst(c.worst_case.new),
            cell(c.notes.join("<br>")),
        ));
    }
    if changes.is_empty() {
        out.push_str("| | no changes | | | | |\n");
    }
    out.trim_end().to_owned()
}

/// A file, a directory, or `GITREV:path` read from the git repository of the current directory.
/// Reads the recording at `path` and replays it through both sets.
fn replay_traffic(
    path: &Path,
    old: &PolicySet,
    new: &PolicySet,
    seed: u64,
) -> Result<TrafficDiff, LoadFailure> {
    let rec = crate::replay::load(path)?;
    let shown = path.display().to_string();
    Ok(TrafficDiff::run(
        &rec,
        &shown,
        old.clone(),
        new.clone(),
        seed,
    ))
}

fn load(spec: &str, limit: u64) -> Result<PolicySet, LoadFailure> {
    let path = Path::new(spec);
    if path.exists() {
        return input::policies(&[path.to_owned()], limit);
    }
    let Some((rev, rel)) = spec.split_once(':') else {
        return Err(LoadFailure::Other(format!(
            "{spec}: no such file or directory (and not of the form GITREV:path)"
        )));
    };
    let git = |args: &[&str]| -> Result<Vec<u8>, String> {
        let out = Command::new("git")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    git(&["rev-parse", "--git-dir"]).map_err(|_| {
        LoadFailure::Other(format!(
            "{spec}: the current directory is not in a git repository"
        ))
    })?;
    // `(type, repository path)` of what `path` names at `rev` (a directory's entries when it
    // ends with `/`).
    let entries = |path: &str| -> Result<Vec<(String, String)>, String> {
        let listing = git(&["ls-tree", "--full-name", rev, "--", path])?;
        Ok(String::from_utf8_lossy(&listing)
            .lines()
            .filter_map(|line| {
                let (meta, name) = line.split_once('\t')?;
                Some((meta.split_whitespace().nth(1)?.to_owned(), name.to_owned()))
            })
            .collect())
    };
    let rel = rel.trim_end_matches('/');
    let names: Vec<String> = match entries(rel).map_err(LoadFailure::Other)?.as_slice() {
        [] => {
            return Err(LoadFailure::Other(format!("{spec}: no such path at {rev}")));
        }
        [(kind, name)] if kind == "blob" => vec![name.clone()],
        // A directory: its own files, one level, as for a directory on disk.
        _ => entries(&format!("{rel}/"))
            .map_err(LoadFailure::Other)?
            .into_iter()
            .filter(|(kind, _)| kind == "blob")
            .map(|(_, name)| name)
            .collect(),
    };
    let mut set = PolicySet::new();
    for name in names
        .iter()
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json"))
    {
        let object = format!("{rev}:{name}");
        let bytes = git(&["show", &object]).map_err(LoadFailure::Other)?;
        input::check(&object, &bytes, limit)?;
        // Errors name the file as `REV:path`, with their line and column.
        set.merge(PolicySet::from_bytes(bytes, &object)?)?;
    }
    Ok(set)
}
