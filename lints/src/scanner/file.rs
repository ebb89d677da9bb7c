//! One file, lexed and matched: what it tells the crate (constants, receivers, imports) and
//! its call sites, with positions and suppressions settled. The text is dropped after this:
//! only these small facts cross files.

use std::path::{Path, PathBuf};

use super::callsite::{self, Recognised};
use super::items::{self, Items};
use super::key_arg::{self, KeyArg};
use super::lexer::{self, Lexed, Tok, UNCLOSED};
use crate::config::{Config, TestCode};
use crate::location::Lines;
use crate::report::Finding;
use crate::rules::Rule;
use crate::suppress::{self, Suppressions};

/// How deeply a key argument may nest its parentheses, brackets and braces before it is
/// reported as unparsable rather than handed to the parser (whose recursion would overflow
/// the stack on thousands of levels).
const MAX_ARG_DEPTH: u32 = 32;

/// How many `let` hops a key is followed through (`let a = b; let b = "k";` is two).
const MAX_LET_HOPS: usize = 4;

/// The longest argument text quoted in a message.
const QUOTE: usize = 80;

/// 1-based line and column of a span's start and end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) end_line: usize,
    pub(crate) end_column: usize,
}

/// A site's key, as far as the file can tell.
#[derive(Debug)]
pub(crate) enum SiteKey {
    Static(Vec<String>),
    /// A constant to resolve across the crate: its path, and where it is named.
    Constant {
        path: Vec<String>,
        modules: Vec<String>,
        owner: Option<String>,
    },
    /// Built at run time: how, and the argument's text.
    Dynamic(&'static str, String),
    /// The enclosing function's parameter: checked where that function is called.
    Forwarded,
}

/// A call site, waiting for the crate to say whether its receiver is recourse's.
#[derive(Debug)]
pub(crate) struct Site {
    pub(crate) recognised: Recognised,
    pub(crate) key: SiteKey,
    pub(crate) span: Span,
    /// Rules suppressed over the site's lines.
    pub(crate) allowed: Vec<Rule>,
    /// In `#[cfg(test)]` or `#[test]` code.
    pub(crate) test: bool,
    /// Index of the site whose key argument holds this constructor (`exec.call(key!(..))`):
    /// when that one is recourse's, this is not a site of its own.
    pub(crate) within: Option<usize>,
}

/// A string constant: where it is defined and the keys its value stands for.
#[derive(Debug)]
pub(crate) struct Const {
    pub(crate) modules: Vec<String>,
    pub(crate) owner: Option<String>,
    pub(crate) name: String,
    pub(crate) value: String,
}

/// What one file yields.
#[derive(Debug, Default)]
pub(crate) struct FileFacts {
    pub(crate) path: String,
    pub(crate) crate_root: Option<PathBuf>,
    /// Findings settled in the file (parse errors, invalid suppressions).
    pub(crate) findings: Vec<Finding>,
    pub(crate) consts: Vec<Const>,
    pub(crate) uses: Vec<(String, Vec<String>)>,
    pub(crate) receivers: Vec<String>,
    pub(crate) derived: Vec<(String, String)>,
    pub(crate) sites: Vec<Site>,
}

/// The module path of a file in its crate: `src/keys/inventory.rs` is `[keys, inventory]`.
pub(crate) fn module_of(path: &Path, crate_root: Option<&Path>) -> Vec<String> {
    let rel = crate_root
        .and_then(|r| path.strip_prefix(r).ok())
        .unwrap_or(path);
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .filter_map(|c| c.as_os_str().to_str().map(str::to_owned))
        .collect();
    if parts.first().is_some_and(|p| p == "src") {
        parts.remove(0);
    }
    if parts
        .last()
        .is_some_and(|l| matches!(l.as_str(), "mod" | "lib" | "main"))
    {
        parts.pop();
    }
    parts
}

/// A finding at a span.
pub(crate) fn finding(
    config: &Config,
    rule: Rule,
    path: &str,
    span: Span,
    key: Option<String>,
    message: String,
) -> Finding {
    Finding {
        rule,
        severity: config.severity(rule),
        path: path.to_owned(),
        line: span.line,
        column: span.column,
        end_line: span.end_line,
        end_column: span.end_column,
        key,
        message,
        help: rule.help().to_owned(),
    }
}

fn span(lines: &Lines<'_>, (start, end): (usize, usize)) -> Span {
    let (line, column) = lines.position(start);
    let (end_line, end_column) = lines.position(end);
    Span {
        line,
        column,
        end_line,
        end_column,
    }
}

/// The last token of the statement starting at token `j`: its `;`, the `}` that ends a block
/// statement (`if .. { } else { }` goes on to the last block), or the last token before its
/// enclosing group closes.
fn statement_end(src: &str, lexed: &Lexed, j: usize) -> usize {
    let tokens = &lexed.tokens;
    let depth = lexed.depth[j];
    let continues = |k: usize| {
        tokens.get(k).is_some_and(|t| {
            matches!(t.tok, Tok::Punct(b'.' | b'?' | b';'))
                || (t.tok == Tok::Ident && &src[t.start as usize..t.end as usize] == "else")
        })
    };
    let mut k = j;
    while k < tokens.len() {
        match tokens[k].tok {
            Tok::Punct(b';') if lexed.depth[k] == depth => return k,
            Tok::Close(_) if lexed.depth[k] < depth => return k.saturating_sub(1).max(j),
            Tok::Open(_) => match lexed.partner[k] {
                UNCLOSED => return tokens.len() - 1,
                c => {
                    k = c as usize;
                    if tokens[k].tok == Tok::Close(b'{') && !continues(k + 1) {
                        return k;
                    }
                }
            },
            _ => {}
        }
        k += 1;
    }
    tokens.len().saturating_sub(1)
}

/// The crate-independent part of a scan: lex, collect items, match sites, classify keys.
pub(crate) fn analyze(
    path: &str,
    crate_root: Option<PathBuf>,
    modules: Vec<String>,
    text: &str,
    not_utf8: bool,
    config: &Config,
) -> FileFacts {
    let lexed = lexer::lex(text);
    let items = items::collect(text, &lexed, &config.receivers);
    let lines = Lines::new(text);
    let mut out = FileFacts {
        path: path.to_owned(),
        crate_root,
        ..FileFacts::default()
    };
    let tokens = &lexed.tokens;
    let byte = |i: usize| tokens.get(i).map_or(text.len(), |t| t.start as usize);

    // Suppressions.
    let mut suppress = Suppressions::default();
    let mut next_token = 0;
    for &(s, e) in &lexed.comments {
        let Some(allow) = suppress::parse(&text[s as usize..e as usize]) else {
            continue;
        };
        let (line, column) = lines.position(s as usize);
        let standalone = column == 1 || text[lines.line_start(line)..s as usize].trim().is_empty();
        for id in &allow.unknown {
            let at = span(&lines, (s as usize, e as usize));
            out.findings.push(finding(
                config,
                Rule::InvalidSuppression,
                path,
                at,
                None,
                format!(
                    "`{id}` is not a rule; this suppression does not cover it (rules: {})",
                    Rule::ids().join(", ")
                ),
            ));
        }
        let last = if standalone {
            while next_token < tokens.len() && tokens[next_token].start < e {
                next_token += 1;
            }
            if next_token < tokens.len() {
                let end = statement_end(text, &lexed, next_token);
                lines.position(tokens[end].start as usize).0
            } else {
                line
            }
        } else {
            line
        };
        suppress.add(line, last, allow.rules);
    }

    if let Some((at, what)) = lexed
        .broken
        .or(not_utf8.then_some((0, "the file is not valid UTF-8")))
    {
        let at = at as usize;
        out.findings.push(finding(
            config,
            Rule::ParseError,
            path,
            span(&lines, (at, at)),
            None,
            format!("this file does not parse ({what}); call sites in it were scanned as far as possible"),
        ));
    }

    // Constants.
    for c in &items.consts {
        let (s, e) = c.value;
        if e <= s || e > tokens.len() {
            continue;
        }
        if let KeyArg::Static(keys) = key_arg::classify(&text[byte(s)..tokens[e - 1].end as usize])
            && let [value] = keys.as_slice()
        {
            let mut m = modules.clone();
            m.extend(items.modules_at(c.at));
            out.consts.push(Const {
                modules: m,
                owner: items.owner_at(c.at).map(str::to_owned),
                name: c.name.clone(),
                value: value.clone(),
            });
        }
    }

    // A crate's `tests/` and `benches/` hold test code only.
    let test_file = items.all_test
        || out
            .crate_root
            .as_deref()
            .and_then(|r| Path::new(path).strip_prefix(r).ok())
            .and_then(|rel| rel.components().next())
            .is_some_and(|c| matches!(c.as_os_str().to_str(), Some("tests" | "benches")));
    let found = callsite::find(text, &lexed, &items, config);
    let in_const = |i: usize| items.consts.iter().any(|c| c.value.0 <= i && i < c.value.1);
    let mut key_ranges: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, site index)
    for site in &found {
        if site.constructor && in_const(site.at) {
            continue;
        }
        let test = test_file || items.in_test(site.at);
        if test && config.test_code == TestCode::Skip {
            continue;
        }
        let (start, end) = (site.key[0].0, site.key[site.key.len() - 1].1);
        let bytes = (byte(start), tokens[end - 1].end as usize);
        let at = span(&lines, bytes);
        let within = key_ranges
            .iter()
            .rev()
            .find(|(s, e, _)| *s <= site.at && site.at < *e)
            .map(|(_, _, i)| *i);
        let deepest = site
            .key
            .iter()
            .map(|&(s, e)| {
                let base = lexed.depth[s];
                lexed.depth[s..e]
                    .iter()
                    .map(|d| d - base)
                    .max()
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        if deepest > MAX_ARG_DEPTH {
            out.findings.push(finding(
                config,
                Rule::ParseError,
                path,
                Span {
                    end_line: at.line,
                    end_column: at.column,
                    ..at
                },
                None,
                format!(
                    "a key argument nested {deepest} levels deep (more than {MAX_ARG_DEPTH}) \
                     is not parsed"
                ),
            ));
            continue;
        }
        let classify_range =
            |(s, e): (usize, usize)| key_arg::classify(&text[byte(s)..tokens[e - 1].end as usize]);
        let arg_text = &text[bytes.0..bytes.1];
        let key = if let [ns, name] = site.key.as_slice() {
            match (classify_range(*ns), classify_range(*name)) {
                (KeyArg::Static(a), KeyArg::Static(b)) if a.len() == 1 && b.len() == 1 => {
                    KeyArg::Static(vec![format!("{}.{}", a[0], b[0])])
                }
                _ => KeyArg::Dynamic("a namespace or name built at run time"),
            }
        } else {
            local(text, &lexed, &items, site.at, classify_range(site.key[0]))
        };
        let key = match key {
            KeyArg::Static(keys) => SiteKey::Static(keys),
            KeyArg::Constant(path) => {
                let mut m = modules.clone();
                m.extend(items.modules_at(site.at));
                SiteKey::Constant {
                    path,
                    modules: m,
                    owner: items.owner_at(site.at).map(str::to_owned),
                }
            }
            KeyArg::Local(name) => match items.function_at(site.at) {
                Some((_, params)) if params.contains(&name) => SiteKey::Forwarded,
                _ => SiteKey::Dynamic("a variable", quote(arg_text)),
            },
            KeyArg::Dynamic(how) => SiteKey::Dynamic(how, quote(arg_text)),
            KeyArg::Unparsable => continue,
        };
        key_ranges.push((start, end, out.sites.len()));
        out.sites.push(Site {
            recognised: site.recognised.clone(),
            key,
            span: at,
            allowed: suppress.allowed(at.line, at.end_line),
            test,
            within,
        });
    }
    out.uses = items.uses;
    out.receivers = items.receivers;
    out.derived = items.derived;
    out
}

/// Follows a local name to its `let` in the enclosing function (a few hops at most).
fn local(text: &str, lexed: &Lexed, items: &Items, at: usize, mut key: KeyArg) -> KeyArg {
    let tokens = &lexed.tokens;
    let floor = items.function_at(at).map_or(0, |(open, _)| open);
    let mut before = at;
    for _ in 0..MAX_LET_HOPS {
        let KeyArg::Local(name) = &key else {
            return key;
        };
        let Some(def) = items
            .lets
            .get(name)
            .and_then(|defs| defs.iter().rev().find(|d| d.at < before && d.at > floor))
        else {
            return key;
        };
        let (s, e) = def.value;
        if e <= s {
            return KeyArg::Dynamic("a variable");
        }
        before = def.at;
        key = match key_arg::classify(&text[tokens[s].start as usize..tokens[e - 1].end as usize]) {
            KeyArg::Dynamic(_) | KeyArg::Unparsable => KeyArg::Dynamic("a variable"),
            other => other,
        };
    }
    key
}

/// An argument's text for a message: on one line, at most [`QUOTE`] characters.
fn quote(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > QUOTE {
        let cut: String = flat.chars().take(QUOTE - 1).collect();
        format!("{cut}…")
    } else {
        flat
    }
}
