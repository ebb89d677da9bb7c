//! The examples at the end of each command's `--help`. Each line that starts with `recourse`
//! is a command line the test suite parses, so an example cannot drift from the arguments.

/// `recourse` alone.
pub(crate) const TOP: &str = "\
Examples:
  # A first look: a simulated flaky service, tailed live
  recourse demo

  # Check call-site keys before a commit, and against the policies they need
  recourse lint --policies policies/

  # Review a policy change, then watch it live
  recourse policy diff HEAD:policies/ policies/ --fail-on high
  recourse tail --key 'payments.*'";

/// `recourse lint`.
pub(crate) const LINT: &str = "\
Examples:
  # The current directory, with the nearest recourse.toml
  recourse lint

  # Also report keys no policy covers, and policies no call site uses
  recourse lint src/ --policies policies/

  # One line per finding, as the pre-commit hook runs it
  recourse lint --output-format concise src/main.rs src/billing.rs

  # Annotations on a GitHub pull request; counts per rule for a first audit
  recourse lint --output-format github
  recourse lint --statistics --exit-zero --scan-all";

/// `recourse policy`.
pub(crate) const POLICY: &str = "\
Examples:
  recourse policy validate policies/
  recourse policy explain payments.Charge --policies policies/
  recourse policy diff HEAD:policies/ policies/ --format markdown
  recourse policy simulate scenario.yaml";

/// `recourse policy validate`.
pub(crate) const VALIDATE: &str = "\
Examples:
  # Every file of a directory, each problem at its line and column
  recourse policy validate policies/

  # For CI: JSON, with the classifier and budget the service registers in code
  recourse policy validate policies/ --format json --known-classifier payments --known-budget payments_retries";

/// `recourse policy diff`.
pub(crate) const DIFF: &str = "\
Examples:
  # The work tree against the last commit
  recourse policy diff HEAD:policies/ policies/

  # A pull-request comment, failing the job on a high-risk change
  recourse policy diff origin/main:policies/ policies/ --format markdown --fail-on high

  # A removed policy that code still calls is high risk
  recourse policy diff old.yaml new.yaml --source src/

  # What the change would have done to an hour of recorded production traffic
  recourse tail --key 'payments.*' --record hour.ndjson
  recourse policy diff HEAD:policies/ policies/ --traffic hour.ndjson --fail-on high";

/// `recourse policy simulate`.
pub(crate) const SIMULATE: &str = "\
Examples:
  # A scenario with its own policies
  recourse policy simulate scenario.yaml

  # The same scenario under the policies of a change, as JSON
  recourse policy simulate scenario.yaml --policies policies/ --format json

  # Recorded production calls replayed through a set of policies
  recourse policy simulate --traffic hour.ndjson --policies policies/";

/// `recourse policy explain`.
pub(crate) const EXPLAIN: &str = "\
Examples:
  # Each value of the key's effective policy, with the file and line it came from
  recourse policy explain payments.Charge --policies policies/

  # As JSON
  recourse policy explain payments.Charge --policies policies/ --format json";

/// `recourse tail`.
pub(crate) const TAIL: &str = "\
Examples:
  # Every service in the socket directory, as they start and stop
  recourse tail

  # The payments keys only, failed calls only, as lines
  recourse tail --key 'payments.*' --calls failed --output text

  # Record five minutes of an incident, then replay it at ten times real speed
  recourse tail --record incident.ndjson --duration 5m
  recourse tail --replay incident.ndjson --speed 10

  # The services that are running, with their keys
  recourse tail --list

  # Open now, before the service starts, and follow it when it does
  recourse tail --wait --key 'payments.*'

  # A fleet over TCP, listed one host:port a line (re-read as it grows)
  recourse tail --targets-file fleet.txt";

/// `recourse demo`.
pub(crate) const DEMO: &str = "\
Examples:
  recourse demo
  recourse demo --no-tui --duration 5s";

/// `recourse breaker`.
pub(crate) const BREAKER: &str = "\
Examples:
  # During an incident: reject every call of a key at once, in one service
  recourse breaker isolate payments.Charge --target /run/user/1000/recourse/checkout-4242.sock

  # The same in two replicas over TCP (each must allow control and have a token)
  recourse breaker isolate payments.Charge -t tcp://10.0.0.5:7070 -t tcp://10.0.0.6:7070 --token \"$TOKEN\"

  # Force it closed, then hand it back to its policy
  recourse breaker close payments.Charge -t checkout.sock
  recourse breaker release payments.Charge -t checkout.sock

  # Every breaker of every service on this host; one key, as JSON
  recourse breaker status
  recourse breaker status payments.Charge --format json";

/// `recourse schema`.
pub(crate) const SCHEMA: &str = "\
Examples:
  # For an editor's YAML language server
  recourse schema policy
  recourse schema event";

/// `recourse completions`.
pub(crate) const COMPLETIONS: &str = "\
Examples:
  recourse completions bash
  recourse completions zsh";

/// Every example text, for the test that parses their command lines.
#[cfg(test)]
pub(crate) const ALL: [&str; 12] = [
    TOP,
    LINT,
    POLICY,
    VALIDATE,
    DIFF,
    SIMULATE,
    EXPLAIN,
    TAIL,
    DEMO,
    BREAKER,
    SCHEMA,
    COMPLETIONS,
];

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::args::Cli;

    /// A command line split as a POSIX shell would split these examples (words, single quotes).
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '\'' => quoted = !quoted,
                ' ' if !quoted => {
                    if !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        assert!(!quoted, "unbalanced quote in {line:?}");
        if !word.is_empty() {
            out.push(word);
        }
        out
    }

    #[test]
    fn every_command_and_subcommand_has_an_example_in_its_long_help() {
        fn walk(cmd: &mut clap::Command, path: &str, missing: &mut Vec<String>) {
            let help = cmd.render_long_help().to_string();
            if !help.contains("Example") {
                missing.push(path.to_owned());
            }
            for sub in cmd.get_subcommands_mut() {
                if sub.get_name() == "help" {
                    continue;
                }
                let path = format!("{path} {}", sub.get_name());
                walk(sub, &path, missing);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&mut cmd, "recourse", &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }

    #[test]
    fn every_example_parses_as_a_command_line() {
        let mut lines = 0;
        for text in super::ALL {
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("recourse"))
            {
                if let Err(e) = Cli::try_parse_from(words(line)) {
                    panic!("example {line:?} does not parse:\n{e}");
                }
                lines += 1;
            }
        }
        assert!(lines >= 25, "only {lines} example command lines");
    }

    #[test]
    fn an_example_that_names_a_missing_flag_is_caught() {
        assert!(Cli::try_parse_from(words("recourse lint --no-such-flag")).is_err());
        assert_eq!(
            words("recourse tail --key 'payments.*' -o text"),
            ["recourse", "tail", "--key", "payments.*", "-o", "text"]
        );
    }
}
