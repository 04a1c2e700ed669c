//! Pacing: every request of a client waits for its share of the tenant's Graph quotas before it
//! is sent, so a migration runs just under the ceiling instead of into it (graph-api.md §8).
//!
//! Two token buckets per (tenant, application), shared by every reconciler using the client:
//! writes (3,000 per 150 s) and resource units (3,500 / 5,000 / 8,000 per 10 s by tenant size;
//! the smallest is the default, since the client cannot know the size). Each is filled at
//! `headroom` (95 %) of the documented rate. A request reserves its cost and sleeps until the
//! reservation is covered, so concurrent callers are spaced out fairly, first come first served.
//!
//! Graph can answer 429 below the documented numbers under load. Then every caller waits out
//! the longest `Retry-After` seen (a gate), and the rate drops by a third, coming back by 5 %
//! of the documented rate per second without a new 429. An answer reporting
//! `x-ms-throttle-limit-percentage` of 95 % or more slows the rate by 5 % (at most once a
//! second), before Graph has to refuse anything.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The limits the client paces itself to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Write requests per `write_window` (per application and tenant).
    pub writes: f64,
    /// Window of the write quota.
    pub write_window: Duration,
    /// Resource units per `ru_window` (per application and tenant).
    pub resource_units: f64,
    /// Window of the resource-unit quota.
    pub ru_window: Duration,
    /// Share of the documented rate to use (0.5 to 1).
    pub headroom: f64,
}

impl Default for Quota {
    /// Graph's documented quotas for a small tenant, at 95 %.
    fn default() -> Self {
        Self {
            writes: 3_000.0,
            write_window: Duration::from_secs(150),
            resource_units: 3_500.0,
            ru_window: Duration::from_secs(10),
            headroom: 0.95,
        }
    }
}

impl Quota {
    /// Writes per second at full speed.
    pub fn write_rate(&self) -> f64 {
        self.writes * self.headroom / self.write_window.as_secs_f64().max(1e-3)
    }

    /// Resource units per second at full speed.
    pub fn ru_rate(&self) -> f64 {
        self.resource_units * self.headroom / self.ru_window.as_secs_f64().max(1e-3)
    }
}

/// What one request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Resource units.
    pub ru: u32,
    /// Whether it counts against the write quota.
    pub write: bool,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    fn new(capacity: f64, now: Instant) -> Self {
        Self {
            capacity,
            level: capacity,
            updated: now,
        }
    }

    /// Reserves `cost` at `rate`; returns how long until it is covered.
    fn reserve(&mut self, cost: f64, rate: f64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * rate).min(self.capacity);
        self.updated = now;
        self.level -= cost;
        if self.level >= 0.0 || rate <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.level / rate).unwrap_or(Duration::MAX)
        }
    }
}

#[derive(Debug)]
struct State {
    writes: Bucket,
    ru: Bucket,
    /// Share of the full rate in use after throttling (0.2 to 1).
    factor: f64,
    /// When `factor` was last changed or recovered.
    adjusted: Instant,
    /// When a high usage report last slowed the rate.
    slowed: Instant,
    /// No request starts before this (the longest `Retry-After` seen).
    gate: Option<Instant>,
    /// Requests that waited, and how long in all.
    waits: u64,
    waited: Duration,
    throttled: u64,
}

/// What pacing has done so far (for metrics and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingStats {
    /// Requests that had to wait.
    pub waits: u64,
    /// Time waited in all.
    pub waited: Duration,
    /// 429 answers reported.
    pub throttled: u64,
    /// Share of the full rate in use now.
    pub factor: f64,
}

/// The shared pacer of one client.
#[derive(Debug)]
pub struct Pacer {
    quota: Quota,
    state: Mutex<State>,
}

const MIN_FACTOR: f64 = 0.2;
/// Recovery: share of the full rate regained per second without a 429.
const RECOVERY_PER_SEC: f64 = 0.05;

impl Pacer {
    /// A pacer for `quota`, with full buckets.
    pub fn new(quota: Quota) -> Self {
        let now = Instant::now();
        let headroom = quota.headroom.clamp(0.5, 1.0);
        let quota = Quota { headroom, ..quota };
        Self {
            state: Mutex::new(State {
                writes: Bucket::new((quota.writes * headroom).max(1.0), now),
                ru: Bucket::new((quota.resource_units * headroom).max(1.0), now),
                factor: 1.0,
                adjusted: now,
                slowed: now,
                gate: None,
                waits: 0,
                waited: Duration::ZERO,
                throttled: 0,
            }),
            quota,
        }
    }

    /// The quota it paces to.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves `cost` and returns how long to wait before sending.
    fn reserve(&self, cost: Cost, now: Instant) -> Duration {
        let mut s = self.lock();
        let since = now.saturating_duration_since(s.adjusted).as_secs_f64();
        if s.factor < 1.0 {
            s.factor = (s.factor + since * RECOVERY_PER_SEC).min(1.0);
        }
        s.adjusted = now;
        let factor = s.factor;
        let mut wait =
            s.ru.reserve(f64::from(cost.ru), self.quota.ru_rate() * factor, now);
        if cost.write {
            wait = wait.max(s.writes.reserve(1.0, self.quota.write_rate() * factor, now));
        }
        if let Some(gate) = s.gate {
            if gate > now {
                wait = wait.max(gate - now);
            } else {
                s.gate = None;
            }
        }
        if !wait.is_zero() {
            s.waits += 1;
            s.waited = s.waited.saturating_add(wait);
        }
        wait
    }

