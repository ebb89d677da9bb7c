//! The `/` filter: a case-insensitive substring over keys, targets and reasons; `!` inverts it.

/// A parsed filter.
pub(crate) struct Matcher {
    negate: bool,
    needle: String,
}

impl Matcher {
    /// Parses what was typed after `/`.
    pub(crate) fn new(typed: &str) -> Matcher {
        let (negate, needle) = match typed.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, typed),
        };
        Matcher {
            negate,
            needle: needle.to_lowercase(),
        }
    }

    /// Whether something with these fields is shown.
    pub(crate) fn passes(&self, fields: &[&str]) -> bool {
        if self.needle.is_empty() {
            return true;
        }
        let hit = fields.iter().any(|s| contains_folded(s, &self.needle));
        hit != self.negate
    }
}

/// Whether `haystack` contains `needle` (already lower-case), ignoring case; without an
/// allocation for ASCII text, which keys, targets and reason codes are.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}
