//! A realistic service crate (`testdata/lint-service/`) written the way a team would write it,
//! with every key form docs/lint.md describes and the look-alikes a service has beside them.
//! `expected.txt` was written from the docs before the tool first ran on it.

#![allow(missing_docs)]

use std::path::{Path, PathBuf};

use recourse_lints::{Config, scan_paths};

fn service() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/lint-service")
}

/// `path:line:column what`, the path relative to the service crate.
fn line(root: &Path, path: &str, line: usize, column: usize, what: &str) -> String {
    let rel = Path::new(path)
        .strip_prefix(root)
        .unwrap_or(Path::new(path));
    format!("{}:{line}:{column} {what}", rel.display())
}

#[test]
fn every_key_form_and_look_alike_matches_the_expectations() {
    let root = service();
    let report = scan_paths(std::slice::from_ref(&root), &Config::default(), None).unwrap();
    let mut got = vec!["[keys]".to_owned()];
    got.extend(
        report
            .keys
            .iter()
            .map(|k| line(&root, &k.path, k.line, k.column, &k.key)),
    );
    got.push("[findings]".to_owned());
    got.extend(
        report
            .findings
            .iter()
            .map(|f| line(&root, &f.path, f.line, f.column, f.rule.id())),
    );
    let expected: Vec<String> = std::fs::read_to_string(root.join("expected.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn named_files_see_only_what_they_define() {
    // A pre-commit run over two files: search.rs alone cannot see App's typed `exec` field,
    // but every one of its sites passes a closure, so each is still found; constants defined
    // in files not named are not checked (never guessed).
    let root = service();
    let files = [root.join("src/search.rs"), root.join("src/lib.rs")];
    let report = scan_paths(&files, &Config::default(), None).unwrap();
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.id()).collect();
    assert_eq!(
        rules,
        ["high-cardinality-key", "key-format", "invalid-suppression"]
    );
}
