//! A policy set: one or more policy documents (a file, or every `*.yaml`/`*.yml`/`*.json` of a
//! directory). A key gets its own entry, else its `namespace.*` entry; fields that entry leaves
//! unset come from `defaults`, then from the built-in defaults; the executor then normalizes the
//! result.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::document::{BudgetSpec, Document, Position, SourceTree};
use super::model::{Policy, PolicyMeta, PolicySource};
use crate::key::Key;
use crate::provider::{Provider, ProviderFailure};

/// One problem found while loading a policy source.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadProblem {
    /// A stable code: `syntax`, `schema`, `duplicate-key`, `io`.
    pub code: &'static str,
    /// JSON pointer of the offending node (empty for the whole file).
    pub pointer: String,
    /// Where it is.
    pub position: Position,
    /// What is wrong.
    pub message: String,
    /// What to do, when known.
    pub help: Option<String>,
}

impl LoadProblem {
    pub(crate) fn syntax(position: Position, message: String) -> LoadProblem {
        LoadProblem {
            code: "syntax",
            pointer: String::new(),
            position,
            message,
            help: None,
        }
    }

    pub(crate) fn schema(
        pointer: &str,
        position: Position,
        message: String,
        help: Option<String>,
    ) -> LoadProblem {
        LoadProblem {
            code: "schema",
            pointer: pointer.to_owned(),
            position,
            message,
            help,
        }
    }
}

/// A policy source that could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{}:{}: {}", .problem.position.line, .problem.position.column, .problem.message)]
pub struct LoadError {
    /// The file.
    pub path: String,
    /// The first problem.
    pub problem: Box<LoadProblem>,
}

/// Where an entry was defined.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Origin {
    /// The file.
    pub path: String,
    /// The entry's key in it.
    pub position: Position,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.path, self.position.line, self.position.column
        )
    }
}

/// One or more policy documents, merged.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    defaults: Option<(Policy, Origin)>,
    budgets: BTreeMap<String, (BudgetSpec, Origin)>,
    entries: BTreeMap<String, (Policy, Origin)>,
}

fn problem_at(
    tree: &SourceTree,
    pointer: &str,
    message: String,
    help: Option<String>,
) -> LoadProblem {
    LoadProblem::schema(pointer, tree.position(pointer), message, help)
}

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The candidate closest to `word` (at most 3 edits away), for "did you mean" help.
pub fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, c)| c)
}

/// "did you mean" help for serde's `unknown field `x`, expected one of `a`, `b``.
pub(crate) fn did_you_mean(message: &str) -> Option<String> {
    let mut parts = message.split('`');
    let unknown = parts.nth(1)?;
    suggest(unknown, parts.skip(1).step_by(2)).map(|c| format!("did you mean `{c}`?"))
}

/// Parses a policy source (YAML with the `yaml` feature, JSON always) into its tree of values
/// and positions, without checking its fields.
///
/// # Errors
///
/// Syntax errors and duplicate keys (code `duplicate-key`), at their position.
pub fn parse_source(text: &str) -> Result<SourceTree, LoadProblem> {
    #[cfg(feature = "yaml")]
    {
        super::yaml::parse(text)
    }
    #[cfg(not(feature = "yaml"))]
    {
        let value: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .map_err(|e| {
                LoadProblem::syntax(
                    Position {
                        line: e.line(),
                        column: e.column(),
                    },
                    format!("{e} (YAML needs the engine's `yaml` feature)"),
                )
            })?;
        Ok(SourceTree {
            value,
            ..SourceTree::default()
        })
    }
}

/// Checks that a `.json` policy file is strict JSON (the YAML reader would accept more, such as
/// trailing commas).
///
/// # Errors
///
/// The JSON syntax error at its position.
pub fn check_strict_json(text: &str) -> Result<(), LoadProblem> {
    serde_json::from_str::<serde::de::IgnoredAny>(text.trim_start_matches('\u{feff}'))
        .map(|_| ())
        .map_err(|e| {
            LoadProblem::syntax(
                Position {
                    line: e.line(),
                    column: e.column(),
                },
                e.to_string(),
            )
        })
}

