//! The source a diagnostic shows: a few lines around it, each cut to a window of columns around
//! the spot, with control characters made visible. Built from a line index made once per file,
//! so a diagnostic costs time in proportion to what it shows, however long the file or its
//! lines (a finding at column 100,000 shows a window, not 100,000 columns).

use std::cell::RefCell;
use std::collections::HashMap;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// Characters of a line shown around the spot.
const WIDTH: usize = 100;
/// Of which before it.
const BEFORE: usize = 30;
/// What stands where a line was cut.
const CUT: &str = "…";

/// A file's text with its line index.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    name: &'a str,
    text: &'a str,
    starts: Vec<usize>,
    /// Whether each line is ASCII (a character is then a byte).
    ascii: Vec<bool>,
    /// Per line that is not ASCII, the byte offset of every character (made when first
    /// needed): so a window of a long line costs the window, not the columns before it.
    chars: RefCell<HashMap<usize, Vec<usize>>>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(name: &'a str, text: &'a str) -> Source<'a> {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let ascii = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let end = starts.get(i + 1).copied().unwrap_or(text.len());
                text.as_bytes()[s..end].is_ascii()
            })
            .collect();
        Source {
            name,
            text,
            starts,
            ascii,
            chars: RefCell::default(),
        }
    }

    /// The text of 1-based `line`, without its line break (empty past the end).
    fn line(&self, line: usize) -> &'a str {
        let Some(&start) = self.starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self.starts.get(line).map_or(self.text.len(), |&e| e - 1);
        self.text
            .get(start..end.max(start))
            .unwrap_or("")
            .trim_end_matches('\r')
    }

    /// The part of 1-based `line` from character `from`, at most [`WIDTH`] characters; and
    /// whether characters were left out before it and after it.
    fn slice(&self, line: usize, from: usize) -> (&'a str, bool, bool) {
        let text = self.line(line);
        let ascii = self
            .ascii
            .get(line.wrapping_sub(1))
            .copied()
            .unwrap_or(true);
        let (length, start, end) = if ascii {
            let at = |n: usize| n.min(text.len());
            (text.len(), at(from), at(from + WIDTH))
        } else {
            let mut chars = self.chars.borrow_mut();
            let offsets = chars
                .entry(line)
                .or_insert_with(|| text.char_indices().map(|(i, _)| i).collect());
            let at = |n: usize| offsets.get(n).copied().unwrap_or(text.len());
            (offsets.len(), at(from), at(from + WIDTH))
        };
        (
            &text[start..end],
            from > 0 && length > from,
            length > from + WIDTH,
        )
    }

    /// What to show for a span from `start` to `end`, 1-based `(line, column)`s in characters:
    /// its first line and one on each side.
    pub(crate) fn excerpt(&self, start: (usize, usize), end: (usize, usize)) -> Excerpt {
        let (line, column) = (start.0.max(1), start.1.max(1) - 1);
        // The span ends on its first line, at most.
        let end_column = if end.0 == line {
            end.1.max(1) - 1
        } else {
            usize::MAX
        };
        // Cut a line only when that leaves out more than the `…` put in its place.
        let from = if column > BEFORE + CUT.len() {
            column - BEFORE
        } else {
            0
        };
        let first = line.saturating_sub(1).max(1);
        let last = (line + 1).min(self.starts.len());
        let mut text = String::new();
        let mut span = (0, 0);
        for n in first..=last {
            let (part, before, after) = self.slice(n, from);
            let (shown, offset) = window(part, before, after);
            if n == line {
                let at = char_offset(&shown, column - from + offset);
                let stop = char_offset(
                    &shown,
                    end_column.saturating_sub(from).saturating_add(offset),
                );
                span = (text.len() + at, stop.saturating_sub(at).max(1));
            }
            text.push_str(&shown);
            text.push('\n');
        }
        Excerpt {
            name: crate::terminal::clean(self.name).into_owned(),
            first_line: first - 1,
            // miette counts columns in bytes, the `…` in front of a cut line included.
            first_column: if from > 0 { from - CUT.len() } else { 0 },
            span: span.into(),
            text,
        }
    }
}

/// `part` of a line with `…` where the line was cut (`before` it, `after` it) and control
/// characters replaced; and how many characters were put in front.
fn window(part: &str, before: bool, after: bool) -> (String, usize) {
    let mut out = String::with_capacity(part.len() + 8);
    if before {
        out.push_str(CUT);
    }
    out.push_str(&crate::terminal::clean(part));
    if after {
        out.push_str(CUT);
    }
    (out, usize::from(before))
}

/// The byte offset of character `n` of `s` (its length past the end).
fn char_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// A diagnostic's source: the lines shown, and the span in them.
#[derive(Debug)]
pub(crate) struct Excerpt {
    name: String,
    text: String,
    /// The 0-based number of its first line in the file.
    first_line: usize,
    /// The 0-based column in the file of its lines' first characters.
    first_column: usize,
    span: SourceSpan,
}

impl Excerpt {
    /// Where the diagnostic points, in the excerpt.
    pub(crate) fn span(&self) -> SourceSpan {
        self.span
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.as_str().read_span(span, before, after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            inner.column() + self.first_column,
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_file_is_shown_whole_around_the_spot() {
        let src = Source::new("p.yaml", "version: 1\nfoo: 2\nbar: 3\n");
        let e = src.excerpt((2, 1), (2, 4));
        assert_eq!(e.text, "version: 1\nfoo: 2\nbar: 3\n");
        assert_eq!(e.first_line, 0);
        assert_eq!((e.span.offset(), e.span.len()), (11, 3));
    }

    #[test]
    fn a_far_column_shows_a_window_around_it() {
        let line = format!("foo{}: 1", "x".repeat(70_000));
        let text = format!("version: 1\n{line}\n");
        let src = Source::new("p.yaml", &text);
        let e = src.excerpt((2, 70_001), (2, 70_002));
        let shown = e.text.lines().nth(1).unwrap();
        assert!(
            shown.starts_with('…') && shown.chars().count() <= WIDTH + 2,
            "{shown}"
        );
        assert_eq!(
            &e.text[e.span.offset()..e.span.offset() + e.span.len()],
            "x"
        );
        assert!(e.text.contains(": 1"));
        // miette reads the spot's line and column back from the excerpt: the file's.
        let at = e.read_span(&e.span(), 0, 0).unwrap();
        assert_eq!((at.line(), at.column()), (1, 70_000));
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        let src = Source::new("p.yaml", "a: \u{1b}[2J\u{7}\n");
        let e = src.excerpt((1, 1), (1, 2));
        assert_eq!(e.text.lines().next(), Some("a: \u{FFFD}[2J\u{FFFD}"));
    }
}
