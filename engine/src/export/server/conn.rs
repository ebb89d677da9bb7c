//! One connection: the hello, the reader (subscriptions, pings, the token) and the writer
//! (the client's queue, numbered, with its losses as `gap`s).
//!
//! A client can cost the service only so much: it reads at most [`LINES_PER_SECOND`] lines
//! (after a burst), each at most 64 KiB; [`MAX_BAD_LINES`] lines that are not messages end the
//! connection; a TCP client that must authenticate gets an anonymous `hello`, and nothing but
//! a closed connection until a `subscribe` with the token arrives within the deadline.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::client::{ALL_EVENTS, CALL, CIRCUIT, Client, STATS, lock};
use super::listen::Slot;
use super::outbox::{Batch, Frame};
use super::pump::CALL_PREFIX;
use crate::ManualControl;
use crate::export::filter::KeyFilter;
use crate::export::wire::{
    self, CallFilter, Common, Control, Controlled, Dropped, ErrorEvent, Gap, Hello, Message,
    Subscribe, Subscribed, control,
};
use crate::key::{Key, MAX_KEY_LEN};
use crate::policy::set::suggest;

/// The longest line a client may send.
const MAX_CLIENT_LINE: usize = 64 * 1024;
/// Lines that are not messages a client may send before it is disconnected.
pub(super) const MAX_BAD_LINES: u32 = 8;
/// Lines a client may send per second, after a burst of as many.
pub(super) const LINES_PER_SECOND: f64 = 32.0;
/// About the most bytes the writer hands the socket at once.
const WRITE_BATCH: usize = 64 * 1024;

/// How a connection came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Peer {
    /// The Unix socket, from the service's own user (`owner`) or root, by its credentials.
    Unix { owner: bool },
    /// TCP without a token (a loopback address).
    Tcp,
    /// TCP with a token: nothing about the service until the client sends it.
    NeedsToken,
}

impl Peer {
    /// Why this peer may not set breakers by hand, if it may not: only the service's own
    /// user on the Unix socket, or a TCP client that sent the token, may.
    fn control_refused(self) -> Option<String> {
        match self {
            Peer::Unix { owner: true } | Peer::NeedsToken => None,
            Peer::Unix { owner: false } => Some(format!(
                "control is accepted only from the service's own user (uid {}), not from \
                 another user, root included",
                crate::export::socket_dir::uid()
            )),
            Peer::Tcp => Some(
                "control over TCP needs a token: the service must set ExportConfig::token".into(),
            ),
        }
    }
}

pub(super) async fn serve<S>(shared: Arc<Shared>, stream: S, peer: Peer, mut slot: Slot)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let client = Arc::new(Client::new(
        id,
        shared.config.default_max_rate,
        shared.limits(),
    ));
    if peer == Peer::NeedsToken {
        client.send(shared.hello(peer, false));
    } else {
        client.send(shared.hello(peer, true));
        // Without a subscribe a client gets every key at the default rate.
        shared.join(&client);
    }
    let (r, w) = tokio::io::split(stream);
    let done = shared.shutdown.child_token();
    tokio::join!(
        read_loop(&shared, &client, r, &done, &mut slot, peer),
        write_loop(&shared, &client, w, &done),
    );
    shared.remove(id);
}

impl Shared {
    /// `hello`: who the service is, once the client is `known`; before a TCP client's token,
    /// only the protocol version and that a token is required.
    fn hello(&self, peer: Peer, known: bool) -> Message {
        let common = Common::at(self.now());
        let auth = if peer == Peer::NeedsToken {
            "token"
        } else {
            "none"
        };
        if !known {
            return Message::Hello(Hello {
                v: wire::VERSION,
                auth: Some(auth.into()),
                common,
                ..Hello::default()
            });
        }
        let pid = std::process::id();
        Message::Hello(Hello {
            v: wire::VERSION,
            service: self.config.service.clone(),
            instance: Some(format!("{}-{pid}", self.config.service)),
            pid: Some(pid.into()),
            engine: Some(env!("CARGO_PKG_VERSION").into()),
            started_at: Some(self.started_at.clone()),
            include_errors: self.config.include_errors,
            auth: Some(auth.into()),
            control: self.config.control,
            common,
        })
    }

    /// Lets `client` receive events: every key, until it subscribes.
    fn join(&self, client: &Arc<Client>) {
        let mut sub = lock(&client.sub);
        sub.filter = Some(KeyFilter::default());
        sub.version += 1;
        drop(sub);
        self.add(client);
        self.hub.set_filter(client.id, Some(KeyFilter::default()));
    }

