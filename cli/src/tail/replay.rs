//! `--replay`: a recording played back through the same consumer, paced by its timestamps,
//! and, from the TUI, paused, stepped call by call, and moved forwards or backwards in time.

use std::path::PathBuf;
use std::time::Duration;

use recourse_engine::export::wire::{self, Hello, Message};
use rustc_hash::FxHashMap;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::target::{Feed, MAX_TARGETS};

/// What the TUI asks of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Pause, or play on from where it stopped.
    Pause,
    /// While paused: play up to and including the next call.
    Step,
    /// Move by this much recording time (µs; negative: back).
    Seek(i64),
}

/// What a pass over the recording ended with.
enum Pass {
    /// The file's end.
    End,
    /// Play it again from the start, at once up to this time (a seek backwards).
    Rewind(i64),
    /// The consumer (or the file) is gone.
    Stop,
}

/// A replay's state across passes over the file.
struct Player {
    path: PathBuf,
    speed: f64,
    tx: mpsc::Sender<Feed>,
    controls: Option<mpsc::Receiver<Control>>,
    paused: bool,
    /// Play up to the next call, then pause.
    stepping: bool,
    /// Play without pacing until the recording reaches this time.
    until_us: Option<i64>,
    /// The time of the newest message played (µs).
    at_us: Option<i64>,
    /// Recording time and wall time that pace the messages after them.
    anchor: Option<(i64, Instant)>,
}

