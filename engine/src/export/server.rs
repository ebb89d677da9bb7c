//! The export server: listeners, one pump task that routes the source queue to clients, and
//! per client a reader (subscriptions) and a writer (its own bounded queue).

use std::collections::VecDeque;
use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::filter::KeyFilter;
use super::hub::{Hub, KeyCounters, SourceEvent};
use super::wire::{self, CallFilter, Message, Subscribe};
use super::{ExportConfig, ExportError};
use crate::Executor;
use crate::hedge::SUB;
use crate::key::Key;
use crate::observe::{CallSummary, Timeline};

/// The longest line a client may send.
const MAX_CLIENT_LINE: usize = 64 * 1024;
/// Events the pump routes before it looks at its timer again.
const BATCH: usize = 1024;

const CALL: u8 = 1;
const STATS: u8 = 2;
const CIRCUIT: u8 = 4;
const ALL_EVENTS: u8 = CALL | STATS | CIRCUIT;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// A running export server. Dropping it (or [`shutdown`](ExportServer::shutdown)) stops it and
/// removes its socket.
#[derive(Debug)]
pub struct ExportServer {
    shared: Arc<Shared>,
    endpoints: Vec<Endpoint>,
    tasks: Vec<JoinHandle<()>>,
    socket: Option<PathBuf>,
}

impl ExportServer {
    /// Binds the configured endpoints and starts serving on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ExportError`]: no export configuration, already running, a non-loopback TCP address
    /// without a token, a socket path used by a live process, or an I/O error binding.
    pub async fn start(exec: &Executor) -> Result<ExportServer, ExportError> {
        let (hub, config) = match &exec.inner.export {
            Some(e) => (e.hub.clone(), e.config.clone()),
            None => return Err(ExportError::NotConfigured),
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ExportError::NoRuntime);
        }
        if let Some(addr) = config.tcp
            && !addr.ip().is_loopback()
            && config.token.as_deref().is_none_or(str::is_empty)
        {
            return Err(ExportError::TokenRequired(addr));
        }
        if !config.unix_enabled && config.tcp.is_none() {
            return Err(ExportError::NoEndpoint);
        }
        let rx = hub.take_receiver().ok_or(ExportError::AlreadyRunning)?;
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            exec: exec.clone(),
            hub: hub.clone(),
            hello: hello(&config, exec),
            config,
            clients: ArcSwap::default(),
            next_id: AtomicU64::new(1),
            shutdown: shutdown.clone(),
        });
        let mut endpoints = Vec::new();
        let mut tasks = Vec::new();
        let mut socket = None;
        let bound = bind_all(&shared, &mut endpoints, &mut tasks, &mut socket).await;
        if let Err(e) = bound {
            shutdown.cancel();
            hub.give_back_receiver(rx);
            if let Some(path) = &socket {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        tasks.push(tokio::spawn(pump(shared.clone(), rx)));
        Ok(ExportServer {
            shared,
            endpoints,
            tasks,
            socket,
        })
    }

    /// Where it listens (the Unix socket first).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.shared.clients.load().len()
    }

    /// Calls dropped so far because the source queue was full.
    pub fn dropped_at_source(&self) -> u64 {
        self.shared.hub.source_dropped.load(Ordering::Relaxed)
    }

    /// Says `bye` to every client, stops serving and removes the socket. The socket goes first,
    /// so a client that sees its connection close finds the service gone (nothing new can
    /// connect meanwhile: the listener stops at once).
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        self.remove_socket();
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }

    fn remove_socket(&mut self) {
        if let Some(path) = self.socket.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for ExportServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        self.remove_socket();
    }
}

async fn bind_all(
    shared: &Arc<Shared>,
    endpoints: &mut Vec<Endpoint>,
    tasks: &mut Vec<JoinHandle<()>>,
    socket: &mut Option<PathBuf>,
) -> Result<(), ExportError> {
    #[cfg(unix)]
    if shared.config.unix_enabled {
        let path = shared.config.unix.clone().unwrap_or_else(|| {
            super::socket_dir().join(format!(
                "{}-{}.sock",
                shared.config.service,
                std::process::id()
            ))
        });
        let listener = unix::bind(&path)?;
        *socket = Some(path.clone());
        endpoints.push(Endpoint::Unix(path));
        tasks.push(tokio::spawn(unix::accept(shared.clone(), listener)));
    }
    if let Some(addr) = shared.config.tcp {
        let io = |source| ExportError::Io {
            what: format!("tcp://{addr}"),
            source,
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
        let local = listener.local_addr().map_err(io)?;
        endpoints.push(Endpoint::Tcp(local));
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    a = listener.accept() => a,
                };
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(shared.clone(), stream, true));
                }
            }
        }));
    }
    Ok(())
}

