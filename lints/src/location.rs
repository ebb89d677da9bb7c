//! 1-based line and column (in characters) of byte offsets.

use std::cell::Cell;

/// Maps byte offsets of one text to 1-based lines and columns counted in characters, in
/// constant time on ASCII lines; on others, counting on from the last position asked for on
/// the same line, so a file's findings cost time linear in its size even on one long line.
#[derive(Debug)]
pub(crate) struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// Whether each line is ASCII (a column is then a byte count).
    ascii: Vec<bool>,
    /// The last `(offset, 0-based column)` counted on a line that is not ASCII.
    last: Cell<(usize, usize)>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        let ascii = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let end = starts.get(i + 1).copied().unwrap_or(text.len());
                text.as_bytes()[s..end].is_ascii()
            })
            .collect();
        Lines {
            text,
            starts,
            ascii,
            last: Cell::new((usize::MAX, 0)),
        }
    }

    /// The byte offset where 1-based `line` starts.
    pub(crate) fn line_start(&self, line: usize) -> usize {
        self.starts[line.clamp(1, self.starts.len()) - 1]
    }

    /// `(line, column)` of `offset`, both 1-based; the column counts characters.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        if self.ascii[line - 1] {
            return (line, offset - start + 1);
        }
        let (from, counted) = match self.last.get() {
            (at, column) if at >= start && at <= offset => (at, column),
            _ => (start, 0),
        };
        let column = counted
            + self
                .text
                .get(from..offset)
                .map_or(offset - from, |s| s.chars().count());
        self.last.set((offset, column));
        (line, column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        let l = Lines::new("ab\nçé x\n");
        assert_eq!(l.position(0), (1, 1));
        assert_eq!(l.position(3), (2, 1));
        assert_eq!(l.position(8), (2, 4)); // after "çé " (5 bytes)
        assert_eq!(l.position(3), (2, 1), "backwards on the same line");
        assert_eq!(l.position(1), (1, 2));
    }

    #[test]
    fn many_positions_on_one_long_line_cost_linear_time() {
        let text = "é(\"a.B\"), ".repeat(200_000);
        let l = Lines::new(&text);
        let started = std::time::Instant::now();
        let mut column = 0;
        for (offset, _) in text.match_indices('(') {
            let (line, c) = l.position(offset);
            assert_eq!(line, 1);
            assert!(c > column);
            column = c;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
