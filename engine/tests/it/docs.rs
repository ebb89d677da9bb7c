//! The documentation stays in step with the code.

use recourse_engine::Reason;

#[test]
fn every_engine_reason_code_is_documented() {
    let doc = include_str!("../../../docs/reason-codes.md");
    let missing: Vec<&str> = Reason::ALL
        .iter()
        .map(Reason::as_str)
        .filter(|code| !doc.contains(&format!("`{code}`")))
        .collect();
    assert!(missing.is_empty(), "docs/reason-codes.md lacks {missing:?}");
}

/// Every benchmark as `group/function`, read from the sources in `engine/benches/`.
fn benchmark_ids() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches");
    let quoted_after = |line: &str, call: &str| -> Option<String> {
        let rest = &line[line.find(call)? + call.len()..];
        Some(rest.split('"').next()?.to_owned())
    };
    let mut ids = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let mut group = String::new();
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            if let Some(g) = quoted_after(line, "benchmark_group(\"") {
                group = g;
            } else if let Some(f) = quoted_after(line, "bench_function(\"") {
                ids.push(format!("{group}/{f}"));
            }
        }
    }
    ids
}

/// docs/performance.md names every benchmark, and names none that does not exist.
#[test]
fn the_performance_page_covers_every_benchmark() {
    let doc = include_str!("../../../docs/performance.md");
    let ids = benchmark_ids();
    assert!(ids.len() > 20, "benches found: {ids:?}");
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !doc.contains(&format!("`{id}`")))
        .collect();
    assert!(missing.is_empty(), "docs/performance.md lacks {missing:?}");
    let unknown: Vec<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            let parts: Vec<&str> = s.split('/').collect();
            parts.len() == 2
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                })
        })
        .filter(|s| !ids.iter().any(|id| id == s))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/performance.md names benchmarks that do not exist: {unknown:?}"
    );
}
