//! Policy keys: the stable, low-cardinality name of a call site (`"payments.Charge"`).
//!
//! Parsing is that of the Go implementation recourse grew from (docs/keys.md): the input is
//! trimmed, split at
//! the first dot, and both halves trimmed again; a key whose name part would be empty keeps the
//! whole trimmed input as its name.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Longest key [`Key::from_static`] accepts, in bytes.
pub const MAX_KEY_LEN: usize = 128;

/// A policy key: an optional namespace and a name, compared by value.
///
/// Cloning is cheap: a static key is a pointer, a parsed key shares its text through an `Arc`.
///
/// # Examples
///
/// ```
/// use recourse_engine::Key;
///
/// let k = Key::parse(" payments . Charge ");
/// assert_eq!(k.namespace(), "payments");
/// assert_eq!(k.name(), "Charge");
/// assert_eq!(k.to_string(), "payments.Charge");
///
/// // `.b` has an empty namespace, so it displays as `b`.
/// assert_eq!(Key::parse(".b").to_string(), "b");
/// ```
#[derive(Clone)]
pub struct Key {
    text: Text,
    /// `namespace = text[..ns_end]`.
    ns_end: u32,
    /// `name = text[name_start..]`.
    name_start: u32,
}

#[derive(Clone)]
enum Text {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Key {
    /// Parses a key string (docs/keys.md). Never fails: an empty input gives the
    /// empty key.
    pub fn parse(input: &str) -> Key {
        let trimmed = input.trim();
        match trimmed.find('.') {
            None => Key::with_parts("", trimmed),
            Some(dot) => {
                let ns = trimmed[..dot].trim();
                let name = trimmed[dot + 1..].trim();
                if name.is_empty() {
                    Key::with_parts("", trimmed)
                } else {
                    Key::with_parts(ns, name)
                }
            }
        }
    }

    /// Builds a key from its two parts as given (no trimming, no validation).
    pub fn new(namespace: &str, name: &str) -> Key {
        Key::with_parts(namespace, name)
    }

    fn with_parts(namespace: &str, name: &str) -> Key {
        let (text, ns_end, name_start): (String, usize, usize) = if namespace.is_empty() {
            (name.to_owned(), 0, 0)
        } else if name.is_empty() {
            (namespace.to_owned(), namespace.len(), namespace.len())
        } else {
            (
                format!("{namespace}.{name}"),
                namespace.len(),
                namespace.len() + 1,
            )
        };
        Key {
            text: Text::Shared(Arc::from(text)),
            ns_end: ns_end as u32,
            name_start: name_start as u32,
        }
    }

    /// Builds a key from a string literal, checked at compile time when used in a const context
    /// (see [`key!`](crate::key!)).
    ///
    /// # Panics
    ///
    /// Panics (a compile error in a const context) when the literal is empty, longer than
    /// [`MAX_KEY_LEN`] bytes, contains whitespace or control characters, or starts or ends with a
    /// dot.
    ///
    /// ```compile_fail
    /// const BAD: recourse_engine::Key = recourse_engine::Key::from_static("payments charge");
    /// ```
    pub const fn from_static(literal: &'static str) -> Key {
        let bytes = literal.as_bytes();
        let len = bytes.len();
        if len == 0 {
            panic!("recourse key is empty");
        }
        if len > MAX_KEY_LEN {
            panic!("recourse key is longer than 128 bytes");
        }
        if bytes[0] == b'.' || bytes[len - 1] == b'.' {
            panic!("recourse key starts or ends with a dot");
        }
        let mut dot = usize::MAX;
        let mut i = 0;
        while i < len {
            let b = bytes[i];
            if b <= b' ' || b == 0x7f {
                panic!("recourse key contains whitespace or a control character");
            }
            // U+0085 and U+00A0 (C2 85 / C2 A0), U+1680, U+2000..U+200A, U+2028/9, U+202F,
            // U+205F, U+3000: the non-ASCII whitespace.
            if b == 0xC2 && i + 1 < len && (bytes[i + 1] == 0x85 || bytes[i + 1] == 0xA0) {
                panic!("recourse key contains whitespace or a control character");
            }
            if b == 0xC2 && i + 1 < len && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F {
                panic!("recourse key contains whitespace or a control character");
            }
            if b == 0xE2 && i + 2 < len {
                let (b1, b2) = (bytes[i + 1], bytes[i + 2]);
                if (b1 == 0x80 && (b2 <= 0x8A || b2 == 0xA8 || b2 == 0xA9 || b2 == 0xAF))
                    || (b1 == 0x81 && b2 == 0x9F)
                {
                    panic!("recourse key contains whitespace or a control character");
                }
            }
            if b == 0xE1 && i + 2 < len && bytes[i + 1] == 0x9A && bytes[i + 2] == 0x80 {
                panic!("recourse key contains whitespace or a control character");
            }
            if b == 0xE3 && i + 2 < len && bytes[i + 1] == 0x80 && bytes[i + 2] == 0x80 {
                panic!("recourse key contains whitespace or a control character");
            }
            if b == b'.' && dot == usize::MAX {
                dot = i;
            }
            i += 1;
        }
        let (ns_end, name_start) = if dot == usize::MAX {
            (0, 0)
        } else {
            (dot, dot + 1)
        };
        Key {
            text: Text::Static(literal),
            ns_end: ns_end as u32,
            name_start: name_start as u32,
        }
    }