    /// Waits until a request of this cost may be sent.
    pub async fn acquire(&self, cost: Cost) {
        let wait = self.reserve(cost, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Graph answered 429: everyone waits `retry_after` (if given; the caller bounds it), the
    /// buckets give up what they held (so no burst leaves when the gate opens), and the rate
    /// drops by a third, once per throttling episode (many 429s of one batch or one burst
    /// while the gate is shut count as one).
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let now = Instant::now();
        let mut s = self.lock();
        s.throttled += 1;
        let gate_open = s.gate.is_none_or(|g| g <= now);
        if gate_open {
            s.factor = (s.factor * (2.0 / 3.0)).max(MIN_FACTOR);
        }
        s.adjusted = now;
        s.writes.level = s.writes.level.min(0.0);
        s.ru.level = s.ru.level.min(0.0);
        if let Some(d) = retry_after {
            let until = now.checked_add(d).unwrap_or(now);
            s.gate = Some(s.gate.map_or(until, |g| g.max(until)));
        } else if gate_open {
            s.gate = None;
        }
    }

    /// Graph reported `x-ms-throttle-limit-percentage` (1.0 = at the limit).
    pub fn usage(&self, fraction: f64) {
        if fraction.is_nan() || fraction < 0.95 {
            return;
        }
        let now = Instant::now();
        let mut s = self.lock();
        if now.saturating_duration_since(s.slowed) >= Duration::from_secs(1) {
            s.factor = (s.factor * 0.95).max(MIN_FACTOR);
            s.adjusted = now;
            s.slowed = now;
        }
    }

    /// What it has done so far.
    pub fn stats(&self) -> PacingStats {
        let s = self.lock();
        PacingStats {
            waits: s.waits,
            waited: s.waited,
            throttled: s.throttled,
            factor: s.factor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITE: Cost = Cost { ru: 1, write: true };

    fn small() -> Quota {
        Quota {
            writes: 10.0,
            write_window: Duration::from_secs(10),
            resource_units: 1_000.0,
            ru_window: Duration::from_secs(10),
            headroom: 1.0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn writes_flow_at_the_quota_rate_after_the_burst() {
        let pacer = Pacer::new(small());
        let start = Instant::now();
        // The bucket starts full: ten writes at once, then one a second.
        for _ in 0..10 {
            pacer.acquire(WRITE).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..5 {
            pacer.acquire(WRITE).await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert!((4.99..5.01).contains(&elapsed), "{elapsed}");
        assert_eq!(pacer.stats().waits, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_budget() {
        let pacer = std::sync::Arc::new(Pacer::new(small()));
        let start = Instant::now();
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let p = pacer.clone();
                tokio::spawn(async move { p.acquire(WRITE).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap_or_default();
        }
        // 10 from the full bucket, 20 more at one a second.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((19.99..20.01).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn reads_spend_resource_units_only() {
        let pacer = Pacer::new(Quota {
            resource_units: 10.0,
            ..small()
        });
        let start = Instant::now();
        for _ in 0..5 {
            pacer
                .acquire(Cost {
                    ru: 2,
                    write: false,
                })
                .await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        pacer
            .acquire(Cost {
                ru: 2,
                write: false,
            })
            .await;
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.99..2.01).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_gates_everyone_and_slows_the_rate_until_it_recovers() {
        let pacer = Pacer::new(small());
        for _ in 0..10 {
            pacer.acquire(WRITE).await;
        }
        pacer.throttled(Some(Duration::from_secs(7)));
        // A second 429 while the gate is shut is the same episode: no second cut.
        pacer.throttled(Some(Duration::from_secs(3)));
        let stats = pacer.stats();
        assert!((stats.factor - 2.0 / 3.0).abs() < 1e-9, "{}", stats.factor);
        let start = Instant::now();
        pacer
            .acquire(Cost {
                ru: 1,
                write: false,
            })
            .await;
        // The longest Retry-After holds even a read.
        assert!(start.elapsed() >= Duration::from_secs(7));
        // Recovery: 5 % a second, full after about 11 s more without a 429.
        tokio::time::sleep(Duration::from_secs(12)).await;
        pacer
            .acquire(Cost {
                ru: 1,
                write: false,
            })
            .await;
        assert!((pacer.stats().factor - 1.0).abs() < 1e-9);
        assert_eq!(pacer.stats().throttled, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_on_a_full_bucket_leaves_no_burst() {
        let pacer = Pacer::new(small());
        pacer.throttled(None);
        let start = Instant::now();
        pacer.acquire(WRITE).await;
        // Emptied, refilling at two thirds of one write a second: 1.5 s for the first write.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.49..1.51).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn high_usage_reports_slow_down_once_a_second() {
        let pacer = Pacer::new(small());
        tokio::time::sleep(Duration::from_secs(2)).await;
        pacer.usage(0.5);
        assert_eq!(pacer.stats().factor, 1.0);
        pacer.usage(0.97);
        pacer.usage(1.2);
        assert!((pacer.stats().factor - 0.95).abs() < 1e-9);
        pacer.usage(f64::NAN);
        assert!((pacer.stats().factor - 0.95).abs() < 1e-9);
    }

    #[test]
    fn the_default_is_the_small_tenant_quota_at_95_percent() {
        let q = Quota::default();
        assert!((q.write_rate() - 19.0).abs() < 1e-9);
        assert!((q.ru_rate() - 332.5).abs() < 1e-9);
    }
}
