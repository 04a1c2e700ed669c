//! The standard process metrics Prometheus' client libraries export (`process_*`, unprefixed),
//! read from `/proc/self` at each scrape: resident memory, CPU seconds, open descriptors and
//! the start time. Elsewhere than on Linux nothing is exported.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Clock ticks a second of `/proc/self/stat`'s CPU times (`sysconf(_SC_CLK_TCK)`, 100 on
/// every Linux architecture the operator is built for).
const CLOCK_TICKS: f64 = 100.0;

/// Reads the process's figures at each scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    /// When the process started (about: when the metrics were set up), Unix seconds.
    started: f64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        ProcessCollector { started }
    }
}

/// What `/proc/self` says, where it can be read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    /// Resident memory, bytes (`VmRSS`).
    pub rss_bytes: Option<u64>,
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
}

impl Figures {
    /// Read now.
    pub fn read() -> Self {
        Figures {
            rss_bytes: std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| rss(&s)),
            cpu_seconds: std::fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|s| cpu(&s)),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
        }
    }
}

/// `VmRSS:   12345 kB` of `/proc/self/status`, in bytes.
fn rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// utime + stime (fields 14 and 15) of `/proc/self/stat`, in seconds. The command name (field
/// 2) may hold spaces and parentheses: fields are counted after its last `)`.
fn cpu(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is index 0, so 14 and 15 are 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let f = Figures::read();
        if let Some(v) = f.rss_bytes {
            let m = encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size in bytes",
                Some(&Unit::Bytes),
                MetricType::Gauge,
            )?;
            ConstGauge::new(v as i64).encode(m)?;
        }
        if let Some(v) = f.cpu_seconds {
            let m = encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent in seconds",
                Some(&Unit::Seconds),
                MetricType::Counter,
            )?;
            ConstCounter::new(v).encode(m)?;
        }
        if let Some(v) = f.open_fds {
            let m = encoder.encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(v as i64).encode(m)?;
        }
        let m = encoder.encode_descriptor(
            "process_start_time",
            "Start time of the process since the Unix epoch in seconds",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.started).encode(m)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_field_by_field() {
        assert_eq!(rss("Name:\tx\nVmRSS:\t   2048 kB\n"), Some(2048 * 1024));
        assert_eq!(rss("Name:\tx\n"), None);
        // A name with spaces and a parenthesis does not shift the fields.
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 5 1 1";
        assert_eq!(cpu(stat), Some(3.0));
        assert_eq!(cpu("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_figures() {
        let f = Figures::read();
        assert!(f.rss_bytes.unwrap() > 0);
        assert!(f.open_fds.unwrap() > 0);
        assert!(f.cpu_seconds.is_some());
    }
}