    /// The namespace part (may be empty).
    pub fn namespace(&self) -> &str {
        &self.as_str()[..self.ns_end as usize]
    }

    /// The name part.
    pub fn name(&self) -> &str {
        &self.as_str()[self.name_start as usize..]
    }

    /// The display form: `namespace.name`, or the one non-empty part.
    pub fn as_str(&self) -> &str {
        match &self.text {
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
    }

    /// True when both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

/// What a call can be keyed by: a `&str` (checked when the call runs) or a [`Key`] (checked
/// when it was built, at compile time for [`key!`](crate::key!)), by value or by reference.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use recourse_engine::{Executor, key};
///
/// let exec = Executor::new();
/// const CHARGE: recourse_engine::Key = key!("payments.Charge");
/// let op = |_| async { Ok::<_, std::io::Error>(()) };
/// exec.call(key!("payments.Charge"), op).await.unwrap();
/// exec.call(&CHARGE, op).await.unwrap();
/// exec.call("payments.Charge", op).await.unwrap();
/// # }
/// ```
pub trait AsKey {
    /// The key's text, as [`Key::as_str`] gives it.
    fn key_str(&self) -> &str;

    /// The key's text when it lives as long as the program (a [`key!`](crate::key!) or
    /// [`Key::from_static`] key). An executor remembers where such a key's state is, so later
    /// calls with it skip the key look-up. `None` (the default) for any other key.
    fn static_str(&self) -> Option<&'static str> {
        None
    }
}

impl AsKey for str {
    fn key_str(&self) -> &str {
        self
    }
}

impl AsKey for String {
    fn key_str(&self) -> &str {
        self
    }
}

impl AsKey for std::sync::Arc<str> {
    fn key_str(&self) -> &str {
        self
    }
}

impl AsKey for Box<str> {
    fn key_str(&self) -> &str {
        self
    }
}

impl AsKey for std::borrow::Cow<'_, str> {
    fn key_str(&self) -> &str {
        self
    }
}

impl AsKey for Key {
    fn key_str(&self) -> &str {
        self.as_str()
    }

    #[inline]
    fn static_str(&self) -> Option<&'static str> {
        match self.text {
            Text::Static(text) => Some(text),
            Text::Shared(_) => None,
        }
    }
}

impl<T: AsKey + ?Sized> AsKey for &T {
    fn key_str(&self) -> &str {
        (**self).key_str()
    }

    #[inline]
    fn static_str(&self) -> Option<&'static str> {
        (**self).static_str()
    }
}

/// Builds a [`Key`] from a string literal, rejecting a malformed literal at compile time.
///
/// ```
/// let k = recourse_engine::key!("payments.Charge");
/// assert_eq!(k.namespace(), "payments");
/// ```
///
/// ```compile_fail
/// let k = recourse_engine::key!("payments.");
/// ```
#[macro_export]
macro_rules! key {
    ($lit:literal) => {{
        const KEY: $crate::Key = $crate::Key::from_static($lit);
        KEY
    }};
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.namespace() == other.namespace() && self.name() == other.name()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespace().hash(state);
        self.name().hash(state);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        (self.namespace(), self.name()).cmp(&(other.namespace(), other.name()))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:?})", self.as_str())
    }
}

impl Default for Key {
    fn default() -> Key {
        Key {
            text: Text::Static(""),
            ns_end: 0,
            name_start: 0,
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::parse(s)
    }
}

impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Key::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_keys_split_at_the_first_dot() {
        let k = Key::from_static("a.b.c");
        assert_eq!((k.namespace(), k.name()), ("a", "b.c"));
        assert_eq!(k, Key::parse("a.b.c"));
        let k = Key::from_static("plain");
        assert_eq!((k.namespace(), k.name()), ("", "plain"));
    }

    #[test]
    fn name_only_constructed_key_displays_namespace() {
        let k = Key::new("ns", "");
        assert_eq!(k.to_string(), "ns");
        assert_eq!(k.name(), "");
    }

    #[test]
    #[should_panic(expected = "whitespace")]
    fn from_static_rejects_whitespace_at_run_time_too() {
        let s: &'static str = Box::leak(String::from("a\u{00a0}b").into_boxed_str());
        let _ = Key::from_static(s);
    }
}
