//! Which services tail trusts: a Unix socket must belong to this user (or root), and so must
//! the process that answers on it. A socket another user planted is never read from.

use std::io;
use std::path::Path;

/// This process's user id.
#[cfg(unix)]
fn me() -> u32 {
    rustix::process::getuid().as_raw()
}

#[cfg(unix)]
fn refused(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, what)
}

/// Checks the socket file at `path`: it must belong to this user or root.
#[cfg(unix)]
pub(super) fn socket_file(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(path)?.uid();
    if owner != me() && owner != 0 {
        return Err(refused(format!(
            "not followed: the socket belongs to uid {owner}, not to you (uid {})",
            me()
        )));
    }
    Ok(())
}

/// Checks who answers on a connected socket: this user or root.
#[cfg(unix)]
pub(super) fn peer(stream: &tokio::net::UnixStream) -> io::Result<()> {
    let uid = stream.peer_cred()?.uid();
    if uid != me() && uid != 0 {
        return Err(refused(format!(
            "not followed: the process answering runs as uid {uid}, not as you (uid {})",
            me()
        )));
    }
    Ok(())
}

/// Checks the socket directory before looking for services in it.
pub(super) fn socket_dir(dir: &Path) -> Result<(), String> {
    match recourse_engine::export::check_dir(dir) {
        Ok(()) => Ok(()),
        // Nothing there yet: no service to find, and nothing to distrust.
        Err(_) if std::fs::symlink_metadata(dir).is_err() => Ok(()),
        Err(e) => Err(format!("{e}\n  help: services will refuse it too")),
    }
}
