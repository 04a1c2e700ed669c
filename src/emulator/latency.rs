//! Response latency: a distribution per kind of operation (reads, writes, token requests),
//! plus occasional spikes, sampled for every request and changeable at run time
//! (`PUT /_emulator/latency`).
//!
//! A distribution is written as text, the same on the command line and in JSON, its durations
//! in [`crate::duration`]'s grammar:
//! - `0` (none; a name, not a duration) or `50ms`: fixed;
//! - `uniform:20ms..200ms`: uniform between the two bounds;
//! - `lognormal:60ms/400ms`: log-normal with that median and 99th percentile (the usual shape
//!   of service latency: most answers near the median, a long tail).
//!
//! A profile is `realistic`, one distribution for every operation, or per operation
//! `read=…,write=…,token=…,spike=2%:3s` (missing operations: 0; the spike adds its duration to
//! that share of requests). The `realistic` preset is an assumption, not a measurement:
//! Microsoft publishes no latency figures; it reflects what directory reads and writes
//! typically take from a client in the same region.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration;

/// z-score of the 99th percentile of a standard normal distribution.
const Z99: f64 = 2.326_347_874;

/// A latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Always the same.
    Fixed(Duration),
    /// Uniform between `min` and `max`.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Log-normal with this median and 99th percentile.
    LogNormal {
        /// Median.
        median: Duration,
        /// 99th percentile (at least the median).
        p99: Duration,
    },
}

impl Dist {
    /// No latency.
    pub const ZERO: Dist = Dist::Fixed(Duration::ZERO);

    /// One sample; `u1`, `u2` are uniform in [0, 1).
    fn sample_with(self, u1: f64, u2: f64) -> Duration {
        match self {
            Dist::Fixed(d) => d,
            Dist::Uniform { min, max } => min + (max - min).mul_f64(u1),
            Dist::LogNormal { median, p99 } => {
                let m = median.as_secs_f64();
                if m <= 0.0 {
                    return Duration::ZERO;
                }
                let sigma = (p99.as_secs_f64() / m).ln() / Z99;
                // Box–Muller: a standard normal sample from two uniform ones.
                let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                // Capped at 10× the 99th percentile: a tail, not a hang.
                let secs = (m * (sigma * z).exp()).min(p99.as_secs_f64() * 10.0);
                Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
            }
        }
    }

    /// One sample.
    pub fn sample(self) -> Duration {
        match self {
            Dist::Fixed(d) => d,
            _ => self.sample_with(fastrand::f64(), fastrand::f64()),
        }
    }

    /// Whether it always gives zero.
    pub fn is_zero(self) -> bool {
        self == Dist::ZERO
    }
}

/// A duration of a profile; spaces around it belong to the profile's syntax.
fn parse_duration(text: &str) -> Result<Duration, String> {
    duration::parse(text.trim()).map_err(|e| e.to_string())
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dist::Fixed(d) if d.is_zero() => write!(f, "0"),
            Dist::Fixed(d) => write!(f, "{}", duration::format(*d)),
            Dist::Uniform { min, max } => {
                write!(
                    f,
                    "uniform:{}..{}",
                    duration::format(*min),
                    duration::format(*max)
                )
            }
            Dist::LogNormal { median, p99 } => {
                write!(
                    f,
                    "lognormal:{}/{}",
                    duration::format(*median),
                    duration::format(*p99)
                )
            }
        }
    }
}

