//! Policy keys.

use recourse_engine::{Key, key};

fn parts(s: &str) -> (String, String, String) {
    let k = Key::parse(s);
    (k.namespace().to_owned(), k.name().to_owned(), k.to_string())
}

fn p(ns: &str, name: &str, display: &str) -> (String, String, String) {
    (ns.into(), name.into(), display.into())
}

#[test]
fn s001_ordinary_forms() {
    assert_eq!(
        parts("service.method"),
        p("service", "method", "service.method")
    );
    assert_eq!(parts("method"), p("", "method", "method"));
    assert_eq!(
        parts(" service.method "),
        p("service", "method", "service.method")
    );
}

#[test]
fn s002_degenerate_inputs() {
    assert_eq!(parts("service."), p("", "service.", "service."));
    assert_eq!(parts(""), p("", "", ""));
    assert_eq!(parts("   "), p("", "", ""));
    assert!(Key::parse("   ").is_empty());
}

#[test]
fn s003_dot_handling() {
    assert_eq!(parts("a.b.c"), p("a", "b.c", "a.b.c"));
    assert_eq!(parts("a..b"), p("a", ".b", "a..b"));
    assert_eq!(parts(".b"), p("", "b", "b"));
    assert_eq!(parts(" a . b "), p("a", "b", "a.b"));
    assert_eq!(parts("."), p("", ".", "."));
    assert_eq!(parts(" . "), p("", ".", "."));
    assert_eq!(parts(".."), p("", ".", "."));
}

#[test]
fn keys_compare_by_value_whatever_their_storage() {
    let k = key!("payments.Charge");
    assert_eq!(k, Key::parse(" payments . Charge "));
    assert_eq!(k, Key::new("payments", "Charge"));
    assert_ne!(
        Key::new("", "payments.Charge"),
        k,
        "both parts take part in equality"
    );
}
