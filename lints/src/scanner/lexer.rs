//! Tokens of a Rust file, from rustc's own lexer (it never fails; it sees inside macro bodies).

use ra_ap_rustc_lexer::{FrontmatterAllowed, LiteralKind, TokenKind, tokenize};

/// A token the matcher cares about, with its byte span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident,
    /// A string literal (plain or raw; byte and C strings are `Other`).
    Str,
    /// A number literal.
    Num,
    Open(u8),
    Close(u8),
    Punct(u8),
    Other,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// A lexed file: its significant tokens, its line comments (for suppressions), and the first
/// place it stops being sound Rust, if any.
#[derive(Debug, Default)]
pub(crate) struct Lexed {
    pub(crate) tokens: Vec<Token>,
    /// For each token that opens a group, the index of the token that closes it; for each
    /// token that closes one, the index of its opener (matched by nesting, whatever the
    /// delimiter); else [`UNCLOSED`].
    pub(crate) partner: Vec<u32>,
    /// For each token, how many groups enclose it.
    pub(crate) depth: Vec<u32>,
    pub(crate) comments: Vec<(u32, u32)>,
    pub(crate) broken: Option<(u32, &'static str)>,
}

/// No closing token.
pub(crate) const UNCLOSED: u32 = u32::MAX;

pub(crate) fn lex(src: &str) -> Lexed {
    let mut out = Lexed::default();
    let body_start = ra_ap_rustc_lexer::strip_shebang(src).unwrap_or(0);
    let mut pos = body_start as u32;
    let mut depth: Vec<u8> = Vec::new();
    // Open tokens not yet closed, by index, matched by nesting alone.
    let mut open: Vec<usize> = Vec::new();
    for t in tokenize(&src[body_start..], FrontmatterAllowed::Yes) {
        let (start, end) = (pos, pos + t.len);
        pos = end;
        let mut broken = |what| {
            out.broken.get_or_insert((start, what));
        };
        let tok = match t.kind {
            TokenKind::Whitespace | TokenKind::Frontmatter { .. } => continue,
            TokenKind::LineComment { .. } => {
                out.comments.push((start, end));
                continue;
            }
            TokenKind::BlockComment { terminated, .. } => {
                if !terminated {
                    broken("unterminated block comment");
                }
                continue;
            }
            TokenKind::Ident | TokenKind::RawIdent => Tok::Ident,
            TokenKind::Literal { kind, .. } => match kind {
                LiteralKind::Str { terminated } => {
                    if !terminated {
                        broken("unterminated string literal");
                    }
                    Tok::Str
                }
                LiteralKind::RawStr { n_hashes } => {
                    if n_hashes.is_none() {
                        broken("malformed raw string literal");
                    }
                    Tok::Str
                }
                LiteralKind::Char { terminated: false }
                | LiteralKind::Byte { terminated: false }
                | LiteralKind::ByteStr { terminated: false }
                | LiteralKind::CStr { terminated: false } => {
                    broken("unterminated literal");
                    Tok::Other
                }
                LiteralKind::Int { .. } | LiteralKind::Float { .. } => Tok::Num,
                _ => Tok::Other,
            },
            TokenKind::OpenParen => Tok::Open(b'('),
            TokenKind::OpenBracket => Tok::Open(b'['),
            TokenKind::OpenBrace => Tok::Open(b'{'),
            TokenKind::CloseParen => Tok::Close(b'('),
            TokenKind::CloseBracket => Tok::Close(b'['),
            TokenKind::CloseBrace => Tok::Close(b'{'),
            TokenKind::Dot => Tok::Punct(b'.'),
            TokenKind::Comma => Tok::Punct(b','),
            TokenKind::Colon => Tok::Punct(b':'),
            TokenKind::Bang => Tok::Punct(b'!'),
            TokenKind::Eq => Tok::Punct(b'='),
            TokenKind::Semi => Tok::Punct(b';'),
            TokenKind::And => Tok::Punct(b'&'),
            TokenKind::Plus => Tok::Punct(b'+'),
            TokenKind::Or => Tok::Punct(b'|'),
            TokenKind::Pound => Tok::Punct(b'#'),
            TokenKind::Lt => Tok::Punct(b'<'),
            TokenKind::Gt => Tok::Punct(b'>'),
            TokenKind::Minus => Tok::Punct(b'-'),
            TokenKind::Question => Tok::Punct(b'?'),
            TokenKind::Dollar => Tok::Punct(b'$'),
            TokenKind::Unknown | TokenKind::InvalidIdent => {
                broken("a character Rust does not allow here");
                Tok::Other
            }
            _ => Tok::Other,
        };
        match tok {
            Tok::Open(c) => depth.push(c),
            Tok::Close(c) if depth.pop() != Some(c) => broken("unbalanced delimiter"),
            _ => {}
        }
        let index = out.tokens.len();
        let mut partner = UNCLOSED;
        if matches!(tok, Tok::Close(_))
            && let Some(o) = open.pop()
        {
            out.partner[o] = index as u32;
            partner = o as u32;
        }
        out.depth.push(open.len() as u32);
        if matches!(tok, Tok::Open(_)) {
            open.push(index);
        }
        out.partner.push(partner);
        out.tokens.push(Token { tok, start, end });
    }
    if !depth.is_empty() {
        out.broken
            .get_or_insert((pos, "unclosed delimiter at end of file"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_comments_aside_and_reports_breakage() {
        let l = lex("fn a() { // note\n  x(\"s\") }");
        assert_eq!(l.comments.len(), 1);
        assert!(l.broken.is_none());
        assert!(l.tokens.iter().any(|t| t.tok == Tok::Str));
        let l = lex("fn a() { x(\"unterminated) }");
        assert!(l.broken.is_some());
        let l = lex("fn a() { x( }");
        assert!(l.broken.is_some());
    }
}
