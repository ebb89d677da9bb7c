//! The scan: walk, prefilter, lex, match call sites, classify keys, apply the rules.

mod callsite;
mod consts;
mod key_arg;
mod lexer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use key_arg::KeyArg;

use crate::config::Config;
use crate::error::LintError;
use crate::location::Lines;
use crate::report::{Finding, KeySite, Report};
use crate::rules::{Rule, high_cardinality_kind};
use crate::suppress::Suppressions;

/// The word a file (or its crate's `Cargo.toml`) must contain to be scanned at all: code that
/// never mentions recourse has no recourse call sites, however many `call(a, b)` it has.
const NEEDLE: &[u8] = b"recourse";

/// How deeply a key argument may nest its parentheses, brackets and braces before it is
/// reported as unparsable rather than handed to the parser (whose recursion would overflow
/// the stack on thousands of levels).
const MAX_ARG_DEPTH: u32 = 32;

/// Bytes looked at for a NUL byte, the sign of a binary file.
const SNIFF: usize = 8 * 1024;

/// The keys of a policy set, for `uncovered-key` and `unused-policy`.
#[derive(Clone, Debug, Default)]
pub struct PolicyKeys {
    /// `(key, path, line, column)` of every policy entry; `namespace.*` entries included.
    pub entries: Vec<(String, String, usize, usize)>,
}

impl PolicyKeys {
    /// Whether a policy entry or a `namespace.*` entry covers `key`.
    pub fn covers(&self, key: &str) -> bool {
        let namespace = key.split_once('.').map(|(ns, _)| ns);
        self.entries
            .iter()
            .any(|(k, ..)| k == key || (k.ends_with(".*") && Some(&k[..k.len() - 2]) == namespace))
    }
}

/// What one file yielded.
#[derive(Debug, Default, Clone)]
pub struct FileScan {
    /// Findings (before suppressions are applied: they already are).
    pub findings: Vec<Finding>,
    /// Keys seen.
    pub keys: Vec<KeySite>,
}

fn mentions_recourse(text: &[u8]) -> bool {
    memchr::memmem::find(text, NEEDLE).is_some()
}

/// Whether the crate at `root` depends on recourse (its `Cargo.toml` mentions it), cached.
fn crate_uses_recourse(root: Option<&Path>, cache: &Mutex<HashMap<PathBuf, bool>>) -> bool {
    let Some(root) = root else { return false };
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    *cache.entry(root.to_path_buf()).or_insert_with(|| {
        std::fs::read(root.join("Cargo.toml")).is_ok_and(|b| mentions_recourse(&b))
    })
}

/// Scans one file's text (its `const`s resolve constants passed as keys).
pub fn scan_source(path: &str, text: &str, config: &Config) -> FileScan {
    let lexed = lexer::lex(text);
    let mut table = HashMap::new();
    consts::collect(text, &lexed.tokens, &mut table);
    analyze(path, text, &lexed, &table, config, false)
}

fn finding(
    config: &Config,
    rule: Rule,
    path: &str,
    lines: &Lines<'_>,
    span: (usize, usize),
    key: Option<String>,
    message: String,
) -> Finding {
    let (line, column) = lines.position(span.0);
    let (end_line, end_column) = lines.position(span.1);
    Finding {
        rule,
        severity: config.severity(rule),
        path: path.to_owned(),
        line,
        column,
        end_line,
        end_column,
        key,
        message,
        help: rule.help().to_owned(),
    }
}

