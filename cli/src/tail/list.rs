//! `tail --list`: the services tail would follow, without following them. Each is asked, side
//! by side, who it is (its `hello`) and which keys it knows (the `subscribed` answer to a
//! subscription with tail's `--key` globs); a socket nobody answers on is listed with why.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use recourse_engine::clock::Timestamp;
use recourse_engine::export::wire::{self, CallFilter, Hello, Message};
use serde_json::json;
use tokio::io::{AsyncWriteExt, BufReader};

use super::follow::{Subscription, connect_once, greet, introduced, read_line, shown_name};
use super::target::Spec;
use crate::exit::Status;

/// How long one service has to answer, connection included.
const PATIENCE: Duration = Duration::from_secs(3);

/// One listed target: what it said, or why it could not be asked.
#[derive(Debug)]
struct Listed {
    target: String,
    answer: Result<Answer, String>,
}

#[derive(Debug)]
struct Answer {
    hello: Hello,
    /// The keys the service knows that match the globs, or none when it did not say in time.
    keys: Option<Vec<String>>,
}

/// Lists `specs`, or every socket in the socket directory (stale ones too) when there are
/// none; in a table, or as one JSON document. 0 when a service answered, 2 otherwise.
pub(crate) async fn list(
    specs: Vec<Spec>,
    keys: Vec<String>,
    token: Option<String>,
    json: bool,
) -> Status {
    let specs = if specs.is_empty() {
        let dir = recourse_engine::export::socket_dir();
        if let Err(e) = super::trust::socket_dir(&dir) {
            eprintln!("error: {e}");
            return Status::Usage;
        }
        let found = super::discovery::sockets(&dir);
        if found.is_empty() {
            eprintln!(
                "error: no services found in {}\n  help: start a service with export on \
                 (or `recourse demo`), or pass --target",
                dir.display()
            );
            if !json {
                return Status::Usage;
            }
        }
        found.into_iter().map(Spec::Unix).collect()
    } else {
        specs
    };
    let subscription = Subscription {
        keys,
        events: vec!["stats"],
        max_rate: None,
        calls: CallFilter::All,
        token,
    };
    let subscription = Arc::new(subscription);
    let mut asked = tokio::task::JoinSet::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let subscription = subscription.clone();
        asked.spawn(async move {
            let answer = tokio::time::timeout(PATIENCE, ask(&spec, &subscription))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {}s", PATIENCE.as_secs())));
            let target = spec.label();
            (i, Listed { target, answer })
        });
    }
    let mut listed: Vec<(usize, Listed)> = asked.join_all().await;
    listed.sort_by_key(|(i, _)| *i);
    let listed: Vec<Listed> = listed.into_iter().map(|(_, l)| l).collect();
    let now = SystemTime::now();
    if json {
        println!("{}", document(&listed, now));
    } else {
        print!("{}", table(&listed, now));
    }
    if listed.iter().any(|l| l.answer.is_ok()) {
        Status::Ok
    } else {
        if !listed.is_empty() {
            eprintln!("error: no service answered");
        }
        Status::Usage
    }
}

/// Connects, reads the hello, subscribes, and waits for the `subscribed` answer.
async fn ask(spec: &Spec, subscription: &Subscription) -> Result<Answer, String> {
    let (r, mut w) = connect_once(spec).await?;
    let mut reader = BufReader::new(r);
    let mut line = Vec::with_capacity(1024);
    let hello = greet(&mut reader, &mut line).await?;
    if w.write_all(&subscription.line()).await.is_err() {
        return Ok(Answer { hello, keys: None });
    }
    let hello = if hello.anonymous() {
        introduced(&mut reader, &mut line).await?
    } else {
        hello
    };
    loop {
        line.clear();
        if !matches!(read_line(&mut reader, &mut line).await, Ok(true)) {
            return Ok(Answer { hello, keys: None });
        }
        match wire::decode_line(&line) {
            Ok(Message::Subscribed(s)) => {
                return Ok(Answer {
                    hello,
                    keys: Some(s.matched),
                });
            }
            Ok(Message::Error(e)) if e.fatal => return Err(format!("refused: {}", e.msg)),
            _ => {}
        }
    }
}

