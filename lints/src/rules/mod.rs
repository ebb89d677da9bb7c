//! The rules, with their stable ids. One table: [`Rule`].

mod high_cardinality_key;

use std::fmt;

pub use high_cardinality_key::high_cardinality_kind;

use crate::config::Severity;

/// A lint rule. The ids (`dynamic-key`, ...) are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// A key built at run time: `format!`, concatenation, a variable, a call.
    DynamicKey,
    /// A literal key with an ID-like part: digits, a UUID, a hash, an e-mail, a URL, ...
    HighCardinalityKey,
    /// A key not shaped `namespace.Name` (or the configured pattern).
    KeyFormat,
    /// A key no policy or `namespace.*` entry covers (with policies).
    UncoveredKey,
    /// A policy key no call site uses (with policies).
    UnusedPolicy,
    /// A file that does not lex cleanly; the scan goes on.
    ParseError,
    /// A key constant defined more than once in the crate, with different values, and the
    /// path does not say which one.
    UnresolvedKey,
    /// A suppression comment naming a rule that does not exist.
    InvalidSuppression,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 8] = [
        Rule::DynamicKey,
        Rule::HighCardinalityKey,
        Rule::KeyFormat,
        Rule::UncoveredKey,
        Rule::UnusedPolicy,
        Rule::ParseError,
        Rule::UnresolvedKey,
        Rule::InvalidSuppression,
    ];

    /// The stable id.
    pub fn id(self) -> &'static str {
        match self {
            Rule::DynamicKey => "dynamic-key",
            Rule::HighCardinalityKey => "high-cardinality-key",
            Rule::KeyFormat => "key-format",
            Rule::UncoveredKey => "uncovered-key",
            Rule::UnusedPolicy => "unused-policy",
            Rule::ParseError => "parse-error",
            Rule::UnresolvedKey => "unresolved-key",
            Rule::InvalidSuppression => "invalid-suppression",
        }
    }

    /// The rule with this id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// Every id, for messages.
    pub fn ids() -> Vec<&'static str> {
        Rule::ALL.iter().map(|r| r.id()).collect()
    }

    /// The severity unless configured otherwise.
    pub fn default_severity(self) -> Severity {
        match self {
            Rule::DynamicKey | Rule::HighCardinalityKey | Rule::UncoveredKey => Severity::Error,
            Rule::KeyFormat
            | Rule::UnusedPolicy
            | Rule::ParseError
            | Rule::UnresolvedKey
            | Rule::InvalidSuppression => Severity::Warning,
        }
    }

    /// One line of help shown with every finding of the rule.
    pub fn help(self) -> &'static str {
        match self {
            Rule::DynamicKey => {
                "use one literal key per operation, e.g. \"payments.Charge\"; put per-request data in the request, not the key"
            }
            Rule::HighCardinalityKey => {
                "drop the ID from the key: one key per operation (\"users.Get\"), never per user, order or URL"
            }
            Rule::KeyFormat => "name keys `namespace.Name`, e.g. \"payments.Charge\"",
            Rule::UncoveredKey => {
                "add a policy for this key or a `namespace.*` entry, or the built-in default applies"
            }
            Rule::UnusedPolicy => "remove the policy, or fix the key at the call site",
            Rule::ParseError => {
                "the file was scanned as far as it could be; fix the syntax to scan the rest"
            }
            Rule::UnresolvedKey => {
                "name the constant by its path (`keys::inventory::GET`), or give it one definition"
            }
            Rule::InvalidSuppression => "use a rule id from `recourse lint --help`",
        }
    }

    /// A short description, for SARIF rule metadata and docs.
    pub fn description(self) -> &'static str {
        match self {
            Rule::DynamicKey => "A recourse key is built at run time.",
            Rule::HighCardinalityKey => "A recourse key carries an ID-like part.",
            Rule::KeyFormat => "A recourse key is not shaped namespace.Name.",
            Rule::UncoveredKey => "No policy covers a recourse key used in code.",
            Rule::UnusedPolicy => "A policy key is used by no call site.",
            Rule::ParseError => "A Rust file could not be scanned completely.",
            Rule::UnresolvedKey => {
                "A key constant has several definitions the path cannot choose between."
            }
            Rule::InvalidSuppression => "A suppression comment names an unknown rule.",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}
