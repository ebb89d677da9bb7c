//! One follower task per target: connect, hello, subscribe, read lines, reconnect with capped
//! backoff. Every follower subscribes with the current [`Subscription`]; a change (the TUI's
//! `:key`) reaches every connected target at once, as a new `subscribe` replacing the old one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use recourse_engine::export::wire::{self, CallFilter, Common, Hello, Message, Subscribe};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};

use super::target::{Feed, MAX_TARGETS, Spec};

/// What the services are asked to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription {
    /// Key globs (a leading `!` excludes); none means every key.
    pub(crate) keys: Vec<String>,
    /// Message types.
    pub(crate) events: Vec<&'static str>,
    pub(crate) max_rate: Option<u32>,
    pub(crate) calls: CallFilter,
    pub(crate) token: Option<String>,
}

impl Subscription {
    /// The `subscribe` line.
    pub(crate) fn line(&self) -> Vec<u8> {
        let msg = Message::Subscribe(Subscribe {
            v: Some(wire::VERSION),
            client: Some(concat!("recourse-cli ", env!("CARGO_PKG_VERSION")).into()),
            keys: self.keys.clone(),
            events: self.events.iter().map(|e| (*e).to_owned()).collect(),
            max_rate: self.max_rate,
            calls: (self.calls != CallFilter::All).then(|| self.calls.as_str().into()),
            token: self.token.clone(),
            common: Common::default(),
        });
        let mut line = Vec::new();
        msg.encode(&mut line);
        line
    }
}

/// A follower at work: what it follows, under which target number.
struct Following {
    identity: Spec,
    target: usize,
    task: AbortHandle,
}

/// Starts followers, numbering targets in order, all on one subscription. Cloned by whoever
/// adds targets (discovery, the TUI's `:target`).
#[derive(Clone)]
pub(crate) struct Followers {
    tx: mpsc::Sender<Feed>,
    subscription: Arc<watch::Sender<Subscription>>,
    next: Arc<AtomicUsize>,
    /// The target each follower follows (as [`Spec::identity`]), so one is never followed
    /// twice at once.
    following: Arc<Mutex<Vec<Following>>>,
}

impl Followers {
    pub(crate) fn new(tx: mpsc::Sender<Feed>, subscription: Subscription) -> Followers {
        Followers {
            tx,
            subscription: Arc::new(watch::Sender::new(subscription)),
            next: Arc::new(AtomicUsize::new(0)),
            following: Arc::default(),
        }
    }

    /// Follows `spec` as the next target; a `discovered` one is let go once its service is gone.
    /// `None` when a follower already follows that target.
    pub(crate) fn spawn(&self, spec: Spec, discovered: bool) -> Option<JoinHandle<()>> {
        let identity = spec.identity();
        let mut following = self
            .following
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        following.retain(|f| !f.task.is_finished());
        if following.iter().any(|f| f.identity == identity) {
            return None;
        }
        if self.next.load(Ordering::Relaxed) >= MAX_TARGETS {
            let text = format!("not followed: tail follows at most {MAX_TARGETS} targets");
            let _ = self.tx.try_send(Feed::Notice { target: 0, text });
            return None;
        }
        let target = self.next.fetch_add(1, Ordering::Relaxed);
        let task = follow(
            target,
            spec,
            self.subscription.subscribe(),
            self.tx.clone(),
            discovered,
        );
        let task = tokio::spawn(task);
        following.push(Following {
            identity,
            target,
            task: task.abort_handle(),
        });
        Some(task)
    }

    /// Stops following `spec`, if a follower follows it, and tells the operator `why`: the
    /// target leaves the totals as a departed one does.
    pub(crate) async fn stop(&self, spec: &Spec, why: &str) {
        let identity = spec.identity();
        let stopped = {
            let mut following = self
                .following
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let at = following.iter().position(|f| f.identity == identity);
            at.map(|at| following.remove(at))
        };
        if let Some(f) = stopped {
            f.task.abort();
            let why = why.to_owned();
            let _ = self
                .tx
                .send(Feed::Gone {
                    target: f.target,
                    why,
                })
                .await;
        }
    }

    /// Asks every target for `keys` from now on (and every target connected later).
    pub(crate) fn resubscribe(&self, keys: Vec<String>) {
        self.subscription.send_modify(|s| s.keys = keys);
    }

