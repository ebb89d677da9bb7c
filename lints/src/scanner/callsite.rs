//! The token matcher: where a key is passed to recourse, told apart from look-alikes.
//!
//! A call named like recourse's API (`.call`, `.call_traced`, `.call_with`, `.key`, the free
//! `call`/`call_traced`, `Key::parse`/`from_static`/`new`, `key!`) is a call site when:
//!
//! - its receiver is recourse's: a name the crate types or builds as an `Executor` or a
//!   `KeyHandle` (settled across the crate later: [`Recognised::Receiver`]);
//! - or its path names recourse: `recourse_engine::call`, an alias of the crate, a name
//!   imported from it (`use recourse_engine::{call, Key}`, or a glob);
//! - or, for the `call` family, its operation is a closure, an async block or a function path;
//! - or it matches a configured pattern.
//!
//! A first argument that is `&mut ..`, a number or a tuple is never a key: the call is not
//! recourse's whatever its receiver.

use super::items::Items;
use super::lexer::{Lexed, Tok, Token, UNCLOSED};
use crate::config::Config;

/// Why a call is taken for recourse's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recognised {
    /// Its path, its operation or a configured pattern says so.
    Certain,
    /// If the crate types or builds this name as recourse's.
    Receiver(String),
}

/// One call site: where its callee is, its arguments' token ranges, why it is recourse's.
#[derive(Debug)]
pub(crate) struct CallSite {
    /// The callee's name token.
    pub(crate) at: usize,
    /// The arguments holding the key: one, or two for `Key::new(namespace, name)`.
    pub(crate) key: Vec<(usize, usize)>,
    pub(crate) recognised: Recognised,
    /// A constructor (`key!`, `Key::..`): inside another site's key argument, or a constant's
    /// value, it is not a site of its own.
    pub(crate) constructor: bool,
}

fn text<'a>(src: &'a str, t: &Token) -> &'a str {
    &src[t.start as usize..t.end as usize]
}