/// How long the service has run, from its hello.
fn uptime(hello: &Hello, now: SystemTime) -> Option<Duration> {
    let started = Timestamp::parse_rfc3339(hello.started_at.as_deref()?)?;
    now.duration_since(started.to_system_time()).ok()
}

/// `45s`, `3m12s`, `2h05m`, `4d03h`: two units at most.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
        _ => format!("{}d{:02}h", s / 86_400, (s / 3600) % 24),
    }
}

fn table(listed: &[Listed], now: SystemTime) -> String {
    let rows: Vec<[String; 6]> = listed
        .iter()
        .map(|l| match &l.answer {
            Ok(a) => [
                shown_name(&a.hello),
                a.hello.pid.map_or("-".into(), |p| p.to_string()),
                a.hello.engine.clone().unwrap_or_else(|| "-".into()),
                uptime(&a.hello, now).map_or("-".into(), short),
                a.keys.as_ref().map_or("-".into(), |k| k.len().to_string()),
                l.target.clone(),
            ],
            Err(why) => [
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("{} ({why})", l.target),
            ],
        })
        .collect();
    let header = ["SERVICE", "PID", "ENGINE", "UP", "KEYS", "TARGET"].map(String::from);
    let mut widths = [0; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn document(listed: &[Listed], now: SystemTime) -> serde_json::Value {
    let services: Vec<serde_json::Value> = listed
        .iter()
        .map(|l| match &l.answer {
            Ok(a) => json!({
                "target": l.target,
                "reachable": true,
                "service": a.hello.service,
                "instance": a.hello.instance,
                "pid": a.hello.pid,
                "engine": a.hello.engine,
                "started_at": a.hello.started_at,
                "uptime_s": uptime(&a.hello, now).map(|d| d.as_secs()),
                "keys": a.keys,
            }),
            Err(why) => json!({
                "target": l.target,
                "reachable": false,
                "error": why,
            }),
        })
        .collect();
    json!({ "version": 1, "services": services })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(started_at: &str) -> Hello {
        serde_json::from_value(json!({
            "v": 1, "service": "checkout", "instance": "checkout-42", "pid": 42,
            "engine": "0.1.0", "started_at": started_at,
        }))
        .unwrap()
    }

    #[test]
    fn uptimes_keep_two_units() {
        let cases = [
            (45, "45s"),
            (192, "3m12s"),
            (7_500, "2h05m"),
            (356_400, "4d03h"),
        ];
        for (secs, text) in cases {
            assert_eq!(short(Duration::from_secs(secs)), text);
        }
    }

    #[test]
    fn the_table_lines_up_answers_and_refusals() {
        let started = Timestamp::parse_rfc3339("2026-11-29T03:00:00.000000Z").unwrap();
        let now = started.plus(Duration::from_secs(192)).to_system_time();
        let listed = [
            Listed {
                target: "/run/recourse/checkout-42.sock".into(),
                answer: Ok(Answer {
                    hello: hello("2026-11-29T03:00:00.000000Z"),
                    keys: Some(vec!["payments.Charge".into(), "payments.Refund".into()]),
                }),
            },
            Listed {
                target: "/run/recourse/old-7.sock".into(),
                answer: Err("stale: nobody listens on it".into()),
            },
        ];
        assert_eq!(
            table(&listed, now),
            "SERVICE      PID  ENGINE  UP     KEYS  TARGET\n\
             checkout-42  42   0.1.0   3m12s  2     /run/recourse/checkout-42.sock\n\
             -            -    -       -      -     /run/recourse/old-7.sock (stale: nobody listens on it)\n"
        );
        let docs = include_str!("../../../docs/tail.md");
        assert!(
            docs.contains(&table(&listed, now)),
            "docs/tail.md shows this table"
        );
        let doc = document(&listed, now);
        assert_eq!(doc["services"][0]["uptime_s"], 192);
        assert_eq!(doc["services"][0]["keys"][1], "payments.Refund");
        assert_eq!(doc["services"][1]["reachable"], false);
    }
}