impl std::str::FromStr for Dist {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if s == "0" {
            return Ok(Dist::ZERO);
        }
        if let Some(rest) = s.strip_prefix("uniform:") {
            let (a, b) = rest.split_once("..").ok_or_else(|| {
                format!("'{s}': write uniform:MIN..MAX, e.g. uniform:20ms..200ms")
            })?;
            let (min, max) = (parse_duration(a)?, parse_duration(b)?);
            if min > max {
                return Err(format!("'{s}': the minimum is above the maximum"));
            }
            return Ok(Dist::Uniform { min, max });
        }
        if let Some(rest) = s.strip_prefix("lognormal:") {
            let (a, b) = rest.split_once('/').ok_or_else(|| {
                format!("'{s}': write lognormal:MEDIAN/P99, e.g. lognormal:60ms/400ms")
            })?;
            let (median, p99) = (parse_duration(a)?, parse_duration(b)?);
            if p99 < median {
                return Err(format!("'{s}': the 99th percentile is below the median"));
            }
            return Ok(Dist::LogNormal { median, p99 });
        }
        parse_duration(s).map(Dist::Fixed).map_err(|e| {
            format!("{e} (latency: 0, 50ms, uniform:MIN..MAX or lognormal:MEDIAN/P99)")
        })
    }
}

/// What a request is, for its latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GET` on Graph.
    Read,
    /// Any other Graph method (a `$batch` counts as one write).
    Write,
    /// The token endpoint.
    Token,
}

/// Latency of every kind of request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyProfile {
    /// Graph reads.
    pub read: Dist,
    /// Graph writes.
    pub write: Dist,
    /// Token requests.
    pub token: Dist,
    /// Share of requests (0 to 1) that get `spike` added.
    pub spike_rate: f64,
    /// Added to a spiking request.
    pub spike: Duration,
}

impl Default for LatencyProfile {
    fn default() -> Self {
        Self::uniform(Dist::ZERO)
    }
}

impl LatencyProfile {
    /// The same distribution for everything, no spikes.
    pub fn uniform(dist: Dist) -> Self {
        Self {
            read: dist,
            write: dist,
            token: dist,
            spike_rate: 0.0,
            spike: Duration::ZERO,
        }
    }

    /// Typical figures for a client near the service (assumed, see the module doc): reads
    /// median 40 ms (99th percentile 200 ms), writes 80 ms (500 ms), tokens 120 ms (400 ms),
    /// and 0.1 % of requests 2 s slower.
    pub fn realistic() -> Self {
        let ms = Duration::from_millis;
        Self {
            read: Dist::LogNormal {
                median: ms(40),
                p99: ms(200),
            },
            write: Dist::LogNormal {
                median: ms(80),
                p99: ms(500),
            },
            token: Dist::LogNormal {
                median: ms(120),
                p99: ms(400),
            },
            spike_rate: 0.001,
            spike: Duration::from_secs(2),
        }
    }

    /// Whether every request is answered at once.
    pub fn is_zero(&self) -> bool {
        self.read.is_zero()
            && self.write.is_zero()
            && self.token.is_zero()
            && (self.spike_rate == 0.0 || self.spike.is_zero())
    }

    /// A delay for one request.
    pub fn sample(&self, op: Operation) -> Duration {
        let base = match op {
            Operation::Read => self.read,
            Operation::Write => self.write,
            Operation::Token => self.token,
        }
        .sample();
        if self.spike_rate > 0.0 && fastrand::f64() < self.spike_rate {
            base.saturating_add(self.spike)
        } else {
            base
        }
    }
}

impl fmt::Display for LatencyProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read={},write={},token={}",
            self.read, self.write, self.token
        )?;
        if self.spike_rate > 0.0 {
            write!(
                f,
                ",spike={}%:{}",
                self.spike_rate * 100.0,
                duration::format(self.spike)
            )?;
        }
        Ok(())
    }
}

