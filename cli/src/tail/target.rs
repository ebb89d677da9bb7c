//! Where `tail` reads from: target specs and one follower task per target that connects,
//! subscribes, reads lines and reconnects with capped backoff.

use std::path::PathBuf;
use std::time::Duration;

use recourse_engine::export::wire::{self, Hello, Message};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use recourse_engine::export::wire::CallFilter;

/// What the readers hand to the consumer (line printer or TUI), in arrival order per target.
#[derive(Debug)]
pub(crate) enum Feed {
    /// A target said hello.
    Connected {
        target: usize,
        name: String,
        hello: Box<Hello>,
        raw: Vec<u8>,
    },
    /// A message from a target.
    Line {
        target: usize,
        raw: Vec<u8>,
        msg: Box<Message>,
    },
    /// A target went away or could not be reached; its follower retries.
    Lost { target: usize, why: String },
    /// A discovered service stopped (its socket was removed, or nobody listens on it any more):
    /// its follower has ended. A restart comes back under a new socket, found as a new target.
    Gone { target: usize },
    /// Something worth telling the operator (on stderr in line modes).
    Notice { target: usize, text: String },
    /// A replay reached its end.
    Ended,
}

/// A target as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spec {
    Unix(PathBuf),
    Tcp(String),
}

impl Spec {
    pub(crate) fn parse(text: &str) -> Result<Spec, String> {
        if let Some(addr) = text.strip_prefix("tcp://") {
            if addr.is_empty() || !addr.contains(':') {
                return Err(format!("{text}: expected tcp://host:port"));
            }
            return Ok(Spec::Tcp(addr.to_owned()));
        }
        let path = text.strip_prefix("unix://").unwrap_or(text);
        if path.is_empty() || text.contains("://") && !text.starts_with("unix://") {
            return Err(format!(
                "{text}: expected a socket path, unix:///path or tcp://host:port"
            ));
        }
        Ok(Spec::Unix(PathBuf::from(path)))
    }

    /// Whether it is a socket whose file is gone.
    fn removed(&self) -> bool {
        matches!(self, Spec::Unix(p) if !p.exists())
    }

    /// How notices name it before its hello arrives.
    pub(crate) fn label(&self) -> String {
        match self {
            Spec::Unix(p) => p.display().to_string(),
            Spec::Tcp(a) => format!("tcp://{a}"),
        }
    }
}

type Halves = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

async fn connect(spec: &Spec) -> std::io::Result<Halves> {
    let timeout = Duration::from_secs(3);
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out");
    match spec {
        #[cfg(unix)]
        Spec::Unix(path) => {
            let s = tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path))
                .await
                .map_err(|_| timed_out())??;
            let (r, w) = s.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
        #[cfg(not(unix))]
        Spec::Unix(_) => Err(std::io::Error::other("Unix sockets need a Unix system")),
        Spec::Tcp(addr) => {
            let s = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| timed_out())??;
            let _ = s.set_nodelay(true);
            let (r, w) = s.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
    }
}

/// Follows one target until the consumer goes away: connect, hello, subscribe, read; on loss,
/// retry after 100 ms, doubling up to 5 s. A `discovered` socket is let go instead once its
/// service is gone: the file removed, or nobody listening on it.
pub(crate) async fn follow(
    target: usize,
    spec: Spec,
    subscribe: Vec<u8>,
    tx: mpsc::Sender<Feed>,
    discovered: bool,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let (why, gone) = match connect(&spec).await {
            Ok((r, w)) => {
                backoff = Duration::from_millis(100);
                let why = session(target, r, w, &subscribe, &tx).await;
                (why, discovered && spec.removed())
            }
            Err(e) => {
                let dead = matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                );
                (format!("{}: {e}", spec.label()), discovered && dead)
            }
        };
        let feed = if gone {
            Feed::Gone { target }
        } else {
            Feed::Lost { target, why }
        };
        if tx.send(feed).await.is_err() || gone {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn session(
    target: usize,
    r: Box<dyn AsyncRead + Send + Unpin>,
    mut w: Box<dyn AsyncWrite + Send + Unpin>,
    subscribe: &[u8],
    tx: &mpsc::Sender<Feed>,
) -> String {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut line = Vec::with_capacity(1024);
    let first = tokio::time::timeout(Duration::from_secs(5), read_line(&mut reader, &mut line));
    match first.await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return "closed before saying hello".into(),
        Ok(Err(e)) => return e,
        Err(_) => return "no hello within 5 s".into(),
    }
    let hello = match wire::decode_line(&line) {
        Ok(Message::Hello(h)) if h.v == wire::VERSION => h,
        Ok(Message::Hello(h)) => {
            return format!(
                "speaks protocol version {}; this recourse speaks {}",
                h.v,
                wire::VERSION
            );
        }
        _ => return "not a recourse export endpoint (no hello)".into(),
    };
    if let Err(e) = w.write_all(subscribe).await {
        return format!("cannot subscribe: {e}");
    }
    let name = hello
        .instance
        .clone()
        .unwrap_or_else(|| hello.service.clone());
    let connected = Feed::Connected {
        target,
        name,
        hello: Box::new(hello),
        raw: std::mem::take(&mut line),
    };
    if tx.send(connected).await.is_err() {
        return String::new();
    }
    loop {
        line.clear();
        match read_line(&mut reader, &mut line).await {
            Ok(true) => {}
            Ok(false) => return "the service closed the connection".into(),
            Err(e) => return e,
        }
        let feed = match wire::decode_line(&line) {
            Ok(Message::Unknown) => continue,
            Ok(Message::Error(e)) if e.fatal => {
                let _ = tx
                    .send(Feed::Notice {
                        target,
                        text: format!("refused: {} ({})", e.msg, e.code),
                    })
                    .await;
                continue;
            }
            Ok(msg) => Feed::Line {
                target,
                raw: line.clone(),
                msg: Box::new(msg),
            },
            Err(e) => Feed::Notice {
                target,
                text: format!("skipped a line: {e}"),
            },
        };
        if tx.send(feed).await.is_err() {
            return String::new();
        }
    }
}

