//! The timeline: entries per time bucket as stacked bars (applied, failed, intents) in inline
//! SVG, the bucket size chosen from the journal's span so that there are at most
//! [`MAX_BUCKETS`] bars.

use super::html::Html;
use crate::journal::{Entry, Phase};
use crate::local::journal_view::PhaseCounts;

/// At most this many bars.
pub const MAX_BUCKETS: i64 = 60;

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Bucket sizes, in milliseconds, smallest first.
const LADDER: [i64; 24] = [
    1,
    10,
    100,
    SECOND,
    5 * SECOND,
    10 * SECOND,
    30 * SECOND,
    MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    30 * DAY,
    91 * DAY,
    365 * DAY,
];

/// Entries counted per bucket.
#[derive(Debug, PartialEq, Eq)]
pub struct Buckets {
    /// Bucket size in milliseconds.
    pub size: i64,
    /// Start of the first bucket (milliseconds since the Unix epoch, a multiple of `size`).
    pub start: i64,
    /// Entries per bucket, by phase.
    pub counts: Vec<PhaseCounts>,
    /// Entries whose time does not read as RFC 3339 (not counted in any bucket).
    pub unreadable: usize,
}

/// The smallest size of [`LADDER`] that puts every time from `min` to `max` (milliseconds)
/// into at most [`MAX_BUCKETS`] buckets aligned on multiples of the size.
pub fn bucket_size(min: i64, max: i64) -> i64 {
    let fits = |size: i64| max.div_euclid(size) - min.div_euclid(size) < MAX_BUCKETS;
    LADDER.into_iter().find(|&s| fits(s)).unwrap_or_else(|| {
        // Longer than the ladder: whole days, as many as needed.
        let days = (max - min).div_euclid(DAY) / (MAX_BUCKETS - 1) + 1;
        let mut size = days * DAY;
        while !fits(size) {
            size += DAY;
        }
        size
    })
}

/// The entries counted per bucket; `None` when no entry has a readable time.
pub fn bucket(entries: &[Entry]) -> Option<Buckets> {
    let times: Vec<(i64, Phase)> = entries
        .iter()
        .filter_map(|e| {
            let t = e.time.parse::<jiff::Timestamp>().ok()?;
            Some((t.as_millisecond(), e.record.phase))
        })
        .collect();
    let min = times.iter().map(|(t, _)| *t).min()?;
    let max = times.iter().map(|(t, _)| *t).max()?;
    let size = bucket_size(min, max);
    let start = min.div_euclid(size) * size;
    let n = usize::try_from(max.div_euclid(size) - min.div_euclid(size) + 1).unwrap_or(1);
    let mut counts = vec![PhaseCounts::default(); n];
    for (t, phase) in &times {
        let i = usize::try_from((t - start).div_euclid(size)).unwrap_or(0);
        if let Some(c) = counts.get_mut(i) {
            match phase {
                Phase::Intent => c.intent += 1,
                Phase::Applied => c.applied += 1,
                Phase::Failed => c.failed += 1,
            }
        }
    }
    Some(Buckets {
        size,
        start,
        counts,
        unreadable: entries.len() - times.len(),
    })
}

/// A bucket size in words: `100 ms`, `5 min`, `1 h`, `7 days`.
pub fn size_label(ms: i64) -> String {
    match ms {
        ms if ms % DAY == 0 => match ms / DAY {
            1 => "1 day".into(),
            n => format!("{n} days"),
        },
        ms if ms % HOUR == 0 => format!("{} h", ms / HOUR),
        ms if ms % MINUTE == 0 => format!("{} min", ms / MINUTE),
        ms if ms % SECOND == 0 => format!("{} s", ms / SECOND),
        ms => format!("{ms} ms"),
    }
}

fn time_label(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("{ms} ms after 1970"))
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const TOP: f64 = 12.0;
const PLOT_H: f64 = 170.0;

