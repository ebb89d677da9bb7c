//! What `tail` reads from: target specs, and the feeds their followers (`follow.rs`) hand to
//! the consumer.

use std::path::PathBuf;

use recourse_engine::export::wire::{Hello, Message};

/// The most targets tail follows (or a replay tells apart) at once.
pub(crate) const MAX_TARGETS: usize = 128;

/// What the readers hand to the consumer (line printer or TUI), in arrival order per target.
#[derive(Debug)]
pub(crate) enum Feed {
    /// A follower started: the target's name until its hello gives a better one.
    Started { target: usize, label: String },
    /// A target said hello.
    Connected {
        target: usize,
        name: String,
        hello: Box<Hello>,
        raw: Vec<u8>,
    },
    /// A message from a target.
    Line {
        target: usize,
        raw: Vec<u8>,
        msg: Box<Message>,
    },
    /// A target went away or could not be reached; its follower retries.
    Lost { target: usize, why: String },
    /// A target is no longer followed, and `why`: a discovered service stopped (its socket
    /// was removed, or nobody listens on it any more; a restart comes back under a new socket,
    /// found as a new target), or its line left the targets file.
    Gone { target: usize, why: String },
    /// Something worth telling the operator (on stderr in line modes).
    Notice { target: usize, text: String },
    /// A replay reached its end.
    Ended,
    /// A replay went back to its start to seek backwards: what was shown is forgotten, and
    /// the recording is played again up to `to_us` (µs since the epoch) at once.
    Rewound { to_us: i64 },
}

impl Feed {
    /// The target it is about, if any.
    pub(crate) fn target(&self) -> Option<usize> {
        match self {
            Feed::Started { target, .. }
            | Feed::Connected { target, .. }
            | Feed::Line { target, .. }
            | Feed::Lost { target, .. }
            | Feed::Gone { target, .. }
            | Feed::Notice { target, .. } => Some(*target),
            Feed::Ended | Feed::Rewound { .. } => None,
        }
    }
}

/// A target as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spec {
    Unix(PathBuf),
    Tcp(String),
}

impl Spec {
    pub(crate) fn parse(text: &str) -> Result<Spec, String> {
        if let Some(addr) = text.strip_prefix("tcp://") {
            if addr.is_empty() || !addr.contains(':') {
                return Err(format!("{text}: expected tcp://host:port"));
            }
            return Ok(Spec::Tcp(addr.to_owned()));
        }
        let path = text.strip_prefix("unix://").unwrap_or(text);
        if path.is_empty() || text.contains("://") && !text.starts_with("unix://") {
            return Err(format!(
                "{text}: expected a socket path, unix:///path or tcp://host:port"
            ));
        }
        Ok(Spec::Unix(PathBuf::from(path)))
    }

    /// Whether it is a socket whose file is gone.
    pub(crate) fn removed(&self) -> bool {
        matches!(self, Spec::Unix(p) if !p.exists())
    }

    /// How notices name it before its hello arrives.
    /// The target itself, whatever way it was written: a socket's path made absolute, with
    /// links resolved when it exists.
    pub(crate) fn identity(&self) -> Spec {
        match self {
            Spec::Unix(p) => Spec::Unix(
                std::fs::canonicalize(p)
                    .or_else(|_| std::path::absolute(p))
                    .unwrap_or_else(|_| p.clone()),
            ),
            Spec::Tcp(a) => Spec::Tcp(a.clone()),
        }
    }

    pub(crate) fn label(&self) -> String {
        let label = match self {
            Spec::Unix(p) => p.display().to_string(),
            Spec::Tcp(a) => format!("tcp://{a}"),
        };
        crate::terminal::clean(&label).into_owned()
    }
}

/// `raw` with `"target":name` as its first field (the `--record` and `--output json` format);
/// a line that already starts with its target (a replayed recording) is kept as it is.
pub(crate) fn with_target(raw: &[u8], name: &str) -> Vec<u8> {
    // JSON allows blanks around the object; the `target` goes right after its brace.
    let raw = raw.trim_ascii();
    if raw.starts_with(b"{\"target\":") {
        let mut out = raw.to_vec();
        out.push(b'\n');
        return out;
    }
    let mut out = Vec::with_capacity(raw.len() + name.len() + 16);
    out.extend_from_slice(b"{\"target\":");
    out.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
    match raw.get(1..) {
        Some(rest) if rest.trim_ascii_start().starts_with(b"}") => out.extend_from_slice(rest),
        Some(rest) => {
            out.push(b',');
            out.extend_from_slice(rest);
        }
        None => out.push(b'}'),
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_paths_and_tcp() {
        assert_eq!(
            Spec::parse("/run/x.sock"),
            Ok(Spec::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            Spec::parse("unix:///run/x.sock"),
            Ok(Spec::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            Spec::parse("tcp://127.0.0.1:7079"),
            Ok(Spec::Tcp("127.0.0.1:7079".into()))
        );
        assert!(Spec::parse("tcp://nohost").is_err());
        assert!(Spec::parse("http://x").is_err());
        assert!(Spec::parse("").is_err());
    }

    #[test]
    fn target_goes_first_and_the_rest_is_kept_byte_for_byte() {
        let line = br#"{"t":"call","seq":3,"key":"a.B"}"#;
        let out = with_target(line, "svc-1");
        assert_eq!(
            out,
            b"{\"target\":\"svc-1\",\"t\":\"call\",\"seq\":3,\"key\":\"a.B\"}\n"
        );
        assert_eq!(with_target(b"{}", "x"), b"{\"target\":\"x\"}\n");
        assert_eq!(
            with_target(&out, "other"),
            out,
            "a recorded line keeps its target"
        );
        let v: serde_json::Value = serde_json::from_slice(&with_target(line, "a\"b")).unwrap();
        assert_eq!(v["target"], "a\"b");
        // Found by fuzzing: a line with blanks before its brace.
        let padded = with_target(b"  \t{\"t\":\"ping\"}  ", "x");
        assert_eq!(padded, b"{\"target\":\"x\",\"t\":\"ping\"}\n");
    }
}
