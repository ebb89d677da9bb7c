//! The `[lint]` table of `recourse.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::error::LintError;
use crate::rules::Rule;

/// How serious a finding is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, never fails the run.
    Warning,
    /// Fails the run (exit status 1).
    Error,
    /// Not reported.
    Off,
}

impl Severity {
    /// `warning`, `error` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Off => "off",
        }
    }
}

/// What happens to call sites in test code (`#[cfg(test)]` modules, `#[test]` functions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestCode {
    /// Checked like any other code (the default).
    #[default]
    Check,
    /// Checked, with errors reported as warnings.
    Warn,
    /// Not scanned.
    Skip,
}

/// The lint configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Extra functions or methods whose first argument is a key (`my_client::get`, `fetch`).
    pub call_patterns: Vec<String>,
    /// More receivers whose `.call(..)` and `.key(..)` are recourse's: names of bindings,
    /// fields or functions (`resilience`), or types that wrap or re-export the executor
    /// (`Platform`). Files that mention one are scanned even when they never say "recourse".
    pub receivers: Vec<String>,
    /// Receivers and call paths never taken for recourse's (`rpc`, `jsonrpc::call`).
    pub ignore: Vec<String>,
    /// Call sites in test code: checked, downgraded to warnings, or skipped.
    pub test_code: TestCode,
    /// Severity overrides by rule id.
    pub severities: BTreeMap<Rule, Severity>,
    /// The shape keys must have (`key-format`).
    pub key_format: Regex,
    /// Path globs to skip, relative to [`Config::root`] (or to each scanned directory when it
    /// is `None`). They apply to files named on the command line too.
    pub exclude: Vec<String>,
    /// The directory `exclude` globs are relative to: the configuration file's own, as
    /// [`Config::from_file`] sets it.
    pub root: Option<std::path::PathBuf>,
    /// Scan every Rust file, even those that never mention recourse in a crate that does not
    /// depend on it (for audits and benchmarks; expect look-alike call sites). Default false.
    pub scan_all: bool,
    /// The largest file scanned, in bytes ([`DEFAULT_MAX_FILE_SIZE`] by default); a larger
    /// one stops the scan with [`LintError::TooLarge`] rather than cost seconds unnoticed.
    pub max_file_size: u64,
}

/// The largest file scanned unless configured otherwise (8 MiB: the biggest hand-written
/// Rust files are a few hundred kilobytes).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 << 20;

/// The default key shape: a namespace and a name, letters, digits, `_` and `-`.
pub const DEFAULT_KEY_FORMAT: &str = r"^[A-Za-z][A-Za-z0-9_-]*\.[A-Za-z*][A-Za-z0-9_.-]*$";

impl Default for Config {
    fn default() -> Config {
        Config {
            call_patterns: Vec::new(),
            receivers: Vec::new(),
            ignore: Vec::new(),
            test_code: TestCode::Check,
            severities: BTreeMap::new(),
            key_format: Regex::new(DEFAULT_KEY_FORMAT).expect("the default key format is valid"),
            exclude: Vec::new(),
            root: None,
            scan_all: false,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    lint: Option<LintTable>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LintTable {
    #[serde(default)]
    call_patterns: Vec<String>,
    #[serde(default)]
    severity: BTreeMap<String, Severity>,
    #[serde(default)]
    key_format: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    receivers: Vec<String>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    test_code: TestCode,
}

impl Config {
    /// The severity of `rule` (its default unless overridden).
    pub fn severity(&self, rule: Rule) -> Severity {
        self.severities
            .get(&rule)
            .copied()
            .unwrap_or(rule.default_severity())
    }

    /// Reads the `[lint]` table of a `recourse.toml` (other tables are ignored).
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not TOML, or the table has unknown fields, unknown rule ids
    /// or an invalid `key_format` pattern.
    pub fn from_file(path: &Path) -> Result<Config, LintError> {
        let text = std::fs::read_to_string(path).map_err(|source| LintError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::from_toml(&text).map_err(|message| LintError::Config {
            path: path.to_owned(),
            message,
        })?;
        config.root = Some(match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => std::path::PathBuf::from("."),
        });
        Ok(config)
    }

    /// Parses the `[lint]` table of a TOML document.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let value: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let lint = match value.get("lint") {
            None => LintTable::default(),
            Some(v) => {
                let file: File =
                    toml::Value::Table([("lint".to_owned(), v.clone())].into_iter().collect())
                        .try_into()
                        .map_err(|e: toml::de::Error| e.to_string())?;
                file.lint.unwrap_or_default()
            }
        };
        let mut config = Config {
            call_patterns: lint.call_patterns,
            exclude: lint.exclude,
            receivers: lint.receivers,
            ignore: lint.ignore,
            test_code: lint.test_code,
            ..Config::default()
        };
        for (id, severity) in lint.severity {
            let rule = Rule::from_id(&id).ok_or_else(|| {
                format!(
                    "unknown rule {id:?} in [lint.severity]; rules: {}",
                    Rule::ids().join(", ")
                )
            })?;
            config.severities.insert(rule, severity);
        }
        if let Some(p) = lint.key_format {
            config.key_format =
                Regex::new(&p).map_err(|e| format!("invalid key_format pattern: {e}"))?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_lint_table() {
        let c = Config::from_toml(
            r#"
            [lint]
            call_patterns = ["fetch_keyed"]
            severity = { key-format = "error", dynamic-key = "warning" }
            key_format = '^[a-z]+\.[A-Z][A-Za-z]+$'
            exclude = ["generated/**"]
            "#,
        )
        .unwrap();
        assert_eq!(c.severity(Rule::KeyFormat), Severity::Error);
        assert_eq!(c.severity(Rule::DynamicKey), Severity::Warning);
        assert_eq!(c.severity(Rule::HighCardinalityKey), Severity::Error);
        assert!(c.key_format.is_match("payments.Charge"));
        assert_eq!(c.call_patterns, ["fetch_keyed"]);
    }

    #[test]
    fn rejects_unknown_rules_and_fields() {
        assert!(
            Config::from_toml("[lint]\nseverity = { nope = \"error\" }")
                .unwrap_err()
                .contains("unknown rule")
        );
        assert!(Config::from_toml("[lint]\nsevirity = {}").is_err());
        assert!(
            Config::from_toml("[other]\nx = 1").is_ok(),
            "other tables are ignored"
        );
    }
}
