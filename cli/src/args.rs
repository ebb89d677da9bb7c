//! Command-line arguments (clap derive): one variant per command.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use recourse_engine::export::wire::CallFilter;

use crate::examples;

/// Policy-driven resilience for Rust services: lint call-site keys, validate and simulate
/// policies, tail live services.
#[derive(Debug, Parser)]
#[command(
    name = "recourse",
    version,
    about,
    long_about = None,
    propagate_version = true,
    // Help wraps to the terminal, but no wider than this on a wide one.
    max_term_width = 100,
    after_long_help = examples::TOP
)]
pub(crate) struct Cli {
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
    /// The largest input file read (policies, scenarios, Rust sources): a number of bytes or
    /// a size such as 64MiB. A larger file is refused (exit 2) before it is parsed.
    #[arg(long, global = true, value_name = "SIZE", default_value = DEFAULT_MAX_FILE_SIZE, value_parser = crate::input::parse_size)]
    pub(crate) max_file_size: u64,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// `--max-file-size`'s default, as help shows it (the engine's limit for policy files).
pub(crate) const DEFAULT_MAX_FILE_SIZE: &str = "8MiB";

/// When to colour output (`NO_COLOR` is respected under `auto`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Find every call-site key in Rust source and check it (pre-commit).
    #[command(after_long_help = rules_help())]
    Lint(LintArgs),
    /// Review policy files: validate them, explain a key's effective policy, diff two sets,
    /// simulate one on virtual time.
    #[command(subcommand, after_long_help = examples::POLICY)]
    Policy(PolicyCommand),
    /// Watch live calls of running services (a TUI on a terminal, lines otherwise).
    #[command(after_long_help = examples::TAIL)]
    Tail(TailArgs),
    /// A simulated flaky service, tailed live: the first thing to run.
    #[command(after_long_help = examples::DEMO)]
    Demo(DemoArgs),
    /// Set a key's breaker by hand in running services, or show their breakers (incidents).
    #[command(subcommand, after_long_help = examples::BREAKER)]
    Breaker(BreakerCommand),
    /// Print a published JSON Schema.
    #[command(after_long_help = examples::SCHEMA)]
    Schema {
        /// Which schema.
        #[arg(value_enum)]
        which: SchemaName,
    },
    /// Print shell completions (`recourse completions bash > /etc/bash_completion.d/recourse`).
    #[command(after_long_help = examples::COMPLETIONS)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The published schemas.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SchemaName {
    /// The policy document (schemas/policy.schema.json).
    Policy,
    /// The live event stream and simulation timelines (schemas/event.schema.json).
    Event,
}

/// Data formats of the policy commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Diagnostics or a table, for people.
    Human,
    /// JSON on stdout.
    Json,
}

/// Output formats of `policy diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DiffFormat {
    /// A summary per key, coloured on a terminal.
    Human,
    /// JSON on stdout (docs/diff.md).
    Json,
    /// One Markdown table, for a pull-request comment.
    Markdown,
}

/// The risk at which `policy diff` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailOn {
    /// Never.
    None,
    /// Any change.
    Low,
    /// Medium or high.
    Medium,
    /// High only.
    High,
}