/// The timeline as inline SVG, with a caption; a sentence when no entry has a time.
pub fn timeline(h: &mut Html, entries: &[Entry]) {
    let Some(b) = bucket(entries) else {
        h.para("No entries with a readable time: nothing to draw.");
        return;
    };
    let peak = b
        .counts
        .iter()
        .map(|c| c.intent + c.applied + c.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = b.counts.len();
    let slot = (WIDTH - LEFT - 8.0) / n as f64;
    let bar = (slot * 0.8).max(1.0);
    let unit = PLOT_H / peak as f64;
    h.tag("<figure><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" role=\"img\" viewBox=\"0 0 ")
        .num(WIDTH)
        .tag(" ")
        .num(HEIGHT)
        .tag("\" aria-label=\"")
        .text(&format!(
            "Entries per {}, at most {peak} in one",
            size_label(b.size)
        ))
        .tag("\">");
    let base = TOP + PLOT_H;
    axis(h, LEFT, base, WIDTH - 8.0, base);
    axis(h, LEFT, TOP, LEFT, base);
    label(h, LEFT - 6.0, TOP + 10.0, "end", &peak.to_string());
    label(h, LEFT - 6.0, base, "end", "0");
    for (i, c) in b.counts.iter().enumerate() {
        let total = c.intent + c.applied + c.failed;
        if total == 0 {
            continue;
        }
        let from = b.start + b.size * i as i64;
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        h.tag("<g><title>").text(&format!(
            "{} + {}: {total} entries ({} applied, {} failed, {} intents)",
            time_label(from),
            size_label(b.size),
            c.applied,
            c.failed,
            c.intent
        ));
        h.tag("</title>");
        let mut y = base;
        for (count, class) in [
            (c.applied, "b-applied"),
            (c.failed, "b-failed"),
            (c.intent, "b-intent"),
        ] {
            if count > 0 {
                let height = count as f64 * unit;
                y -= height;
                rect(h, x, y, bar, height, class);
            }
        }
        h.tag("</g>");
    }
    let end = b.start + b.size * n as i64;
    label(h, LEFT, HEIGHT - 8.0, "start", &time_label(b.start));
    label(h, WIDTH - 8.0, HEIGHT - 8.0, "end", &time_label(end));
    h.tag("</svg><figcaption>")
        .text(&format!(
            "Entries per {} from {} to {}, at most {peak} in one",
            size_label(b.size),
            time_label(b.start),
            time_label(end)
        ))
        .tag(": <span class=\"k b-applied\"></span>applied <span class=\"k b-failed\"></span>failed <span class=\"k b-intent\"></span>intents (requests about to be sent).");
    if b.unreadable > 0 {
        h.text(&format!(
            " {} entries with an unreadable time are not drawn.",
            b.unreadable
        ));
    }
    h.tag("</figcaption></figure>");
}

fn rect(h: &mut Html, x: f64, y: f64, w: f64, height: f64, class: &'static str) {
    h.tag("<rect class=\"")
        .tag(class)
        .tag("\" x=\"")
        .num(x)
        .tag("\" y=\"")
        .num(y)
        .tag("\" width=\"")
        .num(w)
        .tag("\" height=\"")
        .num(height)
        .tag("\"/>");
}

fn axis(h: &mut Html, x1: f64, y1: f64, x2: f64, y2: f64) {
    h.tag("<line class=\"axis\" x1=\"")
        .num(x1)
        .tag("\" y1=\"")
        .num(y1)
        .tag("\" x2=\"")
        .num(x2)
        .tag("\" y2=\"")
        .num(y2)
        .tag("\"/>");
}

fn label(h: &mut Html, x: f64, y: f64, anchor: &'static str, text: &str) {
    h.tag("<text x=\"")
        .num(x)
        .tag("\" y=\"")
        .num(y)
        .tag("\" text-anchor=\"")
        .tag(anchor)
        .tag("\">")
        .text(text)
        .tag("</text>");
}

#[cfg(test)]
#[path = "svg_tests.rs"]
mod tests;
