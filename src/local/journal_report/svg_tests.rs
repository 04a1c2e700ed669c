#![allow(clippy::unwrap_used)]

use super::*;
use crate::journal::Action;
use crate::local::journal_report::tests::entry;

fn ms(t: &str) -> i64 {
    t.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

#[test]
fn the_bucket_size_grows_with_the_span_and_keeps_the_bars_few() {
    let at = ms("2026-12-06T09:00:00Z");
    // Milliseconds apart (a small apply): 1 ms buckets.
    assert_eq!(bucket_size(at, at + 40), 1);
    assert_eq!(bucket_size(at, at + 70), 10);
    assert_eq!(bucket_size(at, at), 1);
    // 40 minutes: 1 min buckets (41 bars); 2 hours: 5 min; a day: 30 min; a month: a day.
    assert_eq!(bucket_size(at, at + 40 * MINUTE), MINUTE);
    assert_eq!(bucket_size(at, at + 2 * HOUR), 5 * MINUTE);
    assert_eq!(bucket_size(at, at + DAY), 30 * MINUTE);
    assert_eq!(bucket_size(at, at + 30 * DAY), DAY);
    // Beyond the ladder (ten years): whole days, still at most MAX_BUCKETS bars.
    let long = bucket_size(at, at + 3650 * DAY);
    assert_eq!(long % DAY, 0);
    assert!((at + 3650 * DAY) / long - at / long < MAX_BUCKETS, "{long}");
    // Alignment can need the next size: 59 s from xx:00:30 spans two minutes, 60 seconds.
    for span in [1, 999, 59_999, 3_599_999, 86_399_999, 400 * DAY] {
        let size = bucket_size(at + 30_000, at + 30_000 + span);
        assert!((at + 30_000 + span) / size - (at + 30_000) / size < MAX_BUCKETS);
    }
}

#[test]
fn entries_land_in_their_bucket_by_phase() {
    let entries = [
        entry(
            1,
            "2026-12-06T09:00:10Z",
            "u1",
            Action::SwitchToCloud,
            Phase::Intent,
        ),
        entry(
            2,
            "2026-12-06T09:00:50Z",
            "u1",
            Action::SwitchToCloud,
            Phase::Applied,
        ),
        entry(
            3,
            "2026-12-06T09:30:00Z",
            "u2",
            Action::SwitchToCloud,
            Phase::Failed,
        ),
        entry(
            4,
            "2026-12-06T09:59:59.999Z",
            "u2",
            Action::SwitchToCloud,
            Phase::Applied,
        ),
        entry(5, "not a time", "u3", Action::SwitchToCloud, Phase::Applied),
    ];
    let b = bucket(&entries).unwrap();
    assert_eq!(b.size, MINUTE);
    assert_eq!(b.start, ms("2026-12-06T09:00:00Z"));
    assert_eq!(b.counts.len(), 60);
    let c = |intent, applied, failed| PhaseCounts {
        intent,
        applied,
        failed,
    };
    assert_eq!(b.counts[0], c(1, 1, 0));
    assert_eq!(b.counts[30], c(0, 0, 1));
    assert_eq!(b.counts[59], c(0, 1, 0));
    let counted: usize = b
        .counts
        .iter()
        .map(|c| c.intent + c.applied + c.failed)
        .sum();
    assert_eq!(counted, 4);
    assert_eq!(b.unreadable, 1);
    assert_eq!(bucket(&entries[4..]), None);
    assert_eq!(bucket(&[]), None);
}

#[test]
fn sizes_read_as_words() {
    assert_eq!(size_label(10), "10 ms");
    assert_eq!(size_label(5 * SECOND), "5 s");
    assert_eq!(size_label(15 * MINUTE), "15 min");
    assert_eq!(size_label(3 * HOUR), "3 h");
    assert_eq!(size_label(DAY), "1 day");
    assert_eq!(size_label(7 * DAY), "7 days");
}

#[test]
fn the_timeline_draws_one_bar_group_per_busy_bucket() {
    let entries = [
        entry(
            1,
            "2026-12-06T09:00:00Z",
            "u1",
            Action::SwitchToCloud,
            Phase::Applied,
        ),
        entry(
            2,
            "2026-12-06T10:00:00Z",
            "u2",
            Action::SwitchToCloud,
            Phase::Failed,
        ),
    ];
    let mut h = Html::default();
    timeline(&mut h, &entries);
    let svg = h.finish();
    assert_eq!(svg.matches("<g><title>").count(), 2, "{svg}");
    assert_eq!(svg.matches("class=\"b-applied\" x=").count(), 1, "{svg}");
    assert_eq!(svg.matches("class=\"b-failed\" x=").count(), 1, "{svg}");
    assert!(
        svg.contains("Entries per 5 min from 2026-12-06T09:00:00Z"),
        "{svg}"
    );
    assert!(!svg.contains("NaN"), "{svg}");
    let mut empty = Html::default();
    timeline(&mut empty, &[]);
    assert!(empty.finish().contains("nothing to draw"));
}
