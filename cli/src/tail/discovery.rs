//! `tail` without `--target`: every live service in the socket directory, as services come and
//! go. The directory is scanned at start, then once a second, so a service started (or
//! restarted under a new pid) after tail is followed too; a follower lets its service go once
//! the socket is removed or stale (see [`follow`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use super::follow::Followers;
use super::target::Spec;

/// How often the directory is scanned for new sockets.
const EVERY: Duration = Duration::from_secs(1);

/// The live sockets in the socket directory, sorted, and how many stale ones (left by
/// processes that died: the connection is refused) were skipped; an error when the directory
/// is not private (another user could have put sockets there).
pub(crate) fn discover() -> Result<(PathBuf, Vec<PathBuf>, usize), String> {
    let dir = recourse_engine::export::socket_dir();
    super::trust::socket_dir(&dir)?;
    let mut found = sockets(&dir);
    let total = found.len();
    found.retain(|p| live(p));
    let stale = total - found.len();
    Ok((dir, found, stale))
}

/// Follows `found` (the next targets, in order) and every live socket that appears in `dir`
/// later, until the consumer goes away.
pub(crate) fn follow_all(dir: PathBuf, found: Vec<PathBuf>, followers: Followers) {
    let mut watch = Watch {
        dir,
        followers,
        followed: HashMap::new(),
        stale: HashMap::new(),
    };
    for path in found {
        watch.follow(path);
    }
    tokio::spawn(watch.run());
}

struct Watch {
    dir: PathBuf,
    followers: Followers,
    /// Sockets with a follower (a finished one is dropped at the next scan, so a socket that
    /// comes back is followed again, as a new target).
    followed: HashMap<PathBuf, JoinHandle<()>>,
    /// Stale sockets and their modification time: not probed again until the file changes.
    stale: HashMap<PathBuf, Option<SystemTime>>,
}

impl Watch {
    fn follow(&mut self, path: PathBuf) {
        // None: the TUI's `:target` follows it already.
        if let Some(task) = self.followers.spawn(Spec::Unix(path.clone()), true) {
            self.followed.insert(path, task);
        }
    }

    async fn run(mut self) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is now: the start's scan was just done
        loop {
            tick.tick().await;
            if self.followers.closed() {
                return;
            }
            self.scan();
        }
    }

    /// Follows the sockets that appeared since the last scan.
    fn scan(&mut self) {
        self.followed.retain(|_, task| !task.is_finished());
        let found = sockets(&self.dir);
        self.stale.retain(|p, _| found.contains(p));
        for path in found {
            if self.followed.contains_key(&path) {
                continue;
            }
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            if self.stale.get(&path) == Some(&modified) {
                continue;
            }
            if live(&path) {
                self.stale.remove(&path);
                self.follow(path);
            } else {
                self.stale.insert(path, modified);
            }
        }
    }
}

/// The `.sock` files in `dir`, sorted (none when it cannot be read).
pub(crate) fn sockets(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Whether something listens on the socket at `path` (a local connect answers at once).
fn live(path: &Path) -> bool {
    #[cfg(unix)]
    {
        std::os::unix::net::UnixStream::connect(path).is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}
