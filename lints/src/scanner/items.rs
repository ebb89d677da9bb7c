//! What a file declares that its call sites depend on, from one walk over its tokens: inline
//! modules, `impl` blocks and functions (as token ranges), `#[cfg(test)]` and `#[test]` code,
//! `use` imports, string constants, `let` bindings, and the names it gives recourse's executor
//! and key handles.

use std::collections::HashMap;

use super::lexer::{Lexed, Tok, Token, UNCLOSED};

/// Types whose values make a receiver recourse's: `exec: &Executor`, `Arc<KeyHandle>`.
pub(crate) const RECEIVER_TYPES: [&str; 2] = ["Executor", "KeyHandle"];

/// Whether a path's first segment names recourse (`recourse`, `recourse_engine`, ...).
pub(crate) fn is_recourse_root(segment: &str) -> bool {
    segment.starts_with("recourse")
}

/// A token range `[open, close]` and what encloses it.
#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) open: usize,
    pub(crate) close: usize,
    pub(crate) kind: ScopeKind,
}

#[derive(Debug)]
pub(crate) enum ScopeKind {
    /// `mod name { .. }`.
    Module(String),
    /// `impl [Trait for] Type { .. }`: the type's last path segment.
    Impl(String),
    /// A function body, with its parameters' names.
    Fn(Vec<String>),
    /// An item under `#[cfg(test)]` or `#[test]`.
    Test,
}

/// A string constant or static: `const NAME: &str = "..";` (its value is classified later).
#[derive(Debug)]
pub(crate) struct ConstDef {
    pub(crate) name: String,
    /// The value's token range.
    pub(crate) value: (usize, usize),
    /// The token index of the definition (its modules and `impl` come from the scopes).
    pub(crate) at: usize,
}

/// A `let name = value;` binding, for keys kept in a local before the call.
#[derive(Debug)]
pub(crate) struct LetDef {
    pub(crate) at: usize,
    pub(crate) value: (usize, usize),
}

/// Everything one walk found.
#[derive(Debug, Default)]
pub(crate) struct Items {
    pub(crate) scopes: Vec<Scope>,
    pub(crate) consts: Vec<ConstDef>,
    /// `use` imports: alias to full path, in file order.
    pub(crate) uses: Vec<(String, Vec<String>)>,
    /// `let` bindings by name, in file order.
    pub(crate) lets: HashMap<String, Vec<LetDef>>,
    /// Names typed or built as recourse's executor or handle (bindings, fields, functions).
    pub(crate) receivers: Vec<String>,
    /// `let h = exec.key(..)`: `h` is recourse's when `exec` is.
    pub(crate) derived: Vec<(String, String)>,
    /// The whole file is test code (`#![cfg(test)]`).
    pub(crate) all_test: bool,
}

impl Items {
    /// Whether `path` (its first segment) names recourse here: the crate itself or an alias.
    pub(crate) fn recourse_root(&self, segment: &str) -> bool {
        is_recourse_root(segment)
            || self.uses.iter().any(|(alias, path)| {
                alias == segment && path.len() == 1 && is_recourse_root(&path[0])
            })
    }

    /// Whether `name` was imported from recourse (by name or by a glob).
    pub(crate) fn imported_from_recourse(&self, name: &str) -> bool {
        self.uses.iter().any(|(alias, path)| {
            path.first().is_some_and(|r| is_recourse_root(r)) && (alias == name || alias == "*")
        })
    }

    /// The scopes enclosing token `i`, outermost first.
    pub(crate) fn enclosing(&self, i: usize) -> impl Iterator<Item = &Scope> {
        self.scopes
            .iter()
            .filter(move |s| s.open < i && i < s.close)
    }

