//! Faults injected at run time through `/_emulator/faults` and `/_emulator/latency`: a steady
//! 10 % of 5xx and a few connection resets (before and after the request is applied), plus, at
//! seeded random moments, 429 storms, latency spikes and bursts of resets. The token endpoint
//! outage is timed by the scenario (it matters when a restarted operator needs a token).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use super::procs::Emulator;

/// Latency outside spikes: small, so the suite stays fast, but never zero.
pub const BASELINE_LATENCY: &str = "read=uniform:1ms..8ms,write=uniform:2ms..15ms,token=5ms";

/// What the chaos did, besides what the emulator counts.
#[derive(Debug, Default)]
pub struct ChaosLog {
    pub storms: AtomicU64,
    pub spikes: AtomicU64,
    pub reset_bursts: AtomicU64,
}

/// The steady faults, for the whole run: 5 % 500 and 5 % 503 (10 % of Graph requests, batch
/// items included), and 0.5 % resets before and 0.5 % after the request is applied.
pub async fn steady(emu: &Emulator) {
    for rule in [
        json!({"status": 500, "rate": 0.05}),
        json!({"status": 503, "rate": 0.0527}),
        json!({"reset": "before", "rate": 0.005}),
        json!({"reset": "after", "rate": 0.005}),
    ] {
        emu.post("faults", rule).await;
    }
}

/// Runs until `stop`: every 1.5 to 3.5 s (seeded) a storm, a spike or a burst of resets.
pub async fn run(emu: Arc<Emulator>, seed: u64, stop: Arc<AtomicBool>, log: Arc<ChaosLog>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    // Bounded: at most this many events (the stop flag ends it long before). The first three
    // are one of each kind, so that even a short run meets them all.
    for event in 0..100_000u32 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(1500..3500))).await;
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let kind = if event < 3 { event } else { rng.u32(0..3) };
        match kind {
            0 => {
                // A 429 storm: half the requests throttled for two seconds.
                emu.post(
                    "faults",
                    json!({"status": 429, "rate": 0.5, "retryAfter": 1, "durationSecs": 2}),
                )
                .await;
                log.storms.fetch_add(1, Ordering::Relaxed);
            }
            1 => {
                // A latency spike: a fifth of the answers 0.5 s late, for a second.
                emu.put(
                    "latency",
                    json!({"latency": format!("{BASELINE_LATENCY},spike=20%:500ms")}),
                )
                .await;
                log.spikes.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1000)).await;
                emu.put("latency", json!({"latency": BASELINE_LATENCY}))
                    .await;
            }
            _ => {
                // A burst of dropped connections, half before, half after applying.
                for phase in ["before", "after"] {
                    emu.post(
                        "faults",
                        json!({"reset": phase, "rate": 0.02, "durationSecs": 1}),
                    )
                    .await;
                }
                log.reset_bursts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A storm while the operator is known to be busy: the next 20 requests (batch items count one
/// each) within 5 s are throttled.
pub async fn storm_now(emu: &Emulator, log: &ChaosLog) {
    emu.post(
        "faults",
        json!({"status": 429, "count": 20, "retryAfter": 1, "durationSecs": 5}),
    )
    .await;
    log.storms.fetch_add(1, Ordering::Relaxed);
}

/// The token endpoint answers 503 to every request for `secs` seconds.
pub async fn token_outage(emu: &Emulator, secs: f64) {
    emu.post(
        "faults",
        json!({"status": 503, "rate": 1, "durationSecs": secs, "target": "token"}),
    )
    .await;
}
