//! Live event export (feature `export`): the stream `recourse tail` reads (docs/export.md,
//! docs/wire-protocol.md).
//!
//! Register an [`ExportConfig`] on the builder, then start the server inside a tokio runtime:
//!
//! ```no_run
//! use recourse_engine::Executor;
//! use recourse_engine::export::{ExportConfig, ExportServer};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let exec = Executor::builder()
//!     .export(ExportConfig::new("checkout"))
//!     .build()?;
//! let server = ExportServer::start(&exec).await?;
//! eprintln!("recourse tail --target {}", server.endpoints()[0]);
//! # Ok(()) }
//! ```
//!
//! The call path never waits on the stream. With no client subscribed a call pays one atomic
//! load; with clients, a call whose key no subscription matches pays a cached bit; a matching
//! call records its timeline, bumps exact per-key counters and offers the timeline to a bounded
//! queue, dropping (and counting) when it is full. Everything else (matching, rate caps,
//! serialization, slow clients) happens on the server's tasks.
//!
//! The server holds against hostile peers: every queue is bounded in messages and bytes, a
//! client that sends garbage is disconnected, each connection's reads are rate-limited,
//! connections are capped (unauthenticated ones more tightly, with a deadline), and a TCP
//! client learns nothing about the service before it authenticates (docs/export.md,
//! "Security").

mod filter;
pub(crate) mod hub;
mod server;
mod socket_dir;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use filter::KeyFilter;
pub use server::{Endpoint, ExportServer};
pub use socket_dir::{UnsafeDir, check_dir, socket_dir};

/// How the export server is set up. [`ExportConfig::new`] gives the defaults (docs/export.md).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExportConfig {
    pub(crate) service: String,
    pub(crate) unix: Option<PathBuf>,
    pub(crate) unix_enabled: bool,
    pub(crate) tcp: Option<SocketAddr>,
    pub(crate) token: Option<String>,
    pub(crate) include_errors: bool,
    pub(crate) source_queue: usize,
    pub(crate) client_queue: usize,
    pub(crate) client_queue_bytes: usize,
    pub(crate) default_max_rate: u32,
    pub(crate) max_rate_cap: u32,
    pub(crate) stats_interval: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_clients: usize,
    pub(crate) max_unauthenticated: usize,
    pub(crate) auth_timeout: Duration,
    pub(crate) backfill: usize,
    pub(crate) control: bool,
}

impl ExportConfig {
    /// Defaults for a service named `service`: a Unix socket at
    /// `<socket dir>/<service>-<pid>.sock`, no TCP, no error texts, a source queue of 8,192
    /// calls, client queues of 1,024 messages or 1 MiB, 500 calls/s per subscription (at most
    /// 2,000), `stats` every second, a client that reads nothing for 30 s is disconnected, at
    /// most 32 clients at once, of which at most 8 TCP clients still to authenticate, each
    /// within 5 s.
    pub fn new(service: impl Into<String>) -> ExportConfig {
        let service: String = service.into();
        let service = service
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        ExportConfig {
            service,
            unix: None,
            unix_enabled: true,
            tcp: None,
            token: None,
            include_errors: false,
            source_queue: 8192,
            client_queue: 1024,
            client_queue_bytes: 1 << 20,
            default_max_rate: 500,
            max_rate_cap: 2000,
            stats_interval: Duration::from_secs(1),
            write_timeout: Duration::from_secs(30),
            max_clients: 32,
            max_unauthenticated: 8,
            auth_timeout: Duration::from_secs(5),
            backfill: 0,
            control: false,
        }
    }

    /// Serve on this Unix socket path instead of the default one.
    pub fn socket_path(mut self, path: impl Into<PathBuf>) -> ExportConfig {
        self.unix = Some(path.into());
        self.unix_enabled = true;
        self
    }

    /// Do not serve on a Unix socket (use with [`tcp`](ExportConfig::tcp)).
    pub fn no_unix_socket(mut self) -> ExportConfig {
        self.unix_enabled = false;
        self
    }

    /// Also serve on TCP. A non-loopback address needs a [`token`](ExportConfig::token).
    pub fn tcp(mut self, addr: SocketAddr) -> ExportConfig {
        self.tcp = Some(addr);
        self
    }

    /// The token TCP clients must send in their `subscribe`.
    pub fn token(mut self, token: impl Into<String>) -> ExportConfig {
        self.token = Some(token.into());
        self
    }

