//! What a key argument is: a static key, a constant to resolve, a local to look up, or
//! something built at run time. Only the argument is parsed, with `syn`.

use syn::{Expr, Lit};

/// A key argument, classified.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyArg {
    /// Known keys: a literal (borrowed or converted: `&"k"`, `"k".into()`), `key!("k")`,
    /// `Key::new("ns", "Name")`, `concat!` of literals; several for a `match` or `if` whose
    /// every branch is one.
    Static(Vec<String>),
    /// A path to a constant or static: its segments (`Self::KEY`, `keys::inventory::GET`).
    Constant(Vec<String>),
    /// A local name (a `let` binding or a parameter), looked up where it is used.
    Local(String),
    /// Built at run time; the text says how (`format!`, concatenation, a call, ...).
    Dynamic(&'static str),
    /// Not an expression `syn` can parse.
    Unparsable,
}

/// `SCREAMING_CASE`: a constant's name.
fn constant_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.chars().any(|c| c.is_ascii_uppercase())
}

/// The string a literal-only expression stands for.
fn literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(l) => match &l.lit {
            Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

/// Strips what does not change a key: `&`, parentheses, `.into()`, `.as_str()`, `?`,
/// `.unwrap()`, ...
fn strip(mut expr: &Expr) -> &Expr {
    loop {
        expr = match expr {
            Expr::Reference(r) => &r.expr,
            Expr::Paren(p) => &p.expr,
            Expr::Group(g) => &g.expr,
            Expr::Try(t) => &t.expr,
            Expr::MethodCall(m)
                if matches!(
                    m.method.to_string().as_str(),
                    "into"
                        | "to_string"
                        | "to_owned"
                        | "as_str"
                        | "as_ref"
                        | "clone"
                        | "unwrap"
                        | "expect"
                ) && (m.args.is_empty() || m.method == "expect") =>
            {
                &m.receiver
            }
            _ => return expr,
        }
    }
}

/// The last segment of a path expression's path.
fn last_segment(path: &syn::Path) -> String {
    path.segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default()
}

/// The arguments of a macro as expressions, when they parse as a comma-separated list.
fn macro_args(mac: &syn::Macro) -> Option<Vec<Expr>> {
    use syn::punctuated::Punctuated;
    mac.parse_body_with(Punctuated::<Expr, syn::Token![,]>::parse_terminated)
        .ok()
        .map(|p| p.into_iter().collect())
}

fn classify_expr(expr: &Expr) -> KeyArg {
    let expr = strip(expr);
    if let Some(s) = literal(expr) {
        return KeyArg::Static(vec![s]);
    }
    match expr {
        Expr::Path(p) if p.qself.is_none() => {
            let segments: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let last = last_segment(&p.path);
            if constant_name(&last) {
                KeyArg::Constant(segments)
            } else if segments.len() == 1 {
                KeyArg::Local(last)
            } else {
                KeyArg::Dynamic("a path that is not a constant")
            }
        }
        Expr::Macro(m) => {
            let name = last_segment(&m.mac.path);
            match name.as_str() {
                "key" => match macro_args(&m.mac).as_deref() {
                    Some([one]) => match literal(one) {
                        Some(s) => KeyArg::Static(vec![s]),
                        None => KeyArg::Dynamic("key! of a non-literal"),
                    },
                    _ => KeyArg::Dynamic("a macro"),
                },
                "concat" => {
                    let parts = macro_args(&m.mac).unwrap_or_default();
                    let joined: Option<String> = parts.iter().map(literal).collect();
                    match joined {
                        Some(s) if !parts.is_empty() => KeyArg::Static(vec![s]),
                        _ => KeyArg::Dynamic("concat! of non-literals"),
                    }
                }
                "format" => KeyArg::Dynamic("format!"),
                _ => KeyArg::Dynamic("a macro"),
            }
        }
        Expr::Call(c) => {
            let Expr::Path(f) = &*c.func else {
                return KeyArg::Dynamic("a function call");
            };
            let segments: Vec<String> = f
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let args: Vec<Option<String>> = c.args.iter().map(|a| literal(strip(a))).collect();
            match (segments.as_slice(), args.as_slice()) {
                ([.., ty, f], [Some(k)]) if ty == "Key" && (f == "parse" || f == "from_static") => {
                    KeyArg::Static(vec![k.clone()])
                }
                ([.., ty, f], [Some(ns), Some(name)]) if ty == "Key" && f == "new" => {
                    KeyArg::Static(vec![format!("{ns}.{name}")])
                }
                _ => KeyArg::Dynamic("a function call"),
            }
        }
        Expr::Match(m) => branches(m.arms.iter().map(|a| &*a.body)),
        Expr::If(i) => match &i.else_branch {
            Some((_, other)) => {
                let then = i.then_branch.stmts.last().and_then(|s| match s {
                    syn::Stmt::Expr(e, None) => Some(e),
                    _ => None,
                });
                match then {
                    Some(then) => branches([then, &**other].into_iter()),
                    None => KeyArg::Dynamic("an expression"),
                }
            }
            None => KeyArg::Dynamic("an expression"),
        },
        Expr::Block(b) if b.block.stmts.len() == 1 => match &b.block.stmts[0] {
            syn::Stmt::Expr(e, None) => classify_expr(e),
            _ => KeyArg::Dynamic("an expression"),
        },
        Expr::Binary(_) => KeyArg::Dynamic("concatenation"),
        Expr::MethodCall(_) => KeyArg::Dynamic("a method call"),
        Expr::Field(_) => KeyArg::Dynamic("a field"),
        _ => KeyArg::Dynamic("an expression"),
    }
}

/// A `match` or `if` is static when every branch is.
fn branches<'a>(arms: impl Iterator<Item = &'a Expr>) -> KeyArg {
    let mut keys = Vec::new();
    for arm in arms {
        match classify_expr(arm) {
            KeyArg::Static(k) => keys.extend(k),
            _ => return KeyArg::Dynamic("a branch that is not a literal"),
        }
    }
    keys.dedup();
    KeyArg::Static(keys)
}

