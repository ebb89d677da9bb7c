//! The crate-wide step: which receivers are recourse's, what each constant key is, and the
//! findings of every call site. Only the files' small facts are needed here.

use std::collections::{BTreeSet, HashSet};

use super::callsite::Recognised;
use super::file::{Const, FileFacts, Site, SiteKey, finding};
use crate::config::{Config, Severity, TestCode};
use crate::report::{Finding, KeySite};
use crate::rules::{Rule, high_cardinality_kind};

/// The names a crate types or builds as recourse's, `let h = exec.key(..)` followed.
fn receivers(files: &[&FileFacts], config: &Config) -> HashSet<String> {
    let mut set: HashSet<String> = files
        .iter()
        .flat_map(|f| f.receivers.iter().cloned())
        .chain(config.receivers.iter().cloned())
        .collect();
    loop {
        let before = set.len();
        for f in files {
            for (name, from) in &f.derived {
                if set.contains(from) {
                    set.insert(name.clone());
                }
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// Why a constant did not resolve.
enum Unresolved {
    /// Not defined in the scanned crate (another crate's, most likely): not checked.
    Missing,
    /// Several definitions with different values: their places, for the message.
    Ambiguous(Vec<String>),
}

/// `CamelCase`: a type's name in a path (`Payments::KEY`).
fn type_name(segment: &str) -> bool {
    segment
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
        && segment.chars().any(|c| c.is_ascii_lowercase())
}

struct Table<'a> {
    consts: Vec<&'a Const>,
}

impl Table<'_> {
    /// One value from candidates, or why not.
    fn pick(mut found: Vec<&Const>) -> Result<String, Unresolved> {
        found.sort_by(|a, b| {
            (&a.modules, &a.owner, &a.value).cmp(&(&b.modules, &b.owner, &b.value))
        });
        let values: BTreeSet<&str> = found.iter().map(|c| c.value.as_str()).collect();
        match values.len() {
            0 => Err(Unresolved::Missing),
            1 => Ok(found[0].value.clone()),
            _ => Err(Unresolved::Ambiguous(
                found
                    .iter()
                    .map(|c| {
                        let mut p = c.modules.clone();
                        p.extend(c.owner.clone());
                        p.push(c.name.clone());
                        format!("{} = {:?}", p.join("::"), c.value)
                    })
                    .collect(),
            )),
        }
    }

    fn free(&self, name: &str) -> impl Iterator<Item = &&Const> {
        self.consts
            .iter()
            .filter(move |c| c.owner.is_none() && c.name == name)
    }

    /// Resolves a constant's path as named at a place (`modules`, inside `impl owner`).
    fn resolve(
        &self,
        path: &[String],
        modules: &[String],
        owner: Option<&str>,
        uses: &[(String, Vec<String>)],
    ) -> Result<String, Unresolved> {
        let Some((name, init)) = path.split_last() else {
            return Err(Unresolved::Missing);
        };
        // `Self::KEY`, `Payments::KEY`: an associated constant.
        let ty = match init.last().map(String::as_str) {
            Some("Self") => owner,
            Some(t) if type_name(t) => Some(t),
            _ => None,
        };
        if let Some(ty) = ty {
            return Table::pick(
                self.consts
                    .iter()
                    .copied()
                    .filter(|c| c.owner.as_deref() == Some(ty) && &c.name == name)
                    .collect(),
            );
        }
        // The path with a `use` alias in front expanded, made absolute when it can be.
        let expanded: Vec<String> = match init.first() {
            Some(first) => match uses.iter().rev().find(|(alias, _)| alias == first) {
                Some((_, full)) => full.iter().chain(&init[1..]).cloned().collect(),
                None => init.to_vec(),
            },
            None => match uses.iter().rev().find(|(alias, _)| alias == name) {
                Some((_, full)) => {
                    let mut p = full.clone();
                    let last = p.pop();
                    if last.as_deref() != Some(name.as_str()) {
                        // `use keys::GET as INVENTORY_GET;`
                        return self.resolve(&full.clone(), modules, owner, &[]);
                    }
                    p
                }
                None => Vec::new(),
            },
        };
        let absolute = absolute(&expanded, modules);
        let exact: Vec<&Const> = self
            .free(name)
            .copied()
            .filter(|c| absolute.as_ref().is_some_and(|a| &c.modules == a))
            .collect();
        if !exact.is_empty() {
            return Table::pick(exact);
        }
        if !expanded.is_empty() {
            // A path relative to somewhere this walk did not follow: its modules end the
            // definition's.
            let tail: Vec<&String> = expanded
                .iter()
                .filter(|s| !matches!(s.as_str(), "crate" | "self" | "super"))
                .collect();
            return Table::pick(
                self.free(name)
                    .copied()
                    .filter(|c| c.modules.iter().collect::<Vec<_>>().ends_with(&tail))
                    .collect(),
            );
        }
        // A bare name: this module, a glob import, then the crate if only one place has it.
        for (alias, full) in uses.iter().rev() {
            if alias == "*"
                && let Some(a) = absolute_path(full, modules)
            {
                let found: Vec<&Const> = self
                    .free(name)
                    .copied()
                    .filter(|c| c.modules == a)
                    .collect();
                if !found.is_empty() {
                    return Table::pick(found);
                }
            }
        }
        Table::pick(self.free(name).copied().collect())
    }
}

/// `crate::a::b` from the root, `self::a`/`super::a` from `modules`; a bare path from here.
fn absolute(path: &[String], modules: &[String]) -> Option<Vec<String>> {
    if path.is_empty() {
        return Some(modules.to_vec());
    }
    absolute_path(path, modules)
}

fn absolute_path(path: &[String], modules: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = modules.to_vec();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            out.clear();
            rest = &path[1..];
        }
        Some("self") => rest = &path[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                out.pop()?;
                rest = &rest[1..];
            }
        }
        _ => {}
    }
    out.extend(rest.iter().cloned());
    Some(out)
}