    /// Send the operation's error texts (off by default: they may hold personal data).
    pub fn include_errors(mut self, yes: bool) -> ExportConfig {
        self.include_errors = yes;
        self
    }

    /// Calls the source queue holds before it drops (and counts) new ones.
    pub fn source_queue(mut self, calls: usize) -> ExportConfig {
        self.source_queue = calls.max(1);
        self
    }

    /// Messages (and bytes) a client's queue holds before its oldest calls are dropped.
    pub fn client_queue(mut self, messages: usize, bytes: usize) -> ExportConfig {
        self.client_queue = messages.max(1);
        self.client_queue_bytes = bytes.max(1);
        self
    }

    /// The default and the highest `max_rate` (calls per second per subscription).
    pub fn max_rate(mut self, default: u32, cap: u32) -> ExportConfig {
        self.max_rate_cap = cap.max(1);
        self.default_max_rate = default.clamp(1, self.max_rate_cap);
        self
    }

    /// How often `stats` messages go out (at least 250 ms).
    pub fn stats_interval(mut self, every: Duration) -> ExportConfig {
        self.stats_interval = every.max(Duration::from_millis(250));
        self
    }

    /// How long a write to a client may wait before the client is dropped.
    pub fn write_timeout(mut self, timeout: Duration) -> ExportConfig {
        self.write_timeout = timeout;
        self
    }

    /// The most clients connected at once (at least 1); further connections are told
    /// `too_many_clients` and closed. Each client holds at most its queue's bytes
    /// ([`client_queue`](ExportConfig::client_queue)) plus about 200 KiB of buffers.
    pub fn max_clients(mut self, n: usize) -> ExportConfig {
        self.max_clients = n.max(1);
        self
    }

    /// The most TCP connections still to send their token at once (at least 1), and how long
    /// each has to send it before it is closed.
    pub fn unauthenticated(mut self, n: usize, deadline: Duration) -> ExportConfig {
        self.max_unauthenticated = n.max(1);
        self.auth_timeout = deadline;
        self
    }

    /// Keeps the last `calls` interesting calls (a retry, a hedge, a budget denial or a
    /// failure) and sends a client those its subscription matches as it subscribes, before
    /// live ones: an engineer who connects after a burst of failures still sees it. Off (0) by
    /// default: with it on, every call records its timeline and is counted whether or not a
    /// client is connected, which costs the call path about what a connected client does
    /// (docs/export.md, "Backfill"). The kept calls are bounded by the client queue's bytes
    /// when sent.
    pub fn backfill(mut self, calls: usize) -> ExportConfig {
        self.backfill = calls;
        self
    }

    /// Lets operators set breakers by hand over the socket (`recourse breaker isolate KEY`):
    /// a `control` message is accepted from a Unix-socket peer running as the service's own
    /// user, or from a TCP client that sent the [`token`](ExportConfig::token); anyone else is
    /// refused. Off by default: a service opts in (docs/export.md, "Manual control").
    pub fn allow_control(mut self, yes: bool) -> ExportConfig {
        self.control = yes;
        self
    }

    /// The service's name as it appears in `hello` and in the socket's name.
    pub fn service(&self) -> &str {
        &self.service
    }
}

/// Why the export server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The executor was built without [`ExecutorBuilder::export`](crate::ExecutorBuilder::export).
    #[error("the executor was built without an export configuration")]
    NotConfigured,
    /// A server is already running for this executor.
    #[error("an export server is already running for this executor")]
    AlreadyRunning,
    /// A non-loopback TCP address without a token.
    #[error(
        "refusing to serve on {0} without a token: set ExportConfig::token, or bind to loopback"
    )]
    TokenRequired(SocketAddr),
    /// The socket's directory is not private: another user could replace the socket.
    #[error(transparent)]
    UnsafeDir(#[from] UnsafeDir),
    /// Another live process serves on the socket path.
    #[error("{0} is in use by a running process")]
    InUse(PathBuf),
    /// Neither a Unix socket nor TCP is configured.
    #[error("nothing to serve on: the Unix socket is off and no TCP address is set")]
    NoEndpoint,
    /// Not inside a tokio runtime.
    #[error("ExportServer::start must run inside a tokio runtime")]
    NoRuntime,
    /// Creating the directory or binding failed.
    #[error("cannot serve on {what}: {source}")]
    Io {
        /// The path or address.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}