/// The user id of this process.
pub(crate) fn uid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    use std::path::Path;
    use std::sync::Arc;

    use tokio::net::UnixListener;

    use super::{ExportError, Shared, serve, uid};

    pub(super) fn bind(path: &Path) -> Result<UnixListener, ExportError> {
        let io = |source| ExportError::Io {
            what: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        if path.exists() {
            // A socket that answers belongs to a live process; one that refuses is stale.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ExportError::InUse(path.to_owned()));
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(listener)
    }

    pub(super) async fn accept(shared: Arc<Shared>, listener: UnixListener) {
        let me = uid();
        loop {
            let accepted = tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            // Only this user (or root) may read the stream.
            let allowed = stream
                .peer_cred()
                .is_ok_and(|c| c.uid() == me || c.uid() == 0);
            if allowed {
                tokio::spawn(serve(shared.clone(), stream, false));
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    exec: Executor,
    hub: Arc<Hub>,
    config: ExportConfig,
    hello: Vec<u8>,
    clients: ArcSwap<Vec<Arc<Client>>>,
    next_id: AtomicU64,
    shutdown: CancellationToken,
}

fn hello(config: &ExportConfig, exec: &Executor) -> Vec<u8> {
    let pid = std::process::id();
    let mut line = serde_json::to_vec(&json!({
        "t": "hello",
        "v": wire::VERSION,
        "seq": 0,
        "ts": exec.clock().now().to_rfc3339(),
        "service": config.service,
        "instance": format!("{}-{pid}", config.service),
        "pid": pid,
        "engine": env!("CARGO_PKG_VERSION"),
        "started_at": exec.clock().now().to_rfc3339(),
        "include_errors": config.include_errors,
        "auth": if config.token.is_some() { "token" } else { "none" },
    }))
    .unwrap_or_default();
    line.push(b'\n');
    line
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One message waiting for a client: its type and its object (which starts with `{"ts":`);
/// the writer puts `t` and `seq` in front.
#[derive(Debug, Clone)]
struct Frame {
    t: &'static str,
    body: Arc<[u8]>,
}

impl Frame {
    fn control(t: &'static str, fields: serde_json::Value, ts: &str) -> Frame {
        let mut v = json!({ "ts": ts });
        if let (Some(m), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
            m.extend(extra);
        }
        Frame {
            t,
            body: serde_json::to_vec(&v).unwrap_or_default().into(),
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    bytes: usize,
    /// Calls dropped since the writer last said so.
    slow: u64,
}

#[derive(Debug)]
struct Subscription {
    filter: Option<KeyFilter>,
    events: u8,
    max_rate: u32,
    calls: CallFilter,
    version: u64,
}

#[derive(Debug, Default)]
struct Route {
    version: u64,
    wanted: FxHashMap<Key, bool>,
    tokens: f64,
    refilled: Option<Instant>,
    rate_limited: u64,
}

#[derive(Debug, Default)]
struct Losses {
    source: AtomicU64,
    slow: AtomicU64,
    rate_limited: AtomicU64,
}

#[derive(Debug)]
struct Client {
    id: u64,
    sub: Mutex<Subscription>,
    route: Mutex<Route>,
    queue: Mutex<Queue>,
    notify: Notify,
    lost: Losses,
}

impl Client {
    /// Queues a frame; when the queue is full the oldest call goes (control messages stay).
    fn push(&self, frame: Frame, limits: (usize, usize)) {
        let mut q = lock(&self.queue);
        q.bytes += frame.body.len();
        q.frames.push_back(frame);
        while q.frames.len() > limits.0 || q.bytes > limits.1 {
            let Some(i) = q.frames.iter().position(|f| f.t == "call") else {
                break;
            };
            if let Some(old) = q.frames.remove(i) {
                q.bytes -= old.body.len();
                q.slow += 1;
                self.lost.slow.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(q);
        self.notify.notify_one();
    }

    fn take(&self) -> (Vec<Frame>, u64) {
        let mut q = lock(&self.queue);
        q.bytes = 0;
        let slow = std::mem::take(&mut q.slow);
        (q.frames.drain(..).collect(), slow)
    }

    /// Whether this client wants `key` for `event`, from a cache refreshed when its
    /// subscription changes.
    fn wants(&self, key: &Key, event: u8, route: &mut Route) -> bool {
        let sub = lock(&self.sub);
        if sub.events & event == 0 {
            return false;
        }
        let Some(filter) = &sub.filter else {
            return false;
        };
        if route.version != sub.version {
            route.wanted.clear();
            route.version = sub.version;
        }
        *route
            .wanted
            .entry(key.clone())
            .or_insert_with(|| filter.matches(key.as_str()))
    }

    /// Whether the subscription asked for calls like this one (checked before the rate cap:
    /// a call left out by request is neither sent nor counted as lost).
    fn shows(&self, summary: &CallSummary) -> bool {
        lock(&self.sub).calls.admits(summary)
    }

    /// Takes one token of the subscription's rate.
    fn admit(&self, route: &mut Route) -> bool {
        let rate = f64::from(lock(&self.sub).max_rate);
        let now = Instant::now();
        let elapsed = route
            .refilled
            .map_or(1.0, |t| now.duration_since(t).as_secs_f64());
        route.tokens = (route.tokens + elapsed * rate).min(rate);
        route.refilled = Some(now);
        if route.tokens >= 1.0 {
            route.tokens -= 1.0;
            true
        } else {
            route.rate_limited += 1;
            self.lost.rate_limited.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

impl Shared {
    fn limits(&self) -> (usize, usize) {
        (self.config.client_queue, self.config.client_queue_bytes)
    }

    fn now(&self) -> String {
        self.exec.clock().now().to_rfc3339()
    }

    fn add(&self, c: Arc<Client>) {
        self.clients.rcu(|v| {
            let mut v = (**v).clone();
            v.push(c.clone());
            v
        });
    }

    fn remove(&self, id: u64) {
        self.clients
            .rcu(|v| v.iter().filter(|c| c.id != id).cloned().collect::<Vec<_>>());
        self.hub.set_filter(id, None);
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
        let matched: Vec<String> = self
            .exec
            .inner
            .known_keys()
            .into_iter()
            .filter(|k| filter.matches(k.as_str()))
            .map(|k| k.as_str().to_owned())
            .collect();
        self.hub.set_filter(client.id, Some(filter));
        let frame = Frame::control(
            "subscribed",
            json!({ "matched": matched, "max_rate": max_rate, "calls": calls.as_str() }),
            &self.now(),
        );
        client.push(frame, self.limits());
    }

    fn route_call(&self, mut timeline: Box<Timeline>) {
        if !self.config.include_errors {
            timeline.error = None;
            timeline.attempts.iter_mut().for_each(|a| a.error = None);
        }
        let mut body: Option<Arc<[u8]>> = None;
        let summary = timeline.summary();
        for c in self.clients.load().iter() {
            let mut route = lock(&c.route);
            if !c.wants(&timeline.key, CALL, &mut route)
                || !c.shows(&summary)
                || !c.admit(&mut route)
            {
                continue;
            }
            drop(route);
            let body = body.get_or_insert_with(|| call_body(&timeline)).clone();
            c.push(Frame { t: "call", body }, self.limits());
        }
    }

    fn route_circuit(&self, key: &Key, t: &crate::circuit::Transition, ts: &str) {
        let frame = Frame::control(
            "circuit",
            json!({ "key": key.as_str(), "from": t.from.as_str(), "to": t.to.as_str(), "reason": t.reason.as_str() }),
            ts,
        );
        for c in self.clients.load().iter() {
            let mut route = lock(&c.route);
            if c.wants(key, CIRCUIT, &mut route) {
                drop(route);
                c.push(frame.clone(), self.limits());
            }
        }
    }

    /// Every stats interval: losses as `gap`s, then each client's `stats`.
    fn tick(&self, source_seen: &mut u64) {
        let ts = self.now();
        let source = self.hub.source_dropped.load(Ordering::Relaxed);
        let new_source = source - *source_seen;
        *source_seen = source;
        let counted = self.hub.counted();
        let mut rendered: Vec<Option<serde_json::Value>> = vec![None; counted.len()];
        for c in self.clients.load().iter() {
            let (events, filter) = {
                let sub = lock(&c.sub);
                (sub.events, sub.filter.clone())
            };
            let Some(filter) = filter else { continue };
            let rate_limited = std::mem::take(&mut lock(&c.route).rate_limited);
            if events & CALL != 0 && new_source > 0 {
                c.lost.source.fetch_add(new_source, Ordering::Relaxed);
                let gap = json!({ "dropped": new_source, "cause": "source_queue_full" });
                c.push(Frame::control("gap", gap, &ts), self.limits());
            }
            if rate_limited > 0 {
                let gap = json!({ "dropped": rate_limited, "cause": "rate_limited" });
                c.push(Frame::control("gap", gap, &ts), self.limits());
            }
            if events & STATS == 0 {
                continue;
            }
            let mut keys = serde_json::Map::new();
            for (i, (key, counters)) in counted.iter().enumerate() {
                if filter.matches(key.as_str()) {
                    let v = rendered[i].get_or_insert_with(|| self.key_stats(key, counters));
                    keys.insert(key.as_str().to_owned(), v.clone());
                }
            }
            let stats = json!({
                "interval_ms": self.config.stats_interval.as_millis() as u64,
                "dropped": {
                    "source_queue_full": c.lost.source.load(Ordering::Relaxed),
                    "client_slow": c.lost.slow.load(Ordering::Relaxed),
                    "rate_limited": c.lost.rate_limited.load(Ordering::Relaxed),
                },
                "keys": keys,
            });
            c.push(Frame::control("stats", stats, &ts), self.limits());
        }
    }

    fn key_stats(&self, key: &Key, c: &KeyCounters) -> serde_json::Value {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut v = json!({
            "calls": n(&c.calls),
            "successes": n(&c.successes),
            "first_try_successes": n(&c.first_try_successes),
            "failures": n(&c.failures),
            "attempts": n(&c.attempts),
            "retries": n(&c.retries),
            "hedges": n(&c.hedges),
            "hedge_wins": n(&c.hedge_wins),
            "budget_denied": n(&c.budget_denied),
            "circuit_rejected": n(&c.circuit_rejected),
            "latency": { "sub_buckets": SUB, "counts": c.latency_counts() },
        });
        if let (Some(state), Some(m)) = (self.exec.inner.circuit_of(key), v.as_object_mut()) {
            m.insert("circuit".into(), state.as_str().into());
        }
        v
    }
}

/// `{"ts":...,<the timeline's fields>}`, serialized once for every client.
fn call_body(t: &Timeline) -> Arc<[u8]> {
    let json = serde_json::to_vec(t).unwrap_or_default();
    let mut body = Vec::with_capacity(json.len() + 48);
    let _ = write!(body, "{{\"ts\":\"{}\",", t.end.to_rfc3339());
    body.extend_from_slice(json.get(1..).unwrap_or_default());
    body.into()
}

async fn pump(shared: Arc<Shared>, mut rx: mpsc::Receiver<SourceEvent>) {
    let mut tick = tokio::time::interval(shared.config.stats_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut source_seen = shared.hub.source_dropped.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => break,
            _ = tick.tick() => shared.tick(&mut source_seen),
            event = rx.recv() => {
                let Some(event) = event else { break };
                shared.route(event);
                for _ in 0..BATCH {
                    match rx.try_recv() {
                        Ok(event) => shared.route(event),
                        Err(_) => break,
                    }
                }
            }
        }
    }
    shared.hub.give_back_receiver(rx);
}

impl Shared {
    fn route(&self, event: SourceEvent) {
        match event {
            SourceEvent::Call(t) => self.route_call(t),
            SourceEvent::Circuit {
                key,
                transition,
                at,
            } => self.route_circuit(&key, &transition, &at.to_rfc3339()),
        }
    }
}

async fn serve<S>(shared: Arc<Shared>, stream: S, tcp: bool)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let needs_token = tcp && shared.config.token.is_some();
    let client = Arc::new(Client {
        id,
        sub: Mutex::new(Subscription {
            filter: None,
            events: ALL_EVENTS,
            max_rate: shared.config.default_max_rate,
            calls: CallFilter::All,
            version: 0,
        }),
        route: Mutex::default(),
        queue: Mutex::default(),
        notify: Notify::new(),
        lost: Losses::default(),
    });
    shared.add(client.clone());
    if !needs_token {
        // Without a subscribe a client gets every key at the default rate.
        let mut sub = lock(&client.sub);
        sub.filter = Some(KeyFilter::default());
        sub.version += 1;
        drop(sub);
        shared.hub.set_filter(id, Some(KeyFilter::default()));
    }
    let (r, w) = tokio::io::split(stream);
    let done = shared.shutdown.child_token();
    tokio::join!(
        read_loop(&shared, &client, r, &done, needs_token),
        write_loop(&shared, &client, w, &done),
    );
    shared.remove(id);
}

async fn read_loop<R: AsyncRead>(
    shared: &Shared,
    client: &Client,
    r: R,
    done: &CancellationToken,
    needs_token: bool,
) {
    let mut reader = std::pin::pin!(BufReader::new(r));
    let mut line = Vec::new();
    loop {
        let mut limited = (&mut reader).take(MAX_CLIENT_LINE as u64 + 1);
        let read = tokio::select! {
            _ = done.cancelled() => return,
            n = limited.read_until(b'\n', &mut line) => n,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) if line.len() > MAX_CLIENT_LINE => {
                refuse(
                    shared,
                    client,
                    "bad_request",
                    "line longer than 64 KiB",
                    true,
                );
                break;
            }
            Ok(_) if !line.ends_with(b"\n") => continue,
            Ok(_) => {}
        }
        match wire::decode_line(&line) {
            Ok(Message::Subscribe(s)) => {
                let token_ok = !needs_token
                    || shared
                        .config
                        .token
                        .as_deref()
                        .zip(s.token.as_deref())
                        .is_some_and(|(want, got)| same(want.as_bytes(), got.as_bytes()));
                if !token_ok {
                    refuse(
                        shared,
                        client,
                        "unauthorized",
                        "a valid token is required",
                        true,
                    );
                    break;
                }
                shared.subscribe(client, &s);
            }
            Ok(Message::Ping(_)) => {
                let pong = Frame::control("pong", json!({}), &shared.now());
                client.push(pong, shared.limits());
            }
            Ok(_) => {} // other and unknown types are ignored
            Err(e) => refuse(shared, client, "bad_request", &e.to_string(), false),
        }
        line.clear();
    }
    // Let the writer flush a refusal before the connection goes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    done.cancel();
}

fn refuse(shared: &Shared, client: &Client, code: &str, msg: &str, fatal: bool) {
    let frame = Frame::control(
        "error",
        json!({ "code": code, "msg": msg, "fatal": fatal }),
        &shared.now(),
    );
    client.push(frame, shared.limits());
}

/// Constant-time comparison (for tokens).
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(!x);
    }
    diff == 0
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
    let mut buf = shared.hello.clone();
    loop {
        if !buf.is_empty() {
            let written = tokio::select! {
                _ = done.cancelled() => break,
                r = tokio::time::timeout(timeout, w.write_all(&buf)) => r,
            };
            if !matches!(written, Ok(Ok(()))) {
                done.cancel();
                return;
            }
            buf.clear();
        }
        let (frames, slow) = client.take();
        if slow > 0 {
            let gap = Frame::control(
                "gap",
                json!({ "dropped": slow, "cause": "client_slow" }),
                &shared.now(),
            );
            seq += 1;
            encode(&mut buf, &gap, seq);
        }
        for f in &frames {
            seq += 1;
            encode(&mut buf, f, seq);
        }
        if buf.is_empty() {
            tokio::select! {
                _ = done.cancelled() => break,
                _ = client.notify.notified() => {}
            }
        }
    }
    if shared.shutdown.is_cancelled() {
        let bye = Frame::control("bye", json!({ "reason": "shutdown" }), &shared.now());
        encode(&mut buf, &bye, seq + 1);
        let _ = tokio::time::timeout(Duration::from_secs(1), w.write_all(&buf)).await;
    }
    let _ = w.shutdown().await;
}

fn encode(buf: &mut Vec<u8>, f: &Frame, seq: u64) {
    let _ = write!(buf, "{{\"t\":\"{}\",\"seq\":{seq},", f.t);
    buf.extend_from_slice(f.body.get(1..).unwrap_or_default());
    buf.push(b'\n');
}
