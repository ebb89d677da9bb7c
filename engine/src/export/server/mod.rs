//! The export server: listeners with connection caps ([`listen`]), one pump task that routes
//! the source queue to clients ([`pump`]), and per connection a reader and a writer
//! ([`conn`]) around the client's bounded queue ([`outbox`]).

mod client;
mod conn;
mod listen;
mod outbox;
mod pump;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::hub::Hub;
use super::{ExportConfig, ExportError};
use crate::Executor;
use crate::executor::KeyDirectory;
use client::Client;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// without a token, a socket directory other users can write to, a socket path used by a
    /// live process, or an I/O error binding.
    pub async fn start(exec: &Executor) -> Result<ExportServer, ExportError> {
        let Some((hub, config, keys)) = exec.export_parts() else {
            return Err(ExportError::NotConfigured);
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
            started_at: keys.now().to_rfc3339(),
            keys,
            hub: hub.clone(),
            config,
            clients: ArcSwap::default(),
            next_id: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            unauthenticated: AtomicUsize::new(0),
            shutdown: shutdown.clone(),
            backfill: Default::default(),
        });
        let mut server = ExportServer {
            shared: shared.clone(),
            endpoints: Vec::new(),
            tasks: Vec::new(),
            socket: None,
        };
        if let Err(e) = server.bind().await {
            shutdown.cancel();
            hub.give_back_receiver(rx);
            server.remove_socket();
            return Err(e);
        }
        server.tasks.push(tokio::spawn(pump::pump(shared, rx)));
        Ok(server)
    }

    async fn bind(&mut self) -> Result<(), ExportError> {
        let shared = self.shared.clone();
        #[cfg(unix)]
        if shared.config.unix_enabled {
            let (path, listener) = listen::bind_unix(&shared.config)?;
            self.socket = Some(path.clone());
            self.endpoints.push(Endpoint::Unix(path));
            let task = listen::accept_unix(shared.clone(), listener);
            self.tasks.push(tokio::spawn(task));
        }
        if let Some(addr) = shared.config.tcp {
            let io = |source| ExportError::Io {
                what: format!("tcp://{addr}"),
                source,
            };
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
            let local = listener.local_addr().map_err(io)?;
            self.endpoints.push(Endpoint::Tcp(local));
            self.tasks
                .push(tokio::spawn(listen::accept_tcp(shared, listener)));
        }
        Ok(())
    }

    /// Where it listens (the Unix socket first).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Clients connected now (TCP ones still to authenticate included).
    pub fn clients(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
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

/// What the server's tasks share.
#[derive(Debug)]
struct Shared {
    /// The executor's keys, breakers and clock: all the server reads of it.
    keys: KeyDirectory,
    hub: Arc<Hub>,
    config: ExportConfig,
    /// When the server started (the `started_at` of `hello`).
    started_at: String,
    /// Clients that may receive events (a TCP client joins once authenticated).
    clients: ArcSwap<Vec<Arc<Client>>>,
    next_id: AtomicU64,
    /// Connections open now, and those of them still to authenticate.
    connections: AtomicUsize,
    unauthenticated: AtomicUsize,
    shutdown: CancellationToken,
    /// The last interesting calls, for clients that subscribe later (`ExportConfig::backfill`).
    backfill: std::sync::Mutex<std::collections::VecDeque<pump::Kept>>,
}

impl Shared {
    fn limits(&self) -> (usize, usize) {
        (self.config.client_queue, self.config.client_queue_bytes)
    }

    fn now(&self) -> String {
        self.keys.now().to_rfc3339()
    }

    fn add(&self, c: &Arc<Client>) {
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
}
