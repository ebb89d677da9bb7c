//! The engine's public API, item by item, is committed in `engine/public-api.txt`, so every
//! change to what services can name shows in review, and none slips in by accident.
//!
//! The listing comes from rustdoc's JSON output (every feature on, as docs.rs builds it), read
//! by the `public-api` crate. That output is still unstable in rustdoc: the test lets this
//! build alone use it on a stable toolchain (`RUSTC_BOOTSTRAP=1`), in a target directory of
//! its own. After a deliberate change, refresh the file and review its diff:
//!
//! ```sh
//! UPDATE_PUBLIC_API=1 cargo test -p recourse-engine --test public_api
//! ```

use std::path::Path;
use std::process::Command;

#[test]
fn the_public_api_is_the_committed_one() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("public-api");
    let status = Command::new(env!("CARGO"))
        .current_dir(manifest)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTDOCFLAGS")
        .args([
            "rustdoc",
            "--quiet",
            "-p",
            "recourse-engine",
            "--lib",
            "--all-features",
        ])
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .args(["--cfg", "docsrs"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "rustdoc could not document the engine");
    let json = target.join("doc").join("recourse_engine.json");
    let api = public_api::Builder::from_rustdoc_json(&json)
        .omit_blanket_impls(true)
        .omit_auto_trait_impls(true)
        .omit_auto_derived_impls(true)
        .build()
        .unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e} (a toolchain whose rustdoc JSON this `public-api` \
                 version does not know needs a matching version)",
                json.display()
            )
        })
        .to_string();
    let committed_path = manifest.join("public-api.txt");
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        let temporary = committed_path.with_extension("txt.new");
        std::fs::write(&temporary, &api).unwrap();
        std::fs::rename(&temporary, &committed_path).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if api != committed {
        let (now, before): (Vec<&str>, Vec<&str>) =
            (api.lines().collect(), committed.lines().collect());
        let added: Vec<&&str> = now.iter().filter(|l| !before.contains(l)).collect();
        let removed: Vec<&&str> = before.iter().filter(|l| !now.contains(l)).collect();
        let mut report = String::new();
        for line in &removed {
            report.push_str(&format!("- {line}\n"));
        }
        for line in &added {
            report.push_str(&format!("+ {line}\n"));
        }
        panic!(
            "the engine's public API changed ({} items removed, {} added):\n{report}\n\
             if that is meant, run `UPDATE_PUBLIC_API=1 cargo test -p recourse-engine --test \
             public_api` and commit engine/public-api.txt",
            removed.len(),
            added.len()
        );
    }
}
