//! Nothing a service sends reaches the operator's terminal as a control: every line is
//! cleaned as it is read, before it is decoded, printed, shown or recorded.
//!
//! Control characters (C0, DEL, C1) and the bidirectional controls that reorder what a
//! terminal shows become U+FFFD (`�`), tabs and line breaks inside strings a space, whether
//! they were sent raw or as JSON escapes (`\u001b`, `\n`). A valid JSON line stays valid JSON
//! with the same structure, so the JSON output and recordings stay readable by `jq` and by
//! `--replay`.

use crate::terminal::{hostile, replacement};

/// Cleans one line read from a service in place (its final newline, if any, is kept). Inside
/// JSON strings, control characters and their escapes are replaced; outside them, a tab or a
/// carriage return becomes a space. Bytes that are not UTF-8 become U+FFFD.
pub(crate) fn clean_line(line: &mut Vec<u8>) {
    let newline = line.last() == Some(&b'\n');
    let body = &line[..line.len() - usize::from(newline)];
    if body.iter().all(|&b| (0x20..0x7f).contains(&b)) && !body.contains(&b'\\') {
        return; // the common case: printable ASCII, no escapes
    }
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !in_string {
            if c == '"' {
                in_string = true;
            }
            out.push(if hostile(c) { ' ' } else { c });
            continue;
        }
        match c {
            '"' => {
                in_string = false;
                out.push(c);
            }
            '\\' => {
                let Some(&next) = chars.peek() else {
                    out.push(c);
                    continue;
                };
                chars.next();
                match next {
                    'n' | 'r' | 't' => out.push(' '),
                    'b' | 'f' => out.push('\u{FFFD}'),
                    'u' => {
                        let hex: String = chars.clone().take(4).collect();
                        let unit = (hex.len() == 4)
                            .then(|| u32::from_str_radix(&hex, 16).ok())
                            .flatten();
                        match unit.and_then(char::from_u32) {
                            Some(escaped) if hostile(escaped) => {
                                chars.nth(3);
                                out.push(replacement(escaped));
                            }
                            // Anything else (surrogate halves included) stays escaped.
                            _ => out.push_str("\\u"),
                        }
                    }
                    other if hostile(other) => out.push(replacement(other)),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            c if hostile(c) => out.push(replacement(c)),
            c => out.push(c),
        }
    }
    line.clear();
    line.extend_from_slice(out.as_bytes());
    if newline {
        line.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cleaned(s: &str) -> String {
        let mut v = s.as_bytes().to_vec();
        clean_line(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_and_raw_controls_inside_strings_are_replaced() {
        let line = "{\"key\":\"a\\u001b[2Jb\",\"msg\":\"x\\ny\",\"c1\":\"\u{9b}31m\",\"bidi\":\"\u{202E}txt\"}\n";
        assert_eq!(
            cleaned(line),
            "{\"key\":\"a\u{FFFD}[2Jb\",\"msg\":\"x y\",\"c1\":\"\u{FFFD}31m\",\"bidi\":\"\u{FFFD}txt\"}\n"
        );
        // Ordinary escapes stay as they are.
        let fine = "{\"q\":\"say \\\"hi\\\" \\\\ \\u00e9 \\ud83d\\ude00\"}";
        assert_eq!(cleaned(fine), fine);
        // A carriage return between tokens moves no cursor.
        assert_eq!(cleaned("{\"a\":1,\r\"b\":2}"), "{\"a\":1, \"b\":2}");
    }

    proptest! {
        /// Whatever a string holds, its JSON encoding cleaned decodes to a string without a
        /// control character, and a clean one is kept as it is.
        #[test]
        fn a_cleaned_json_string_holds_no_control(s in any::<String>()) {
            let mut line = serde_json::to_vec(&serde_json::json!({ "s": s })).unwrap();
            clean_line(&mut line);
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let out = v["s"].as_str().unwrap();
            prop_assert!(!out.chars().any(hostile), "{:?}", out);
            if !s.chars().any(hostile) {
                prop_assert_eq!(out, s.as_str());
            }
        }

        /// Arbitrary bytes never panic, and never keep a control character.
        #[test]
        fn any_bytes_come_out_without_controls(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut line = bytes;
            clean_line(&mut line);
            let text = String::from_utf8(line).unwrap();
            let body = text.strip_suffix('\n').unwrap_or(&text);
            let kept = body.chars().find(|&c| hostile(c));
            prop_assert_eq!(kept, None);
        }
    }
}