    /// The inline modules enclosing token `i`, outermost first.
    pub(crate) fn modules_at(&self, i: usize) -> Vec<String> {
        self.enclosing(i)
            .filter_map(|s| match &s.kind {
                ScopeKind::Module(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// The `impl` type enclosing token `i`, innermost.
    pub(crate) fn owner_at(&self, i: usize) -> Option<&str> {
        self.enclosing(i)
            .filter_map(|s| match &s.kind {
                ScopeKind::Impl(t) => Some(t.as_str()),
                _ => None,
            })
            .last()
    }

    /// The innermost function body enclosing token `i`: its opening token and parameters.
    pub(crate) fn function_at(&self, i: usize) -> Option<(usize, &[String])> {
        self.enclosing(i)
            .filter_map(|s| match &s.kind {
                ScopeKind::Fn(params) => Some((s.open, params.as_slice())),
                _ => None,
            })
            .last()
    }

    /// Whether token `i` is test code.
    pub(crate) fn in_test(&self, i: usize) -> bool {
        self.all_test || self.enclosing(i).any(|s| matches!(s.kind, ScopeKind::Test))
    }
}

struct Walk<'a> {
    src: &'a str,
    lexed: &'a Lexed,
    types: &'a [String],
}

impl Walk<'_> {
    fn text(&self, i: usize) -> &str {
        self.lexed
            .tokens
            .get(i)
            .map_or("", |t: &Token| &self.src[t.start as usize..t.end as usize])
    }

    fn tok(&self, i: usize) -> Option<Tok> {
        self.lexed.tokens.get(i).map(|t| t.tok)
    }

    fn is(&self, i: usize, c: u8) -> bool {
        self.tok(i) == Some(Tok::Punct(c))
    }

    fn ident(&self, i: usize) -> bool {
        self.tok(i) == Some(Tok::Ident)
    }

    /// The end (exclusive) of the expression or type starting at `from`: the first `;`, `,`,
    /// `=` (when `stop_at_eq`) or `{` at its own depth, or the close of its group; at most
    /// `limit` tokens on.
    fn extent(&self, from: usize, limit: usize, stop_at_eq: bool) -> usize {
        let tokens = &self.lexed.tokens;
        let mut i = from;
        let end = tokens.len().min(from + limit);
        while i < end {
            match tokens[i].tok {
                Tok::Punct(b';' | b',') => return i,
                Tok::Punct(b'=') if stop_at_eq => return i,
                Tok::Open(b'{') if stop_at_eq => return i,
                Tok::Open(_) => match self.lexed.partner[i] {
                    UNCLOSED => return end,
                    c => i = c as usize,
                },
                Tok::Close(_) => return i,
                _ => {}
            }
            i += 1;
        }
        i
    }

    /// Whether tokens `[from, to)` mention a receiver type.
    fn mentions_type(&self, from: usize, to: usize) -> bool {
        (from..to).any(|i| {
            self.ident(i) && {
                let t = self.text(i);
                RECEIVER_TYPES.contains(&t) || self.types.iter().any(|x| x == t)
            }
        })
    }

    /// The first `{` (or `;`) at the depth of `from`, searching on from it.
    fn body_from(&self, from: usize) -> Option<usize> {
        let tokens = &self.lexed.tokens;
        let mut i = from;
        while i < tokens.len() {
            match tokens[i].tok {
                Tok::Open(b'{') => return Some(i),
                Tok::Punct(b';') | Tok::Close(_) => return None,
                Tok::Open(_) => match self.lexed.partner[i] {
                    UNCLOSED => return None,
                    c => i = c as usize,
                },
                _ => {}
            }
            i += 1;
        }
        None
    }

    fn scope(&self, open: usize, kind: ScopeKind) -> Option<Scope> {
        match self.lexed.partner.get(open) {
            Some(&c) if c != UNCLOSED => Some(Scope {
                open,
                close: c as usize,
                kind,
            }),
            _ => None,
        }
    }
}

/// Walks a lexed file once. `types` are configured receiver types, besides
/// [`RECEIVER_TYPES`] and the file's own aliases of them.
pub(crate) fn collect(src: &str, lexed: &Lexed, types: &[String]) -> Items {
    let mut items = Items::default();
    // Aliases first (`use recourse_engine::Executor as Exec;`), so receivers see them.
    let mut all_types: Vec<String> = types.to_vec();
    {
        let w = Walk {
            src,
            lexed,
            types: &[],
        };
        for i in 0..lexed.tokens.len() {
            if w.ident(i) && w.text(i) == "use" && (i == 0 || !w.is(i - 1, b':')) {
                uses(&w, i, &mut items.uses);
            }
        }
        for (alias, path) in &items.uses {
            if path.first().is_some_and(|r| is_recourse_root(r))
                && path
                    .last()
                    .is_some_and(|l| RECEIVER_TYPES.contains(&l.as_str()))
                && alias != "*"
            {
                all_types.push(alias.clone());
            }
        }
    }
    let w = Walk {
        src,
        lexed,
        types: &all_types,
    };
    let tokens = &lexed.tokens;
    for (i, token) in tokens.iter().enumerate() {
        match token.tok {
            Tok::Punct(b'#') => attribute(&w, i, &mut items),
            Tok::Ident => {}
            _ => continue,
        }
        if token.tok != Tok::Ident {
            continue;
        }
        let word = w.text(i);
        let after_path = i > 0 && (w.is(i - 1, b':') || w.is(i - 1, b'.'));
        match word {
            "mod" if w.ident(i + 1) && w.tok(i + 2) == Some(Tok::Open(b'{')) => {
                let name = w.text(i + 1).to_owned();
                items.scopes.extend(w.scope(i + 2, ScopeKind::Module(name)));
            }
            "impl" if !after_path => {
                if let Some((open, ty)) = impl_block(&w, i) {
                    items.scopes.extend(w.scope(open, ScopeKind::Impl(ty)));
                }
            }
            "fn" if w.ident(i + 1) => function(&w, i, &mut items),
            "const" | "static" if !after_path => {
                let mut n = i + 1;
                if w.text(n) == "mut" {
                    n += 1;
                }
                if w.ident(n) && w.is(n + 1, b':') && w.text(n) != "fn" {
                    let ty_end = w.extent(n + 2, 64, true);
                    if w.is(ty_end, b'=') {
                        let end = w.extent(ty_end + 1, 4096, false);
                        items.consts.push(ConstDef {
                            name: w.text(n).to_owned(),
                            value: (ty_end + 1, end),
                            at: n,
                        });
                    }
                }
            }
            "let" => {
                let mut n = i + 1;
                if w.text(n) == "mut" {
                    n += 1;
                }
                if !w.ident(n) {
                    continue;
                }
                let name = w.text(n).to_owned();
                let mut eq = n + 1;
                if w.is(eq, b':') {
                    let ty_end = w.extent(eq + 1, 64, true);
                    if w.mentions_type(eq + 1, ty_end) {
                        items.receivers.push(name.clone());
                    }
                    eq = ty_end;
                }
                if !w.is(eq, b'=') {
                    continue;
                }
                let end = w.extent(eq + 1, 4096, false);
                if w.mentions_type(eq + 1, end.min(eq + 65)) {
                    items.receivers.push(name.clone());
                }
                // `let h = exec.key(..)`.
                for k in eq + 1..end.min(eq + 65) {
                    if w.is(k, b'.')
                        && w.text(k + 1) == "key"
                        && w.tok(k + 2) == Some(Tok::Open(b'('))
                        && k > 0
                        && w.ident(k - 1)
                    {
                        items.derived.push((name.clone(), w.text(k - 1).to_owned()));
                    }
                }
                items.lets.entry(name).or_default().push(LetDef {
                    at: n,
                    value: (eq + 1, end),
                });
            }
            // A field or parameter typed as recourse's: `exec: &Executor`, `pub exec: Arc<..>`
            // (also a struct literal's `exec: Executor::new()`).
            _ if w.is(i + 1, b':') && !w.is(i + 2, b':') && !(i > 0 && w.is(i - 1, b':')) => {
                let end = w.extent(i + 2, 32, true);
                if w.mentions_type(i + 2, end) {
                    items.receivers.push(word.to_owned());
                }
            }
            _ => {}
        }
    }
    items
}

/// `#[cfg(test)]`, `#[test]`, `#[tokio::test]`, `#![cfg(test)]`: marks the item that follows
/// (or, for an inner attribute, the whole file) as test code.
fn attribute(w: &Walk<'_>, i: usize, items: &mut Items) {
    let inner = w.is(i + 1, b'!');
    let open = if inner { i + 2 } else { i + 1 };
    if w.tok(open) != Some(Tok::Open(b'[')) {
        return;
    }
    let close = match w.lexed.partner[open] {
        UNCLOSED => return,
        c => c as usize,
    };
    let words: Vec<&str> = (open + 1..close)
        .filter(|&k| w.ident(k))
        .map(|k| w.text(k))
        .collect();
    let test = match words.as_slice() {
        ["cfg", rest @ ..] => rest.contains(&"test") && !rest.contains(&"not"),
        [.., "test"] => !words.contains(&"cfg_attr") && !words.contains(&"should_panic"),
        _ => false,
    };
    if !test {
        return;
    }
    if inner {
        items.all_test = true;
        return;
    }
    // The item: up to its body (skipping further attributes and the signature).
    let mut k = close + 1;
    while w.is(k, b'#') && w.tok(k + 1) == Some(Tok::Open(b'[')) {
        match w.lexed.partner[k + 1] {
            UNCLOSED => return,
            c => k = c as usize + 1,
        }
    }
    if let Some(body) = w.body_from(k) {
        items
            .scopes
            .extend(w.scope(body, ScopeKind::Test).map(|mut s| {
                s.open = i;
                s
            }));
    }
}

/// `impl<..> [Trait<..> for] path::Type<..> [where ..] {`: the body's `{` and the type's name.
fn impl_block(w: &Walk<'_>, i: usize) -> Option<(usize, String)> {
    let body = w.body_from(i + 1)?;
    let mut k = i + 1;
    // Skip `<..>` generics right after `impl`.
    if w.is(k, b'<') {
        let mut depth = 0i32;
        while k < body {
            if w.is(k, b'<') {
                depth += 1;
            } else if w.is(k, b'>') && !w.is(k - 1, b'-') {
                depth -= 1;
                if depth == 0 {
                    k += 1;
                    break;
                }
            }
            k += 1;
        }
    }
    if let Some(f) = (k..body).find(|&j| w.ident(j) && w.text(j) == "for") {
        k = f + 1;
    }
    let mut ty = None;
    while k < body {
        if w.is(k, b'<') || (w.ident(k) && w.text(k) == "where") {
            break;
        }
        if w.ident(k) && !matches!(w.text(k), "dyn" | "mut" | "crate" | "self" | "super") {
            ty = Some(w.text(k).to_owned());
        }
        k += 1;
    }
    Some((body, ty?))
}

/// `fn name<..>(params) -> ret {`: the body as a scope with its parameters; a function that
/// returns recourse's executor or handle names a receiver (`self.exec().call(..)`).
fn function(w: &Walk<'_>, i: usize, items: &mut Items) {
    let name = w.text(i + 1).to_owned();
    let Some(paren) =
        (i + 2..w.lexed.tokens.len().min(i + 64)).find(|&k| w.tok(k) == Some(Tok::Open(b'(')))
    else {
        return;
    };
    let close = match w.lexed.partner[paren] {
        UNCLOSED => return,
        c => c as usize,
    };
    let depth = w.lexed.depth[paren] + 1;
    let params = (paren + 1..close)
        .filter(|&k| {
            w.lexed.depth[k] == depth
                && w.ident(k)
                && w.is(k + 1, b':')
                && !w.is(k + 2, b':')
                && (k == paren + 1 || w.is(k - 1, b',') || w.text(k - 1) == "mut")
        })
        .map(|k| w.text(k).to_owned())
        .collect();
    let Some(body) = w.body_from(close + 1) else {
        return;
    };
    if w.is(close + 1, b'-') && w.is(close + 2, b'>') && w.mentions_type(close + 3, body) {
        items.receivers.push(name);
    }
    items.scopes.extend(w.scope(body, ScopeKind::Fn(params)));
}

/// A `use` item: every name it brings in, with its full path (`*` for a glob).
fn uses(w: &Walk<'_>, i: usize, into: &mut Vec<(String, Vec<String>)>) {
    let Some(semi) = (i..w.lexed.tokens.len().min(i + 512)).find(|&k| w.is(k, b';')) else {
        return;
    };
    let (start, end) = (
        w.lexed.tokens[i].start as usize,
        w.lexed.tokens[semi].end as usize,
    );
    let Ok(item) = syn::parse_str::<syn::ItemUse>(&w.src[start..end]) else {
        return;
    };
    fn walk(tree: &syn::UseTree, prefix: &mut Vec<String>, into: &mut Vec<(String, Vec<String>)>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                walk(&p.tree, prefix, into);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                let mut path = prefix.clone();
                if name != "self" {
                    path.push(name.clone());
                }
                let alias = if name == "self" {
                    prefix.last().cloned().unwrap_or_default()
                } else {
                    name
                };
                into.push((alias, path));
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.clone();
                if r.ident != "self" {
                    path.push(r.ident.to_string());
                }
                into.push((r.rename.to_string(), path));
            }
            syn::UseTree::Glob(_) => into.push(("*".to_owned(), prefix.clone())),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    walk(t, prefix, into);
                }
            }
        }
    }
    let mut prefix = Vec::new();
    walk(&item.tree, &mut prefix, into);
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn items(src: &str) -> Items {
        collect(src, &lex(src), &[])
    }

    #[test]
    fn finds_receivers_by_type_binding_and_return_type() {
        let src = r#"
            use recourse_engine::{Executor as Exec, KeyHandle};
            struct S { pub exec: Arc<Executor>, other: Client }
            fn f(a: &Exec, b: &KeyHandle, c: &mut Store) {}
            fn g(&self) -> &Executor { &self.exec }
            static GLOBAL: OnceLock<Executor> = OnceLock::new();
            let built = Executor::builder().build();
            let h = built.key("a.B");
            let n: u32 = 3;
        "#;
        let i = items(src);
        assert_eq!(i.receivers, ["exec", "a", "b", "g", "GLOBAL", "built"]);
        assert_eq!(i.derived, [("h".to_owned(), "built".to_owned())]);
    }

    #[test]
    fn scopes_modules_impls_functions_and_tests() {
        let src = r#"
            mod keys { pub mod inventory { pub const GET: &str = "inventory.Get"; } }
            impl<T> Keyed for Payments<T> where T: Clone { const KEY: &str = "payments.Charge"; }
            fn run(exec: &Executor, key: &str) { exec.call(key, op); }
            #[cfg(test)]
            mod tests { fn t() {} }
        "#;
        let l = lex(src);
        let i = collect(src, &l, &[]);
        let at = |name: &str| {
            let c = i.consts.iter().find(|c| c.name == name).unwrap();
            (i.modules_at(c.at), i.owner_at(c.at).map(str::to_owned))
        };
        assert_eq!(
            at("GET"),
            (vec!["keys".to_owned(), "inventory".to_owned()], None)
        );
        assert_eq!(at("KEY"), (vec![], Some("Payments".to_owned())));
        let call = l
            .tokens
            .iter()
            .position(|t| &src[t.start as usize..t.end as usize] == "call")
            .unwrap();
        let (_, params) = i.function_at(call).unwrap();
        assert_eq!(params, ["exec", "key"]);
        assert!(!i.in_test(call));
        let t = l
            .tokens
            .iter()
            .position(|t| &src[t.start as usize..t.end as usize] == "t")
            .unwrap();
        assert!(i.in_test(t));
    }

    #[test]
    fn reads_use_items_with_groups_renames_and_globs() {
        let i =
            items("use recourse_engine as rec; use crate::keys::{self, inventory::GET as INV, *};");
        assert_eq!(
            i.uses,
            [
                ("rec".to_owned(), vec!["recourse_engine".to_owned()]),
                (
                    "keys".to_owned(),
                    vec!["crate".to_owned(), "keys".to_owned()]
                ),
                (
                    "INV".to_owned(),
                    vec![
                        "crate".to_owned(),
                        "keys".to_owned(),
                        "inventory".to_owned(),
                        "GET".to_owned()
                    ]
                ),
                ("*".to_owned(), vec!["crate".to_owned(), "keys".to_owned()]),
            ]
        );
        assert!(i.recourse_root("rec"));
    }
}