/// Parses and type-checks one policy document.
///
/// # Errors
///
/// The first problem: syntax, a field of the wrong type or unknown (with "did you mean"), a bad
/// duration, a version other than 1, a policy key that is not a valid key.
pub fn load_document(text: &str) -> Result<(Document, SourceTree), LoadProblem> {
    let tree = parse_source(text)?;
    if !tree.value.is_object() {
        return Err(problem_at(
            &tree,
            "",
            "a policy document is a mapping with `version: 1` and `policies`".to_owned(),
            None,
        ));
    }
    let doc: Document = serde_path_to_error::deserialize(&tree.value).map_err(|e| {
        let pointer: String = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => {
                    Some(format!("/{}", super::document::pointer_segment(key)))
                }
                serde_path_to_error::Segment::Seq { index } => Some(format!("/{index}")),
                _ => None,
            })
            .collect();
        let message = e.inner().to_string();
        let unknown = message.starts_with("unknown field");
        let position = if unknown {
            tree.key_position(&pointer)
        } else {
            tree.position(&pointer)
        };
        let help = if unknown {
            did_you_mean(&message)
        } else {
            None
        };
        LoadProblem::schema(&pointer, position, message, help)
    })?;
    if doc.version != 1 {
        return Err(problem_at(
            &tree,
            "/version",
            format!(
                "unsupported version {}; this recourse reads version 1",
                doc.version
            ),
            None,
        ));
    }
    let ids = written_policies(&doc).flat_map(|(base, p)| {
        let shadow = p
            .shadow
            .as_deref()
            .map(|s| (format!("{base}/shadow/id"), s));
        [(format!("{base}/id"), p)].into_iter().chain(shadow)
    });
    for (pointer, p) in ids {
        if let Some((message, help)) = p.id.as_deref().and_then(unprintable_id) {
            return Err(LoadProblem::schema(
                &pointer,
                tree.position(&pointer),
                message,
                Some(help.to_owned()),
            ));
        }
    }
    const NESTED: &str = "a shadow has no shadow of its own";
    let nested =
        written_policies(&doc).find(|(_, p)| p.shadow.as_ref().is_some_and(|s| s.shadow.is_some()));
    if let Some((base, _)) = nested {
        let pointer = format!("{base}/shadow/shadow");
        return Err(LoadProblem::schema(
            &pointer,
            tree.key_position(&pointer),
            NESTED.to_owned(),
            Some("judge one candidate at a time: keep one `shadow` under the key".to_owned()),
        ));
    }
    for key in doc.policies.keys() {
        let pointer = format!("/policies/{}", super::document::pointer_segment(key));
        if key.trim().is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(LoadProblem::schema(
                &pointer,
                tree.key_position(&pointer),
                format!(
                    "{key:?} is not a valid key (empty, or with whitespace or control characters)"
                ),
                Some("name keys `namespace.Name`, e.g. payments.Charge".to_owned()),
            ));
        }
    }
    Ok((doc, tree))
}

/// Why a written policy id cannot be shown as written, if it cannot: what is wrong and what
/// to do. An id is printed as written (timelines, `explain`, `diff`, pull-request comments), so
/// it holds no control or bidirectional-override character, which could disguise what a
/// reader sees.
pub fn unprintable_id(id: &str) -> Option<(String, &'static str)> {
    let hidden = |c: &char| {
        c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(c)
            || ('\u{2066}'..='\u{2069}').contains(c)
    };
    id.chars().any(|c| hidden(&c)).then(|| {
        (
            format!("id {id:?} holds a control or bidirectional-override character"),
            "an id is printed as written: use letters, digits and -_.",
        )
    })
}

/// Every policy a document writes (its `defaults` and its entries), with its JSON pointer.
fn written_policies(doc: &Document) -> impl Iterator<Item = (String, &Policy)> {
    let defaults = doc.defaults.iter().map(|p| ("/defaults".to_owned(), p));
    defaults.chain(doc.policies.iter().map(|(key, p)| {
        let pointer = format!("/policies/{}", super::document::pointer_segment(key));
        (pointer, p)
    }))
}

/// The largest policy file [`PolicySet::from_path`] reads (8 MiB): a policy set is a few
/// kilobytes, and a file far past that is a mistake (or an attack) that would cost seconds and
/// gigabytes to parse.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// What a directory of policies without any policy file says.
pub const NO_POLICY_FILES: &str =
    "no policy files here (*.yaml, *.yml, *.json; subdirectories are not read)";