fn analyze(
    path: &str,
    text: &str,
    lexed: &lexer::Lexed,
    consts: &HashMap<String, String>,
    config: &Config,
    not_utf8: bool,
) -> FileScan {
    let lines = Lines::new(text);
    let mut out = FileScan::default();
    let mut suppress = Suppressions::default();
    for &(s, e) in &lexed.comments {
        let (line, column) = lines.position(s as usize);
        let standalone = column == 1 || text[lines.line_start(line)..s as usize].trim().is_empty();
        suppress.add(line, standalone, &text[s as usize..e as usize]);
    }
    if let Some((at, what)) = lexed
        .broken
        .or(not_utf8.then_some((0, "the file is not valid UTF-8")))
    {
        let at = at as usize;
        out.findings.push(finding(
            config,
            Rule::ParseError,
            path,
            &lines,
            (at, at),
            None,
            format!("this file does not parse ({what}); call sites in it were scanned as far as possible"),
        ));
    }
    let tokens = &lexed.tokens;
    for site in callsite::find(text, lexed, &config.call_patterns) {
        let span_of =
            |(s, e): (usize, usize)| (tokens[s].start as usize, tokens[e - 1].end as usize);
        let (start, end) = span_of(site.args[0]);
        let arg_text = &text[start..end];
        let nesting = |(s, e): (usize, usize)| {
            let base = lexed.depth[s];
            lexed.depth[s..e]
                .iter()
                .map(|d| d - base)
                .max()
                .unwrap_or(0)
        };
        let deepest = site
            .args
            .iter()
            .take(2)
            .map(|&a| nesting(a))
            .max()
            .unwrap_or(0);
        if deepest > MAX_ARG_DEPTH {
            out.findings.push(finding(
                config,
                Rule::ParseError,
                path,
                &lines,
                (start, start),
                None,
                format!(
                    "a key argument nested {deepest} levels deep (more than {MAX_ARG_DEPTH}) \
                     is not parsed"
                ),
            ));
            continue;
        }
        let (key, span) = if site.two_part {
            let (_, end2) = span_of(site.args[1]);
            let ns = key_arg::classify(arg_text);
            let name = key_arg::classify(&text[span_of(site.args[1]).0..end2]);
            match (ns, name) {
                (KeyArg::Literal(a), KeyArg::Literal(b)) => {
                    (KeyArg::Literal(format!("{a}.{b}")), (start, end2))
                }
                (KeyArg::Literal(_), other) | (other, _) => (other, (start, end2)),
            }
        } else {
            (key_arg::classify(arg_text), (start, end))
        };
        let key = match key {
            KeyArg::Literal(k) => k,
            KeyArg::Constant(name) => match consts.get(&name) {
                Some(k) => k.clone(),
                None => continue, // defined in another crate: not checked here
            },
            KeyArg::Dynamic(how) => {
                out.findings.push(finding(
                    config,
                    Rule::DynamicKey,
                    path,
                    &lines,
                    span,
                    None,
                    format!("key built at run time ({how}): `{arg_text}`"),
                ));
                continue;
            }
            KeyArg::Unparsable => continue,
        };
        let (line, column) = lines.position(span.0);
        let (end_line, end_column) = lines.position(span.1);
        out.keys.push(KeySite {
            key: key.clone(),
            path: path.to_owned(),
            line,
            column,
            end_line,
            end_column,
        });
        if let Some(kind) = high_cardinality_kind(&key) {
            out.findings.push(finding(
                config,
                Rule::HighCardinalityKey,
                path,
                &lines,
                span,
                Some(key.clone()),
                format!("key {key:?} looks high-cardinality ({kind})"),
            ));
        } else if !config.key_format.is_match(&key) {
            out.findings.push(finding(
                config,
                Rule::KeyFormat,
                path,
                &lines,
                span,
                Some(key.clone()),
                if config.key_format.as_str() == crate::config::DEFAULT_KEY_FORMAT {
                    format!("key {key:?} is not shaped `namespace.Name`")
                } else {
                    format!(
                        "key {key:?} does not match the configured key_format `{}`",
                        config.key_format.as_str()
                    )
                },
            ));
        }
    }
    out.findings.retain(|f| !suppress.allows(f.rule, f.line));
    out
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

/// What a binary file yields: a `parse-error`, and nothing else.
fn binary_file(path: &str, config: &Config) -> FileScan {
    let lines = Lines::new("");
    FileScan {
        findings: vec![finding(
            config,
            Rule::ParseError,
            path,
            &lines,
            (0, 0),
            None,
            "a binary file (a NUL byte in its first 8 KiB): not scanned".to_owned(),
        )],
        keys: Vec::new(),
    }
}

/// A file read for scanning.
struct Source {
    path: String,
    text: String,
    not_utf8: bool,
    /// A NUL byte near its start: not text, not scanned.
    binary: bool,
    lexed: lexer::Lexed,
    /// Constants resolve within a crate; files outside any crate share one table.
    crate_root: Option<PathBuf>,
}

/// The directory of the nearest `Cargo.toml` above `path` (for a relative path, the current
/// directory counts), if any.
fn crate_root(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|d| d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
}

/// Scans the Rust files under `paths` (files or directories; `.gitignore` honoured), in
/// parallel, then checks keys against `policies` when given.
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
    let mut files = Vec::new();
    for root in paths {
        if !root.exists() {
            return Err(LintError::Io {
                path: root.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
        }
        let mut overrides = ignore::overrides::OverrideBuilder::new(root);
        for glob in &config.exclude {
            let _ = overrides.add(&format!("!{glob}"));
        }
        let mut walk = ignore::WalkBuilder::new(root);
        if let Ok(o) = overrides.build() {
            walk.overrides(o);
        }
        for entry in walk.build().flatten() {
            let p = entry.path();
            let explicit = entry.depth() == 0;
            if (explicit || p.extension().is_some_and(|e| e == "rs")) && p.is_file() {
                files.push((p.to_path_buf(), explicit));
            }
        }
    }
    files.sort();
    files.dedup();

    // Read, prefilter and lex in parallel.
    let next = AtomicUsize::new(0);
    let read: Mutex<Vec<Source>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<LintError>> = Mutex::new(None);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(16);
    let crates: Mutex<HashMap<PathBuf, bool>> = Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, explicit)) = files.get(i) else {
                        break;
                    };
                    let bytes = match read_source(path, config.max_file_size) {
                        Ok(b) => b,
                        Err(e) => {
                            failed
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                            continue;
                        }
                    };
                    let root = crate_root(path);
                    // A file named on the command line is always scanned.
                    let candidate = *explicit || config.scan_all || mentions_recourse(&bytes);
                    if !candidate && !crate_uses_recourse(root.as_deref(), &crates) {
                        continue;
                    }
                    let binary = bytes[..bytes.len().min(SNIFF)].contains(&0);
                    let (text, not_utf8) = match String::from_utf8(bytes) {
                        Ok(t) => (t, false),
                        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
                    };
                    // A binary file is not lexed: it holds no call site worth reporting.
                    let lexed = if binary {
                        lexer::Lexed::default()
                    } else {
                        lexer::lex(&text)
                    };
                    let source = Source {
                        path: path.display().to_string(),
                        crate_root: root,
                        text,
                        not_utf8,
                        binary,
                        lexed,
                    };
                    read.lock().unwrap_or_else(|e| e.into_inner()).push(source);
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let sources = read.into_inner().unwrap_or_else(|e| e.into_inner());

    // Constants are resolved within their crate.
    let mut consts: BTreeMap<Option<&Path>, HashMap<String, String>> = BTreeMap::new();
    for s in &sources {
        consts::collect(
            &s.text,
            &s.lexed.tokens,
            consts.entry(s.crate_root.as_deref()).or_default(),
        );
    }
    let empty = HashMap::new();
    let mut report = Report::default();
    for s in &sources {
        let table = consts.get(&s.crate_root.as_deref()).unwrap_or(&empty);
        let scan = if s.binary {
            binary_file(&s.path, config)
        } else {
            analyze(&s.path, &s.text, &s.lexed, table, config, s.not_utf8)
        };
        report.findings.extend(scan.findings);
        report.keys.extend(scan.keys);
    }
    if let Some(policies) = policies {
        check_policies(&mut report, policies, config);
    }
    Ok(report.finish(files.len()))
}

fn check_policies(report: &mut Report, policies: &PolicyKeys, config: &Config) {
    let mut extra = Vec::new();
    for site in &report.keys {
        if !policies.covers(&site.key) {
            extra.push(Finding {
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
    for (key, path, line, column) in &policies.entries {
        let used = report.keys.iter().any(|s| {
            &s.key == key
                || (key.ends_with(".*")
                    && s.key.split_once('.').map(|(ns, _)| ns) == Some(&key[..key.len() - 2]))
        });
        if !used {
            extra.push(Finding {
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
    report.findings.extend(extra);
}
