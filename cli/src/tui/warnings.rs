//! The warnings line: what in the keys table needs a look first, worst first, so the operator
//! does not have to scan every column of every row.
//! Each rule reads the same windowed figures the table shows.

use super::model::Row;

/// How bad a warning is, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Calls are being refused or failing.
    Failing,
    /// Retries are adding load or hiding trouble.
    Strained,
}

/// What is wrong with one key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Warning {
    pub(crate) key: String,
    pub(crate) level: Level,
    /// Short phrases, worst first (`circuit open`, `1.55 att/call`).
    pub(crate) what: Vec<String>,
}

/// Attempts per call from which retries count as a load problem.
const AMPLIFIED: f64 = 1.5;
/// Percentage points between final and first-try success from which retries hide an outage.
const RESCUED: f64 = 10.0;
/// Success rate below which a key is failing.
const FAILING: f64 = 90.0;
/// Openings a minute from which a breaker is flapping (it closed and opened again).
const FLAPPING: u32 = 2;
/// Hedges per 100 calls from which hedging is a cost worth checking...
const HEDGED: f64 = 10.0;
/// ...when fewer than this share of them win.
const HEDGES_WIN: f64 = 5.0;

/// The warnings for `rows`, the worst key first (then by key).
pub(crate) fn warnings(rows: &[Row]) -> Vec<Warning> {
    let mut out: Vec<Warning> = rows.iter().filter_map(warning).collect();
    out.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| a.key.cmp(&b.key)));
    out
}

fn warning(r: &Row) -> Option<Warning> {
    let mut failing = Vec::new();
    let mut strained = Vec::new();
    match r.circuit.as_deref() {
        Some("open") => failing.push("circuit open".to_owned()),
        Some("half-open") => failing.push("circuit half-open".to_owned()),
        Some("isolated") => failing.push("isolated by hand".to_owned()),
        _ => {}
    }
    if r.circuit.as_deref() == Some("forced-closed") {
        strained.push("breaker forced closed by hand".to_owned());
    }
    if r.opened_min >= FLAPPING {
        failing.push(format!("circuit flapping: opened {}× in 1m", r.opened_min));
    }
    if let Some(ok) = r.ok_pct.filter(|&ok| ok < FAILING) {
        failing.push(format!("{ok:.0}% ok"));
    }
    if let Some(d) = r.deny_s.filter(|&d| d > 0.0) {
        strained.push(format!("budget denies {d:.1}/s"));
    }
    if r.fleet_fallback {
        strained.push("fleet budget on local fallback".to_owned());
    }
    match r.hedging.as_deref() {
        Some("paused") => strained.push("hedging paused: hedges not winning".to_owned()),
        Some("probing") => strained.push("hedging probing".to_owned()),
        _ => {}
    }
    if let Some(a) = r.att_per_call.filter(|&a| a >= AMPLIFIED) {
        strained.push(format!("{a:.2} att/call"));
    }
    if let (Some(ok), Some(first)) = (r.ok_pct, r.first_pct)
        && ok - first >= RESCUED
    {
        strained.push(format!("retries rescue {:.0}%", ok - first));
    }
    if let (Some(win), Some(hedged)) = (r.win_pct, r.hedged_pct)
        && hedged >= HEDGED
        && win < HEDGES_WIN
    {
        strained.push(format!("hedges win {win:.0}%"));
    }
    let level = if failing.is_empty() {
        Level::Strained
    } else {
        Level::Failing
    };
    failing.extend(strained);
    (!failing.is_empty()).then(|| Warning {
        key: r.key.clone(),
        level,
        what: failing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str) -> Row {
        Row {
            key: key.into(),
            ok_pct: Some(100.0),
            first_pct: Some(99.0),
            att_per_call: Some(1.01),
            deny_s: Some(0.0),
            ..Row::default()
        }
    }

    #[test]
    fn the_worst_keys_come_first_each_with_what_is_wrong() {
        let rows = [
            Row {
                first_pct: Some(81.8),
                att_per_call: Some(1.55),
                ..row("payments.Refund")
            },
            row("payments.Auth"),
            Row {
                ok_pct: Some(0.0),
                first_pct: Some(0.0),
                circuit: Some("open".into()),
                ..row("inventory.Get")
            },
            Row {
                ok_pct: Some(54.6),
                first_pct: Some(50.4),
                deny_s: Some(18.0),
                ..row("payments.Charge")
            },
        ];
        let found = warnings(&rows);
        let shown: Vec<(&str, Level, String)> = found
            .iter()
            .map(|w| (w.key.as_str(), w.level, w.what.join(", ")))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "inventory.Get",
                    Level::Failing,
                    "circuit open, 0% ok".into()
                ),
                (
                    "payments.Charge",
                    Level::Failing,
                    "55% ok, budget denies 18.0/s".into()
                ),
                (
                    "payments.Refund",
                    Level::Strained,
                    "1.55 att/call, retries rescue 18%".into()
                ),
            ]
        );
    }

    #[test]
    fn hedging_that_rarely_wins_is_named_only_when_it_is_frequent() {
        let hedging = |hedged: f64, win: f64| Row {
            hedged_pct: Some(hedged),
            win_pct: Some(win),
            ..row("search.Query")
        };
        let what = |r: Row| {
            warnings(&[r])
                .into_iter()
                .flat_map(|w| w.what)
                .collect::<Vec<_>>()
        };
        assert_eq!(what(hedging(40.0, 2.0)), ["hedges win 2%"]);
        assert!(what(hedging(40.0, 30.0)).is_empty(), "hedges that win pay");
        assert!(
            what(hedging(3.0, 0.0)).is_empty(),
            "a few hedges cost little"
        );
    }

    #[test]
    fn a_key_set_by_hand_says_so() {
        let set = |circuit: &str| {
            let r = Row {
                circuit: Some(circuit.into()),
                ..row("payments.Charge")
            };
            warnings(&[r])
                .into_iter()
                .map(|w| (w.level, w.what.join(", ")))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            set("isolated"),
            [(Level::Failing, "isolated by hand".to_owned())]
        );
        assert_eq!(
            set("forced-closed"),
            [(Level::Strained, "breaker forced closed by hand".to_owned())]
        );
    }

    #[test]
    fn a_key_without_figures_yet_is_no_warning() {
        assert!(warnings(&[Row::default(), row("payments.Auth")]).is_empty());
    }

    #[test]
    fn a_fleet_budget_on_its_local_fallback_is_a_strain() {
        let rows = [Row {
            fleet_fallback: true,
            ..row("payments.Charge")
        }];
        let found = warnings(&rows);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].level, Level::Strained);
        assert_eq!(found[0].what, ["fleet budget on local fallback"]);
    }

    #[test]
    fn paused_or_probing_hedging_is_a_strain() {
        for (state, said) in [
            ("paused", "hedging paused: hedges not winning"),
            ("probing", "hedging probing"),
        ] {
            let rows = [Row {
                hedging: Some(state.into()),
                ..row("payments.Refund")
            }];
            assert_eq!(warnings(&rows)[0].what, [said]);
        }
        let active = [Row {
            hedging: Some("active".into()),
            ..row("payments.Refund")
        }];
        assert!(warnings(&active).is_empty());
    }
}
