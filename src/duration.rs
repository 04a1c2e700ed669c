//! The one duration grammar, for CRD fields and command-line flags alike, in the Kubernetes
//! style: one or more `NUMBER UNIT` pairs with no space, sign or fraction, the units `ms`, `s`,
//! `m` and `h` (`90s`, `10m`, `1h30m`, `250ms`, `0s`). The pairs add up, in any order, as Go's
//! `time.ParseDuration` does; a bare number (`10`), days (`1d`), fractions (`1.5s`) and
//! ISO 8601 (`PT1H`) are refused. [`PATTERN`] is the same grammar as the CRDs' schema pattern.
//! The total is at most what Kubernetes' own durations hold (Go's `time.Duration`, 2⁶³−1
//! nanoseconds, about 292 years: `2562047h47m16s854ms`); beyond, an error, never a panic.
//!
//! jiff does the arithmetic: each pair goes through its friendly-format parser, which reports
//! overflow as an error, after the text has been checked against the compact form here, so that
//! jiff's wider syntax (words, spaces, days, signs, fractions) never gets through.

use std::time::Duration;

use jiff::fmt::friendly::{Designator, Spacing, SpanParser, SpanPrinter};

/// The CRDs' schema pattern of a duration field; [`parse`] accepts exactly what it matches
/// (short of a total too large to represent).
pub const PATTERN: &str = r"^([0-9]+(ms|s|m|h))+$";

/// The grammar, as the messages say it.
const EXPECTED: &str = "use a number and a unit (ms, s, m, h), e.g. 90s, 10m, 1h30m";

/// A text that is not a duration of this grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not of the form `([0-9]+(ms|s|m|h))+`.
    #[error("{text:?} is not a duration: {EXPECTED}")]
    Syntax {
        /// The text given.
        text: String,
    },
    /// Of the form, but over 2⁶³−1 nanoseconds (about 292 years).
    #[error("{text:?} is too long a duration (at most 2562047h47m16s854ms)")]
    Overflow {
        /// The text given.
        text: String,
    },
}

static PARSER: SpanParser = SpanParser::new();
static PRINTER: SpanPrinter = SpanPrinter::new()
    .designator(Designator::Compact)
    .spacing(Spacing::None);

/// Parses a duration such as `90s`, `10m`, `1h30m`, `250ms` or `0s` (see the module doc).
/// Usable as a clap `value_parser`.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax { text: text.into() };
    let overflow = || DurationError::Overflow { text: text.into() };
    if text.is_empty() {
        return Err(syntax());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &rest[digits..];
        // `ms` before `m`: an `s` alone cannot start a pair, so the longer unit is the reading.
        let unit = ["ms", "s", "m", "h"]
            .into_iter()
            .find(|unit| tail.starts_with(unit))
            .filter(|_| digits > 0)
            .ok_or_else(syntax)?;
        // Leading zeros are the pattern's business, not a reason for jiff's number to overflow.
        let number = rest[..digits].trim_start_matches('0');
        let number = if number.is_empty() { "0" } else { number };
        let pair = PARSER
            .parse_unsigned_duration(format!("{number}{unit}"))
            .map_err(|_| overflow())?;
        total = total.checked_add(pair).ok_or_else(overflow)?;
        rest = &tail[unit.len()..];
    }
    // Kubernetes' bound, which also keeps deadlines and timestamps computed from it in range.
    i64::try_from(total.as_nanos()).map_err(|_| overflow())?;
    Ok(total)
}

/// `d` in the grammar, compact and to the millisecond (sub-millisecond parts are dropped):
/// `1h30m`, `1s500ms`, `250ms`, `0s`. [`parse`] reads it back.
pub fn format(d: Duration) -> String {
    let whole_millis = Duration::new(d.as_secs(), d.subsec_millis() * 1_000_000);
    PRINTER.unsigned_duration_to_string(&whole_millis)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: [(&str, Duration); 9] = [
        ("0s", Duration::ZERO),
        ("90s", Duration::from_secs(90)),
        ("10m", Duration::from_secs(600)),
        ("1h30m", Duration::from_secs(5400)),
        ("250ms", Duration::from_millis(250)),
        ("1h0m0s", Duration::from_secs(3600)),
        ("1s500ms", Duration::from_millis(1500)),
        // Any order and repeats add up, as in Go and as the pattern allows.
        ("30s1m30s", Duration::from_secs(120)),
        ("007s", Duration::from_secs(7)),
    ];

    const BAD: [&str; 20] = [
        "",
        "10",
        "1d",
        "1.5s",
        "-1s",
        "+1s",
        "1 h",
        " 1h",
        "1h ",
        "PT1H",
        "1x",
        "h",
        "m5",
        "10m5",
        "1hour",
        "2min",
        "1H",
        "1µs",
        "1ns",
        "1 hour 30 minutes",
    ];

    #[test]
    fn parses_the_compact_kubernetes_form() {
        for (text, want) in GOOD {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_anything_else_naming_the_form() {
        for text in BAD {
            let err = parse(text).unwrap_err();
            assert_eq!(err, DurationError::Syntax { text: text.into() });
            assert!(err.to_string().contains("e.g. 90s, 10m, 1h30m"), "{err}");
        }
        assert_eq!(
            parse("10").unwrap_err().to_string(),
            r#""10" is not a duration: use a number and a unit (ms, s, m, h), e.g. 90s, 10m, 1h30m"#
        );
    }

    #[test]
    fn overflow_is_an_error() {
        for text in [
            "99999999999999999999999999s",
            "18446744073709551615s",
            "9223372036854775807s",
            "99999999999h",
            "2562047h47m16s855ms",
            "2562047h2562047h",
        ] {
            assert_eq!(
                parse(text),
                Err(DurationError::Overflow { text: text.into() }),
                "{text}"
            );
        }
        // The largest Kubernetes duration, to the millisecond, still parses.
        assert!(parse("2562047h47m16s854ms").is_ok());
    }

    #[test]
    fn the_pattern_and_the_parser_agree() {
        let re = regex::Regex::new(PATTERN).unwrap();
        for (text, _) in GOOD {
            assert!(re.is_match(text), "{text}");
        }
        for text in BAD {
            assert!(!re.is_match(text), "{text}");
        }
    }

    #[test]
    fn formats_compactly_and_reads_back() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::from_secs(72 * 3600), "72h"),
            (Duration::from_nanos(1_250_999), "1ms"),
        ] {
            assert_eq!(format(d), text);
            assert_eq!(
                parse(text),
                Ok(Duration::new(d.as_secs(), d.subsec_millis() * 1_000_000))
            );
        }
        assert_eq!(format(Duration::MAX), "5124095576030431h15s999ms");
    }
}