/// `recourse policy ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Check policy files: every problem at once, at its line and column.
    #[command(after_long_help = examples::VALIDATE)]
    Validate {
        /// Policy files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// A classifier the service registers in code (repeatable): not reported as unknown.
        #[arg(long = "known-classifier", value_name = "NAME")]
        known_classifiers: Vec<String>,
        /// A budget the service builds in code (repeatable): not reported as unknown.
        #[arg(long = "known-budget", value_name = "NAME")]
        known_budgets: Vec<String>,
        /// A hedge trigger the service registers in code (repeatable): not reported as unknown.
        #[arg(long = "known-trigger", value_name = "NAME")]
        known_triggers: Vec<String>,
    },
    /// What a policy change does, key by key, with the worst case before and after and a risk
    /// (a `shadow` shows where it departs from the live policy).
    #[command(after_long_help = examples::DIFF)]
    Diff {
        /// The old policies: a file, a directory, or `GITREV:path` from the current git repository.
        old: String,
        /// The new policies (same forms).
        new: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
        format: DiffFormat,
        /// Exit 1 when a change reaches this risk.
        #[arg(long, value_enum, default_value_t = FailOn::None)]
        fail_on: FailOn,
        /// Rust sources to check removed policies against (repeatable): a removed policy that
        /// code still calls is high risk. Scanned as `recourse lint` scans (recourse.toml
        /// honoured).
        #[arg(long = "source", value_name = "PATH")]
        sources: Vec<PathBuf>,
        /// A recording (`recourse tail --record FILE`) to replay through both policy sets on
        /// virtual time: each key's attempts per call, retries, denials, breaker openings,
        /// success and latency, old against new, with risks from the evidence.
        #[arg(long, value_name = "REC.ndjson")]
        traffic: Option<PathBuf>,
        /// The seed for the replay's jitter and for attempts drawn beyond the recording.
        #[arg(long, default_value_t = 0, requires = "traffic")]
        seed: u64,
    },
    /// Run the real engine on virtual time against scripted attempt outcomes (a scenario, on
    /// one replica or a fleet), or against recorded calls (`--traffic`).
    #[command(after_long_help = examples::SIMULATE)]
    Simulate {
        /// The scenario file.
        #[arg(required_unless_present = "traffic", conflicts_with = "traffic")]
        scenario: Option<PathBuf>,
        /// Policy files or directories (instead of the scenario's own).
        #[arg(long = "policies", value_name = "P")]
        policies: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Instead of a scenario, a recording (`recourse tail --record FILE`) replayed through
        /// `--policies` on virtual time: each key's figures.
        #[arg(long, value_name = "REC.ndjson", requires = "policies")]
        traffic: Option<PathBuf>,
        /// The seed for the replay's jitter and for attempts drawn beyond the recording.
        #[arg(long, default_value_t = 0, requires = "traffic")]
        seed: u64,
    },
    /// The effective policy of a key, and where each value came from (a `shadow`'s fields
    /// under the live ones; `live` marks those it takes from the live policy).
    #[command(after_long_help = examples::EXPLAIN)]
    Explain {
        /// The key (`payments.Charge`).
        key: String,
        /// Policy files or directories.
        #[arg(long = "policies", value_name = "P", required = true)]
        policies: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

/// Output formats of `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LintFormat {
    /// Diagnostics with source snippets, on stderr.
    #[value(alias = "human")]
    Full,
    /// One line per finding (`path:line:column: severity[rule] message`), on stdout.
    Concise,
    /// The JSON report (docs/lint.md), on stdout.
    Json,
    /// SARIF 2.1.0 for code scanning, on stdout.
    Sarif,
    /// GitHub Actions annotations (`::error file=..::..`), on stdout.
    Github,
}

/// The rules, for `recourse lint --help`.
fn rules_help() -> String {
    let mut out = String::from("Rules (default severity):\n");
    for rule in recourse_lints::Rule::ALL {
        out.push_str(&format!(
            "  {:<21} {:<8} {}\n",
            rule.id(),
            rule.default_severity().as_str(),
            rule.description()
        ));
    }
    out.push_str("\nSuppress one with a comment: // recourse-lint: allow(rule-id)\n\n");
    out.push_str(examples::LINT);
    out
}

/// A rule id given on the command line.
fn rule_id(id: &str) -> Result<recourse_lints::Rule, String> {
    recourse_lints::Rule::from_id(id).ok_or_else(|| {
        format!(
            "no rule is called {id:?}; rules: {}",
            recourse_lints::Rule::ids().join(", ")
        )
    })
}

