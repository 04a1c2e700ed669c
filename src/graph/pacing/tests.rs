//! The controller law on a paused clock: each test is deterministic (tokio's test clock only
//! moves when every task waits), and the convergence test runs the emulator's own quota
//! model as the server.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::emulator::quota::{Charge, QuotaSettings, Quotas};

const WRITE: Cost = Cost { ru: 1, write: true };
const READ: Cost = Cost {
    ru: 1,
    write: false,
};

/// Graph's write quota at full headroom: 20 writes a second, a tick of 1 s.
fn graph() -> Quota {
    Quota {
        writes: 3_000.0,
        write_window: Duration::from_secs(150),
        resource_units: 1_000_000.0,
        ru_window: Duration::from_secs(10),
        headroom: 1.0,
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn writes_leave_at_the_paced_rate_not_as_a_burst() {
    let pacer = Arc::new(Pacer::new(graph()));
    let start = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (p, d) = (pacer.clone(), done.clone());
            tokio::spawn(async move {
                p.acquire(WRITE).await;
                d.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // The documented bucket holds 3,000, but the paced rate starts at the documented 20 a
    // second, one write at once.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(done.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(999)).await;
    let first_second = done.load(Ordering::SeqCst);
    assert!((20..=22).contains(&first_second), "{first_second}");
    for t in tasks {
        t.await.unwrap_or_default();
    }
    // All reserved at once, at 20 a second: the last after 199 / 20 s.
    let elapsed = secs(start.elapsed());
    assert!((9.95..9.96).contains(&elapsed), "{elapsed}");
}

#[tokio::test(start_paused = true)]
async fn the_documented_bucket_caps_the_sustained_rate() {
    let pacer = Pacer::new(graph());
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(300) {
        pacer.acquire(WRITE).await;
        n += 1;
    }
    // 3,000 in the bucket plus 20 a second: the most Graph's window admits in 300 s.
    assert!((8_700..=9_001).contains(&n), "{n}");
}

#[tokio::test(start_paused = true)]
async fn a_write_429_cuts_to_the_admitted_rate_and_gates_everyone() {
    let pacer = Pacer::new(graph());
    // Graph admitted 10 writes (one at once, then one every 50 ms), then nothing for 1 s:
    // 10 in the 1.45 s since.
    for _ in 0..10 {
        pacer.acquire(WRITE).await;
        pacer.admitted(WRITE);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    pacer.throttled(WRITE, Some(Duration::from_secs(7)));
    // Another 429 of the same episode does not cut again; a read's 429 never does.
    pacer.throttled(WRITE, Some(Duration::from_secs(3)));
    pacer.throttled(READ, None);
    let stats = pacer.stats();
    let expected = 0.9 * 10.0 / 1.45;
    assert!((stats.write_rate - expected).abs() < 1e-6, "{stats:?}");
    assert_eq!((stats.throttled, stats.cuts), (3, 1));
    let start = Instant::now();
    pacer.acquire(READ).await;
    // The longest Retry-After holds even a read.
    assert!(start.elapsed() >= Duration::from_secs(7));
    // Then the writes leave at the new rate, without a burst.
    let start = Instant::now();
    for _ in 0..10 {
        pacer.acquire(WRITE).await;
    }
    let elapsed = secs(start.elapsed());
    // At most a quarter of a second's worth at once (timers round up to the millisecond).
    assert!(
        elapsed >= (10.0 - expected / 4.0) / expected - 0.02,
        "{elapsed}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_to_a_request_sent_before_the_cut_does_not_cut_again() {
    let pacer = Pacer::new(graph());
    let before = Instant::now();
    for _ in 0..10 {
        pacer.acquire(WRITE).await;
        pacer.admitted(WRITE);
    }
    pacer.throttled(WRITE, None);
    assert_eq!(pacer.stats().cuts, 1);
    // Two ticks later, the answer to a request sent before the cut: same episode.
    tokio::time::sleep(Duration::from_secs(2)).await;
    pacer.throttled_since(WRITE, None, before);
    assert_eq!(pacer.stats().cuts, 1);
    // One sent after it: the new rate is still too high.
    pacer.throttled_since(WRITE, None, Instant::now());
    assert_eq!(pacer.stats().cuts, 2);
}

#[tokio::test(start_paused = true)]
async fn a_read_429_gates_but_keeps_the_rate() {
    let pacer = Pacer::new(graph());
    pacer.throttled(READ, Some(Duration::from_secs(2)));
    assert_eq!(pacer.stats().cuts, 0);
    assert!((pacer.stats().write_rate - 20.0).abs() < 1e-9);
    let start = Instant::now();
    pacer.acquire(WRITE).await;
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

/// Writes at the paced rate for `ticks` seconds, reporting `usage` on each.
async fn busy(pacer: &Pacer, ticks: u64, usage: f64) {
    let end = Instant::now() + Duration::from_secs(ticks);
    while Instant::now() < end {
        pacer.acquire(WRITE).await;
        pacer.admitted(WRITE);
        pacer.usage(usage);
    }
}

#[tokio::test(start_paused = true)]
async fn the_rate_grows_only_in_busy_ticks_without_high_usage() {
    let pacer = Pacer::new(graph());
    // Idle ticks teach nothing.
    tokio::time::sleep(Duration::from_secs(30)).await;
    pacer.acquire(WRITE).await;
    assert!((pacer.stats().write_rate - 20.0).abs() < 1e-9);
    // Busy with usage reported at 85 %: no growth, and the slow start is over.
    busy(&pacer, 5, 0.85).await;
    assert!((pacer.stats().write_rate - 20.0).abs() < 1e-9);
    // Busy below 80 %: 1 % a tick, 0.1 % more with every tick of growth.
    busy(&pacer, 10, 0.5).await;
    let rate = pacer.stats().write_rate;
    let expected: f64 = (0..10)
        .map(|k| 1.0 + 0.01 * (1.0 + f64::from(k) / 10.0))
        .product::<f64>()
        * 20.0;
    assert!(
        (expected * 0.98..=expected * 1.001).contains(&rate),
        "{rate}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_slow_start_doubles_quickly_up_to_four_times_the_quota() {
    let pacer = Pacer::new(graph());
    busy(&pacer, 8, 0.0).await;
    let rate = pacer.stats().write_rate;
    assert!(rate > 20.0 * 1.1f64.powi(6), "{rate}");
    busy(&pacer, 30, 0.0).await;
    assert!((pacer.stats().write_rate - 80.0).abs() < 1e-9);
}

#[tokio::test(start_paused = true)]
async fn a_batch_takes_what_is_covered_within_a_quarter_tick() {
    let pacer = Pacer::new(graph());
    // One at once, then 20 a second: within a quarter of a second of the first, 5 more.
    assert_eq!(pacer.acquire_many(&[WRITE; 20]).await, 6);
    let start = Instant::now();
    let taken = pacer.acquire_many(&[WRITE; 20]).await;
    assert_eq!(taken, 6);
    let elapsed = secs(start.elapsed());
    assert!((0.299..=0.301).contains(&elapsed), "{elapsed}");
    assert_eq!(pacer.acquire_many(&[]).await, 0);
    // Reads only spend resource units: all of them at once.
    assert_eq!(pacer.acquire_many(&[READ; 20]).await, 20);
}

#[test]
fn one_pacer_per_service_tenant_and_application() {
    let q = graph();
    let a = shared("https://graph.example", "t-1", "app-1", q);
    let same = shared("HTTPS://GRAPH.EXAMPLE", "T-1", "APP-1", q);
    assert!(Arc::ptr_eq(&a, &same));
    let other_app = shared("https://graph.example", "t-1", "app-2", q);
    let other_tenant = shared("https://graph.example", "t-2", "app-1", q);
    let other_cloud = shared("https://graph.example.cn", "t-1", "app-1", q);
    for p in [&other_app, &other_tenant, &other_cloud] {
        assert!(!Arc::ptr_eq(&a, p));
    }
    // The last quota configured applies to every user of the pacer.
    let slower = Quota { headroom: 0.5, ..q };
    let _ = shared("https://graph.example", "t-1", "app-1", slower);
    assert_eq!(a.quota(), slower);
}

/// What the simulation measured.
#[derive(Debug)]
struct Outcome {
    achieved: f64,
    throttled_share: f64,
}

/// Eight workers send `total` writes in batches through one pacer configured for Graph's
/// quota, against the emulator's quota model granting `granted` of it (the rest is background
/// load) with a one-second burst window; 40 ms each way.
async fn simulate(granted: f64, total: u64) -> Outcome {
    let share = 1.0 - granted * 20.0 / 60.0;
    let settings = QuotaSettings {
        background_write_share: share,
        burst_window_secs: 1.0,
    };
    let start = Instant::now();
    let server = Arc::new(Mutex::new(Quotas::new(0.0, settings)));
    let pacer = Arc::new(Pacer::new(Quota {
        headroom: 0.99,
        ..graph()
    }));
    let left = Arc::new(AtomicU64::new(total));
    let refused = Arc::new(AtomicU64::new(0));
    let attempts = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (server, pacer) = (server.clone(), pacer.clone());
            let (left, refused, attempts) = (left.clone(), refused.clone(), attempts.clone());
            tokio::spawn(async move {
                let mut mine = 0;
                loop {
                    if mine == 0 {
                        let take = left.load(Ordering::SeqCst).min(20);
                        if take == 0 {
                            return;
                        }
                        left.fetch_sub(take, Ordering::SeqCst);
                        mine = take;
                    }
                    let costs = vec![WRITE; usize::try_from(mine).unwrap_or(20)];
                    let sent = pacer.acquire_many(&costs).await as u64;
                    let sent_at = Instant::now();
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    let now = secs(start.elapsed());
                    let answers: Vec<_> = (0..sent)
                        .map(|_| {
                            let mut q = server.lock().unwrap_or_else(|e| e.into_inner());
                            q.admit("app", Charge::write(), 1_000, now)
                        })
                        .collect();
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    attempts.fetch_add(sent, Ordering::SeqCst);
                    for answer in answers {
                        match answer {
                            Ok(usage) => {
                                mine -= 1;
                                pacer.admitted(WRITE);
                                if usage > 0.8 {
                                    pacer.usage(usage);
                                }
                            }
                            Err(t) => {
                                refused.fetch_add(1, Ordering::SeqCst);
                                let wait = Duration::from_secs_f64(t.wait.ceil().max(1.0));
                                pacer.throttled_since(WRITE, Some(wait), sent_at);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let watch = {
        let pacer = pacer.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                if std::env::var("PACING_TRACE").is_ok() {
                    eprintln!("{:.0}s {:?}", secs(start.elapsed()), pacer.stats());
                }
            }
        })
    };
    for w in workers {
        w.await.unwrap_or_default();
    }
    watch.abort();
    let elapsed = secs(start.elapsed());
    let granted_rate = 20.0 * granted;
    // What the server could admit in that time: its burst window and its rate.
    let admissible = granted_rate * (elapsed + 1.0);
    Outcome {
        achieved: total as f64 / admissible,
        throttled_share: refused.load(Ordering::SeqCst) as f64
            / attempts.load(Ordering::SeqCst).max(1) as f64,
    }
}

#[tokio::test(start_paused = true)]
async fn converges_to_the_rate_graph_grants_without_running_into_it() {
    for (granted, total) in [(0.25, 1_500), (0.5, 3_000), (1.0, 6_000)] {
        let o = simulate(granted, total).await;
        eprintln!("granted {granted}: {o:?}");
        assert!(o.achieved >= 0.90, "granted {granted}: {o:?}");
        assert!(o.throttled_share < 0.05, "granted {granted}: {o:?}");
    }
}
