//! The published pre-commit hook, installed by the real `pre-commit` tool into a scratch
//! repository: a commit with a bad key is blocked, a clean one goes through.
//!
//! Needs `pre-commit` and `git`. Without them this test says so and passes, unless
//! RECOURSE_REQUIRE_PRE_COMMIT is set (`.ci/run` sets it, so CI always runs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn have_pre_commit() -> bool {
    let found = ["pre-commit", "git"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        assert!(
            std::env::var_os("RECOURSE_REQUIRE_PRE_COMMIT").is_none(),
            "pre-commit and git are required (python3 -m pip install pre-commit)"
        );
        eprintln!("skipped: pre-commit or git is missing (python3 -m pip install pre-commit)");
    }
    found
}

/// Runs `program args` in `dir`, with the built `recourse` first on PATH and pre-commit's
/// cache inside the scratch directory.
fn run(dir: &Path, scratch: &Path, program: &str, args: &[&str]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_recourse"))
        .parent()
        .expect("the binary is in a directory")
        .to_owned();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH joins");
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("PRE_COMMIT_HOME", scratch.join("cache"))
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", scratch)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn the_hook_installs_and_blocks_a_commit_with_a_bad_key() {
    if !have_pre_commit() {
        return;
    }
    let scratch: PathBuf =
        std::env::temp_dir().join(format!("recourse-pre-commit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let (hooks, project) = (scratch.join("hooks"), scratch.join("project"));
    for dir in [&hooks, &project] {
        std::fs::create_dir_all(dir).unwrap();
        ok(&run(dir, &scratch, "git", &["init", "-q", "-b", "main"]));
    }

    // A hooks repository holding this checkout's .pre-commit-hooks.yaml, as a release would.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.pre-commit-hooks.yaml");
    std::fs::copy(&manifest, hooks.join(".pre-commit-hooks.yaml")).unwrap();
    ok(&run(&hooks, &scratch, "git", &["add", "."]));
    ok(&run(
        &hooks,
        &scratch,
        "git",
        &["commit", "-q", "-m", "hooks"],
    ));
    let rev = ok(&run(&hooks, &scratch, "git", &["rev-parse", "HEAD"]));

    std::fs::write(
        project.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: recourse-lint\n",
            hooks.display(),
            rev.trim()
        ),
    )
    .unwrap();
    let installed = ok(&run(&project, &scratch, "pre-commit", &["install"]));
    assert!(installed.contains("pre-commit installed"), "{installed}");

    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("src/lib.rs"),
        "use recourse_engine::Executor;\n\
         pub async fn charge(exec: &Executor, user: u64) {\n    \
             let _ = exec.call(&format!(\"payments.{user}\"), |_| async { Ok::<_, std::io::Error>(()) }).await;\n\
         }\n",
    )
    .unwrap();
    ok(&run(&project, &scratch, "git", &["add", "."]));
    let blocked = run(&project, &scratch, "git", &["commit", "-m", "bad key"]);
    let text = String::from_utf8_lossy(&blocked.stdout).into_owned()
        + &String::from_utf8_lossy(&blocked.stderr);
    assert!(!blocked.status.success(), "the commit went through: {text}");
    assert!(
        text.contains("src/lib.rs:3:23: error[dynamic-key]"),
        "the hook names the file, the place and the rule: {text}"
    );

    std::fs::write(
        project.join("src/lib.rs"),
        "use recourse_engine::Executor;\n\
         pub async fn charge(exec: &Executor) {\n    \
             let _ = exec.call(\"payments.Charge\", |_| async { Ok::<_, std::io::Error>(()) }).await;\n\
         }\n",
    )
    .unwrap();
    ok(&run(&project, &scratch, "git", &["add", "."]));
    ok(&run(
        &project,
        &scratch,
        "git",
        &["commit", "-q", "-m", "one key per operation"],
    ));
    std::fs::remove_dir_all(&scratch).ok();
}
