//! # recourse-lints
//!
//! Finds every recourse call-site key in Rust source and checks it: keys built at run time
//! (`dynamic-key`), keys carrying IDs (`high-cardinality-key`), keys not shaped
//! `namespace.Name` (`key-format`), and, given the keys of a policy set, keys no policy covers
//! (`uncovered-key`) and policies no call site uses (`unused-policy`).
//!
//! The scanner is built for speed and for broken code: a byte prefilter skips
//! files that cannot hold a call site, rustc's own lexer tokenizes the rest (it never fails, and
//! it sees inside macro bodies), a token matcher finds call sites, and only a key argument is
//! parsed with `syn`. A file that does not lex cleanly still yields the call sites in its sound
//! parts, plus a `parse-error` warning.
//!
//! ```
//! use recourse_lints::{Config, Rule, scan_source};
//!
//! let src = r#"
//!     async fn charge(exec: &Executor, user: &str) {
//!         exec.call("payments.Charge", |_| async { Ok(()) }).await;
//!         exec.call(&format!("payments.{user}"), |_| async { Ok(()) }).await;
//!     }
//! "#;
//! let scan = scan_source("src/pay.rs", src, &Config::default());
//! assert_eq!(scan.keys[0].key, "payments.Charge");
//! assert_eq!(scan.findings[0].rule, Rule::DynamicKey);
//! assert_eq!((scan.findings[0].line, scan.findings[0].column), (4, 19));
//! ```
//!
//! This crate does not depend on the engine: the CLI joins scan results with policy files
//! through [`PolicyKeys`].

mod config;
mod error;
mod location;
mod report;
mod rules;
mod scanner;
mod suppress;

pub use config::{Config, DEFAULT_KEY_FORMAT, DEFAULT_MAX_FILE_SIZE, Severity, TestCode};
pub use error::LintError;
pub use report::{Finding, KeySite, Report, Summary, sarif};
pub use rules::{Rule, high_cardinality_kind};
pub use scanner::{FileScan, PolicyKeys, scan_paths, scan_source};