/// Classifies the text of a key argument.
pub(crate) fn classify(text: &str) -> KeyArg {
    match syn::parse_str::<Expr>(text) {
        Ok(expr) => classify_expr(&expr),
        Err(_) => KeyArg::Unparsable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str) -> KeyArg {
        KeyArg::Static(vec![k.to_owned()])
    }

    #[test]
    fn static_forms() {
        for text in [
            r#""a.B""#,
            r#"&"a.B""#,
            r#""a.B".to_string()"#,
            r##"r#"a.B"#"##,
            r#"key!("a.B")"#,
            r#"recourse_engine::key!("a.B").as_str()"#,
            r#"Key::new("a", "B")"#,
            r#"Key::parse("a.B")?"#,
            r#"Key::from_static("a.B")"#,
            r#"concat!("a", ".", "B")"#,
        ] {
            assert_eq!(classify(text), one("a.B"), "{text}");
        }
        assert_eq!(
            classify(r#"match op { Op::Get => "inv.Get", Op::Put => "inv.Put", _ => "inv.Get" }"#),
            KeyArg::Static(vec!["inv.Get".into(), "inv.Put".into(), "inv.Get".into()])
        );
        assert_eq!(
            classify(r#"if fast { "a.Fast" } else { "a.Slow" }"#),
            KeyArg::Static(vec!["a.Fast".into(), "a.Slow".into()])
        );
    }

    #[test]
    fn constants_locals_and_dynamic_forms() {
        assert_eq!(
            classify("CHARGE_KEY"),
            KeyArg::Constant(vec!["CHARGE_KEY".into()])
        );
        assert_eq!(
            classify("keys::CHARGE.as_str()"),
            KeyArg::Constant(vec!["keys".into(), "CHARGE".into()])
        );
        assert_eq!(
            classify("&Self::KEY"),
            KeyArg::Constant(vec!["Self".into(), "KEY".into()])
        );
        assert_eq!(classify("key"), KeyArg::Local("key".into()));
        assert_eq!(
            classify(r#"&format!("users.{id}")"#),
            KeyArg::Dynamic("format!")
        );
        assert_eq!(
            classify(r#"prefix + "x""#),
            KeyArg::Dynamic("concatenation")
        );
        assert_eq!(classify("&self.key"), KeyArg::Dynamic("a field"));
        assert_eq!(classify("make_key(id)"), KeyArg::Dynamic("a function call"));
        assert_eq!(
            classify(r#"concat!("a.", env!("X"))"#),
            KeyArg::Dynamic("concat! of non-literals")
        );
        assert_eq!(
            classify(r#"match x { 1 => "a.B", _ => other }"#),
            KeyArg::Dynamic("a branch that is not a literal")
        );
        assert_eq!(classify("(("), KeyArg::Unparsable);
    }
}
