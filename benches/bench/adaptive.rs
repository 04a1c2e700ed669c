//! Issue #15, point 5: pacing that converges to the write rate Graph actually grants. The
//! emulator gives the operator 25 %, 50 % or 100 % of its configured write quota (20 writes per
//! emulated second): other applications' background load takes the rest of the tenant's
//! 60 a second (`--background-write-share`), and a one-second burst window refuses bursts
//! (`--burst-window 1s`). The operator is configured for the full quota and must find the
//! granted rate itself: `achieved_ratio` is its write rate over the write phase against the
//! granted one, `throttled_share` the writes answered 429 against all write attempts.

use serde_json::{Map, Value, json};

use crate::conversion::run_with;
use crate::report::{Report, Row};

/// Writes per emulated second of the application's write quota (3,000 per 150 s).
const APP_RATE: f64 = 20.0;
/// Writes per emulated second of the tenant's write budget (18,000 per 300 s).
const TENANT_RATE: f64 = 60.0;
/// Emulated seconds per real second.
const SCALE: f64 = 4.0;
/// Real seconds of writing per level (full run).
const PHASE_SECS: f64 = 50.0;

pub async fn bench(report: &mut Report) {
    let levels: &[f64] = if report.full {
        &[0.25, 0.5, 1.0]
    } else {
        &[0.5]
    };
    let latency = if report.full { "realistic" } else { "0" };
    let mut levels_json = Map::new();
    for &granted in levels {
        let share = 1.0 - granted * APP_RATE / TENANT_RATE;
        let granted_rate = granted * APP_RATE * SCALE;
        let wave = if report.full {
            (granted_rate * PHASE_SECS) as usize
        } else {
            60
        };
        let share_text = format!("{share:.6}");
        let run = run_with(
            wave,
            SCALE,
            latency,
            8,
            &[
                "--background-write-share",
                &share_text,
                "--burst-window",
                "1s",
            ],
        )
        .await;
        assert!(run.writes > 0, "no user was switched");
        let achieved = run.rate() / granted_rate;
        let throttled = run.writes_throttled as f64 / run.write_attempts.max(1) as f64;
        let percent = (granted * 100.0) as u32;
        let name = |what: &str| format!("adaptive pacing, {percent} % granted: {what}");
        report.row(Row {
            name: name("achieved / granted"),
            value: format!("{achieved:.3} ({:.1}/s)", run.rate()),
            target: ">= 0.90".into(),
            met: report.full.then_some(achieved >= 0.90),
        });
        report.row(Row {
            name: name("writes answered 429"),
            value: format!("{:.2} %", throttled * 100.0),
            target: "< 5 %".into(),
            met: report.full.then_some(throttled < 0.05),
        });
        levels_json.insert(
            format!("{percent}"),
            json!({
                "granted_share": granted, "background_write_share": share,
                "granted_writes_per_sec": granted_rate, "wave_size": wave,
                "writes": run.writes, "write_phase_secs": run.write_phase,
                "writes_per_sec": run.rate(), "write_attempts": run.write_attempts,
                "writes_throttled": run.writes_throttled, "failed": run.failed,
                "achieved_ratio": achieved, "throttled_share": throttled,
            }),
        );
    }
    report.set(
        "adaptive_pacing",
        json!({
            "time_scale": SCALE, "latency": latency, "burst_window_secs": 1,
            "quota_writes_per_150s": 3000, "headroom_percent": 99, "batches_in_flight": 8,
            "targets": {"achieved_ratio": ">= 0.90", "throttled_share": "< 0.05"},
            "levels": Value::Object(levels_json),
        }),
    );
}
