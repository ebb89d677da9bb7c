//! The scan: walk, prefilter, then per file in parallel lex, collect items and match call
//! sites (text dropped as soon as the file is done), then per crate resolve receivers and
//! constants and apply the rules, then check keys against policies.

mod callsite;
mod file;
mod items;
mod key_arg;
mod lexer;
mod resolve;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use file::FileFacts;

use crate::config::Config;
use crate::error::LintError;
use crate::report::{Finding, KeySite, Report};
use crate::rules::Rule;

/// The word a file (or its crate's `Cargo.toml`) must contain to be scanned at all: code that
/// never mentions recourse (nor a configured receiver) has no recourse call sites.
const NEEDLE: &str = "recourse";

/// Bytes looked at for a NUL byte, the sign of a binary file.
const SNIFF: usize = 8 * 1024;

/// Directories never walked into (named on the command line, they are still scanned).
const SKIPPED_DIRS: [&str; 1] = ["target"];

/// The keys of a policy set, for `uncovered-key` and `unused-policy`.
#[derive(Clone, Debug, Default)]
pub struct PolicyKeys {
    /// `(key, path, line, column)` of every policy entry; `namespace.*` entries included.
    pub entries: Vec<(String, String, usize, usize)>,
}

impl PolicyKeys {
    /// Whether a policy entry or a `namespace.*` entry covers `key`.
    pub fn covers(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, ..)| entry_covers(k, key))
    }
}

fn entry_covers(entry: &str, key: &str) -> bool {
    entry == key
        || entry
            .strip_suffix(".*")
            .is_some_and(|ns| key.split_once('.').map(|(n, _)| n) == Some(ns))
}

/// What one file yielded.
#[derive(Debug, Default, Clone)]
pub struct FileScan {
    /// Findings, suppressions applied.
    pub findings: Vec<Finding>,
    /// Keys seen.
    pub keys: Vec<KeySite>,
}

/// Scans one file's text as a crate of its own: its receivers and constants only.
pub fn scan_source(path: &str, text: &str, config: &Config) -> FileScan {
    let modules = file::module_of(Path::new(path), None);
    let facts = file::analyze(path, None, modules, text, false, config);
    let mut out = FileScan {
        findings: facts.findings.clone(),
        keys: Vec::new(),
    };
    let mut keys = Vec::new();
    resolve::crate_sites(&[&facts], config, &mut out.findings, &mut keys);
    out.keys = keys.into_iter().map(|(k, _)| k).collect();
    out
}

/// The byte strings whose presence makes a file worth scanning.
fn needles(config: &Config) -> Vec<memchr::memmem::Finder<'static>> {
    let patterns = config
        .call_patterns
        .iter()
        .filter_map(|p| p.rsplit("::").next());
    std::iter::once(NEEDLE)
        .chain(config.receivers.iter().map(String::as_str))
        .chain(patterns)
        .filter(|n| !n.is_empty())
        .map(|n| memchr::memmem::Finder::new(n.as_bytes()).into_owned())
        .collect()
}

/// Whether the crate at `root` depends on recourse (its `Cargo.toml` mentions it), cached.
fn crate_uses_recourse(root: Option<&Path>, cache: &Mutex<HashMap<PathBuf, bool>>) -> bool {
    let Some(root) = root else { return false };
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    *cache.entry(root.to_path_buf()).or_insert_with(|| {
        std::fs::read(root.join("Cargo.toml"))
            .is_ok_and(|b| memchr::memmem::find(&b, NEEDLE.as_bytes()).is_some())
    })
}

