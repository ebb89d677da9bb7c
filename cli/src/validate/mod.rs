//! `recourse policy validate`: every problem of a policy file at once, each at the line and
//! column of the offending node (docs/policy-files.md). Kept out of the engine so services never
//! pull in a JSON Schema validator.

mod schema;
mod semantic;

pub(crate) use schema::SCHEMA;

use std::path::{Path, PathBuf};

use recourse_engine::policy::{PolicySet, Position};
use recourse_engine::tooling::{
    NO_POLICY_FILES, check_strict_json, load_document, parse_source, policy_files,
};
use serde::Serialize;

/// Error or warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    Error,
    Warning,
}

/// One problem, as `--format json` prints it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Diagnostic {
    pub(crate) code: &'static str,
    pub(crate) severity: Level,
    pub(crate) pointer: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn error(
        code: &'static str,
        pointer: &str,
        at: Position,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        Diagnostic {
            code,
            severity: Level::Error,
            pointer: pointer.to_owned(),
            line: at.line,
            column: at.column,
            message,
            help,
        }
    }
}

/// Names a service registers in code (`--known-classifier`, `--known-budget`,
/// `--known-trigger`): accepted instead of reported as unknown.
#[derive(Clone, Debug, Default)]
pub(crate) struct Known {
    pub(crate) classifiers: Vec<String>,
    pub(crate) budgets: Vec<String>,
    pub(crate) triggers: Vec<String>,
}

/// One file's verdict.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct FileReport {
    pub(crate) path: String,
    pub(crate) valid: bool,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// The file's text, for snippets (not serialized).
    #[serde(skip)]
    pub(crate) text: String,
}

/// A report of `diagnostics` on the file at `path` whose text is `text`.
fn report(path: &Path, text: String, diagnostics: Vec<Diagnostic>) -> FileReport {
    FileReport {
        path: path.display().to_string(),
        valid: diagnostics.iter().all(|d| d.severity == Level::Warning),
        diagnostics,
        text,
    }
}

/// Validates one file.
pub(crate) fn validate_file(path: &Path, known: &Known, limit: u64) -> FileReport {
    match crate::input::read(path, limit) {
        Ok(bytes) => validate_bytes(path, bytes, known),
        Err(e) => {
            let at = Position { line: 1, column: 1 };
            let help = e.help().map(str::to_owned);
            let d = Diagnostic::error(e.code(), "", at, e.reason(), help);
            report(path, String::new(), vec![d])
        }
    }
}

/// Validates the bytes read from the file at `path`.
pub(crate) fn validate_bytes(path: &Path, bytes: Vec<u8>, known: &Known) -> FileReport {
    let finish = |text: String, diagnostics: Vec<Diagnostic>| report(path, text, diagnostics);
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid =
                String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]).into_owned();
            let line = valid.matches('\n').count() + 1;
            let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let d = Diagnostic::error(
                "syntax",
                "",
                Position { line, column },
                "the file is not valid UTF-8".to_owned(),
                None,
            );
            return finish(String::from_utf8_lossy(e.as_bytes()).into_owned(), vec![d]);
        }
    };
    if path.extension().is_some_and(|e| e == "json")
        && let Err(p) = check_strict_json(&text)
    {
        let d = Diagnostic::error(p.code, &p.pointer, p.position, p.message, p.help);
        return finish(text, vec![d]);
    }
    let diagnostics = validate_text(&text, known);
    finish(text, diagnostics)
}

/// Every problem of one document's text.
pub(crate) fn validate_text(text: &str, known: &Known) -> Vec<Diagnostic> {
    let tree = match parse_source(text) {
        Ok(t) => t,
        Err(p) => {
            return vec![Diagnostic::error(
                p.code, &p.pointer, p.position, p.message, p.help,
            )];
        }
    };
    let mut out = schema::check(&tree);
    if !out.is_empty() {
        return out;
    }
    match load_document(text) {
        Ok((doc, tree)) => out.extend(semantic::check(&doc, &tree, known)),
        // The schema and the types agree (a test checks it); should they not, say so.
        Err(p) => out.push(Diagnostic::error(
            p.code, &p.pointer, p.position, p.message, p.help,
        )),
    }
    out
}

/// The files to validate under `paths` (directories: their `*.yaml`, `*.yml`, `*.json`), and the
/// duplicate definitions across the files of each directory.
pub(crate) fn validate_paths(paths: &[PathBuf], known: &Known, limit: u64) -> Vec<FileReport> {
    let mut reports = Vec::new();
    for p in paths {
        if p.is_dir() {
            let files = match policy_files(p) {
                Ok(files) if !files.is_empty() => files,
                listed => {
                    let (code, message) = match listed {
                        Err(e) => ("io", e.to_string()),
                        Ok(_) => ("no-policy-files", NO_POLICY_FILES.to_owned()),
                    };
                    let at = Position { line: 1, column: 1 };
                    reports.push(FileReport {
                        path: p.display().to_string(),
                        valid: false,
                        diagnostics: vec![Diagnostic::error(code, "", at, message, None)],
                        text: String::new(),
                    });
                    continue;
                }
            };
            let mut dir_reports: Vec<FileReport> = files
                .iter()
                .map(|f| validate_file(f, known, limit))
                .collect();
            // Keys defined twice across the directory's files.
            if dir_reports.iter().all(|r| r.valid) {
                let mut set = PolicySet::new();
                // The texts were read (and checked) once already.
                let loaded: Vec<PolicySet> = dir_reports
                    .iter()
                    .filter_map(|r| PolicySet::from_str(&r.text, &r.path).ok())
                    .collect();
                for one in loaded {
                    if let Err(e) = set.merge(one)
                        && let Some(r) = dir_reports.iter_mut().find(|r| r.path == e.path)
                    {
                        let pr = &e.problem;
                        r.diagnostics.push(Diagnostic::error(
                            pr.code,
                            &pr.pointer,
                            pr.position,
                            pr.message.clone(),
                            pr.help.clone(),
                        ));
                        r.valid = false;
                    }
                }
            }
            reports.extend(dir_reports);
        } else {
            reports.push(validate_file(p, known, limit));
        }
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published schema and the engine's serde types give every test file the same verdict.
    #[test]
    fn schema_and_types_agree_on_every_testdata_policy_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/policies");
        let mut checked = 0;
        for dir in ["valid", "invalid"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                let Ok(tree) = parse_source(&text) else {
                    continue;
                }; // syntax: neither sees it
                let by_schema = schema::check(&tree).is_empty();
                let by_types = load_document(&text).is_ok();
                assert_eq!(
                    by_schema,
                    by_types,
                    "{}: schema {by_schema}, types {by_types}",
                    entry.path().display()
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} files checked");
    }

    #[test]
    fn every_schema_field_has_a_description() {
        fn walk(v: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                for (k, child) in props {
                    if child.get("description").is_none() {
                        missing.push(format!("{path}/{k}"));
                    }
                    walk(child, &format!("{path}/{k}"), missing);
                }
            }
            if let Some(obj) = v.as_object() {
                for (k, child) in obj {
                    if k != "properties" {
                        walk(child, &format!("{path}/{k}"), missing);
                    }
                }
            }
            if let Some(items) = v.as_array() {
                items.iter().for_each(|c| walk(c, path, missing));
            }
        }
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let mut missing = Vec::new();
        walk(&schema, "", &mut missing);
        assert!(
            missing.is_empty(),
            "fields without a description: {missing:?}"
        );
    }
}
