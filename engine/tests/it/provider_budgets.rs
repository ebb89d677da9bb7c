//! The budgets a policy file declares follow it: with the file provider of the hot-reload
//! set-up, as with a loaded set, and through every reload. Budgets registered in code win.

use std::sync::Arc;

use recourse_engine::provider::FileProvider;
use recourse_engine::{Executor, Reason};

use crate::support::*;

/// A policy file whose key retries (5 attempts, no backoff) under budget `retries`.
fn file_with(budgets: &str) -> String {
    let budgets = if budgets.is_empty() {
        " {}\n"
    } else {
        &format!("\n{budgets}")
    };
    format!(
        "version: 1\nbudgets:{budgets}policies:\n  svc.op:\n    retry: {{ max_attempts: 5, initial_backoff: 1ms, max_backoff: 1ms, budget: {{ name: retries }} }}\n"
    )
}

fn bucket(capacity: u64) -> String {
    format!("  retries: {{ kind: token_bucket, capacity: {capacity}, refill_per_second: 0 }}\n")
}

/// Attempts run by one call that always fails, and how it ended.
fn attempts(exec: &Executor, vc: &recourse_engine::clock::VirtualClock) -> (u32, Reason) {
    let calls = Calls::default();
    let err = run(vc, exec.call("svc.op", always_fails(&calls))).unwrap_err();
    (calls.get(), err.reason_code())
}

struct Files {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Files {
    fn new(text: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, text).unwrap();
        Files { _dir: dir, path }
    }

    fn rewrite(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }
}

#[test]
fn a_file_providers_budgets_admit_the_retries_their_capacity_allows() {
    let files = Files::new(&file_with(&bucket(2)));
    let provider = Arc::new(FileProvider::load([&files.path]).unwrap());
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    // The first attempt is not gated; two retries take the two tokens; the third is denied.
    assert_eq!(attempts(&exec, &vc), (3, Reason::BUDGET_DENIED));
    assert_eq!(exec.budget_level("retries"), Some(0.0));

    // Capacity 0 after a reload: the next call's retries are denied at once.
    files.rewrite(&file_with(&bucket(0)));
    provider.reload().unwrap();
    assert_eq!(attempts(&exec, &vc), (1, Reason::BUDGET_DENIED));
}

#[test]
fn a_changed_capacity_keeps_the_tokens_in_hand_up_to_the_new_capacity() {
    let files = Files::new(&file_with(&bucket(10)));
    let provider = Arc::new(FileProvider::load([&files.path]).unwrap());
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    assert_eq!(attempts(&exec, &vc), (5, Reason::RETRYABLE_ERROR)); // 4 retries taken
    assert_eq!(exec.budget_level("retries"), Some(6.0));
    files.rewrite(&file_with(&bucket(8)));
    provider.reload().unwrap();
    assert_eq!(
        exec.budget_level("retries"),
        Some(6.0),
        "still 6, under the new 8"
    );
    files.rewrite(&file_with(&bucket(3)));
    provider.reload().unwrap();
    assert_eq!(
        exec.budget_level("retries"),
        Some(3.0),
        "at most the new capacity"
    );
    assert_eq!(attempts(&exec, &vc), (4, Reason::BUDGET_DENIED));
}

#[test]
fn budgets_appear_and_go_with_the_file() {
    let files = Files::new(&file_with(""));
    let provider = Arc::new(FileProvider::load([&files.path]).unwrap());
    let (exec, vc) = vexec(Executor::builder().provider_arc(provider.clone()));
    // Not declared (yet): the missing-budget mode (deny) refuses the retries.
    assert_eq!(attempts(&exec, &vc), (1, Reason::BUDGET_NOT_FOUND));
    files.rewrite(&file_with(&bucket(1)));
    provider.reload().unwrap();
    assert_eq!(attempts(&exec, &vc), (2, Reason::BUDGET_DENIED));
    files.rewrite(&file_with(""));
    provider.reload().unwrap();
    assert_eq!(attempts(&exec, &vc), (1, Reason::BUDGET_NOT_FOUND));
    assert_eq!(exec.budget_level("retries"), None);
}

#[test]
fn a_budget_registered_in_code_wins_over_the_files() {
    let files = Files::new(&file_with(&bucket(0)));
    let provider = FileProvider::load([&files.path]).unwrap();
    let (exec, vc) = vexec(
        Executor::builder()
            .provider(provider)
            .budget("retries", recourse_engine::budget::TokenBucket::new(3, 0.0)),
    );
    assert_eq!(attempts(&exec, &vc), (4, Reason::BUDGET_DENIED));
}

#[test]
fn policies_given_in_code_and_a_provider_are_both_used() {
    let files = Files::new(&file_with(&bucket(0)));
    let provider = FileProvider::load([&files.path]).unwrap();
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("code.op", zero().max_attempts(2))
            .provider(provider),
    );
    // The key given in code keeps its policy...
    let calls = Calls::default();
    let _ = run(&vc, exec.call("code.op", always_fails(&calls)));
    assert_eq!(calls.get(), 2);
    // ...and the file's key its own (its budget is empty: one attempt).
    assert_eq!(attempts(&exec, &vc), (1, Reason::BUDGET_DENIED));
    // A default policy would never be used beside a provider: the builder says so.
    let files = Files::new(&file_with(""));
    let err = Executor::builder()
        .default_policy(zero().max_attempts(2))
        .provider(FileProvider::load([&files.path]).unwrap())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("default policy"), "{err}");
}
