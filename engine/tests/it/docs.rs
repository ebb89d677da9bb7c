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
