//! Durations as policy files write them: a number with a unit (`750us`, `20ms`, `1.5s`, `2m`).

use std::fmt;
use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// A bare number: the unit is missing.
    #[error("duration {0:?} has no unit; add one, e.g. \"{0}ms\" or \"{0}s\"")]
    MissingUnit(String),
    /// The unit is not one of `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
    #[error("duration {0:?} has an unknown unit; use ns, us, ms, s, m or h")]
    UnknownUnit(String),
    /// Negative, NaN, infinite, empty or too large.
    #[error("duration {0:?} is not a finite, non-negative number with a unit")]
    Invalid(String),
}

/// Parses `"20ms"`, `"1.5s"`, `"2m"`, `"750us"`, `"0s"`.
///
/// # Errors
///
/// A bare number, an unknown unit, a negative, NaN or infinite value, or one past `u64`
/// nanoseconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 {
        return Err(DurationError::Invalid(text.to_owned()));
    }
    let per_unit: f64 = match unit.trim() {
        "" => return Err(DurationError::MissingUnit(text.to_owned())),
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => {
            return if s.starts_with('-') || s.starts_with('+') {
                Err(DurationError::Invalid(text.to_owned()))
            } else {
                Err(DurationError::UnknownUnit(text.to_owned()))
            };
        }
    };
    if num.matches('.').count() > 1 {
        return Err(DurationError::Invalid(text.to_owned()));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| DurationError::Invalid(text.to_owned()))?;
    let nanos = (value * per_unit).round();
    if !nanos.is_finite() || nanos < 0.0 || nanos > u64::MAX as f64 {
        return Err(DurationError::Invalid(text.to_owned()));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Formats a duration the way policy files write it: the largest unit that keeps it short
/// (`20ms`, `1.5s`, `2m`, `750us`, `0s`).
pub fn format_duration(d: Duration) -> String {
    FormatDuration(d).to_string()
}

/// Display adapter for [`format_duration`].
#[derive(Debug, Clone, Copy)]
pub struct FormatDuration(pub Duration);

impl fmt::Display for FormatDuration {
    /// Exact: hours and minutes only when they divide the duration, otherwise the largest of
    /// `s`, `ms`, `us`, `ns` that is at most the duration, with as many decimals as needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.as_nanos();
        if n == 0 {
            return f.write_str("0s");
        }
        for (size, unit) in [(3_600_000_000_000u128, "h"), (60_000_000_000, "m")] {
            if n >= size && n.is_multiple_of(size) {
                return write!(f, "{}{unit}", n / size);
            }
        }
        let (size, unit, width) = [
            (1_000_000_000u128, "s", 9),
            (1_000_000, "ms", 6),
            (1_000, "us", 3),
        ]
        .into_iter()
        .find(|(size, _, _)| n >= *size)
        .unwrap_or((1, "ns", 0));
        let (whole, frac) = (n / size, n % size);
        if frac == 0 {
            return write!(f, "{whole}{unit}");
        }
        let digits = format!("{frac:0width$}");
        write!(f, "{whole}.{}{unit}", digits.trim_end_matches('0'))
    }
}

/// Serde adapters for `Option<Duration>` fields written as strings with a unit.
pub(crate) mod opt_serde {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.collect_str(&FormatDuration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<'a> {
            #[serde(borrow)]
            Text(std::borrow::Cow<'a, str>),
            Number(f64),
        }
        match Option::<Raw<'de>>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Text(t)) => parse_duration(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
            Some(Raw::Number(n)) => Err(serde::de::Error::custom(DurationError::MissingUnit(
                n.to_string(),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("750us").unwrap(), Duration::from_micros(750));
        assert_eq!(parse_duration("20ms").unwrap(), ms(20));
        assert_eq!(parse_duration("1.5s").unwrap(), ms(1500));
        assert_eq!(parse_duration("2m").unwrap(), ms(120_000));
        assert_eq!(parse_duration("1h").unwrap(), ms(3_600_000));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bare_negative_and_non_finite() {
        assert!(matches!(
            parse_duration("250"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            parse_duration("-0ms"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("5 parsecs"),
            Err(DurationError::UnknownUnit(_))
        ));
        assert!(parse_duration("1e309s").is_err());
        assert!(parse_duration("NaNs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in [
            "20ms", "1.5s", "2m", "750us", "0s", "1h", "250ms", "30s", "1.25ms",
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
    }
}