    fn subscribe(&self, client: &Client, s: &Subscribe) {
        let filter = KeyFilter::new(&s.keys);
        let mut events = 0;
        for e in &s.events {
            events |= match e.as_str() {
                "call" => CALL,
                "stats" => STATS,
                "circuit" => CIRCUIT,
                _ => 0,
            };
        }
        if s.events.is_empty() {
            events = ALL_EVENTS;
        }
        let max_rate = s
            .max_rate
            .unwrap_or(self.config.default_max_rate)
            .clamp(1, self.config.max_rate_cap);
        let calls = CallFilter::from_wire(s.calls.as_deref());
        {
            let mut sub = lock(&client.sub);
            sub.filter = Some(filter.clone());
            sub.events = events;
            sub.max_rate = max_rate;
            sub.calls = calls;
            sub.version += 1;
        }
        let matched = self
            .keys
            .keys()
            .into_iter()
            .filter(|k| filter.matches(k.as_str()))
            .map(|k| k.as_str().to_owned())
            .collect();
        self.hub.set_filter(client.id, Some(filter));
        client.send(Message::Subscribed(Subscribed {
            matched,
            max_rate: Some(max_rate),
            calls: Some(calls.as_str().into()),
            common: Common::at(self.now()),
        }));
        // What happened before it connected, then the live calls.
        self.send_backfill(client);
    }

    /// Answers a `control`: `controlled` with the breakers it concerns, or an `error` saying
    /// why it was refused (`control_disabled`, `forbidden`, `bad_request`, `shared_state`).
    fn control(&self, peer: Peer, c: &Control) -> Message {
        let action = c.action.as_str();
        let to = match action {
            control::ISOLATE => Some(ManualControl::Isolated),
            control::CLOSE => Some(ManualControl::ForcedClosed),
            control::RELEASE | control::STATUS => None,
            other => {
                let other = other.chars().take(64).collect::<String>();
                let msg = format!("unknown action {other:?}: isolate, close, release or status");
                return self.error("bad_request", msg, false);
            }
        };
        let key = match c.key.as_deref().map(checked_key).transpose() {
            Ok(key) => key,
            Err(why) => return self.error("bad_request", why, false),
        };
        let mut more = 0;
        let keys = if action == control::STATUS {
            // Reading the breakers needs no more rights than reading `stats`. A service with
            // many keys answers for the first ones and says how many it left out.
            let mut keys = key.map_or_else(|| self.keys.keys(), |k| vec![k]);
            more = keys.len().saturating_sub(control::MAX_STATUS_KEYS) as u64;
            keys.truncate(control::MAX_STATUS_KEYS);
            keys
        } else {
            if !self.config.control {
                let msg = "this service does not accept control: it is built without \
                           ExportConfig::allow_control(true)";
                return self.error("control_disabled", msg, false);
            }
            if let Some(why) = peer.control_refused() {
                return self.error("forbidden", why, false);
            }
            let Some(key) = key else {
                return self.error("bad_request", format!("{action} needs a key"), false);
            };
            if to.is_some() && !c.force && !self.keys.known(key.as_str()) {
                return self.error("unknown_key", self.unknown(&key), false);
            }
            if let Err(e) = self.keys.control(key.as_str(), to) {
                return self.error("shared_state", e.to_string(), false);
            }
            vec![key]
        };
        let keys = keys
            .into_iter()
            .map(|k| {
                let state = self.keys.circuit(&k).unwrap_or(control::NO_BREAKER);
                (k.as_str().to_owned(), state.to_owned())
            })
            .collect();
        Message::Controlled(Controlled {
            action: action.to_owned(),
            keys,
            more,
            common: Common::at(self.now()),
        })
    }

    /// Why setting a key the service has never called is refused, with the closest key it
    /// has called when one is a likely typo.
    fn unknown(&self, key: &Key) -> String {
        let known = self.keys.keys();
        let near = suggest(key.as_str(), known.iter().map(Key::as_str));
        let hint = near.map_or_else(String::new, |k| format!("; did you mean `{k}`?"));
        format!(
            "this service has never called `{key}`{hint} (to set a key before its first call, \
             send force: recourse breaker ... --force)",
            key = key.as_str()
        )
    }

    fn error(&self, code: &str, msg: impl Into<String>, fatal: bool) -> Message {
        Message::Error(ErrorEvent {
            code: code.into(),
            msg: msg.into(),
            fatal,
            common: Common::at(self.now()),
        })
    }