impl std::str::FromStr for LatencyProfile {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if s == "realistic" {
            return Ok(Self::realistic());
        }
        if !s.contains('=') {
            return s.parse::<Dist>().map(Self::uniform);
        }
        let mut profile = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}': write OPERATION=LATENCY"))?;
            match key.trim() {
                "read" => profile.read = value.parse()?,
                "write" => profile.write = value.parse()?,
                "token" => profile.token = value.parse()?,
                "spike" => {
                    let (rate, dur) = value.split_once(':').ok_or_else(|| {
                        format!("'{part}': write spike=PERCENT%:DURATION, e.g. spike=1%:2s")
                    })?;
                    let rate: f64 = rate
                        .trim()
                        .trim_end_matches('%')
                        .parse()
                        .map_err(|_| format!("'{part}': the spike share is not a number"))?;
                    if !(0.0..=100.0).contains(&rate) {
                        return Err(format!("'{part}': the spike share must be 0 to 100 %"));
                    }
                    profile.spike_rate = rate / 100.0;
                    profile.spike = parse_duration(dur)?;
                }
                other => {
                    return Err(format!(
                        "unknown operation '{other}' in latency '{s}' (read, write, token, spike)"
                    ));
                }
            }
        }
        Ok(profile)
    }
}

impl Serialize for LatencyProfile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LatencyProfile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for text in ["0", "50ms", "uniform:20ms..200ms", "lognormal:60ms/400ms"] {
            let dist: Dist = text.parse().unwrap_or(Dist::ZERO);
            assert_eq!(dist.to_string(), text);
        }
        assert!("uniform:2s..1s".parse::<Dist>().is_err());
        assert!("lognormal:400ms/60ms".parse::<Dist>().is_err());
        assert!("fast".parse::<Dist>().is_err());
        // Durations in crate::duration's grammar: no bare number, fraction or day, as in the
        // CRDs; `0` is only the name of no latency.
        assert_eq!("0s".parse::<Dist>(), Ok(Dist::ZERO));
        assert_eq!(
            "uniform:0s..1500ms".parse::<Dist>().map(|d| d.to_string()),
            Ok("uniform:0s..1s500ms".to_string())
        );
        assert!("read=0,spike=1%:2".parse::<LatencyProfile>().is_err());
        for old in ["10", "1.5s", "1d", "2min", "uniform:0..1s"] {
            assert!(old.parse::<Dist>().is_err(), "{old}");
        }
        assert_eq!(
            "uniform: 1s .. 2s".parse::<Dist>(),
            "uniform:1s..2s".parse::<Dist>()
        );
        let p: LatencyProfile = "read=10ms,write=uniform:1ms..2ms,spike=5%:1s"
            .parse()
            .unwrap_or_default();
        assert_eq!(p.read, Dist::Fixed(Duration::from_millis(10)));
        assert_eq!(p.token, Dist::ZERO);
        assert!((p.spike_rate - 0.05).abs() < 1e-9);
        assert_eq!(p.to_string().parse::<LatencyProfile>(), Ok(p));
        assert_eq!(
            "realistic".parse::<LatencyProfile>(),
            Ok(LatencyProfile::realistic())
        );
        assert!("reads=1ms".parse::<LatencyProfile>().is_err());
        assert!("spike=120%:1s".parse::<LatencyProfile>().is_err());
        assert!(LatencyProfile::default().is_zero());
        assert!(!LatencyProfile::realistic().is_zero());
    }

    #[test]
    fn lognormal_has_the_median_and_tail_it_was_given() {
        let dist = Dist::LogNormal {
            median: Duration::from_millis(60),
            p99: Duration::from_millis(400),
        };
        // The median of the samples is the median; the 99th percentile its own.
        let at_median = dist.sample_with(0.5, 0.25).as_secs_f64();
        assert!((at_median - 0.060).abs() < 1e-9, "{at_median}");
        let mut samples: Vec<f64> = (0..20_000)
            .map(|_| dist.sample().as_secs_f64() * 1_000.0)
            .collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[10_000];
        let p99 = samples[19_800];
        assert!((50.0..70.0).contains(&median), "median {median} ms");
        assert!((300.0..520.0).contains(&p99), "p99 {p99} ms");
        let uniform = Dist::Uniform {
            min: Duration::from_millis(10),
            max: Duration::from_millis(20),
        };
        assert!((0..1_000).all(|_| {
            let s = uniform.sample();
            s >= Duration::from_millis(10) && s <= Duration::from_millis(20)
        }));
    }
}