/// Plays `path` at `speed` (1 = real time, 0 = as fast as possible), then sends
/// [`Feed::Ended`]. With `controls` (the TUI's), it then waits for a seek backwards instead of
/// returning.
pub(crate) async fn replay(
    path: PathBuf,
    speed: f64,
    tx: mpsc::Sender<Feed>,
    controls: Option<mpsc::Receiver<Control>>,
) {
    let mut player = Player {
        path,
        speed,
        tx,
        controls,
        paused: false,
        stepping: false,
        until_us: None,
        at_us: None,
        anchor: None,
    };
    loop {
        match player.pass().await {
            Pass::Stop => return,
            Pass::Rewind(to) => player.rewind(to),
            Pass::End => {
                if player.tx.send(Feed::Ended).await.is_err() {
                    return;
                }
                // At the end a seek backwards plays again; without controls, that is all.
                loop {
                    let Some(control) = player.next_control().await else {
                        return;
                    };
                    if let Control::Seek(by) = control
                        && by < 0
                    {
                        let to = player.at_us.unwrap_or(0) + by;
                        player.rewind(to);
                        break;
                    }
                }
            }
        }
        if player
            .tx
            .send(Feed::Rewound {
                to_us: player.until_us.unwrap_or(0),
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

impl Player {
    /// Starts over from the file's start, playing at once up to `to_us`.
    fn rewind(&mut self, to_us: i64) {
        self.until_us = Some(to_us);
        self.at_us = None;
        self.anchor = None;
        self.stepping = false;
    }

    /// Tells the operator `text`; false once the consumer is gone.
    async fn notice(&self, text: String) -> bool {
        self.tx.send(Feed::Notice { target: 0, text }).await.is_ok()
    }

    async fn next_control(&mut self) -> Option<Control> {
        match &mut self.controls {
            Some(rx) => rx.recv().await,
            None => None,
        }
    }

    /// Applies `control`; a seek backwards asks for a new pass.
    fn apply(&mut self, control: Control) -> Option<Pass> {
        match control {
            Control::Pause => {
                self.paused = !self.paused;
                self.stepping = false;
                // Playing on paces from now.
                self.anchor = self.at_us.map(|at| (at, Instant::now()));
            }
            Control::Step if self.paused => self.stepping = true,
            Control::Step => {}
            Control::Seek(by) => {
                let at = self.at_us.unwrap_or(0);
                if by < 0 {
                    return Some(Pass::Rewind(at + by));
                }
                self.until_us = Some(at + by);
            }
        }
        None
    }

    /// Waits until the message at `ts` is due, obeying controls meanwhile; `Some` when a
    /// control ends the pass.
    async fn wait_for(&mut self, ts: i64) -> Option<Pass> {
        loop {
            // Up to and including the seek's time, messages are played at once.
            if self.until_us.is_some_and(|until| ts <= until) || self.stepping {
                return None;
            }
            if let Some(until) = self.until_us.take() {
                // The seek's time is reached: pace from here.
                self.anchor = Some((until.max(self.at_us.unwrap_or(until)), Instant::now()));
            }
            let due = if self.paused || self.speed <= 0.0 {
                None
            } else {
                let (t0, wall0) = *self.anchor.get_or_insert((ts, Instant::now()));
                let secs = ((ts - t0).max(0) as f64 / 1e6) / self.speed;
                Some(wall0 + Duration::from_secs_f64(secs))
            };
            if !self.paused && due.is_none_or(|d| d <= Instant::now()) {
                return None;
            }
            let control = match (&mut self.controls, due) {
                (Some(rx), Some(due)) => tokio::select! {
                    c = rx.recv() => c,
                    () = tokio::time::sleep_until(due) => return None,
                },
                (Some(rx), None) => rx.recv().await,
                (None, Some(due)) => {
                    tokio::time::sleep_until(due).await;
                    return None;
                }
                (None, None) => return None,
            };
            let Some(control) = control else {
                // The TUI is gone.
                return Some(Pass::Stop);
            };
            if let Some(pass) = self.apply(control) {
                return Some(pass);
            }
        }
    }

    /// One pass over the file.
    async fn pass(&mut self) -> Pass {
        let path = &self.path;
        let file = match tokio::fs::File::open(path).await {
            Ok(f) => f,
            Err(e) => {
                let text = format!("cannot read {}: {e}", path.display());
                self.notice(text).await;
                return Pass::End;
            }
        };
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut targets: FxHashMap<String, usize> = FxHashMap::default();
        let mut line = Vec::new();
        let mut number = 0usize;
        let mut told = false;
        loop {
            line.clear();
            let notice = match next_line(&mut reader, &mut line).await {
                Ok(Next::End) => return Pass::End,
                Ok(Next::Line) => {
                    number += 1;
                    None
                }
                Ok(Next::TooLong) => {
                    number += 1;
                    Some(format!(
                        "{}:{number}: skipped: a line longer than 1 MiB",
                        self.path.display()
                    ))
                }
                Err(e) => {
                    let text = format!("{}: read failed: {e}", self.path.display());
                    self.notice(text).await;
                    return Pass::End;
                }
            };
            if let Some(text) = notice {
                if !self.notice(text).await {
                    return Pass::Stop;
                }
                continue;
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            let msg = match wire::decode_line(&line) {
                Ok(Message::Unknown) => continue,
                Ok(m) => m,
                Err(e) => {
                    let text = format!("{}:{number}: skipped: {e}", self.path.display());
                    if !self.notice(text).await {
                        return Pass::Stop;
                    }
                    continue;
                }
            };
            let (name, ts) = origin(&msg);
            // A hello's time says when a connection began, not when anything happened: it does
            // not set the pace (recordings of older services put the service's start there).
            let hello = matches!(msg, Message::Hello(_));
            if !hello && let Some(ts) = ts.and_then(parse_ts_micros) {
                if let Some(pass) = self.wait_for(ts).await {
                    return pass;
                }
                self.at_us = Some(self.at_us.map_or(ts, |at| at.max(ts)));
            }
            let name = name.unwrap_or("recording").to_owned();
            let next = targets.len();
            if next >= MAX_TARGETS && !targets.contains_key(&name) {
                if !told {
                    told = true;
                    let text = format!(
                        "{}:{number}: more than {MAX_TARGETS} targets; the lines of further \
                         ones are skipped",
                        self.path.display()
                    );
                    if !self.notice(text).await {
                        return Pass::Stop;
                    }
                }
                continue;
            }
            let target = *targets.entry(name.clone()).or_insert(next);
            if target == next {
                let hello = match &msg {
                    Message::Hello(h) => h.clone(),
                    _ => Hello {
                        service: name.clone(),
                        ..Hello::default()
                    },
                };
                let connected = Feed::Connected {
                    target,
                    name,
                    hello: Box::new(hello),
                    raw: line.clone(),
                };
                if self.tx.send(connected).await.is_err() {
                    return Pass::Stop;
                }
            }
            if hello {
                continue;
            }
            let is_call = matches!(msg, Message::Call(_));
            let feed = Feed::Line {
                target,
                raw: line.clone(),
                msg: Box::new(msg),
            };
            if self.tx.send(feed).await.is_err() {
                return Pass::Stop;
            }
            if self.stepping && is_call {
                self.stepping = false;
            }
        }
    }
}

/// What reading one line of a recording gave.
enum Next {
    Line,
    TooLong,
    End,
}

/// Reads the next line into `line` (at most 1 MiB, as live tail reads, cleaned of control
/// characters); a longer one is skipped to its end.
async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<Next> {
    let n = (&mut *reader)
        .take(wire::MAX_LINE as u64 + 1)
        .read_until(b'\n', line)
        .await?;
    if n == 0 {
        return Ok(Next::End);
    }
    if line.len() <= wire::MAX_LINE {
        super::sanitize::clean_line(line);
        return Ok(Next::Line);
    }
    let ended = line.last() == Some(&b'\n');
    line.clear();
    if !ended {
        skip_line(reader).await?;
    }
    Ok(Next::TooLong)
}

/// Consumes the rest of the current line, its newline included.
async fn skip_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            reader.consume(i + 1);
            return Ok(());
        }
        let all = buf.len();
        reader.consume(all);
    }
}

fn origin(msg: &Message) -> (Option<&str>, Option<&str>) {
    match msg.common() {
        Some(c) => (c.target.as_deref(), c.ts.as_deref()),
        None => (None, None),
    }
}

/// Microseconds since the Unix epoch of an RFC 3339 UTC time (`2026-11-28T15:22:09.118164Z`).
pub(crate) fn parse_ts_micros(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !ts.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = ts.get(19..ts.len() - 1)?;
    let micros = match frac.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            format!("{f:0<6}").get(..6)?.parse::<i64>().ok()?
        }
        None if frac.is_empty() => 0,
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_epoch_micros() {
        assert_eq!(parse_ts_micros("1970-01-01T00:00:00.000000Z"), Some(0));
        assert_eq!(parse_ts_micros("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(
            parse_ts_micros("2026-01-01T00:00:00.5Z"),
            Some(1_767_225_600_000_000 + 500_000)
        );
        assert_eq!(parse_ts_micros("yesterday"), None);
        assert_eq!(parse_ts_micros("2026-01-01T00:00:00.Z"), None);
    }
}
