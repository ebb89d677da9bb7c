//! Reading policy sources with `saphyr` (feature `yaml`): YAML 1.2 scalars (`no` is a string,
//! not `false`), duplicate mapping keys rejected at any depth, alias expansion bounded, and a
//! line and column for every node. JSON is YAML 1.2, so JSON documents go through the same
//! reader and get the same positions.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::document::{Position, SourceTree, pointer_segment};
use super::set::LoadProblem;

/// Nesting deeper than this is refused before it can exhaust the stack.
const MAX_DEPTH: usize = 64;

fn position(m: &saphyr::Marker) -> Position {
    Position {
        line: m.line(),
        column: m.col() + 1,
    }
}

/// Parses `text` into a [`SourceTree`].
///
/// # Errors
///
/// Syntax errors (with the scanner's position), an empty document, several documents, keys
/// that are not strings, NaN or infinite numbers, nesting deeper than 64 levels.
pub(crate) fn parse(text: &str) -> Result<SourceTree, LoadProblem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if nesting(text) > MAX_DEPTH {
        return Err(LoadProblem::syntax(
            Position { line: 1, column: 1 },
            format!("nesting deeper than {MAX_DEPTH} levels"),
        ));
    }
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        let mut p = LoadProblem::syntax(position(m), e.info().to_owned());
        if e.info().contains("duplicated key") {
            p.code = "duplicate-key";
            p.help = Some("a key may appear once in a mapping".to_owned());
        }
        p
    })?;
    let mut docs = docs.into_iter();
    let Some(root) = docs.next() else {
        return Err(LoadProblem::syntax(
            Position { line: 1, column: 1 },
            "the document is empty; a policy file starts with `version: 1`".to_owned(),
        ));
    };
    if let Some(second) = docs.next() {
        return Err(LoadProblem::syntax(
            position(&second.span.start),
            "a policy file holds one YAML document; found a second one".to_owned(),
        ));
    }
    let mut tree = SourceTree::default();
    tree.value = convert(&root, text, String::new(), &mut tree)?;
    Ok(tree)
}

/// A cheap upper bound of the nesting depth (brackets and indentation), so hostile input is
/// refused before the recursive conversion.
fn nesting(text: &str) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let indent = text
        .lines()
        .map(|l| l.len() - l.trim_start_matches([' ', '-']).len())
        .max()
        .unwrap_or(0)
        / 2;
    max.max(indent)
}

/// An integer literal between `i64::MAX` and `u64::MAX` (a seed, say), which the YAML reader
/// reads as a float: its digits, read again from the source, exactly.
fn unsigned_past_i64(text: &str, node: &MarkedYaml<'_>, f: f64) -> Option<u64> {
    if !((9.2e18..=1.9e19).contains(&f) && f.fract() == 0.0) {
        return None;
    }
    let (start, end) = (node.span.start.index(), node.span.end.index());
    let literal: String = text
        .chars()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    let digits = literal.trim().strip_prefix('+').unwrap_or(literal.trim());
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn convert(
    node: &MarkedYaml<'_>,
    text: &str,
    pointer: String,
    tree: &mut SourceTree,
) -> Result<serde_json::Value, LoadProblem> {
    use serde_json::Value;
    let at = position(&node.span.start);
    tree.values.insert(pointer.clone(), at);
    Ok(match &node.data {
        YamlData::Value(s) => match s {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::from(*i),
            Scalar::FloatingPoint(f) => {
                let f = f.into_inner();
                if let Some(u) = unsigned_past_i64(text, node, f) {
                    return Ok(Value::from(u));
                }
                let Some(n) = serde_json::Number::from_f64(f) else {
                    return Err(LoadProblem::schema(
                        &pointer,
                        at,
                        format!("{f} is not a finite number"),
                        None,
                    ));
                };
                Value::Number(n)
            }
            Scalar::String(s) => Value::String(s.to_string()),
        },
        YamlData::Representation(s, ..) => Value::String(s.to_string()),
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, text, format!("{pointer}/{i}"), tree))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Representation(s, ..) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    _ => {
                        return Err(LoadProblem::schema(
                            &pointer,
                            position(&k.span.start),
                            "mapping keys must be strings".to_owned(),
                            None,
                        ));
                    }
                };
                let child = format!("{pointer}/{}", pointer_segment(&key));
                tree.keys.insert(child.clone(), position(&k.span.start));
                let value = convert(v, text, child, tree)?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
        YamlData::Tagged(_, inner) => return convert(inner, text, pointer, tree),
        YamlData::Alias(_) | YamlData::BadValue => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_past_i64_max_are_read_exactly() {
        let value = |text: &str| parse(text).unwrap().value["n"].clone();
        assert_eq!(value("n: 18446744073709551615"), u64::MAX);
        assert_eq!(value("n: 9223372036854775808"), 1u64 << 63);
        assert_eq!(value("n: 9223372036854775807"), i64::MAX);
        // Floats stay floats; past u64::MAX is a float too (and fails a u64 field).
        assert!(value("n: 1.5e19").is_f64());
        assert!(value("n: 18446744073709551616").is_f64());
        assert!(value("n: 10000000000000000000.0").is_f64());
    }
}