/// `recourse lint`.
#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// Files or directories to scan (default: the current directory). Directory walks honour
    /// .gitignore and skip hidden directories and target/; `exclude` applies to named files
    /// too.
    pub(crate) paths: Vec<PathBuf>,
    /// Output format (`--format` is accepted too; `human` is `full`).
    #[arg(
        long = "output-format",
        visible_alias = "format",
        value_enum,
        default_value_t = LintFormat::Full
    )]
    pub(crate) format: LintFormat,
    /// A recourse.toml whose `[lint]` table configures the rules (default: the nearest
    /// recourse.toml in the working directory or above it).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Policy files or directories: also report keys no policy covers (`uncovered-key`) and,
    /// when only directories are scanned, policies no call site uses (`unused-policy`).
    #[arg(long = "policies", value_name = "P")]
    pub(crate) policies: Vec<PathBuf>,
    /// Report only these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "RULE", value_parser = rule_id)]
    pub(crate) select: Vec<recourse_lints::Rule>,
    /// Do not report these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "RULE", value_parser = rule_id)]
    pub(crate) ignore: Vec<recourse_lints::Rule>,
    /// Print how many findings each rule has instead of the findings.
    #[arg(long)]
    pub(crate) statistics: bool,
    /// Exit 0 even when errors are found (the report is unchanged).
    #[arg(long)]
    pub(crate) exit_zero: bool,
    /// Scan every Rust file, also those in crates that never mention recourse (audits).
    #[arg(long)]
    pub(crate) scan_all: bool,
}

/// Output modes of `tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TailOutput {
    /// The live TUI (the default on a terminal).
    Tui,
    /// One line per call (the default when stdout is not a terminal).
    Text,
    /// The raw messages, one JSON object per line, with `target` added (the `--record` format).
    Json,
}

/// Message types `tail` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TailEvent {
    /// Finished calls.
    Call,
    /// Breaker state changes.
    Circuit,
    /// Cumulative counters, every second.
    Stats,
}

impl TailEvent {
    /// The wire name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TailEvent::Call => "call",
            TailEvent::Circuit => "circuit",
            TailEvent::Stats => "stats",
        }
    }
}

/// `recourse tail`.
#[derive(Debug, Args, Clone)]
pub(crate) struct TailArgs {
    /// A service to tail: a socket path, `unix:///path`, or `tcp://host:port`. Repeat for several;
    /// none means every service in the socket directory, as services start and stop.
    #[arg(long = "target", short = 't', value_name = "T")]
    pub(crate) targets: Vec<String>,
    /// Keys to show (`payments.*`; a leading `!` excludes). Repeat for several; none means all.
    #[arg(long = "key", short = 'k', value_name = "GLOB")]
    pub(crate) keys: Vec<String>,
    /// Output mode (default: tui on a terminal, text otherwise).
    #[arg(long, short = 'o', value_enum)]
    pub(crate) output: Option<TailOutput>,
    /// Message types for the line modes (the TUI always takes all). Gaps are always reported.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [TailEvent::Call, TailEvent::Circuit])]
    pub(crate) events: Vec<TailEvent>,
    /// Also write every message received, with its `target`, to this NDJSON file (written
    /// whole when tail ends).
    #[arg(long, value_name = "F")]
    pub(crate) record: Option<PathBuf>,
    /// Play a recording back instead of connecting.
    #[arg(long, value_name = "F", conflicts_with = "targets")]
    pub(crate) replay: Option<PathBuf>,
    /// Replay speed: 1 is real time, 0 as fast as possible.
    #[arg(long, default_value_t = 1.0, requires = "replay")]
    pub(crate) speed: f64,
    /// Stop after this long (`30s`, `5m`).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub(crate) duration: Option<std::time::Duration>,
    /// Most calls per second each service sends (it caps the value; 500 when absent).
    #[arg(long, value_name = "N")]
    pub(crate) max_rate: Option<u32>,
    /// Which calls the services send; the counters (stats) count every call either way.
    #[arg(long, value_name = "WHICH", default_value_t, value_parser = call_filter())]
    pub(crate) calls: CallFilter,
    /// List the services (the targets, or every socket in the socket directory) with their
    /// pid, engine version, uptime and keys (those matching --key), then exit.
    #[arg(long, short = 'l', conflicts_with_all = ["replay", "record", "duration"])]
    pub(crate) list: bool,
    /// A token for services on TCP that require one (or RECOURSE_TAIL_TOKEN).
    #[arg(long)]
    pub(crate) token: Option<String>,
    /// Wait for services to start instead of exiting when none is found or reachable: the
    /// socket directory is watched (or the targets retried) until one answers.
    #[arg(long, conflicts_with_all = ["replay", "list"])]
    pub(crate) wait: bool,
    /// Follow the targets listed in this file, one a line (a socket path, `unix:///path`,
    /// `tcp://host:port` or `host:port`; `#` comments), and those added to it later; a line
    /// removed lets its target go.
    #[arg(long, value_name = "F", conflicts_with = "replay")]
    pub(crate) targets_file: Option<PathBuf>,
    /// The largest input file read (from the global option).
    #[arg(skip)]
    pub(crate) max_file_size: u64,
}

