//! `high-cardinality-key`: a literal key with an ID-like part.
//!
//! **What it flags**: keys such as `"users.1234"`, `"orders.3f2b...-uuid"`, `"mail.bob@x.io"`,
//! `"http.https://api/x"`, `"cache.10.0.0.1"`, `"jobs.2026-11-28"`.
//!
//! **Why it matters**: every distinct key gets its own cached policy, breaker, latency tracker
//! and metric series. A key per user is a memory leak and a metrics bill.
//!
//! **Instead**: one key per operation (`"users.Get"`); the ID belongs in the request.

use std::sync::LazyLock;

use regex::Regex;

/// `(sub-kind, pattern)`, checked in order: the first match names the finding.
static KINDS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("url", r"[a-zA-Z][a-zA-Z0-9+.-]*://"),
        ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"),
        ("uuid", r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        ("ip-address", r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7}\b"),
        ("timestamp", r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2})?|\b1[5-9]\d{8}(?:\d{3})?\b"),
        ("hex-hash", r"(?i)\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b|(?i)\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b"),
        ("query-string", r"[?&][A-Za-z0-9_]+="),
        ("path-with-id", r"/[^/]*\d[^/]*"),
        ("digit-run", r"\d{3,}"),
    ]
    .into_iter()
    .map(|(kind, p)| (kind, Regex::new(p).expect("the built-in patterns are valid")))
    .collect()
});

/// The sub-kind of ID-like part `key` carries, if any (`uuid`, `email`, `digit-run`, ...).
///
/// ```
/// use recourse_lints::high_cardinality_kind;
/// assert_eq!(high_cardinality_kind("users.48213"), Some("digit-run"));
/// assert_eq!(high_cardinality_kind("payments.Charge"), None);
/// assert_eq!(high_cardinality_kind("orders.9f1c2a4e-1b2c-4d3e-8f9a-0b1c2d3e4f5a"), Some("uuid"));
/// ```
pub fn high_cardinality_kind(key: &str) -> Option<&'static str> {
    KINDS.iter().find_map(|(kind, re)| {
        let hit = if *kind == "hex-hash" {
            // A hash is long: 12 or more hex characters with both letters and digits.
            re.find_iter(key).any(|m| m.as_str().len() >= 12)
        } else {
            re.is_match(key)
        };
        hit.then_some(*kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_kind() {
        let cases = [
            ("users.48213", Some("digit-run")),
            ("orders.9f1c2a4e-1b2c-4d3e-8f9a-0b1c2d3e4f5a", Some("uuid")),
            ("mail.bob@example.com", Some("email")),
            ("http.https://api.example.com/v1", Some("url")),
            ("cache.10.0.0.1", Some("ip-address")),
            ("jobs.2026-11-28", Some("timestamp")),
            ("blobs.3f2b9c0d4e5a6b7c", Some("hex-hash")),
            ("search.q?term=shoes", Some("query-string")),
            ("api.GET /users/42/orders", Some("path-with-id")),
            ("payments.Charge", None),
            ("inventory.Get", None),
            ("user-service.GetUser", None),
            ("http2.Fetch", None),
            ("s3.PutObject", None),
            ("payments.*", None),
            ("cafe.Decaf", None),
        ];
        for (key, kind) in cases {
            assert_eq!(high_cardinality_kind(key), kind, "{key}");
        }
    }
}
