//! Listening: the Unix socket in a private directory, TCP, and the connection caps. A
//! connection over a cap is told `too_many_clients` (without waiting on it) and closed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncRead, AsyncWrite};

use super::Shared;
use super::conn::{Peer, serve};
use crate::export::wire::{Common, ErrorEvent, Message};

/// What the kernel may buffer towards one client (the kernel doubles it): with the queue and
/// the write batch, it bounds what a client that stops reading holds on the service's side.
pub(super) const SOCKET_BUFFER: usize = 64 * 1024;

/// A connection's place under the caps: given back when it ends.
#[derive(Debug)]
pub(super) struct Slot {
    shared: Arc<Shared>,
    unauthenticated: bool,
}

impl Slot {
    /// Takes a place if the caps allow it.
    fn take(shared: &Arc<Shared>, unauthenticated: bool) -> Option<Slot> {
        let config = &shared.config;
        let total = shared.connections.fetch_add(1, Ordering::AcqRel);
        let pending = if unauthenticated {
            shared.unauthenticated.fetch_add(1, Ordering::AcqRel)
        } else {
            0
        };
        // Dropping the slot gives the places back.
        let slot = Slot {
            shared: shared.clone(),
            unauthenticated,
        };
        (total < config.max_clients && pending < config.max_unauthenticated).then_some(slot)
    }

    /// The client authenticated: it no longer counts against the unauthenticated cap.
    pub(super) fn authenticated(&mut self) {
        if std::mem::take(&mut self.unauthenticated) {
            self.shared.unauthenticated.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.authenticated();
        self.shared.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The line a connection over a cap gets.
fn too_many() -> Vec<u8> {
    let mut line = Vec::new();
    Message::Error(ErrorEvent {
        code: "too_many_clients".into(),
        msg: "the service serves as many clients as it allows; try again later".into(),
        fatal: true,
        common: Common::default(),
    })
    .encode(&mut line);
    line
}

/// Serves a new connection, or refuses it when a cap is reached.
fn admit<S>(shared: &Arc<Shared>, stream: S, peer: Peer, refuse: impl FnOnce(&S, &[u8]))
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    match Slot::take(shared, peer == Peer::NeedsToken) {
        Some(slot) => {
            tokio::spawn(serve(shared.clone(), stream, peer, slot));
        }
        None => refuse(&stream, &too_many()),
    }
}

#[cfg(unix)]
pub(super) use unix::{accept_unix, bind_unix};

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::Arc;

    use tokio::net::UnixListener;

    use super::{Peer, SOCKET_BUFFER, Shared, admit};
    use crate::export::socket_dir::{self, Rule, uid};
    use crate::export::{ExportConfig, ExportError};

    /// Binds the configured socket (or `<socket dir>/<service>-<pid>.sock`), in a directory no
    /// other user can write to.
    pub(in super::super) fn bind_unix(
        config: &ExportConfig,
    ) -> Result<(PathBuf, UnixListener), ExportError> {
        let (path, rule) = match &config.unix {
            Some(p) => (p.clone(), Rule::Chosen),
            None => {
                let name = format!("{}-{}.sock", config.service, std::process::id());
                (socket_dir::socket_dir().join(name), Rule::Private)
            }
        };
        let io = |source| ExportError::Io {
            what: path.display().to_string(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        socket_dir::prepare(&dir, rule)?;
        if std::fs::symlink_metadata(&path).is_ok() {
            // A socket that answers belongs to a live process; one that refuses is stale.
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(ExportError::InUse(path));
            }
            std::fs::remove_file(&path).map_err(io)?;
        }
        let listener = UnixListener::bind(&path).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok((path, listener))
    }

    pub(in super::super) async fn accept_unix(shared: Arc<Shared>, listener: UnixListener) {
        let me = uid();
        loop {
            let accepted = tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            // Only this user (or root) may read the stream; only this user may control.
            let peer = match stream.peer_cred().map(|c| c.uid()) {
                Ok(uid) if uid == me => Peer::Unix { owner: true },
                Ok(0) => Peer::Unix { owner: false },
                _ => continue,
            };
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(&stream, SOCKET_BUFFER);
            admit(&shared, stream, peer, |s, line| {
                let _ = s.try_write(line);
            });
        }
    }
}

pub(super) async fn accept_tcp(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    let peer = if shared.config.token.is_some() {
        Peer::NeedsToken
    } else {
        Peer::Tcp
    };
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors, say: wait a little rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        #[cfg(unix)]
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&stream, SOCKET_BUFFER);
        admit(&shared, stream, peer, |s, line| {
            let _ = s.try_write(line);
        });
    }
}