    /// Whether a subscribe on this connection may go on: a TCP client with a token sends it
    /// in every subscribe.
    fn token_ok(&self, peer: Peer, s: &Subscribe) -> bool {
        let want = match (peer, self.config.token.as_deref()) {
            (Peer::NeedsToken, Some(want)) => want,
            _ => return true,
        };
        s.token
            .as_deref()
            .is_some_and(|got| same(want.as_bytes(), got.as_bytes()))
    }
}

/// A key as a `control` names it: as `key!` checks a literal, non-empty, at most
/// [`MAX_KEY_LEN`] bytes, no whitespace or control characters, no dot at either end (a key is
/// code's spelling, never free text).
fn checked_key(text: &str) -> Result<Key, String> {
    let fine = !text.is_empty()
        && text.len() <= MAX_KEY_LEN
        && !text.starts_with('.')
        && !text.ends_with('.')
        && !text.chars().any(|c| c.is_control() || c.is_whitespace());
    if fine {
        Ok(Key::parse(text))
    } else {
        Err(format!(
            "not a key: a non-empty name of at most {MAX_KEY_LEN} bytes, without spaces or \
             control characters, not starting or ending with a dot"
        ))
    }
}

/// Constant-time comparison (for tokens).
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(!x);
    }
    diff == 0
}

/// The reader's pace: a burst of lines, then [`LINES_PER_SECOND`].
struct Pace {
    tokens: f64,
    at: Instant,
}

impl Pace {
    fn new() -> Pace {
        Pace {
            tokens: LINES_PER_SECOND,
            at: Instant::now(),
        }
    }

    /// Waits for the next line's turn.
    async fn next(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.at).as_secs_f64() * LINES_PER_SECOND;
        self.tokens = (self.tokens + earned).min(LINES_PER_SECOND);
        self.at = now;
        if self.tokens < 1.0 {
            let wait = (1.0 - self.tokens) / LINES_PER_SECOND;
            tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

/// What reading one line gave.
enum Read {
    Line,
    End,
    TooLong,
}

async fn read_line<R: AsyncRead>(
    reader: &mut std::pin::Pin<&mut BufReader<R>>,
    line: &mut Vec<u8>,
) -> Read {
    line.clear();
    let mut limited = reader.take(MAX_CLIENT_LINE as u64 + 1);
    match limited.read_until(b'\n', line).await {
        Ok(0) | Err(_) => Read::End,
        Ok(_) if line.len() > MAX_CLIENT_LINE => Read::TooLong,
        // The last line of a stream, without its newline.
        Ok(_) => Read::Line,
    }
}

async fn read_loop<R: AsyncRead>(
    shared: &Shared,
    client: &Arc<Client>,
    r: R,
    done: &CancellationToken,
    slot: &mut Slot,
    peer: Peer,
) {
    let mut reader = std::pin::pin!(BufReader::with_capacity(8 * 1024, r));
    let mut line = Vec::new();
    let mut pace = Pace::new();
    let mut bad = 0;
    let mut authenticated = peer != Peer::NeedsToken;
    let deadline = Instant::now() + shared.config.auth_timeout;
    loop {
        pace.next().await;
        // However fast a client writes, this task lets the others run between lines.
        tokio::task::consume_budget().await;
        let read = async {
            if authenticated {
                Some(read_line(&mut reader, &mut line).await)
            } else {
                tokio::time::timeout_at(deadline, read_line(&mut reader, &mut line))
                    .await
                    .ok()
            }
        };
        let read = tokio::select! {
            _ = done.cancelled() => return,
            read = read => read,
        };
        match read {
            None => {
                let why = "no subscribe with the token in time";
                client.close_with(shared.error("unauthorized", why, true));
                return;
            }
            Some(Read::End) => break,
            Some(Read::TooLong) => {
                let msg = shared.error("bad_request", "line longer than 64 KiB", true);
                client.close_with(msg);
                return;
            }
            Some(Read::Line) => {}
        }
        let msg = wire::decode_line(&line);
        match msg {
            Ok(Message::Subscribe(s)) if shared.token_ok(peer, &s) => {
                if !authenticated {
                    authenticated = true;
                    slot.authenticated();
                    client.send(shared.hello(peer, true));
                    shared.join(client);
                }
                shared.subscribe(client, &s);
            }
            _ if !authenticated => {
                client.close_with(shared.error("unauthorized", "a valid token is required", true));
                return;
            }
            Ok(Message::Subscribe(_)) => {
                client.close_with(shared.error("unauthorized", "a valid token is required", true));
                return;
            }
            Ok(Message::Control(c)) => {
                // One answer waiting at a time: a client that asks faster than it reads
                // cannot stack replies (a `status` may list a thousand keys).
                let pending = lock(&client.outbox).holds(|m| matches!(m, Message::Controlled(_)));
                let answer = if pending {
                    let why = "the answer to an earlier control is still waiting to be read";
                    shared.error("busy", why, false)
                } else {
                    shared.control(peer, &c)
                };
                client.send(answer);
            }
            Ok(Message::Ping(_)) => {
                let pending = lock(&client.outbox).holds(|m| matches!(m, Message::Pong(_)));
                if !pending {
                    client.send(Message::Pong(Common::at(shared.now())));
                }
            }
            Ok(_) => {} // other and unknown types are ignored
            Err(e) => {
                bad += 1;
                if bad >= MAX_BAD_LINES {
                    let why = format!("{bad} lines that are not messages; closing");
                    client.close_with(shared.error("bad_request", why, true));
                    return;
                }
                client.send(shared.error("bad_request", e.to_string(), false));
            }
        }
    }
    // The client closed its side: end once what is queued is written.
    lock(&client.outbox).close();
    client.notify.notify_one();
}

async fn write_loop<W: AsyncWrite>(
    shared: &Shared,
    client: &Client,
    w: W,
    done: &CancellationToken,
) {
    let mut w = std::pin::pin!(w);
    let timeout = shared.config.write_timeout;
    let mut seq: u64 = 0;
    let mut reported = Dropped::default();
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    loop {
        let batch = lock(&client.outbox).take(WRITE_BATCH);
        let last = batch.last;
        let idle = batch.frames.is_empty();
        encode(&mut buf, batch, &mut reported, &mut seq, &shared.now());
        if !buf.is_empty() {
            let written = tokio::select! {
                _ = done.cancelled() => break,
                r = tokio::time::timeout(timeout, w.write_all(&buf)) => r,
            };
            buf.clear();
            if !matches!(written, Ok(Ok(()))) {
                done.cancel();
                return;
            }
        }
        if last {
            done.cancel();
            let _ = w.shutdown().await;
            return;
        }
        if idle {
            tokio::select! {
                _ = done.cancelled() => break,
                _ = client.notify.notified() => {}
            }
        }
    }
    if shared.shutdown.is_cancelled() {
        let bye = Message::Bye(wire::Bye {
            reason: "shutdown".into(),
            common: Common::at(shared.now()),
        });
        number(&mut buf, bye, &mut seq);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), w.write_all(&buf)).await;
    }
    let _ = w.shutdown().await;
}