    /// Tells the operator `text` (in the footer, or on stderr in the line modes).
    pub(crate) async fn notice(&self, text: String) {
        let _ = self.tx.send(Feed::Notice { target: 0, text }).await;
    }

    /// Whether the consumer has gone.
    pub(crate) fn closed(&self) -> bool {
        self.tx.is_closed()
    }
}

pub(super) type Halves = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

/// [`connect`] for a one-off question (`--list`, `recourse breaker`): the failure as a
/// sentence for its target's line.
pub(super) async fn connect_once(spec: &Spec) -> Result<Halves, String> {
    connect(spec).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "stale: nobody listens on it".to_owned(),
        std::io::ErrorKind::NotFound => "no such socket".to_owned(),
        _ => e.to_string(),
    })
}

pub(super) async fn connect(spec: &Spec) -> std::io::Result<Halves> {
    let timeout = Duration::from_secs(3);
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out");
    match spec {
        #[cfg(unix)]
        Spec::Unix(path) => {
            super::trust::socket_file(path)?;
            let s = tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path))
                .await
                .map_err(|_| timed_out())??;
            super::trust::peer(&s)?;
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
async fn follow(
    target: usize,
    spec: Spec,
    mut subscription: watch::Receiver<Subscription>,
    tx: mpsc::Sender<Feed>,
    discovered: bool,
) {
    let label = spec.label();
    if tx.send(Feed::Started { target, label }).await.is_err() {
        return;
    }
    let mut backoff = Duration::from_millis(100);
    loop {
        let (why, gone) = match connect(&spec).await {
            Ok((r, w)) => {
                backoff = Duration::from_millis(100);
                let why = session(target, r, w, &mut subscription, &tx).await;
                (why, discovered && spec.removed())
            }
            Err(e) => {
                let dead = matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                );
                (e.to_string(), discovered && dead)
            }
        };
        let feed = if gone {
            Feed::Gone {
                target,
                why: "stopped (its socket is gone, or nothing listens on it); \
                      a restart shows up as a new target"
                    .into(),
            }
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
    subscription: &mut watch::Receiver<Subscription>,
    tx: &mpsc::Sender<Feed>,
) -> String {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut line = Vec::with_capacity(1024);
    let hello = match greet(&mut reader, &mut line).await {
        Ok(hello) => hello,
        Err(why) => return why,
    };
    let subscribe = subscription.borrow_and_update().line();
    if let Err(e) = w.write_all(&subscribe).await {
        return format!("cannot subscribe: {e}");
    }
    // A server that wants a token says who it is only once it has it.
    let hello = if hello.anonymous() {
        match introduced(&mut reader, &mut line).await {
            Ok(hello) => hello,
            Err(why) => return why,
        }
    } else {
        hello
    };
    let name = shown_name(&hello);
    let connected = Feed::Connected {
        target,
        name,
        hello: Box::new(hello),
        raw: std::mem::take(&mut line),
    };
    if tx.send(connected).await.is_err() {
        return String::new();
    }
    // Reading and resubscribing run side by side; the session ends when either fails.
    let resubscribe = async {
        while subscription.changed().await.is_ok() {
            let line = subscription.borrow_and_update().line();
            if let Err(e) = w.write_all(&line).await {
                return format!("cannot resubscribe: {e}");
            }
        }
        std::future::pending().await
    };
    let read = async {
        loop {
            line.clear();
            // A 1 MiB line once does not keep 1 MiB for good.
            line.shrink_to(64 * 1024);
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
    };
    tokio::select! {
        why = read => why,
        why = resubscribe => why,
    }
}

/// The name tail shows a service under: its instance, else its service name.
pub(super) fn shown_name(hello: &Hello) -> String {
    hello
        .instance
        .clone()
        .unwrap_or_else(|| hello.service.clone())
}

/// Reads the service's `hello` (it speaks first) into `line`, within 5 s; the reason it cannot
/// be followed otherwise (a refusal such as `too_many_clients` included).
pub(super) async fn greet<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> Result<Hello, String> {
    let first = tokio::time::timeout(Duration::from_secs(5), read_line(reader, line));
    match first.await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return Err("closed before saying hello".into()),
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err("no hello within 5 s".into()),
    }
    match wire::decode_line(line) {
        Ok(Message::Hello(h)) if h.v == wire::VERSION => Ok(h),
        Ok(Message::Hello(h)) => Err(format!(
            "speaks protocol version {}; this recourse speaks {}",
            h.v,
            wire::VERSION
        )),
        Ok(Message::Error(e)) => Err(format!("refused: {} ({})", e.msg, e.code)),
        _ => Err("not a recourse export endpoint (no hello)".into()),
    }
}

/// After subscribing with a token: the complete `hello` that follows it, within 5 s, or why
/// there is none (a wrong token is refused).
pub(super) async fn introduced<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> Result<Hello, String> {
    let next = async {
        line.clear();
        match read_line(reader, line).await {
            Ok(true) => {}
            Ok(false) => return Err("closed: the service wants a token (--token)".into()),
            Err(e) => return Err(e),
        }
        match wire::decode_line(line) {
            Ok(Message::Hello(h)) if !h.anonymous() => Ok(h),
            Ok(Message::Error(e)) => Err(format!("refused: {} ({})", e.msg, e.code)),
            _ => Err("the service did not say who it is after the token".into()),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .unwrap_or_else(|_| Err("no answer to the token within 5 s".into()))
}

/// Reads one line (at most 1 MiB), cleaned of control characters; `Ok(false)` at the end of
/// the stream.
pub(super) async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> Result<bool, String> {
    // However fast a service writes, the other tasks (the TUI) get their turn.
    tokio::task::consume_budget().await;
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
    super::sanitize::clean_line(line);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use recourse_engine::Executor;
    use recourse_engine::export::{ExportConfig, ExportServer};

    /// The next feed, within 10 s.
    async fn next(rx: &mut mpsc::Receiver<Feed>) -> Feed {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a feed within 10 s")
            .expect("the follower runs")
    }

    /// Waits for the service to confirm a subscription; no call may come first.
    async fn subscribed(rx: &mut mpsc::Receiver<Feed>) {
        loop {
            if let Feed::Line { msg, .. } = next(rx).await {
                match *msg {
                    Message::Subscribed(_) => return,
                    Message::Call(c) => panic!("{} came before the subscription", c.key),
                    _ => {}
                }
            }
        }
    }

    /// The next call's key.
    async fn call(rx: &mut mpsc::Receiver<Feed>) -> String {
        loop {
            if let Feed::Line { msg, .. } = next(rx).await
                && let Message::Call(c) = *msg
            {
                return c.key;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_subscription_reaches_a_connected_target() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("svc.sock");
        let exec = Executor::builder()
            .export(ExportConfig::new("svc").socket_path(&sock))
            .build()
            .unwrap();
        let _server = ExportServer::start(&exec).await.unwrap();
        let (tx, mut rx) = mpsc::channel(256);
        let followers = Followers::new(
            tx,
            Subscription {
                keys: vec!["a.*".into()],
                events: vec!["call"],
                max_rate: None,
                calls: CallFilter::All,
                token: None,
            },
        );
        followers.spawn(Spec::Unix(sock), false);
        let ok = |_| async { Ok::<_, std::io::Error>(()) };
        subscribed(&mut rx).await;
        exec.call("b.Before", ok).await.unwrap();
        exec.call("a.Before", ok).await.unwrap();
        assert_eq!(call(&mut rx).await, "a.Before");

        followers.resubscribe(vec!["b.*".into()]);
        subscribed(&mut rx).await;
        exec.call("a.After", ok).await.unwrap();
        exec.call("b.After", ok).await.unwrap();
        assert_eq!(call(&mut rx).await, "b.After", "a.* is no longer sent");
    }

    #[tokio::test]
    async fn a_target_is_followed_once_however_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("svc.sock");
        let _listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let (tx, _rx) = mpsc::channel(16);
        let followers = Followers::new(
            tx,
            Subscription {
                keys: vec![],
                events: vec!["call"],
                max_rate: None,
                calls: CallFilter::All,
                token: None,
            },
        );
        let first = followers.spawn(Spec::Unix(sock.clone()), true).unwrap();
        let again = dir.path().join(".").join("svc.sock");
        assert!(followers.spawn(Spec::Unix(again.clone()), false).is_none());
        assert!(
            followers
                .spawn(Spec::Tcp("127.0.0.1:1".into()), false)
                .is_some()
        );

        // Once its follower is done, the target can be followed again.
        first.abort();
        let _ = first.await;
        assert!(followers.spawn(Spec::Unix(again), false).is_some());
    }
}