/// The findings and keys of one crate's files.
pub(crate) fn crate_sites(
    files: &[&FileFacts],
    config: &Config,
    findings: &mut Vec<Finding>,
    keys: &mut Vec<(KeySite, Vec<Rule>)>,
) {
    let receivers = receivers(files, config);
    let table = Table {
        consts: files.iter().flat_map(|f| f.consts.iter()).collect(),
    };
    for file in files {
        let ours = |site: &Site| match &site.recognised {
            Recognised::Certain => true,
            Recognised::Receiver(r) => receivers.contains(r),
        };
        for site in &file.sites {
            if !ours(site) || site.within.is_some_and(|o| ours(&file.sites[o])) {
                continue;
            }
            let mut emit = |rule: Rule, key: Option<String>, message: String| {
                if site.allowed.contains(&rule) {
                    return;
                }
                let mut f = finding(config, rule, &file.path, site.span, key, message);
                if site.test && config.test_code == TestCode::Warn && f.severity == Severity::Error
                {
                    f.severity = Severity::Warning;
                }
                findings.push(f);
            };
            let values = match &site.key {
                SiteKey::Static(keys) => keys.clone(),
                SiteKey::Forwarded => continue,
                SiteKey::Dynamic(how, text) => {
                    emit(
                        Rule::DynamicKey,
                        None,
                        format!("key built at run time ({how}): `{text}`"),
                    );
                    continue;
                }
                SiteKey::Constant {
                    path,
                    modules,
                    owner,
                } => match table.resolve(path, modules, owner.as_deref(), &file.uses) {
                    Ok(value) => vec![value],
                    Err(Unresolved::Missing) => continue,
                    Err(Unresolved::Ambiguous(places)) => {
                        emit(
                            Rule::UnresolvedKey,
                            None,
                            format!(
                                "`{}` could be any of {}; not checked",
                                path.join("::"),
                                places.join(", ")
                            ),
                        );
                        continue;
                    }
                },
            };
            for key in values {
                check_key(&key, config, &mut emit);
                keys.push((
                    KeySite {
                        key,
                        path: file.path.clone(),
                        line: site.span.line,
                        column: site.span.column,
                        end_line: site.span.end_line,
                        end_column: site.span.end_column,
                    },
                    site.allowed.clone(),
                ));
            }
        }
    }
}

/// The rules on a key's text: `high-cardinality-key`, else `key-format`.
fn check_key(key: &str, config: &Config, emit: &mut impl FnMut(Rule, Option<String>, String)) {
    if let Some(kind) = high_cardinality_kind(key) {
        emit(
            Rule::HighCardinalityKey,
            Some(key.to_owned()),
            format!("key {key:?} looks high-cardinality ({kind})"),
        );
    } else if !config.key_format.is_match(key) {
        emit(
            Rule::KeyFormat,
            Some(key.to_owned()),
            if config.key_format.as_str() == crate::config::DEFAULT_KEY_FORMAT {
                format!("key {key:?} is not shaped `namespace.Name`")
            } else {
                format!(
                    "key {key:?} does not match the configured key_format `{}`",
                    config.key_format.as_str()
                )
            },
        );
    }
}