/// Reads a file to scan: at most `limit` bytes, whatever it claims to be.
fn read_source(path: &Path, limit: u64) -> Result<Vec<u8>, LintError> {
    use std::io::Read;
    let io = |source| LintError::Io {
        path: path.to_owned(),
        source,
    };
    let too_large = || LintError::TooLarge {
        path: path.to_owned(),
        limit,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The directory of the nearest `Cargo.toml` above `path` (for a relative path, the current
/// directory counts), if any; looked up once per directory.
fn crate_root(path: &Path, cache: &Mutex<HashMap<PathBuf, Option<PathBuf>>>) -> Option<PathBuf> {
    let dir = path.parent()?;
    if let Some(root) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(dir) {
        return root.clone();
    }
    let root = dir
        .ancestors()
        .find(|d| d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.to_owned(), root.clone());
    root
}

/// Shared by the workers of one scan: what each directory's crate is, and whether each crate
/// depends on recourse.
#[derive(Default)]
struct Crates {
    roots: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
    uses_recourse: Mutex<HashMap<PathBuf, bool>>,
}

/// A path made absolute against the working directory (not canonical: no link is followed).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The `exclude` globs, matched against paths relative to `base`.
struct Exclude {
    base: PathBuf,
    globs: Option<ignore::overrides::Override>,
}

impl Exclude {
    fn new(base: &Path, globs: &[String]) -> Exclude {
        let base = absolute(base);
        let globs = (!globs.is_empty())
            .then(|| {
                let mut overrides = ignore::overrides::OverrideBuilder::new(&base);
                for glob in globs {
                    let _ = overrides.add(&format!("!{glob}"));
                }
                overrides.build().ok()
            })
            .flatten();
        Exclude { base, globs }
    }

    fn excludes(&self, path: &Path, dir: bool) -> bool {
        let Some(globs) = &self.globs else {
            return false;
        };
        let path = absolute(path);
        path.starts_with(&self.base) && globs.matched(&path, dir).is_ignore()
    }
}

/// An error for the first path that does not exist.
fn check_exist(paths: &[PathBuf]) -> Result<(), LintError> {
    match paths.iter().find(|p| !p.exists()) {
        Some(missing) => Err(LintError::Io {
            path: missing.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        }),
        None => Ok(()),
    }
}

/// Hands each file to scan under `paths` to `found`, with whether it was named on the command
/// line.
fn walk(paths: &[PathBuf], config: &Config, mut found: impl FnMut(PathBuf, bool)) {
    for root in paths {
        let base = config.root.as_deref().unwrap_or(if root.is_dir() {
            root.as_path()
        } else {
            Path::new(".")
        });
        let exclude = Exclude::new(base, &config.exclude);
        if !root.is_dir() {
            if !exclude.excludes(root, false) {
                found(root.clone(), true);
            }
            continue;
        }
        let mut walk = ignore::WalkBuilder::new(root);
        walk.filter_entry(move |e| {
            let dir = e.file_type().is_some_and(|t| t.is_dir());
            e.depth() == 0
                || !((dir
                    && e.file_name()
                        .to_str()
                        .is_some_and(|n| SKIPPED_DIRS.contains(&n)))
                    || exclude.excludes(e.path(), dir))
        });
        for entry in walk.build().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "rs")
                && entry.file_type().is_some_and(|t| t.is_file())
            {
                found(entry.into_path(), false);
            }
        }
    }
}

/// One file: read, prefiltered, analysed. `None` when the prefilter skips it.
fn scan_file(
    path: &Path,
    explicit: bool,
    config: &Config,
    needles: &[memchr::memmem::Finder<'_>],
    crates: &Crates,
) -> Result<Option<FileFacts>, LintError> {
    let bytes = read_source(path, config.max_file_size)?;
    let root = crate_root(path, &crates.roots);
    let candidate = explicit
        || config.scan_all
        || needles.iter().any(|n| n.find(&bytes).is_some())
        || crate_uses_recourse(root.as_deref(), &crates.uses_recourse);
    if !candidate {
        return Ok(None);
    }
    let shown = path.display().to_string();
    if bytes[..bytes.len().min(SNIFF)].contains(&0) {
        return Ok(Some(FileFacts {
            findings: vec![file::finding(
                config,
                Rule::ParseError,
                &shown,
                file::Span {
                    line: 1,
                    column: 1,
                    end_line: 1,
                    end_column: 1,
                },
                None,
                "a binary file (a NUL byte in its first 8 KiB): not scanned".to_owned(),
            )],
            path: shown,
            ..FileFacts::default()
        }));
    }
    let (text, not_utf8) = match String::from_utf8(bytes) {
        Ok(t) => (t, false),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    };
    let modules = file::module_of(path, root.as_deref());
    Ok(Some(file::analyze(
        &shown, root, modules, &text, not_utf8, config,
    )))
}

/// Scans the Rust files under `paths` (files or directories; `.gitignore` honoured, hidden
/// directories and `target/` skipped), in parallel, then checks keys against `policies` when
/// given. `unused-policy` is reported only when every path is a directory: a scan of some
/// files cannot know which policies the rest of the code uses.
///
/// # Errors
///
/// A path that does not exist or cannot be read, or a file larger than
/// [`Config::max_file_size`].
pub fn scan_paths(
    paths: &[PathBuf],
    config: &Config,
    policies: Option<&PolicyKeys>,
) -> Result<Report, LintError> {
    check_exist(paths)?;
    let needles = needles(config);

    // One thread walks; each worker reads, analyses and drops one file at a time, as the walk
    // finds them: only each file's facts are kept.
    let (found, queue) = std::sync::mpsc::sync_channel::<(PathBuf, bool)>(1024);
    let queue = Mutex::new(queue);
    let walked = AtomicUsize::new(0);
    let done: Mutex<Vec<FileFacts>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<LintError>> = Mutex::new(None);
    let crates = Crates::default();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(16);
    std::thread::scope(|s| {
        let walked = &walked;
        s.spawn(move || {
            let mut seen = HashSet::new();
            walk(paths, config, |path, explicit| {
                if seen.insert(path.clone()) {
                    walked.fetch_add(1, Ordering::Relaxed);
                    // A closed queue means every worker stopped: nothing is left to do.
                    let _ = found.send((path, explicit));
                }
            });
        });
        for _ in 0..workers {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((path, explicit)) = next else { break };
                    match scan_file(&path, explicit, config, &needles, &crates) {
                        Ok(Some(facts)) => mine.push(facts),
                        Ok(None) => {}
                        Err(e) => {
                            failed
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                        }
                    }
                }
                done.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let mut facts = done.into_inner().unwrap_or_else(|e| e.into_inner());
    facts.sort_by(|a, b| a.path.cmp(&b.path));

    let mut crates: BTreeMap<Option<&Path>, Vec<&FileFacts>> = BTreeMap::new();
    for f in &facts {
        crates.entry(f.crate_root.as_deref()).or_default().push(f);
    }
    let mut report = Report::default();
    let mut keys = Vec::new();
    for f in &facts {
        report.findings.extend(f.findings.iter().cloned());
    }
    for files in crates.values() {
        resolve::crate_sites(files, config, &mut report.findings, &mut keys);
    }
    if let Some(policies) = policies {
        let complete = paths.iter().all(|p| p.is_dir());
        check_policies(&mut report, &keys, policies, complete, config);
    }
    report.keys = keys.into_iter().map(|(k, _)| k).collect();
    Ok(report.finish(walked.into_inner()))
}

fn check_policies(
    report: &mut Report,
    keys: &[(KeySite, Vec<Rule>)],
    policies: &PolicyKeys,
    complete: bool,
    config: &Config,
) {
    for (site, allowed) in keys {
        if !policies.covers(&site.key) && !allowed.contains(&Rule::UncoveredKey) {
            report.findings.push(Finding {
                rule: Rule::UncoveredKey,
                severity: config.severity(Rule::UncoveredKey),
                path: site.path.clone(),
                line: site.line,
                column: site.column,
                end_line: site.end_line,
                end_column: site.end_column,
                key: Some(site.key.clone()),
                message: format!("no policy covers key {:?}", site.key),
                help: Rule::UncoveredKey.help().to_owned(),
            });
        }
    }
    if !complete {
        return;
    }
    for (key, path, line, column) in &policies.entries {
        if !keys.iter().any(|(s, _)| entry_covers(key, &s.key)) {
            report.findings.push(Finding {
                rule: Rule::UnusedPolicy,
                severity: config.severity(Rule::UnusedPolicy),
                path: path.clone(),
                line: *line,
                column: *column,
                end_line: *line,
                end_column: *column,
                key: Some(key.clone()),
                message: format!("no call site uses policy key {key:?}"),
                help: Rule::UnusedPolicy.help().to_owned(),
            });
        }
    }
}