/// The policy files of a directory (`*.yaml`, `*.yml`, `*.json`, not in subdirectories), sorted:
/// the files [`PolicySet::from_path`] loads.
///
/// # Errors
///
/// The directory cannot be read.
pub fn policy_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    files.sort();
    Ok(files)
}

impl PolicySet {
    /// An empty set (every key gets the built-in default).
    pub fn new() -> PolicySet {
        PolicySet::default()
    }

    /// Loads one document from `text`, naming it `path` in errors and origins.
    ///
    /// # Errors
    ///
    /// See [`load_document`].
    pub fn from_str(text: &str, path: &str) -> Result<PolicySet, LoadError> {
        let err = |problem| LoadError {
            path: path.to_owned(),
            problem: Box::new(problem),
        };
        let (doc, tree) = load_document(text).map_err(err)?;
        let origin = |pointer: String| Origin {
            path: path.to_owned(),
            position: tree.key_position(&pointer),
        };
        let mut set = PolicySet::new();
        if let Some(d) = doc.defaults {
            set.defaults = Some((d, origin("/defaults".to_owned())));
        }
        for (name, spec) in doc.budgets {
            let o = origin(format!(
                "/budgets/{}",
                super::document::pointer_segment(&name)
            ));
            set.budgets.insert(name, (spec, o));
        }
        for (key, policy) in doc.policies {
            let o = origin(format!(
                "/policies/{}",
                super::document::pointer_segment(&key)
            ));
            set.entries.insert(key.trim().to_owned(), (policy, o));
        }
        Ok(set)
    }

