//! `recourse lint`: scan Rust sources for call-site keys and check them.

use std::path::{Path, PathBuf};

use recourse_lints::{Config, LintError, PolicyKeys, Rule, Severity, sarif, scan_paths};

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

/// The configuration file looked for in the working directory and its ancestors.
const CONFIG_FILE: &str = "recourse.toml";

/// The lint configuration: `path`, else the nearest `recourse.toml` in the working directory
/// or above it, else the defaults (`policy diff --source` scans with the same one).
pub(crate) fn config(path: Option<&Path>) -> Result<Config, LintError> {
    if let Some(path) = path {
        return Config::from_file(path);
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    match cwd
        .ancestors()
        .map(|dir| dir.join(CONFIG_FILE))
        .find(|file| file.is_file())
    {
        // Shown relative when it is the working directory's own.
        Some(file) if file.parent() == Some(cwd.as_path()) => {
            Config::from_file(Path::new(CONFIG_FILE))
        }
        Some(file) => Config::from_file(&file),
        None => Ok(Config::default()),
    }
}

/// `--select` and `--ignore`: every other rule, or the ignored ones, turned off.
fn restrict(config: &mut Config, select: &[Rule], ignore: &[Rule]) {
    for rule in Rule::ALL {
        if (!select.is_empty() && !select.contains(&rule)) || ignore.contains(&rule) {
            config.severities.insert(rule, Severity::Off);
        }
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
    config.scan_all |= args.scan_all;
    restrict(&mut config, &args.select, &args.ignore);
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
        _ if args.statistics => {
            lines(&diag::lint::statistics(&report));
            diag::lint::summary(&report);
        }
        LintFormat::Json => {
            output::data(&serde_json::to_string_pretty(&report).expect("reports serialize"))
        }
        LintFormat::Sarif => {
            output::data(
                &serde_json::to_string_pretty(&sarif::to_sarif(&report)).expect("SARIF serializes"),
            );
        }
        LintFormat::Concise => {
            lines(&diag::lint::concise(&report));
            diag::lint::summary(&report);
        }
        LintFormat::Github => lines(&diag::lint::github(&report)),
        LintFormat::Full => {
            diag::lint::print(&report, color, limit);
            diag::lint::summary(&report);
        }
    }
    Ok(if report.has_errors() && !args.exit_zero {
        Status::Findings
    } else {
        Status::Ok
    })
}

/// Line-per-finding output: nothing at all when there is no line.
fn lines(text: &str) {
    if !text.is_empty() {
        output::data(text.trim_end_matches('\n'));
    }
}
