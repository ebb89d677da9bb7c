//! The token matcher: where a key is passed to recourse.
//!
//! Recognised by default: `.call(key, op)`, `.call_traced(key, op)`,
//! `.call_with(key, options, op)` and the facade `call(key, op)` / `call_traced(key, op)` (two
//! or more arguments: tower's one-argument `Service::call(req)` is not a call site),
//! `.key(key)` (a pre-resolved handle), `Key::parse(key)`, `Key::from_static(key)`,
//! `Key::new(namespace, name)` and `key!(key)`; plus the names configured in
//! `[lint] call_patterns`, whose first argument is the key.

use super::lexer::{Lexed, Tok, Token, UNCLOSED};

/// One call site: the callee's name and the token ranges of its arguments.
#[derive(Debug)]
pub(crate) struct CallSite {
    pub(crate) args: Vec<(usize, usize)>,
    /// `Key::new(namespace, name)`: the key is both arguments joined by a dot.
    pub(crate) two_part: bool,
}

fn text<'a>(src: &'a str, t: &Token) -> &'a str {
    &src[t.start as usize..t.end as usize]
}

/// The arguments of the call whose `(` is at token `open`: `(start, end)` token ranges split at
/// top-level commas, or `None` when the parenthesis is never closed. Nested groups are jumped
/// over, so each token is looked at by the call that directly encloses it only.
fn arguments(lexed: &Lexed, open: usize) -> Option<Vec<(usize, usize)>> {
    let close = *lexed.closes.get(open)?;
    if close == UNCLOSED {
        return None;
    }
    let close = close as usize;
    let mut args = Vec::new();
    let mut start = open + 1;
    let mut i = open + 1;
    while i < close {
        match lexed.tokens[i].tok {
            Tok::Open(_) => match lexed.closes[i] {
                UNCLOSED => return None,
                c => i = c as usize,
            },
            Tok::Punct(b',') => {
                // An empty argument (`f(, x)`, broken code) is no argument.
                if i > start {
                    args.push((start, i));
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if close > start {
        args.push((start, close));
    }
    Some(args)
}

fn is_punct(tokens: &[Token], i: usize, c: u8) -> bool {
    tokens.get(i).is_some_and(|t| t.tok == Tok::Punct(c))
}

/// Every call site in a lexed file.
pub(crate) fn find(src: &str, lexed: &Lexed, extra: &[String]) -> Vec<CallSite> {
    let tokens = &lexed.tokens;
    let mut sites = Vec::new();
    for i in 0..tokens.len() {
        if tokens[i].tok != Tok::Ident {
            continue;
        }
        let name = text(src, &tokens[i]);
        let after_dot = i > 0 && is_punct(tokens, i - 1, b'.');
        let after_path = i > 1 && is_punct(tokens, i - 1, b':') && is_punct(tokens, i - 2, b':');
        let defined = i > 0 && tokens[i - 1].tok == Tok::Ident && text(src, &tokens[i - 1]) == "fn";
        if defined {
            continue;
        }
        // `key!(...)` and `Key::...(...)`
        if name == "key"
            && is_punct(tokens, i + 1, b'!')
            && matches!(tokens.get(i + 2).map(|t| t.tok), Some(Tok::Open(_)))
        {
            if let Some(args) = arguments(lexed, i + 2).filter(|a| !a.is_empty()) {
                sites.push(CallSite {
                    args,
                    two_part: false,
                });
            }
            continue;
        }
        if tokens.get(i + 1).map(|t| t.tok) != Some(Tok::Open(b'(')) {
            continue;
        }
        let Some(args) = arguments(lexed, i + 1) else {
            continue;
        };
        let key_path = after_path && i > 2 && text(src, &tokens[i - 3]) == "Key";
        let wanted = match name {
            "parse" | "from_static" if key_path => 1,
            "new" if key_path => 2,
            "call" | "call_traced" => 2,
            "call_with" if after_dot => 3,
            "key" if after_dot => 1,
            _ if extra.iter().any(|p| p.rsplit("::").next() == Some(name)) => 1,
            _ => continue,
        };
        let exact = name == "key" || (name == "new" && key_path);
        if (exact && args.len() != wanted) || args.len() < wanted {
            continue;
        }
        sites.push(CallSite {
            args,
            two_part: name == "new" && key_path,
        });
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn keys(src: &str) -> Vec<String> {
        let l = lex(src);
        find(src, &l, &[])
            .iter()
            .map(|c| {
                let (s, e) = c.args[0];
                src[l.tokens[s].start as usize..l.tokens[e - 1].end as usize].to_owned()
            })
            .collect()
    }

    #[test]
    fn empty_arguments_are_no_arguments() {
        // Found by the call-site soup property: `f(, x)` once produced an inverted span.
        let src = "exec.call(,\"a.B\", op); Key::new(,); key!(,);";
        assert_eq!(keys(src), ["\"a.B\""]);
        let scan = crate::scan_source("x.rs", src, &crate::Config::default());
        assert_eq!(scan.keys.len(), 1);
    }

    #[test]
    fn finds_the_engine_api_and_skips_look_alikes() {
        let src = r#"
            exec.call("a.B", op);
            svc.call(req);
            recourse_engine::call_traced("c.D", |_| async {});
            exec.call_with("e.F", &opts, op);
            let h = exec.key("g.H");
            map.key();
            let k = Key::parse("i.J");
            let k = key!("k.L");
            let nothing = key!();
            fn call(a: u8, b: u8) {}
            macro_rules! m { () => { exec.call("m.N", op) } }
        "#;
        assert_eq!(
            keys(src),
            [
                "\"a.B\"", "\"c.D\"", "\"e.F\"", "\"g.H\"", "\"i.J\"", "\"k.L\"", "\"m.N\""
            ]
        );
    }
}
