//! The library crates stay publishable: `cargo package` builds each from its packaged files
//! alone, so a file outside the crate, a missing licence or a bad manifest field fails here.

use std::path::Path;
use std::process::Command;

#[test]
fn the_engine_and_lints_crates_package_and_build_from_their_packaged_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["package", "--allow-dirty", "--quiet"])
        .args(["-p", "recourse-engine", "-p", "recourse-lints"])
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo package failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, must) in [
        (
            "recourse-engine",
            ["README.md", "LICENSE-MIT", "LICENSE-APACHE"],
        ),
        (
            "recourse-lints",
            ["README.md", "LICENSE-MIT", "LICENSE-APACHE"],
        ),
    ] {
        let unpacked = target
            .join("package")
            .join(format!("{name}-{}", env!("CARGO_PKG_VERSION")));
        for file in must {
            assert!(
                unpacked.join(file).is_file(),
                "{name} is packaged without {file}"
            );
        }
    }
}