/// Reads one line (at most 1 MiB); `Ok(false)` at the end of the stream.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> Result<bool, String> {
    let limit = wire::MAX_LINE as u64 + 1;
    let n = (&mut *reader)
        .take(limit)
        .read_until(b'\n', line)
        .await
        .map_err(|e| format!("read failed: {e}"))?;
    if n == 0 {
        return Ok(false);
    }
    if line.len() > wire::MAX_LINE {
        return Err("a line longer than 1 MiB; disconnecting".into());
    }
    Ok(true)
}

/// The `subscribe` line for these keys, message types, rate and calls.
pub(crate) fn subscribe_line(
    keys: &[String],
    events: &[&str],
    max_rate: Option<u32>,
    calls: CallFilter,
    token: Option<&str>,
) -> Vec<u8> {
    let mut v = serde_json::json!({
        "t": "subscribe",
        "v": wire::VERSION,
        "client": concat!("recourse-cli ", env!("CARGO_PKG_VERSION")),
        "keys": keys,
        "events": events,
    });
    if let Some(r) = max_rate {
        v["max_rate"] = r.into();
    }
    if calls != CallFilter::All {
        v["calls"] = calls.as_str().into();
    }
    if let Some(t) = token {
        v["token"] = t.into();
    }
    let mut line = serde_json::to_vec(&v).unwrap_or_default();
    line.push(b'\n');
    line
}

/// `raw` with `"target":name` as its first field (the `--record` and `--output json` format);
/// a line that already starts with its target (a replayed recording) is kept as it is.
pub(crate) fn with_target(raw: &[u8], name: &str) -> Vec<u8> {
    let raw = raw.trim_ascii_end();
    if raw.starts_with(b"{\"target\":") {
        let mut out = raw.to_vec();
        out.push(b'\n');
        return out;
    }
    let mut out = Vec::with_capacity(raw.len() + name.len() + 16);
    out.extend_from_slice(b"{\"target\":");
    out.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
    match raw.get(1..) {
        Some(rest) if rest.trim_ascii_start().starts_with(b"}") => out.extend_from_slice(rest),
        Some(rest) => {
            out.push(b',');
            out.extend_from_slice(rest);
        }
        None => out.push(b'}'),
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_paths_and_tcp() {
        assert_eq!(
            Spec::parse("/run/x.sock"),
            Ok(Spec::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            Spec::parse("unix:///run/x.sock"),
            Ok(Spec::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            Spec::parse("tcp://127.0.0.1:7079"),
            Ok(Spec::Tcp("127.0.0.1:7079".into()))
        );
        assert!(Spec::parse("tcp://nohost").is_err());
        assert!(Spec::parse("http://x").is_err());
        assert!(Spec::parse("").is_err());
    }

    #[test]
    fn target_goes_first_and_the_rest_is_kept_byte_for_byte() {
        let line = br#"{"t":"call","seq":3,"key":"a.B"}"#;
        let out = with_target(line, "svc-1");
        assert_eq!(
            out,
            b"{\"target\":\"svc-1\",\"t\":\"call\",\"seq\":3,\"key\":\"a.B\"}\n"
        );
        assert_eq!(with_target(b"{}", "x"), b"{\"target\":\"x\"}\n");
        assert_eq!(
            with_target(&out, "other"),
            out,
            "a recorded line keeps its target"
        );
        let v: serde_json::Value = serde_json::from_slice(&with_target(line, "a\"b")).unwrap();
        assert_eq!(v["target"], "a\"b");
    }
}