/// `recourse breaker ...`: the services must be built with `ExportConfig::allow_control(true)`
/// for the first three.
#[derive(Debug, Subcommand)]
pub(crate) enum BreakerCommand {
    /// Reject every call of KEY at once, as an open breaker does, until `release`.
    #[command(after_long_help = examples::BREAKER)]
    Isolate(BreakerSet),
    /// Let every call of KEY run, whatever its breaker would say, until `release`.
    #[command(after_long_help = examples::BREAKER)]
    Close(BreakerSet),
    /// Hand KEY's breaker back to its policy.
    #[command(after_long_help = examples::BREAKER)]
    Release(BreakerSet),
    /// Each service's breakers: their state, or how an operator set them.
    #[command(after_long_help = examples::BREAKER)]
    Status(BreakerStatus),
}

/// `recourse breaker isolate | close | release`.
#[derive(Debug, Args, Clone)]
pub(crate) struct BreakerSet {
    /// The key (`payments.Charge`), as the code names it.
    pub(crate) key: String,
    /// A service: a socket path, `unix:///path`, or `tcp://host:port`. Repeat for several.
    #[arg(long = "target", short = 't', value_name = "T", required = true)]
    pub(crate) targets: Vec<String>,
    /// Set KEY even if the service has never called it (without it, such a key is refused as
    /// a likely typo, with the closest key the service knows).
    #[arg(long)]
    pub(crate) force: bool,
    /// The token of services on TCP (or RECOURSE_TAIL_TOKEN).
    #[arg(long)]
    pub(crate) token: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub(crate) format: Format,
}

/// `recourse breaker status`.
#[derive(Debug, Args, Clone)]
pub(crate) struct BreakerStatus {
    /// Only this key (default: every key each service has called).
    pub(crate) key: Option<String>,
    /// A service: a socket path, `unix:///path`, or `tcp://host:port`. Repeat for several;
    /// none means every service in the socket directory.
    #[arg(long = "target", short = 't', value_name = "T")]
    pub(crate) targets: Vec<String>,
    /// The token of services on TCP (or RECOURSE_TAIL_TOKEN).
    #[arg(long)]
    pub(crate) token: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub(crate) format: Format,
}

/// `recourse demo`.
#[derive(Debug, Args, Clone)]
pub(crate) struct DemoArgs {
    /// Print calls as lines instead of opening the TUI.
    #[arg(long)]
    pub(crate) no_tui: bool,
    /// Stop after this long (`30s`, `5m`); the TUI runs until `q` otherwise.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub(crate) duration: Option<std::time::Duration>,
}

/// One line of help for each `--calls` filter.
fn describe(filter: CallFilter) -> &'static str {
    match filter {
        CallFilter::Interesting => {
            "All but a first attempt that succeeded on its own: retries, hedges, budget \
             denials, failures"
        }
        CallFilter::Failed => "Failed calls only",
        _ => "Every call",
    }
}

/// `--calls`: the engine's filter names, each with its help line.
fn call_filter() -> impl TypedValueParser<Value = CallFilter> {
    let names = CallFilter::EVERY.map(|c| PossibleValue::new(c.as_str()).help(describe(c)));
    // The names were checked against the same list, so the parse cannot miss.
    PossibleValuesParser::new(names).map(|name| name.parse().unwrap_or_default())
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    recourse_engine::tooling::parse_duration(text).map_err(|e| e.to_string())
}
