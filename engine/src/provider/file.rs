//! Policies from files, reloaded safely while the service runs.
//!
//! A new version replaces the running policy set only when it loads completely: an invalid,
//! half-written or truncated file never does. Every call resolves against one set, the old or
//! the new, never a mix. Rejections are kept ([`FileProvider::last_rejection`]) and reported to
//! observers ([`FileProvider::observer`], `Observer::on_policy_rejected`) and to the listener
//! given with [`FileProvider::on_rejection`] (to log them).

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::{Provider, ProviderFailure};
use crate::key::Key;
use crate::observe::Observer;
use crate::policy::set::policy_files;
use crate::policy::{BudgetSpec, LoadError, MAX_FILE_BYTES, Policy, PolicySet};

type Listener = Box<dyn Fn(&LoadError) + Send + Sync>;

/// A provider over policy files or directories, with safe reloads.
pub struct FileProvider {
    paths: Vec<PathBuf>,
    current: ArcSwap<PolicySet>,
    generation: AtomicU64,
    fingerprint: Mutex<Vec<(PathBuf, Option<u64>)>>,
    last_rejection: Mutex<Option<LoadError>>,
    listener: Mutex<Option<Listener>>,
    observers: Mutex<Vec<Arc<dyn Observer>>>,
}

impl fmt::Debug for FileProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileProvider")
            .field("paths", &self.paths)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn load_all(paths: &[PathBuf]) -> Result<PolicySet, LoadError> {
    let mut set = PolicySet::new();
    for p in paths {
        set.merge(PolicySet::from_path(p)?)?;
    }
    Ok(set)
}

/// What identifies the files' current contents: a hash of every file's bytes (`None` for a
/// file that cannot be read). Modification times miss an update made by a tool that keeps them
/// (`cp -p`, `rsync -t`, `tar`) or two writes within their granularity; the bytes do not. A
/// policy set is a few kilobytes, so reading it every poll costs little.
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, Option<u64>)> {
    use std::hash::{Hash, Hasher};
    use std::io::Read;
    let mut out = Vec::new();
    for p in paths {
        // Exactly the files a load reads: a note or a subdirectory changing is no reload.
        let files: Vec<PathBuf> = if p.is_dir() {
            policy_files(p).unwrap_or_default()
        } else {
            vec![p.clone()]
        };
        for f in files {
            let hash = std::fs::File::open(&f).ok().and_then(|file| {
                let mut bytes = Vec::new();
                // One byte past the limit tells a file too large to load from any other.
                file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).ok()?;
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                Some(h.finish())
            });
            out.push((f, hash));
        }
    }
    out
}

impl FileProvider {
    /// Loads `paths` (files or directories of `*.yaml`, `*.yml`, `*.json`).
    ///
    /// # Errors
    ///
    /// The first problem of the first version: a service should not start without policies.
    pub fn load(
        paths: impl IntoIterator<Item = impl Into<PathBuf>>,
    ) -> Result<FileProvider, LoadError> {
        let paths: Vec<PathBuf> = paths.into_iter().map(Into::into).collect();
        let set = load_all(&paths)?;
        Ok(FileProvider {
            fingerprint: Mutex::new(fingerprint(&paths)),
            paths,
            current: ArcSwap::from_pointee(set),
            generation: AtomicU64::new(1),
            last_rejection: Mutex::new(None),
            listener: Mutex::new(None),
            observers: Mutex::new(Vec::new()),
        })
    }

    /// Calls `f` with every rejected version (to log it or alert on it).
    pub fn on_rejection(self, f: impl Fn(&LoadError) + Send + Sync + 'static) -> FileProvider {
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
        self
    }

    /// Reports every rejected version to `observer` (`Observer::on_policy_rejected`), for
    /// example the executor's own observers.
    pub fn observer(self, observer: Arc<dyn Observer>) -> FileProvider {
        self.observers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(observer);
        self
    }

    /// Reads the files again. A version that loads completely replaces the running set (the
    /// executor's per-key state follows); one that does not is rejected and the running set
    /// stays.
    ///
    /// # Errors
    ///
    /// The rejected version's first problem.
    pub fn reload(&self) -> Result<(), LoadError> {
        let print = fingerprint(&self.paths);
        match load_all(&self.paths) {
            Ok(set) => {
                self.current.store(Arc::new(set));
                self.generation.fetch_add(1, Ordering::AcqRel);
                *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) = print;
                Ok(())
            }
            Err(e) => {
                if let Some(l) = &*self.listener.lock().unwrap_or_else(|e| e.into_inner()) {
                    l(&e);
                }
                let problem = e.to_string();
                for o in self
                    .observers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                {
                    o.on_policy_rejected(&e.path, &problem);
                }
                *self
                    .last_rejection
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(e.clone());
                *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) = print;
                Err(e)
            }
        }
    }

    /// Reloads when the bytes of a file changed since the last look (a file added or removed
    /// too), whatever its modification time says.
    ///
    /// # Errors
    ///
    /// See [`reload`](FileProvider::reload).
    pub fn reload_if_changed(&self) -> Result<bool, LoadError> {
        let print = fingerprint(&self.paths);
        if *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) == print {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// The last rejected version's problem, if any.
    pub fn last_rejection(&self) -> Option<LoadError> {
        self.last_rejection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The running policy set.
    pub fn current(&self) -> Arc<PolicySet> {
        self.current.load_full()
    }

    /// Watches the files from a background thread, reloading on change every `interval`, until
    /// the returned handle is dropped.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let (me, flag) = (self.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("recourse-policy-watch".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    let _ = me.reload_if_changed();
                    std::thread::park_timeout(interval);
                }
            })
            .ok();
        Watch { stop, thread }
    }
}

/// Stops a [`FileProvider::watch`] when dropped.
#[derive(Debug)]
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Provider for FileProvider {
    fn policy(&self, key: &Key) -> Result<Policy, ProviderFailure> {
        Ok(self.current.load().layered(key))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn budgets(&self) -> Vec<(String, BudgetSpec)> {
        self.current.load().as_ref().budgets_declared()
    }
}