/// The arguments of the call whose `(` is at token `open`: `(start, end)` token ranges split at
/// top-level commas, or `None` when the parenthesis is never closed. Nested groups are jumped
/// over, so each token is looked at by the call that directly encloses it only.
fn arguments(lexed: &Lexed, open: usize) -> Option<Vec<(usize, usize)>> {
    let close = *lexed.partner.get(open)?;
    if close == UNCLOSED {
        return None;
    }
    let close = close as usize;
    let mut args = Vec::new();
    let mut start = open + 1;
    let mut i = open + 1;
    while i < close {
        match lexed.tokens[i].tok {
            Tok::Open(_) => match lexed.partner[i] {
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

/// Methods that hand on their receiver unchanged, for finding the receiver's name:
/// `self.exec.clone().call(..)`.
const PASS_THROUGH: [&str; 10] = [
    "clone", "as_ref", "borrow", "deref", "unwrap", "expect", "load", "get", "as_deref", "read",
];

struct Matcher<'a> {
    src: &'a str,
    lexed: &'a Lexed,
    items: &'a Items,
    patterns: &'a [String],
    ignore: &'a [String],
}

impl Matcher<'_> {
    fn text(&self, i: usize) -> &str {
        self.lexed.tokens.get(i).map_or("", |t| text(self.src, t))
    }

    fn is(&self, i: usize, c: u8) -> bool {
        self.lexed
            .tokens
            .get(i)
            .is_some_and(|t| t.tok == Tok::Punct(c))
    }

    fn ident(&self, i: usize) -> bool {
        self.lexed
            .tokens
            .get(i)
            .is_some_and(|t| t.tok == Tok::Ident)
    }

    /// The segments of the path ending at the name token `i` (`a::b::call` gives `[a, b]`).
    fn path_before(&self, i: usize) -> Vec<&str> {
        let mut segs = Vec::new();
        let mut k = i;
        while k >= 3 && self.is(k - 1, b':') && self.is(k - 2, b':') && self.ident(k - 3) {
            segs.push(self.text(k - 3));
            k -= 3;
        }
        segs.reverse();
        segs
    }

    /// The name a method call's receiver goes by: the `.` is at `dot`.
    fn receiver(&self, dot: usize) -> Option<String> {
        let mut k = dot.checked_sub(1)?;
        loop {
            match self.lexed.tokens[k].tok {
                Tok::Ident => return Some(self.text(k).to_owned()),
                Tok::Punct(b'?') => k = k.checked_sub(1)?,
                Tok::Close(c) => {
                    let open = match self.lexed.partner[k] {
                        UNCLOSED => return None,
                        o => o as usize,
                    };
                    let name = open.checked_sub(1)?;
                    if !self.ident(name) {
                        return None;
                    }
                    let word = self.text(name);
                    if c == b'('
                        && PASS_THROUGH.contains(&word)
                        && name > 0
                        && self.is(name - 1, b'.')
                    {
                        k = name.checked_sub(2)?;
                        continue;
                    }
                    return Some(word.to_owned());
                }
                _ => return None,
            }
        }
    }

    /// Whether argument `(s, e)` is an operation: a closure, an async block, a function path.
    fn operation(&self, (s, e): (usize, usize)) -> bool {
        match self.text(s) {
            "|" | "async" => true,
            "move" => self.is(s + 1, b'|'),
            _ => {
                e - s >= 3
                    && (s..e).all(|k| self.ident(k) || self.is(k, b':'))
                    && (s..e).any(|k| self.is(k, b':'))
            }
        }
    }

    /// Whether the group opened at `open` is a tuple (`()`, `(a, b)`, `(a,)`), not a
    /// parenthesised expression (`(("a.B"))`).
    fn tuple(&self, open: usize) -> bool {
        match arguments(self.lexed, open) {
            Some(args) => {
                let close = self.lexed.partner[open] as usize;
                args.len() != 1 || self.is(close - 1, b',')
            }
            None => false,
        }
    }

    /// A first argument that is never a key: `&mut x`, a number, a tuple.
    fn never_a_key(&self, (s, _): (usize, usize)) -> bool {
        let tokens = &self.lexed.tokens;
        (self.is(s, b'&') && self.text(s + 1) == "mut")
            || tokens[s].tok == Tok::Num
            || (tokens[s].tok == Tok::Open(b'(') && self.tuple(s))
    }

    /// Whether the configuration says this call is never recourse's: an entry names its
    /// receiver or its path's root (`rpc`), or ends its full path (`jsonrpc::call`).
    fn ignored(&self, name: &str, path: &[&str], receiver: Option<&str>) -> bool {
        self.ignore.iter().any(|entry| {
            let segs: Vec<&str> = entry.split("::").collect();
            match segs.as_slice() {
                [one] => receiver == Some(*one) || path.first() == Some(one),
                _ => {
                    let full: Vec<&str> = path.iter().copied().chain([name]).collect();
                    full.ends_with(&segs)
                }
            }
        })
    }

    /// Whether a configured pattern (`fetch_keyed`, `my_client::get`) names this call: its
    /// last segment is the callee, and its other segments end the call's path (or name its
    /// receiver).
    fn configured(&self, name: &str, path: &[&str], receiver: Option<&str>) -> bool {
        self.patterns.iter().any(|p| {
            let segs: Vec<&str> = p.split("::").collect();
            let (last, init) = segs.split_last().expect("split gives one segment at least");
            *last == name
                && (init.is_empty()
                    || path.ends_with(init)
                    || (init.len() == 1 && receiver == Some(init[0])))
        })
    }
}

/// The recourse constructors that take an executor and then a key.
const KEYED_CONSTRUCTORS: [&str; 2] = ["RecourseLayer", "RecourseMiddleware"];

/// Every call site in a lexed file.
pub(crate) fn find(src: &str, lexed: &Lexed, items: &Items, config: &Config) -> Vec<CallSite> {
    let patterns = config.call_patterns.as_slice();
    let m = Matcher {
        src,
        lexed,
        items,
        patterns,
        ignore: &config.ignore,
    };
    let tokens = &lexed.tokens;
    let mut sites = Vec::new();
    for i in 0..tokens.len() {
        if tokens[i].tok != Tok::Ident {
            continue;
        }
        let name = m.text(i);
        if !matches!(
            name,
            "call" | "call_traced" | "call_with" | "key" | "parse" | "from_static" | "new"
        ) && patterns.is_empty()
        {
            continue;
        }
        if i > 0 && m.text(i - 1) == "fn" {
            continue;
        }
        let after_dot = i > 0 && m.is(i - 1, b'.');
        let path = m.path_before(i);
        // `key!(..)`.
        if name == "key" && m.is(i + 1, b'!') {
            let open = i + 2;
            let ours = path.first().map_or_else(
                || m.items.imported_from_recourse("key"),
                |root| m.items.recourse_root(root) || *root == "crate",
            );
            if ours
                && matches!(tokens.get(open).map(|t| t.tok), Some(Tok::Open(_)))
                && let Some(args) = arguments(lexed, open).filter(|a| a.len() == 1)
            {
                sites.push(CallSite {
                    at: i,
                    key: args,
                    recognised: Recognised::Certain,
                    constructor: true,
                });
            }
            continue;
        }
        // An optional turbofish: `.call::<T, E, _, _>(..)`.
        let mut open = i + 1;
        if m.is(open, b':') && m.is(open + 1, b':') && m.is(open + 2, b'<') {
            let mut depth = 0;
            let mut k = open + 2;
            while k < tokens.len() && k < open + 256 {
                if m.is(k, b'<') {
                    depth += 1;
                } else if m.is(k, b'>') && !m.is(k - 1, b'-') {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                k += 1;
            }
            open = k + 1;
        }
        if tokens.get(open).map(|t| t.tok) != Some(Tok::Open(b'(')) {
            continue;
        }
        let Some(args) = arguments(lexed, open) else {
            continue;
        };
        let receiver = if after_dot { m.receiver(i - 1) } else { None };
        if m.ignored(name, &path, receiver.as_deref()) {
            continue;
        }
        if m.configured(name, &path, receiver.as_deref()) {
            if let Some(&first) = args.first() {
                sites.push(CallSite {
                    at: i,
                    key: vec![first],
                    recognised: Recognised::Certain,
                    constructor: false,
                });
            }
            continue;
        }
        // `RecourseLayer::new(exec, key)`, `RecourseMiddleware::new(exec, key)`.
        if name == "new"
            && path.last().is_some_and(|t| KEYED_CONSTRUCTORS.contains(t))
            && args.len() == 2
        {
            sites.push(CallSite {
                at: i,
                key: vec![args[1]],
                recognised: Recognised::Certain,
                constructor: false,
            });
            continue;
        }
        // `Key::parse(k)`, `Key::from_static(k)`, `Key::new(ns, name)`.
        if path.last() == Some(&"Key") {
            let ours = match path.as_slice() {
                [_] => m.items.imported_from_recourse("Key"),
                [root, ..] => m.items.recourse_root(root),
                [] => false,
            };
            let wanted = match name {
                "parse" | "from_static" => 1,
                "new" => 2,
                _ => 0,
            };
            if ours && wanted > 0 && args.len() == wanted {
                sites.push(CallSite {
                    at: i,
                    key: args,
                    recognised: Recognised::Certain,
                    constructor: true,
                });
            }
            continue;
        }
        let (wanted, op) = match name {
            "call" | "call_traced" => (2, 1),
            "call_with" if after_dot => (3, 2),
            "key" if after_dot => (1, usize::MAX),
            _ => continue,
        };
        if args.len() != wanted || m.never_a_key(args[0]) {
            continue;
        }
        let recognised = if after_dot {
            match receiver {
                // `recourse_engine::global().call(..)`, `global().call(..)` imported.
                Some(r)
                    if r == "global" && {
                        let dot = i - 1;
                        let open = m.lexed.partner[dot - 1] as usize;
                        let p = m.path_before(open.saturating_sub(1));
                        p.first().map_or_else(
                            || m.items.imported_from_recourse("global"),
                            |root| m.items.recourse_root(root),
                        )
                    } =>
                {
                    Some(Recognised::Certain)
                }
                _ if args.get(op).is_some_and(|&a| m.operation(a)) => Some(Recognised::Certain),
                Some(r) if m.items.receivers.contains(&r) => Some(Recognised::Certain),
                Some(r) => Some(Recognised::Receiver(r)),
                None => None,
            }
        } else if name == "key" {
            None
        } else {
            // The free facade: by path, by import, or by its operation.
            let by_path = match path.first() {
                Some(root) => m.items.recourse_root(root),
                None => m.items.imported_from_recourse(name),
            };
            (by_path || args.get(op).is_some_and(|&a| m.operation(a)))
                .then_some(Recognised::Certain)
        };
        if let Some(recognised) = recognised {
            sites.push(CallSite {
                at: i,
                key: vec![args[0]],
                recognised,
                constructor: false,
            });
        }
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::super::items;
    use super::super::lexer::lex;
    use super::*;

    /// `(key text, certain?)` of each site.
    fn sites(src: &str) -> Vec<(String, bool)> {
        let l = lex(src);
        let items = items::collect(src, &l, &[]);
        find(src, &l, &items, &Config::default())
            .iter()
            .map(|c| {
                let (s, _) = c.key[0];
                let (_, e) = *c.key.last().unwrap();
                (
                    src[l.tokens[s].start as usize..l.tokens[e - 1].end as usize].to_owned(),
                    c.recognised == Recognised::Certain,
                )
            })
            .collect()
    }

    #[test]
    fn empty_arguments_are_no_arguments() {
        // Found by the call-site soup property: `f(, x)` once produced an inverted span.
        let src = "use recourse_engine::*; fn f(exec: &Executor) { exec.call(,\"a.B\", op); Key::new(,); key!(,); }";
        assert_eq!(sites(src), [("\"a.B\"".to_owned(), true)]);
    }

    #[test]
    fn finds_the_engine_api() {
        let src = r#"
            use recourse_engine::{Executor, Key, key};
            use recourse_engine as rec;
            fn f(exec: &Executor) {
                exec.call("a.B", op);
                rec::call_traced("c.D", |_| async {});
                exec.call_with("e.F", &opts, op);
                let h = exec.key("g.H");
                let k = Key::parse("i.J");
                let k = key!("k.L");
                other.call::<T, E, _, _>("m.N", |_| async {});
                unknown.call("o.P", op);
                recourse_engine::global().call("q.R", op);
            }
        "#;
        let found = sites(src);
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "\"a.B\"", "\"c.D\"", "\"e.F\"", "\"g.H\"", "\"i.J\"", "\"k.L\"", "\"m.N\"",
                "\"o.P\"", "\"q.R\""
            ]
        );
        // `unknown` is left to the crate: does anything type it as an executor?
        assert!(
            found
                .iter()
                .filter(|(k, _)| k != "\"o.P\"")
                .all(|(_, c)| *c)
        );
        assert_eq!(found[7], ("\"o.P\"".to_owned(), false));
    }

    #[test]
    fn a_parenthesised_key_is_not_a_tuple() {
        let src = "fn f(exec: &Executor) { exec.call((\"a.B\"), |_| async {}); exec.call((a, b), |_| async {}); exec.call((x,), |_| async {}); }";
        assert_eq!(sites(src), [("(\"a.B\")".to_owned(), true)]);
    }

    #[test]
    fn skips_look_alikes() {
        let src = r#"
            fn look_alikes(svc: &mut Svc, func: Func, s3: S3Client) {
                svc.call(req);
                Service::call(&mut svc, req);
                func.call(&mut store, (1, 2));
                lua.call((1, 2), |_| async {});
                typed.call(&mut store, 3)?;
                map.key();
                s3.put_object().key(object_key);
                client.call("ledger.post_entry", params);
                call(a, b);
                let k = Key::new(algorithm, secret);
                fn call(a: u8, b: u8) {}
            }
        "#;
        let found = sites(src);
        assert_eq!(
            found,
            [
                ("object_key".to_owned(), false),
                ("\"ledger.post_entry\"".to_owned(), false)
            ],
            "left to the crate, which types neither `put_object` nor `client` as an executor"
        );
    }
}
