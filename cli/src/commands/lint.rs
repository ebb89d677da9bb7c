//! `recourse lint`: scan Rust sources for call-site keys and check them.

use std::path::{Path, PathBuf};

use recourse_lints::{Config, LintError, PolicyKeys, sarif, scan_paths};

use crate::args::{LintArgs, LintFormat};
use crate::diag;
use crate::exit::Status;
use crate::input::{self, LoadFailure};
use crate::output;

pub(crate) fn run(args: &LintArgs, color: bool, limit: u64) -> Status {
    match lint(args, color, limit) {
        Ok(status) => status,
        Err(e) => {
            diag::error(&e, color);
            Status::Usage
        }
    }
}

/// The lint configuration: `path`, else `recourse.toml` in the working directory, else the
/// defaults (`policy diff --source` scans with the same one).
pub(crate) fn config(path: Option<&Path>) -> Result<Config, LintError> {
    match path {
        Some(path) => Config::from_file(path),
        None if Path::new("recourse.toml").is_file() => {
            Config::from_file(Path::new("recourse.toml"))
        }
        None => Ok(Config::default()),
    }
}

/// The keys of the policy sets under `paths`, with where each is defined.
fn policy_keys(paths: &[PathBuf], limit: u64) -> Result<Option<PolicyKeys>, LoadFailure> {
    if paths.is_empty() {
        return Ok(None);
    }
    let set = input::policies(paths, limit)?;
    let entries = set
        .entries()
        .map(|(key, _, o)| {
            (
                key.to_owned(),
                o.path.clone(),
                o.position.line,
                o.position.column,
            )
        })
        .collect();
    Ok(Some(PolicyKeys { entries }))
}

fn lint(args: &LintArgs, color: bool, limit: u64) -> Result<Status, LintError> {
    let mut config = config(args.config.as_deref())?;
    config.max_file_size = limit;
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let policies = match policy_keys(&args.policies, limit) {
        Ok(p) => p,
        Err(e) => {
            diag::refused(&e, color);
            return Ok(Status::Usage);
        }
    };
    let report = scan_paths(&paths, &config, policies.as_ref())?;
    match args.format {
        LintFormat::Json => {
            output::data(&serde_json::to_string_pretty(&report).expect("reports serialize"))
        }
        LintFormat::Sarif => {
            output::data(
                &serde_json::to_string_pretty(&sarif::to_sarif(&report)).expect("SARIF serializes"),
            );
        }
        LintFormat::Human => diag::lint::print(&report, color, limit),
    }
    Ok(if report.has_errors() {
        Status::Findings
    } else {
        Status::Ok
    })
}
