//! String constants and statics defined in the scanned sources (`const CHARGE: &str = "..";`),
//! so a key passed as a constant is checked like a literal.

use std::collections::HashMap;

use super::lexer::{Tok, Token};

/// `const NAME: &str = "value";` and `static NAME: &str = "value";` (any type annotation,
/// a plain or raw string literal).
pub(crate) fn collect(src: &str, tokens: &[Token], into: &mut HashMap<String, String>) {
    let text = |t: &Token| &src[t.start as usize..t.end as usize];
    for i in 0..tokens.len() {
        if tokens[i].tok != Tok::Ident || !matches!(text(&tokens[i]), "const" | "static") {
            continue;
        }
        let Some(name) = tokens.get(i + 1).filter(|t| t.tok == Tok::Ident) else {
            continue;
        };
        // Find `=` then a string literal then `;`, within a short window.
        let window = &tokens[i + 2..tokens.len().min(i + 12)];
        let Some(eq) = window.iter().position(|t| t.tok == Tok::Punct(b'=')) else {
            continue;
        };
        if let (Some(lit), Some(semi)) = (window.get(eq + 1), window.get(eq + 2))
            && lit.tok == Tok::Str
            && semi.tok == Tok::Punct(b';')
            && let Ok(s) = syn::parse_str::<syn::LitStr>(text(lit))
        {
            into.insert(text(name).to_owned(), s.value());
        }
    }
}
