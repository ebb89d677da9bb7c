//! What a key argument is: a literal, a constant, or something built at run time. Only the
//! argument is parsed, with `syn`.

use syn::{Expr, Lit};

/// A key argument, classified.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyArg {
    /// A string literal (possibly borrowed or converted: `&"k"`, `"k".into()`).
    Literal(String),
    /// A path to a constant or static, by its last segment.
    Constant(String),
    /// Built at run time; the text says how (`format!`, concatenation, a variable, a call).
    Dynamic(&'static str),
    /// Not an expression `syn` can parse.
    Unparsable,
}

fn literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(l) => match &l.lit {
            Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        Expr::Reference(r) => literal(&r.expr),
        Expr::Paren(p) => literal(&p.expr),
        Expr::Group(g) => literal(&g.expr),
        Expr::MethodCall(m)
            if m.args.is_empty()
                && matches!(
                    m.method.to_string().as_str(),
                    "into" | "to_string" | "to_owned" | "as_str"
                ) =>
        {
            literal(&m.receiver)
        }
        _ => None,
    }
}

pub(crate) fn classify(text: &str) -> KeyArg {
    let Ok(expr) = syn::parse_str::<Expr>(text) else {
        return KeyArg::Unparsable;
    };
    if let Some(s) = literal(&expr) {
        return KeyArg::Literal(s);
    }
    let mut inner = &expr;
    loop {
        inner = match inner {
            Expr::Reference(r) => &r.expr,
            Expr::Paren(p) => &p.expr,
            Expr::Group(g) => &g.expr,
            _ => break,
        };
    }
    match inner {
        Expr::Path(p) if p.qself.is_none() => {
            let last = p
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default();
            let constant = last
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && last.chars().any(|c| c.is_ascii_uppercase());
            if constant {
                KeyArg::Constant(last)
            } else {
                KeyArg::Dynamic("a variable")
            }
        }
        Expr::Macro(m) => {
            let name = m
                .mac
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default();
            match name.as_str() {
                "format" => KeyArg::Dynamic("format!"),
                "concat" => KeyArg::Dynamic("concat!"),
                _ => KeyArg::Dynamic("a macro"),
            }
        }
        Expr::Binary(_) => KeyArg::Dynamic("concatenation"),
        Expr::Call(_) | Expr::MethodCall(_) => KeyArg::Dynamic("a function call"),
        _ => KeyArg::Dynamic("an expression"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_forms() {
        assert_eq!(classify(r#""a.B""#), KeyArg::Literal("a.B".into()));
        assert_eq!(classify(r#"&"a.B""#), KeyArg::Literal("a.B".into()));
        assert_eq!(
            classify(r#""a.B".to_string()"#),
            KeyArg::Literal("a.B".into())
        );
        assert_eq!(classify(r##"r#"a.B"#"##), KeyArg::Literal("a.B".into()));
        assert_eq!(
            classify("CHARGE_KEY"),
            KeyArg::Constant("CHARGE_KEY".into())
        );
        assert_eq!(classify("keys::CHARGE"), KeyArg::Constant("CHARGE".into()));
        assert_eq!(
            classify(r#"&format!("users.{id}")"#),
            KeyArg::Dynamic("format!")
        );
        assert_eq!(
            classify(r#"prefix + "x""#),
            KeyArg::Dynamic("concatenation")
        );
        assert_eq!(
            classify(r#"&("a.".to_owned() + b)"#),
            KeyArg::Dynamic("concatenation")
        );
        assert_eq!(classify("key"), KeyArg::Dynamic("a variable"));
        assert_eq!(classify("&self.key"), KeyArg::Dynamic("an expression"));
        assert_eq!(classify("make_key(id)"), KeyArg::Dynamic("a function call"));
        assert_eq!(classify("(("), KeyArg::Unparsable);
    }
}
