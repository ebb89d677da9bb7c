//! A `tail --record` file, read for replay: every call's key, start and the attempts that
//! reached the dependency, as scripted steps.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::time::Duration;

use recourse_engine::clock::Timestamp;
use recourse_engine::export::wire::MAX_LINE;
use serde::Deserialize;

use crate::simulate::{Outcome, Step};

/// One recorded call.
#[derive(Debug, Clone)]
pub(crate) struct RecordedCall {
    /// Index into [`Recording::keys`].
    pub(crate) key: u32,
    /// Index into [`Recording::targets`]: the service instance that made the call.
    pub(crate) target: u32,
    /// Nanoseconds after the recording's first call started.
    pub(crate) start_ns: u64,
    /// The attempts that reached the dependency, in the order they started.
    pub(crate) steps: Vec<Step>,
    /// How the call ended when it was recorded (what a faithful replay reproduces).
    #[cfg(test)]
    pub(crate) succeeded: bool,
}

/// The calls of a recording, in the order they started.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    pub(crate) keys: Vec<String>,
    /// The service instances the calls came from (one executor each in a replay).
    pub(crate) targets: Vec<String>,
    pub(crate) calls: Vec<RecordedCall>,
    /// The wall time of the first call's start.
    pub(crate) origin: Option<Timestamp>,
    /// Calls the recording says it lost (`gap` messages): the figures undercount by them.
    pub(crate) dropped: u64,
    /// Lines that are not recorded events (a truncated last line, stray text).
    pub(crate) skipped: u64,
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    t: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    start: Option<String>,
    /// `subscribed`: which calls the recording asked for.
    #[serde(default)]
    calls: Option<String>,
    /// `gap`: how many calls were lost (in `stats`, an object of counters: not read).
    #[serde(default)]
    dropped: Option<serde_json::Value>,
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code))]
    outcome: String,
    #[serde(default)]
    attempts: Vec<Attempt>,
}

#[derive(Deserialize)]
struct Attempt {
    #[serde(default)]
    start_us: u64,
    #[serde(default)]
    end_us: u64,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    reason: String,
    #[serde(default = "yes")]
    budget_allowed: bool,
    #[serde(default)]
    attributes: HashMap<String, String>,
}

fn yes() -> bool {
    true
}

/// Why a recording cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordingError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a recorded call: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: no calls recorded (record them with `recourse tail --record FILE`)")]
    Empty { path: String },
    #[error(
        "{path}:{line}: recorded with `--calls {calls}`: only some calls were kept, and a replay \
         of them would misstate every rate (record with the default, `--calls all`)"
    )]
    Partial {
        path: String,
        line: usize,
        calls: String,
    },
}

impl Recording {
    /// Reads the calls of the recording `reader` (named `path` in errors), one line at a time;
    /// lines that are not calls (`hello`, `stats`, `gap`, ...) are skipped.
    pub(crate) fn read(reader: impl BufRead, path: &str) -> Result<Recording, RecordingError> {
        let mut rec = Recording::default();
        let (mut keys, mut targets) = (HashMap::new(), HashMap::new());
        let mut starts: Vec<(Timestamp, RecordedCall)> = Vec::new();
        let mut reader = reader;
        let mut bytes = Vec::new();
        for n in 1.. {
            bytes.clear();
            // No recorded line is longer than the wire's limit: a longer one is not a
            // recording, and is not read whole.
            let read = (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut bytes)
                .map_err(|source| RecordingError::Io {
                    path: path.to_owned(),
                    source,
                })?;
            if read == 0 {
                break;
            }
            let bad = |message: String| RecordingError::Line {
                path: path.to_owned(),
                line: n,
                message,
            };
            if bytes.len() > MAX_LINE && bytes.last() != Some(&b'\n') {
                return Err(bad("a line longer than 1 MiB".to_owned()));
            }
            let line = std::str::from_utf8(&bytes)
                .map_err(|e| bad(format!("not UTF-8 (byte {})", e.valid_up_to() + 1)))?;
            if line.trim().is_empty() {
                continue;
            }
            // A line that is not a recorded event (a truncated last line, stray text) is
            // skipped and counted: a replay is about the calls.
            let Ok(l) = serde_json::from_str::<Line>(line) else {
                rec.skipped += 1;
                continue;
            };
            match l.t.as_str() {
                "subscribed" => {
                    if let Some(calls) = l.calls.filter(|c| c != "all") {
                        return Err(RecordingError::Partial {
                            path: path.to_owned(),
                            line: n,
                            calls,
                        });
                    }
                    continue;
                }
                "gap" => {
                    rec.dropped += l.dropped.and_then(|d| d.as_u64()).unwrap_or(0);
                    continue;
                }
                "call" => {}
                _ => continue,
            }
            let Some(start) = l.start.as_deref() else {
                return Err(bad("a call without its start time".to_owned()));
            };
            let start = Timestamp::parse_rfc3339(start)
                .ok_or_else(|| bad(format!("start {start:?} is not an RFC 3339 time")))?;
            let key = intern(&mut rec.keys, &mut keys, &l.key);
            let target = intern(&mut rec.targets, &mut targets, &l.target);
            let mut attempts: Vec<&Attempt> =
                l.attempts.iter().filter(|a| a.budget_allowed).collect();
            attempts.sort_by_key(|a| a.start_us);
            let steps = attempts.into_iter().map(step).collect();
            let call = RecordedCall {
                key,
                target,
                start_ns: 0,
                steps,
                #[cfg(test)]
                succeeded: l.outcome == "success",
            };
            starts.push((start, call));
        }
        if starts.is_empty() {
            return Err(RecordingError::Empty {
                path: path.to_owned(),
            });
        }
        starts.sort_by_key(|(t, _)| *t);
        let origin = starts[0].0;
        rec.origin = Some(origin);
        rec.calls = starts
            .into_iter()
            .map(|(t, mut c)| {
                c.start_ns = t.since(origin).as_nanos() as u64;
                c
            })
            .collect();
        Ok(rec)
    }

    /// From the first call's start to the last one's (at least a millisecond): what rates
    /// are counted over, the same for every replay of the recording.
    pub(crate) fn span(&self) -> Duration {
        Duration::from_nanos(self.calls.last().map_or(0, |c| c.start_ns))
            .max(Duration::from_millis(1))
    }
}

/// The index of `name` in `names`, added if new.
fn intern(names: &mut Vec<String>, index: &mut HashMap<String, u32>, name: &str) -> u32 {
    if let Some(&i) = index.get(name) {
        return i;
    }
    let i = names.len() as u32;
    names.push(name.to_owned());
    index.insert(name.to_owned(), i);
    i
}

/// What the dependency did on one recorded attempt. An attempt cut short (its timeout, or a
/// hedge cancelled because another won) never answered within the time recorded: it stands
/// for one that never answers, which the replayed policy's own timeouts end.
fn step(a: &Attempt) -> Step {
    let latency = Duration::from_micros(a.end_us.saturating_sub(a.start_us));
    let cut = a.reason.contains("deadline")
        || a.reason.contains("timeout")
        || a.reason.contains("cancel")
        || a.outcome == "cancelled";
    let outcome = if cut {
        Outcome::Timeout
    } else if a.outcome == "success" {
        Outcome::Ok
    } else if let Some(status) = a.attributes.get("status").and_then(|s| s.parse().ok()) {
        Outcome::Status {
            status,
            retry_after: None,
            method: a.attributes.get("method").cloned(),
        }
    } else {
        Outcome::Error(a.reason.clone())
    };
    Step { latency, outcome }
}
