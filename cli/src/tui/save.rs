//! `Ctrl-s` and `:save`: the event log written to a file, in the `--record` format.

use std::path::{Path, PathBuf};

use recourse_engine::clock::Timestamp;

use super::app::App;
use crate::tail::Recording;

/// Writes the event log (every call and breaker change it holds, as the services sent them,
/// each with its `target`) to `file` (relative to `dir`; an existing file is not overwritten)
/// or to a new `recourse-tail-<time>.ndjson` in `dir`, so `recourse tail --replay` plays it
/// back. The file appears whole or not at all. What happened, for the footer.
pub(crate) fn save(app: &App, dir: &Path, file: Option<PathBuf>) -> String {
    let path = match file {
        Some(file) => {
            let path = dir.join(file);
            if path.exists() {
                return format!("not saved: {} exists", path.display());
            }
            path
        }
        None => new_path(dir),
    };
    let written = Recording::create(&path).and_then(|mut out| {
        for e in app.events.iter() {
            let mut line = app.recorded(e);
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            out.write(&line)?;
        }
        out.finish_new()
    });
    match written {
        Ok(path) => format!(
            "saved {} events to {} (recourse tail --replay plays it)",
            app.events.len(),
            path.display()
        ),
        Err(e) => format!("not saved: {e}"),
    }
}

/// `recourse-tail-<time>.ndjson` in `dir`, numbered when a file of that second exists.
fn new_path(dir: &Path) -> PathBuf {
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
        .map(|name| dir.join(name))
        .find(|p| !p.exists())
        .unwrap_or_default()
}
