//! The key map: one table drives dispatch, the footer hints and the `?` overlay.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Help,
    Quit,
    ForceQuit,
    Back,
    Filter,
    Command,
    Freeze,
    Focus,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Enter,
    SortPrev,
    SortNext,
    Invert,
    NextFail,
    PrevFail,
    Calls,
    Save,
    Copy,
    Longer,
    Shorter,
    Pause,
    StepCall,
    Seek(i64),
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Global,
    Overview,
    Lists,
    /// A replay's controls.
    Replay,
}

/// One row of the key map.
#[derive(Debug)]
pub(crate) struct Binding {
    /// How the keys are written in help and hints.
    pub(crate) label: &'static str,
    keys: &'static [Key],
    pub(crate) action: Action,
    pub(crate) help: &'static str,
    pub(crate) scope: Scope,
    /// Shown in the footer.
    pub(crate) hint: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

use Action as A;
use Key::{Char, Code, Ctrl};
use Scope as S;

/// Every binding, in the order help lists them.
pub(crate) const KEYMAP: &[Binding] = &[
    Binding {
        label: "?, F1",
        keys: &[Char('?'), Code(KeyCode::F(1))],
        action: A::Help,
        help: "this help",
        scope: S::Global,
        hint: Some("? help"),
    },
    Binding {
        label: "q",
        keys: &[Char('q')],
        action: A::Quit,
        help: "close help or a detail view; quit at the top",
        scope: S::Global,
        hint: Some("q quit"),
    },
    Binding {
        label: "Ctrl-c",
        keys: &[Ctrl('c')],
        action: A::ForceQuit,
        help: "quit now",
        scope: S::Global,
        hint: None,
    },
    Binding {
        label: "Esc",
        keys: &[Code(KeyCode::Esc)],
        action: A::Back,
        help: "back; clear the filter",
        scope: S::Global,
        hint: Some("esc back"),
    },
    Binding {
        label: "/",
        keys: &[Char('/')],
        action: A::Filter,
        help: "filter keys, targets and reasons (substring; ! inverts); Enter keeps it, Esc clears",
        scope: S::Global,
        hint: Some("/ filter"),
    },
    Binding {
        label: ":",
        keys: &[Char(':')],
        action: A::Command,
        help: "command: key GLOB…, target T, window 5m, save [FILE], q",
        scope: S::Global,
        hint: None,
    },
    Binding {
        label: "space, f",
        keys: &[Char(' '), Char('f')],
        action: A::Freeze,
        help: "freeze the view (data keeps arriving)",
        scope: S::Global,
        hint: Some("space freeze"),
    },
    Binding {
        label: "Tab",
        keys: &[Code(KeyCode::Tab), Code(KeyCode::BackTab)],
        action: A::Focus,
        help: "switch between keys and events",
        scope: S::Overview,
        hint: Some("tab focus"),
    },
    Binding {
        label: "j/k, ↓/↑",
        keys: &[Char('j'), Code(KeyCode::Down)],
        action: A::Down,
        help: "move down / up (up stops following)",
        scope: S::Lists,
        hint: None,
    },
    Binding {
        label: "k, ↑",
        keys: &[Char('k'), Code(KeyCode::Up)],
        action: A::Up,
        // Listed with `j`.
        help: "",
        scope: S::Lists,
        hint: None,
    },
    Binding {
        label: "PgDn/PgUp",
        keys: &[Code(KeyCode::PageDown), Ctrl('d')],
        action: A::PageDown,
        help: "page down / up (Ctrl-d / Ctrl-u)",
        scope: S::Lists,
        hint: None,
    },
    Binding {
        label: "PgUp, Ctrl-u",
        keys: &[Code(KeyCode::PageUp), Ctrl('u')],
        action: A::PageUp,
        // Listed with `PgDn`.
        help: "",
        scope: S::Lists,
        hint: None,
    },
    Binding {
        label: "g, Home",
        keys: &[Char('g'), Code(KeyCode::Home)],
        action: A::Top,
        help: "first row",
        scope: S::Lists,
        hint: None,
    },
    Binding {
        label: "G, End",
        keys: &[Char('G'), Code(KeyCode::End)],
        action: A::Bottom,
        help: "last row; follow new events again",
        scope: S::Lists,
        hint: None,
    },
    Binding {
        label: "Enter",
        keys: &[Code(KeyCode::Enter)],
        action: A::Enter,
        help: "open: key (live vs shadow too), then call waterfall",
        scope: S::Lists,
        hint: Some("⏎ open"),
    },
    Binding {
        label: "</>, h/l",
        keys: &[Char('<'), Char('h')],
        action: A::SortPrev,
        help: "sort by the previous / next column",
        scope: S::Overview,
        hint: Some("< > sort"),
    },
    Binding {
        label: ">, l",
        keys: &[Char('>'), Char('l')],
        action: A::SortNext,
        // Listed with `<`.
        help: "",
        scope: S::Overview,
        hint: None,
    },
    Binding {
        label: "I, i",
        keys: &[Char('I'), Char('i')],
        action: A::Invert,
        help: "invert the sort",
        scope: S::Overview,
        hint: None,
    },
    Binding {
        label: "e, E",
        keys: &[Char('e')],
        action: A::NextFail,
        help: "next / previous failed call",
        scope: S::Lists,
        hint: Some("e/E failures"),
    },
    Binding {
        label: "E",
        keys: &[Char('E')],
        action: A::PrevFail,
        // Listed with `e`.
        help: "",
        scope: S::Lists,
        hint: None,
    },
    Binding {
        label: "v",
        keys: &[Char('v')],
        action: A::Calls,
        help: "calls in the log: all, interesting, failed",
        scope: S::Lists,
        hint: Some("v calls"),
    },
    Binding {
        label: "z, Z",
        keys: &[Char('z')],
        action: A::Longer,
        help: "rates over a longer / shorter window: 10s, 1m, 5m, 15m",
        scope: S::Global,
        hint: None,
    },
    Binding {
        label: "Z",
        keys: &[Char('Z')],
        action: A::Shorter,
        // Listed with `z`.
        help: "",
        scope: S::Global,
        hint: None,
    },
    Binding {
        label: "c",
        keys: &[Char('c')],
        action: A::Copy,
        help: "copy the selected call as JSON (terminal clipboard)",
        scope: S::Lists,
        hint: None,
    },
    Binding {
        label: "Ctrl-s",
        keys: &[Ctrl('s')],
        action: A::Save,
        help: "save the event log as NDJSON (recourse tail --replay reads it)",
        scope: S::Global,
        hint: None,
    },
    Binding {
        label: "p",
        keys: &[Char('p')],
        action: A::Pause,
        help: "replay: pause / play on",
        scope: S::Replay,
        hint: Some("p pause"),
    },
    Binding {
        label: ".",
        keys: &[Char('.')],
        action: A::StepCall,
        help: "replay, paused: play the next call",
        scope: S::Replay,
        hint: None,
    },
    Binding {
        label: "[ ], { }",
        keys: &[Char(']')],
        action: A::Seek(10_000_000),
        help: "replay: back / forward 10 s ([ ]) or 1 min ({ })",
        scope: S::Replay,
        hint: Some("[ ] seek"),
    },
    Binding {
        label: "[",
        keys: &[Char('[')],
        action: A::Seek(-10_000_000),
        // Listed with `]`.
        help: "",
        scope: S::Replay,
        hint: None,
    },
    Binding {
        label: "}",
        keys: &[Char('}')],
        action: A::Seek(60_000_000),
        // Listed with `]`.
        help: "",
        scope: S::Replay,
        hint: None,
    },
    Binding {
        label: "{",
        keys: &[Char('{')],
        action: A::Seek(-60_000_000),
        // Listed with `]`.
        help: "",
        scope: S::Replay,
        hint: None,
    },
];

/// The action of `key` in a view with these scopes active.
pub(crate) fn action(key: &KeyEvent, active: &[Scope]) -> Option<Action> {
    let pressed = if key.modifiers.contains(KeyModifiers::CONTROL) {
        match key.code {
            KeyCode::Char(c) => Ctrl(c.to_ascii_lowercase()),
            other => Code(other),
        }
    } else {
        match key.code {
            KeyCode::Char(c) => Char(c),
            other => Code(other),
        }
    };
    KEYMAP
        .iter()
        .filter(|b| b.scope == S::Global || active.contains(&b.scope))
        .find(|b| b.keys.contains(&pressed))
        .map(|b| b.action)
}

/// The footer: hints of the bindings active here.
pub(crate) fn hints(active: &[Scope]) -> Vec<&'static str> {
    KEYMAP
        .iter()
        .filter(|b| b.scope == S::Global || active.contains(&b.scope))
        .filter_map(|b| b.hint)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn keys_map_to_actions_in_their_scope_only() {
        let none = KeyModifiers::NONE;
        let all = [S::Overview, S::Lists];
        assert_eq!(action(&press(KeyCode::Char('q'), none), &[]), Some(A::Quit));
        assert_eq!(
            action(&press(KeyCode::Char('c'), KeyModifiers::CONTROL), &[]),
            Some(A::ForceQuit)
        );
        assert_eq!(
            action(&press(KeyCode::Char('<'), none), &all),
            Some(A::SortPrev)
        );
        assert_eq!(action(&press(KeyCode::Char('<'), none), &[S::Lists]), None);
        assert_eq!(action(&press(KeyCode::Down, none), &all), Some(A::Down));
        assert_eq!(action(&press(KeyCode::Char('x'), none), &all), None);
    }

    #[test]
    fn every_key_is_bound_once_per_scope() {
        for (i, a) in KEYMAP.iter().enumerate() {
            for b in &KEYMAP[i + 1..] {
                let clash = a.keys.iter().any(|k| b.keys.contains(k));
                let overlap = a.scope == b.scope || a.scope == S::Global || b.scope == S::Global;
                assert!(
                    !(clash && overlap),
                    "{} and {} share a key",
                    a.label,
                    b.label
                );
            }
        }
    }
}
