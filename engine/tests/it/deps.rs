//! A service that turns on no feature pulls none of the integrations' dependencies (#8): the
//! engine's normal dependency tree without features, read from `cargo tree`.

use std::process::Command;

#[test]
fn no_default_features_pull_no_integration_dependency() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "recourse-engine",
            "--no-default-features",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"tokio"), "the tree was read: {crates:?}");
    for heavy in [
        "tower",
        "tower-layer",
        "tower-service",
        "http",
        "http-body",
        "hyper",
        "reqwest",
        "reqwest-middleware",
        "tonic",
        "prost",
        "opentelemetry",
        "tracing",
        "saphyr",
        "rustix",
        "ratatui",
        "crossterm",
        "redis",
        "combine",
    ] {
        assert!(
            !crates.contains(&heavy),
            "{heavy} is in the default tree:\n{tree}"
        );
    }
}
