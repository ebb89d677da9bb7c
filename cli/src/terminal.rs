//! What may reach an operator's terminal: text from files and services is shown, never obeyed.
//! Control characters (C0, DEL, C1) and the bidirectional controls that reorder what a terminal
//! shows are replaced before anything prints them.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is.
pub(crate) fn hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What a hostile character is shown as: a tab or a line break as a space, anything else as
/// U+FFFD (`�`).
pub(crate) fn replacement(c: char) -> char {
    if matches!(c, '\t' | '\n' | '\r') {
        ' '
    } else {
        '\u{FFFD}'
    }
}

/// `text` with every hostile character replaced (borrowed when there is none).
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hostile) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if hostile(c) { replacement(c) } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_loses_its_controls() {
        assert_eq!(clean("ok"), Cow::Borrowed("ok"));
        assert_eq!(clean("a\u{1b}]52;c;x\u{7}b"), "a\u{FFFD}]52;c;x\u{FFFD}b");
        assert_eq!(clean("x\ty\u{7f}\u{202e}"), "x y\u{FFFD}\u{FFFD}");
    }
}
