//! Key globs of a subscription: `*` matches any run of characters, `?` one character, a leading
//! `!` excludes. A key matches when it matches at least one include pattern (or there are none)
//! and no exclude pattern.

/// A compiled set of key globs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFilter {
    include: Vec<Box<str>>,
    exclude: Vec<Box<str>>,
}

impl KeyFilter {
    /// Compiles `patterns`; an empty list matches every key.
    pub fn new<I, S>(patterns: I) -> KeyFilter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut filter = KeyFilter::default();
        for p in patterns {
            let p = p.as_ref().trim();
            match p.strip_prefix('!') {
                Some(rest) => filter.exclude.push(rest.into()),
                None if !p.is_empty() => filter.include.push(p.into()),
                None => {}
            }
        }
        filter
    }

    /// Whether `key` passes the filter.
    pub fn matches(&self, key: &str) -> bool {
        let included = self.include.is_empty() || self.include.iter().any(|p| glob(p, key));
        included && !self.exclude.iter().any(|p| glob(p, key))
    }
}

/// Glob match with `*` and `?`, iterative with one backtrack point (linear in practice).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn includes_and_exclusions() {
        let f = KeyFilter::new(["payments.*", "!payments.Health*"]);
        assert!(f.matches("payments.Charge"));
        assert!(!f.matches("payments.HealthCheck"));
        assert!(!f.matches("inventory.Get"));
        assert!(KeyFilter::new(Vec::<String>::new()).matches("anything.At"));
        assert!(!KeyFilter::new(["!*.Get"]).matches("inventory.Get"));
        assert!(KeyFilter::new(["!*.Get"]).matches("inventory.Put"));
        assert!(KeyFilter::new(["inv?ntory.*"]).matches("inventory.Get"));
        assert!(!KeyFilter::new(["payments.Charge"]).matches("payments.ChargeX"));
        assert!(KeyFilter::new(["*a*b*c"]).matches("xxaxxbxxc"));
    }

    proptest! {
        #[test]
        fn star_alone_matches_everything(key in "[a-zA-Z.*?]{0,20}") {
            prop_assert!(glob("*", &key));
        }

        #[test]
        fn a_literal_matches_only_itself(a in "[a-z.]{0,12}", b in "[a-z.]{0,12}") {
            prop_assert_eq!(glob(&a, &b), a == b);
        }

        #[test]
        fn exclusion_wins_over_inclusion(key in "[a-z]{1,8}\\.[A-Z][a-z]{0,8}") {
            let f = KeyFilter::new(["*", &format!("!{key}")]);
            prop_assert!(!f.matches(&key));
        }

        #[test]
        fn prefix_globs_match_prefixes(prefix in "[a-z]{1,8}", rest in "[a-z.]{0,12}") {
            let key = format!("{prefix}{rest}");
            let pattern = format!("{prefix}*");
            prop_assert!(glob(&pattern, &key));
        }
    }
}
