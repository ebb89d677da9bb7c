//! Every reference in the repository resolves: Markdown links (and their `#anchors`) in the
//! docs and READMEs, `docs/...md` and `schemas/...json` paths named in code, docs, help text and
//! configuration, and no reference to a document the repository does not contain.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use regex::Regex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// The project's own text files: third-party corpus files and build output are not ours.
fn own_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            continue; // a crate's view of a shared folder (engine/docs) is read where it lives
        }
        if kind.is_dir() {
            let skip = name.starts_with('.')
                || name == "target"
                || name == "corpus" && path.parent().is_some_and(|p| p.ends_with("fuzz"))
                || name == "real" && path.parent().is_some_and(|p| p.ends_with("corpus"))
                || name == "artifacts";
            if !skip {
                own_files(&path, out);
            }
        } else if ["md", "rs", "toml", "yaml", "yml", "json", "txt"]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
            && name != "Cargo.lock"
        {
            out.push(path);
        }
    }
}

/// The anchors GitHub gives a Markdown file's headings.
fn anchors(markdown: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let text = line.trim_start_matches('#').trim();
        let mut slug: String = text
            .chars()
            .filter_map(|c| match c {
                'A'..='Z' => Some(c.to_ascii_lowercase()),
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        // Repeated headings get -1, -2, ...
        let base = slug.clone();
        let mut n = 0;
        while !seen.insert(slug.clone()) {
            n += 1;
            slug = format!("{base}-{n}");
        }
    }
    seen
}

/// Why `link` (written in `from`) does not resolve, if it does not.
fn broken(from: &Path, link: &str) -> Option<String> {
    if link.contains("://") || link.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match link.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (link, None),
    };
    let target = if path.is_empty() {
        from.to_path_buf()
    } else {
        from.parent()?.join(path)
    };
    if !target.exists() {
        return Some(format!("{} does not exist", target.display()));
    }
    if let Some(anchor) = anchor.filter(|_| target.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(&target).ok()?;
        if !anchors(&text).contains(anchor) {
            return Some(format!("{} has no heading #{anchor}", target.display()));
        }
    }
    None
}

fn problems() -> Vec<String> {
    let root = root();
    let mut files = Vec::new();
    own_files(&root, &mut files);
    let markdown_link = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let named_path =
        Regex::new(r"\b((?:docs|schemas)/[A-Za-z0-9_.-]+\.(?:md|json))(#[a-z0-9_-]+)?").unwrap();
    let outside = Regex::new(
        r"DESIGN\.md|ANCHORS\.md|STYLE\.md|engine[-]behavior|conformance\.md|research[/]|Part [12]\b|\bD[0-9]{1,2}\b|§",
    )
    .unwrap();
    let mut problems = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        if shown.ends_with("references.rs") {
            continue; // this file spells the patterns it looks for
        }
        for (n, line) in text.lines().enumerate() {
            let at = format!("{shown}:{}", n + 1);
            if let Some(m) = outside.find(line) {
                problems.push(format!(
                    "{at}: refers to {:?}, which is not in this repository",
                    m.as_str()
                ));
            }
            if shown.ends_with(".md") {
                for cap in markdown_link.captures_iter(line) {
                    if let Some(why) = broken(file, &cap[1]) {
                        problems.push(format!("{at}: link {}: {why}", &cap[1]));
                    }
                }
            }
            for cap in named_path.captures_iter(line) {
                let link = format!("{}{}", &cap[1], cap.get(2).map_or("", |a| a.as_str()));
                if let Some(why) = broken(&root.join("README.md"), &link) {
                    problems.push(format!("{at}: names {link}: {why}"));
                }
            }
        }
    }
    problems
}

#[test]
fn every_link_and_named_document_resolves() {
    let problems = problems();
    assert!(
        problems.is_empty(),
        "{} broken references:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn a_broken_link_or_anchor_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(&page, "# A title\n\n## Second `part`, again\n").unwrap();
    assert_eq!(broken(&page, "page.md#a-title"), None);
    assert_eq!(broken(&page, "#second-part-again"), None);
    assert!(broken(&page, "missing.md").is_some());
    assert!(broken(&page, "page.md#no-such-heading").is_some());
    assert_eq!(broken(&page, "https://example.com/x.md"), None);
}
