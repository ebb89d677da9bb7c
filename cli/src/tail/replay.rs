//! `--replay`: a recording played back through the same consumer, paced by its timestamps.

use std::path::PathBuf;
use std::time::Duration;

use recourse_engine::export::wire::{self, Hello, Message};
use rustc_hash::FxHashMap;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use super::target::{Feed, MAX_TARGETS};

/// Plays `path` at `speed` (1 = real time, 0 = as fast as possible), then sends
/// [`Feed::Ended`].
pub(crate) async fn replay(path: PathBuf, speed: f64, tx: mpsc::Sender<Feed>) {
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            let text = format!("cannot read {}: {e}", path.display());
            let _ = tx.send(Feed::Notice { target: 0, text }).await;
            let _ = tx.send(Feed::Ended).await;
            return;
        }
    };
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut targets: FxHashMap<String, usize> = FxHashMap::default();
    let mut line = Vec::new();
    let mut clock: Option<(i64, tokio::time::Instant)> = None;
    let mut number = 0usize;
    let mut told = false;
    loop {
        line.clear();
        match next_line(&mut reader, &mut line).await {
            Ok(Next::End) => break,
            Ok(Next::Line) => number += 1,
            Ok(Next::TooLong) => {
                number += 1;
                let text = format!(
                    "{}:{number}: skipped: a line longer than 1 MiB",
                    path.display()
                );
                if tx.send(Feed::Notice { target: 0, text }).await.is_err() {
                    return;
                }
                continue;
            }
            Err(e) => {
                let text = format!("{}: read failed: {e}", path.display());
                let _ = tx.send(Feed::Notice { target: 0, text }).await;
                break;
            }
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let msg = match wire::decode_line(&line) {
            Ok(Message::Unknown) => continue,
            Ok(m) => m,
            Err(e) => {
                let text = format!("{}:{number}: skipped: {e}", path.display());
                if tx.send(Feed::Notice { target: 0, text }).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let (name, ts) = origin(&msg);
        // A hello's time says when a connection began, not when anything happened: it does
        // not set the pace (recordings of older services put the service's start there).
        let paced = !matches!(msg, Message::Hello(_));
        if speed > 0.0
            && paced
            && let Some(ts) = ts.and_then(parse_ts_micros)
        {
            let (t0, wall0) = *clock.get_or_insert((ts, tokio::time::Instant::now()));
            let offset = Duration::from_secs_f64(((ts - t0).max(0) as f64 / 1e6) / speed);
            tokio::time::sleep_until(wall0 + offset).await;
        }
        let name = name.unwrap_or("recording").to_owned();
        let next = targets.len();
        if next >= MAX_TARGETS && !targets.contains_key(&name) {
            if !told {
                told = true;
                let text = format!(
                    "{}:{number}: more than {MAX_TARGETS} targets; the lines of further ones \
                     are skipped",
                    path.display()
                );
                if tx.send(Feed::Notice { target: 0, text }).await.is_err() {
                    return;
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
            if tx.send(connected).await.is_err() {
                return;
            }
        }
        if matches!(msg, Message::Hello(_)) {
            continue;
        }
        let feed = Feed::Line {
            target,
            raw: line.clone(),
            msg: Box::new(msg),
        };
        if tx.send(feed).await.is_err() {
            return;
        }
    }
    let _ = tx.send(Feed::Ended).await;
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