    /// Loads a file, or every `*.yaml`, `*.yml` and `*.json` file of a directory (a key or budget
    /// defined twice is an error naming both places).
    ///
    /// # Errors
    ///
    /// An unreadable path (code `io`), a file larger than [`MAX_FILE_BYTES`] (code
    /// `too-large`), a directory with no policy file in it (code `no-policy-files`: a wrong path,
    /// or a directory emptied by mistake, never silently means "built-in defaults for every
    /// key"), an invalid file, or a duplicate definition.
    pub fn from_path(path: &Path) -> Result<PolicySet, LoadError> {
        // A problem with the path itself, not with a document in it.
        let refused = |code: &'static str, message: String| LoadError {
            path: path.display().to_string(),
            problem: Box::new(LoadProblem {
                code,
                pointer: String::new(),
                position: Position { line: 1, column: 1 },
                message,
                help: None,
            }),
        };
        let io = |e: std::io::Error| refused("io", e.to_string());
        if !path.is_dir() {
            // At most one byte past the limit is read, whatever the file claims to be
            // (`/dev/zero` has no size).
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(
                    std::fs::File::open(path).map_err(io)?,
                    MAX_FILE_BYTES + 1,
                ),
                &mut bytes,
            )
            .map_err(io)?;
            if bytes.len() as u64 > MAX_FILE_BYTES {
                return Err(refused(
                    "too-large",
                    format!(
                        "the file is larger than {} MiB, the most a policy file may be",
                        MAX_FILE_BYTES >> 20
                    ),
                ));
            }
            return PolicySet::from_bytes(bytes, &path.display().to_string());
        }
        let files = policy_files(path).map_err(io)?;
        if files.is_empty() {
            return Err(refused("no-policy-files", NO_POLICY_FILES.to_owned()));
        }
        let mut set = PolicySet::new();
        for f in files {
            set.merge(PolicySet::from_path(&f)?)?;
        }
        Ok(set)
    }

    /// Loads one document from the raw bytes of a file named `path` (from disk, a git
    /// revision or the network): the bytes must be UTF-8, and a `.json` name must hold strict
    /// JSON.
    ///
    /// # Errors
    ///
    /// Invalid UTF-8 (with the position of the first bad byte), non-strict JSON, and see
    /// [`load_document`].
    pub fn from_bytes(bytes: Vec<u8>, path: &str) -> Result<PolicySet, LoadError> {
        let text = String::from_utf8(bytes).map_err(|e| {
            let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let text = String::from_utf8_lossy(upto);
            let line = text.matches('\n').count() + 1;
            let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            LoadError {
                path: path.to_owned(),
                problem: Box::new(LoadProblem::syntax(
                    Position { line, column },
                    "the file is not valid UTF-8".to_owned(),
                )),
            }
        })?;
        if path.ends_with(".json") {
            check_strict_json(&text).map_err(|p| LoadError {
                path: path.to_owned(),
                problem: Box::new(p),
            })?;
        }
        PolicySet::from_str(&text, path)
    }

    /// Adds another set's definitions.
    ///
    /// # Errors
    ///
    /// A key, a budget or `defaults` defined in both (code `duplicate-key`, naming both places).
    pub fn merge(&mut self, other: PolicySet) -> Result<(), LoadError> {
        let dup = |what: String, first: &Origin, second: &Origin| LoadError {
            path: second.path.clone(),
            problem: Box::new(LoadProblem {
                code: "duplicate-key",
                pointer: String::new(),
                position: second.position,
                message: format!("{what} is defined twice: here and at {first}"),
                help: Some("keep one definition".to_owned()),
            }),
        };
        if let (Some((_, a)), Some((_, b))) = (&self.defaults, &other.defaults) {
            return Err(dup("`defaults`".to_owned(), a, b));
        }
        for (k, (_, b)) in &other.entries {
            if let Some((_, a)) = self.entries.get(k) {
                return Err(dup(format!("policy {k:?}"), a, b));
            }
        }
        for (k, (_, b)) in &other.budgets {
            if let Some((_, a)) = self.budgets.get(k) {
                return Err(dup(format!("budget {k:?}"), a, b));
            }
        }
        if other.defaults.is_some() {
            self.defaults = other.defaults;
        }
        self.entries.extend(other.entries);
        self.budgets.extend(other.budgets);
        Ok(())
    }

    /// Every policy entry (`namespace.*` ones included) with where it is defined.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Policy, &Origin)> {
        self.entries.iter().map(|(k, (p, o))| (k.as_str(), p, o))
    }

    /// Every declared budget.
    pub fn budgets(&self) -> impl Iterator<Item = (&str, &BudgetSpec, &Origin)> {
        self.budgets.iter().map(|(k, (b, o))| (k.as_str(), b, o))
    }

    /// The entry covering `key`: its own (`true`), else its `namespace.*` (`false`).
    pub(crate) fn entry_for(&self, key: &Key) -> Option<(&str, &Policy, bool)> {
        if let Some((k, (p, _))) = self.entries.get_key_value(key.as_str()) {
            return Some((k, p, true));
        }
        let ns = format!("{}.*", key.namespace());
        self.entries
            .get_key_value(ns.as_str())
            .map(|(k, (p, _))| (k.as_str(), p, false))
    }

    /// The document's `defaults`, if it has them.
    #[cfg(feature = "tooling")]
    pub(crate) fn defaults(&self) -> Option<&Policy> {
        self.defaults.as_ref().map(|(d, _)| d)
    }

    /// The policy of `key` as a provider serves it (the executor normalizes it): its entry,
    /// else its `namespace.*`, laid over `defaults` and the built-in policy, field by field.
    pub(crate) fn layered(&self, key: &Key) -> Policy {
        let mut policy = Policy::builtin();
        if let Some((d, _)) = &self.defaults {
            policy = d.over(&policy);
        }
        let entry = self.entry_for(key);
        if let Some((_, p, _)) = entry {
            policy = p.over(&policy);
        }
        policy.meta = PolicyMeta {
            source: self.source_for(entry.is_some()),
            changed_fields: Vec::new(),
        };
        policy
    }

    /// Where a key's policy comes from: the file, when an entry or `defaults` covers it.
    pub(crate) fn source_for(&self, has_entry: bool) -> PolicySource {
        if has_entry || self.defaults.is_some() {
            PolicySource::File
        } else {
            PolicySource::Default
        }
    }
}

impl PolicySet {
    /// The budgets the set declares, by name (what it tells an executor as a provider).
    pub(crate) fn budgets_declared(&self) -> Vec<(String, BudgetSpec)> {
        self.budgets()
            .map(|(name, spec, _)| (name.to_owned(), spec.clone()))
            .collect()
    }
}

impl Provider for PolicySet {
    fn policy(&self, key: &Key) -> Result<Policy, ProviderFailure> {
        Ok(self.layered(key))
    }

    fn budgets(&self) -> Vec<(String, BudgetSpec)> {
        self.budgets_declared()
    }
}