/// Writes `batch` into `buf`: the losses due as `gap`s, then the frames, numbered.
fn encode(buf: &mut Vec<u8>, batch: Batch, reported: &mut Dropped, seq: &mut u64, ts: &str) {
    let lost = batch.lost;
    let due = [
        (
            "client_slow",
            lost.client_slow,
            &mut reported.client_slow,
            true,
        ),
        (
            "source_queue_full",
            lost.source_queue_full,
            &mut reported.source_queue_full,
            batch.report_all,
        ),
        (
            "rate_limited",
            lost.rate_limited,
            &mut reported.rate_limited,
            batch.report_all,
        ),
    ];
    for (cause, total, seen, now) in due {
        if now && total > *seen {
            let gap = Message::Gap(Gap {
                dropped: total - *seen,
                cause: cause.into(),
                common: Common::at(ts.to_owned()),
            });
            *seen = total;
            number(buf, gap, seq);
        }
    }
    for frame in batch.frames {
        match frame {
            Frame::Call(body) => {
                buf.extend_from_slice(CALL_PREFIX);
                let _ = write!(buf, "\"seq\":{seq},");
                *seq += 1;
                buf.extend_from_slice(body.get(CALL_PREFIX.len()..).unwrap_or_default());
                buf.push(b'\n');
            }
            Frame::Control(msg) => number(buf, *msg, seq),
            Frame::Stats(parts) => {
                for mut stats in parts {
                    stats.dropped = *reported;
                    number(buf, Message::Stats(stats), seq);
                }
            }
        }
    }
}

/// Gives `msg` the next `seq` and writes it.
fn number(buf: &mut Vec<u8>, mut msg: Message, seq: &mut u64) {
    if let Some(common) = msg.common_mut() {
        common.seq = *seq;
    }
    *seq += 1;
    msg.encode(buf);
}
