//! Pacing: every request waits for its share of the Graph quotas of its (tenant, application)
//! before it is sent, so a migration runs just under the rate Graph grants instead of into it
//! (graph-api.md §8, §14).
//!
//! Quotas belong to an application in a tenant, not to a resource: one [`Pacer`] per (Graph
//! service, tenant id, client id) is shared by every client of the process ([`shared`]), so
//! two policies for one tenant and application pace to one budget together.
//!
//! Three budgets, all on one clock:
//! - **documented writes** (3,000 per 150 s): a bucket of the documented size filled at
//!   `headroom` of the documented rate; the client never sends writes beyond it;
//! - **documented resource units** (3,500 / 5,000 / 8,000 per 10 s by tenant size; the
//!   smallest by default, since the client cannot know the size), the same way;
//! - **the granted write rate**, adaptive: the tenant's 18,000 writes per 5 minutes are shared
//!   by every application in the tenant, so Graph may grant less than the documented quota, and
//!   it may refuse bursts the long windows would admit. The paced rate starts at twice the
//!   documented rate (the long bucket still caps it), grows by 10 % a tick ("slow start") until
//!   the first sign of the limit, then by 1 % a tick (additive, relative to the rate), and only
//!   in ticks where the client used at least half of it and Graph reported no usage at or above
//!   80 % (`x-ms-throttle-limit-percentage`). A write answered 429 cuts the rate to 90 % of the
//!   write rate Graph admitted over the last tick or two (at most once a tick), and everyone
//!   waits out the longest `Retry-After` (the gate). A tick is 1/150 of the write window (1 s).
//!
//! Writes leave at the paced rate, never as a burst: the adaptive budget holds at most a
//! quarter of a tick of writes, and a JSON batch takes only the writes covered within a
//! quarter of a tick of its first ([`Pacer::acquire_many`]); the rest go in the next batch.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use admitted::Admitted;
pub use registry::{live, live_for, shared};

mod admitted;
mod registry;

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

    /// The adaptive controller's time step: 1/150 of the write window (1 s for Graph's).
    pub fn tick(&self) -> f64 {
        (self.write_window.as_secs_f64() / 150.0).max(1e-3)
    }

    /// The quota with its windows shortened by `time_scale` (tenant seconds per real second,
    /// above 1 against an emulator running faster; ignored unless finite and positive): the
    /// client then paces as the faster tenant's quotas allow.
    pub fn scaled(self, time_scale: f64) -> Self {
        if !(time_scale.is_finite() && time_scale > 0.0) {
            return self;
        }
        let shrink = |w: Duration| {
            Duration::try_from_secs_f64(w.as_secs_f64() / time_scale).unwrap_or(Duration::MAX)
        };
        Self {
            write_window: shrink(self.write_window),
            ru_window: shrink(self.ru_window),
            ..self
        }
    }

    fn clamped(self) -> Self {
        let headroom = if self.headroom.is_finite() {
            self.headroom.clamp(0.5, 1.0)
        } else {
            1.0
        };
        Self { headroom, ..self }
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

/// The paced rate at start, as a multiple of the documented write rate.
const START: f64 = 1.0;
/// Highest paced rate (the documented bucket caps the sustained rate anyway).
const MAX: f64 = 4.0;
/// Lowest paced rate: a fifth of the documented one. 429s that are not about the rate (Graph
/// answers them "under service load", below the quotas) keep coming whatever the rate, and a
/// rate cut by each would starve a rollout; `Retry-After` still holds every request.
const MIN: f64 = 0.2;
/// Growth per tick before the first sign of the limit.
const SLOW_START_GAIN: f64 = 0.10;
/// Growth per tick after it, right after a cut; it grows by as much again every
/// `CALM_TICKS` ticks of growth without a cut (up to the slow start's), so a rate cut by 429s
/// that were not about the rate (a storm, a fault) comes back within tens of ticks.
const PROBE_GAIN: f64 = 0.01;
const CALM_TICKS: f64 = 10.0;
/// What a 429 leaves of the admitted rate.
const CUT: f64 = 0.9;
/// The share of a tick's worth of writes that may leave at once (and gather in one batch).
const SPAN: f64 = 0.25;
/// A tick counts towards growth only if this share of the paced rate was used.
const BUSY: f64 = 0.5;
/// Usage reported at or above this holds the growth.
const HIGH_USAGE: f64 = 0.8;

/// A token bucket whose level may go below zero: reservations queue behind each other.
#[derive(Debug)]
struct Bucket {
    level: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, capacity: f64, rate: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * rate).min(capacity);
        self.updated = now;
    }

    /// Seconds until `cost` is covered, reserving it after the refill.
    fn wait(&self, cost: f64, rate: f64) -> f64 {
        let short = cost - self.level;
        if short <= 0.0 {
            0.0
        } else if rate > 0.0 {
            short / rate
        } else {
            f64::INFINITY
        }
    }
}

#[derive(Debug)]
struct State {
    quota: Quota,
    writes: Bucket,
    ru: Bucket,
    paced: Bucket,
    /// The adaptive write rate (writes per second).
    rate: f64,
    /// Before the first sign of the limit.
    slow_start: bool,
    /// Ticks of growth since the last cut.
    calm: f64,
    tick_start: Instant,
    /// Writes reserved in the current tick, and whether high usage was reported in it.
    sent_in_tick: f64,
    high_usage: bool,
    admitted: Admitted,
    last_cut: Option<Instant>,
    /// No request starts before this (the longest `Retry-After` seen).
    gate: Option<Instant>,
    waits: u64,
    waited: Duration,
    throttled: u64,
    cuts: u64,
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
    /// Times a 429 cut the paced rate.
    pub cuts: u64,
    /// The paced write rate now (writes per second).
    pub write_rate: f64,
    /// The same, as a share of the documented write rate at the headroom.
    pub factor: f64,
}

/// The pacer of one (tenant, application), shared by every client using it.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer for `quota`, with full documented buckets.
    pub fn new(quota: Quota) -> Self {
        let now = Instant::now();
        let quota = quota.clamped();
        let full = |capacity: f64| Bucket {
            level: capacity,
            updated: now,
        };
        let rate = quota.write_rate() * START;
        let burst = (rate * quota.tick() * SPAN).max(1.0);
        Self {
            state: Mutex::new(State {
                writes: full((quota.writes * quota.headroom).max(1.0)),
                ru: full((quota.resource_units * quota.headroom).max(1.0)),
                paced: full(1.0_f64.min(burst)),
                rate,
                slow_start: true,
                calm: 0.0,
                tick_start: now,
                sent_in_tick: 0.0,
                high_usage: false,
                admitted: Admitted::new(now),
                last_cut: None,
                gate: None,
                waits: 0,
                waited: Duration::ZERO,
                throttled: 0,
                cuts: 0,
                quota,
            }),
        }
    }

    /// The quota it paces to.
    pub fn quota(&self) -> Quota {
        self.lock().quota
    }

    /// Paces to `quota` from now on (the adaptive rate is kept, within the new bounds).
    pub fn set_quota(&self, quota: Quota) {
        let quota = quota.clamped();
        let mut s = self.lock();
        if s.quota != quota {
            let r0 = quota.write_rate();
            s.rate = s.rate.clamp(r0 * MIN, r0 * MAX);
            s.quota = quota;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves `cost` and returns how long to wait before sending; with `within`, reserves
    /// only if the wait is no longer (else `None`, nothing reserved).
    fn reserve(&self, cost: Cost, now: Instant, within: Option<f64>) -> Option<Duration> {
        let mut s = self.lock();
        s.advance(now);
        let q = s.quota;
        let (r0, ru_rate) = (q.write_rate(), q.ru_rate());
        let rate = s.rate;
        s.ru.refill((q.resource_units * q.headroom).max(1.0), ru_rate, now);
        let ru = f64::from(cost.ru);
        let mut wait = s.ru.wait(ru, ru_rate);
        if cost.write {
            s.writes.refill((q.writes * q.headroom).max(1.0), r0, now);
            s.paced.refill((rate * q.tick() * SPAN).max(1.0), rate, now);
            wait = wait
                .max(s.writes.wait(1.0, r0))
                .max(s.paced.wait(1.0, rate));
        }
        let gate = match s.gate {
            Some(g) if g > now => (g - now).as_secs_f64(),
            _ => {
                s.gate = None;
                0.0
            }
        };
        let wait = wait.max(gate);
        if within.is_some_and(|w| wait > w) {
            return None;
        }
        s.ru.level -= ru;
        if cost.write {
            s.writes.level -= 1.0;
            s.paced.level -= 1.0;
            s.sent_in_tick += 1.0;
        }
        let wait = Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX);
        if !wait.is_zero() {
            s.waits += 1;
            s.waited = s.waited.saturating_add(wait);
        }
        Some(wait)
    }

    /// Waits until a request of this cost may be sent.
    pub async fn acquire(&self, cost: Cost) {
        let wait = self
            .reserve(cost, Instant::now(), None)
            .unwrap_or(Duration::ZERO);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.gated().await;
    }

    /// Waits for a gate shut while this request waited its turn: a 429 answered meanwhile
    /// holds it too (else it would surely be refused as well).
    async fn gated(&self) {
        for _ in 0..8 {
            let gate = self.lock().gate;
            match gate {
                Some(g) if g > Instant::now() => tokio::time::sleep_until(g).await,
                _ => return,
            }
        }
    }

    /// Waits for the first of `costs`, then takes the next ones as long as each is covered
    /// within a quarter of a tick of the first; returns how many were taken (at least one,
    /// unless `costs` is empty). Those go out together, in one batch.
    pub async fn acquire_many(&self, costs: &[Cost]) -> usize {
        let Some((first, rest)) = costs.split_first() else {
            return 0;
        };
        self.acquire(*first).await;
        let covered = Instant::now();
        let span = self.lock().quota.tick() * SPAN;
        let mut taken = 1;
        for cost in rest {
            let now = Instant::now();
            let left = span - now.saturating_duration_since(covered).as_secs_f64();
            // Timers round up to the millisecond.
            match self.reserve(*cost, now, Some(left.max(0.0) + 1e-3)) {
                Some(wait) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    self.gated().await;
                    taken += 1;
                }
                None => break,
            }
        }
        taken
    }

    /// Graph answered a request of this cost with something other than 429: it was admitted
    /// (and charged).
    pub fn admitted(&self, cost: Cost) {
        if !cost.write {
            return;
        }
        let now = Instant::now();
        let mut s = self.lock();
        s.advance(now);
        let tick = s.quota.tick();
        s.admitted.record(now, tick);
    }

    /// Graph answered 429: everyone waits `retry_after` (if given; the caller bounds it), the
    /// adaptive budget gives up what it held (no burst when the gate opens) and, for a write,
    /// the paced rate drops to 90 % of the rate Graph admitted, at most once a tick (the 429s
    /// of one batch or one burst are one episode).
    pub fn throttled(&self, cost: Cost, retry_after: Option<Duration>) {
        self.throttled_since(cost, retry_after, Instant::now());
    }

    /// [`Pacer::throttled`] for a request sent at `sent`: one sent before the last cut was
    /// paced at the old rate, so its 429 belongs to the episode that cut (no second cut).
    pub fn throttled_since(&self, cost: Cost, retry_after: Option<Duration>, sent: Instant) {
        let now = Instant::now();
        let mut s = self.lock();
        s.advance(now);
        s.throttled += 1;
        let tick = s.quota.tick();
        let r0 = s.quota.write_rate();
        let due = s
            .last_cut
            .is_none_or(|t| sent >= t && now.saturating_duration_since(t).as_secs_f64() >= tick);
        if cost.write && due {
            // Too few admitted writes to measure a rate: halve.
            let cut = match s.admitted.rate(now, tick) {
                Some(admitted) => s.rate.min(admitted) * CUT,
                None => s.rate * 0.5,
            };
            s.rate = cut.clamp(r0 * MIN, r0 * MAX);
            s.slow_start = false;
            s.calm = 0.0;
            s.last_cut = Some(now);
            s.cuts += 1;
        }
        s.paced.level = s.paced.level.min(0.0);
        if let Some(d) = retry_after {
            let until = now.checked_add(d).unwrap_or(now);
            s.gate = Some(s.gate.map_or(until, |g| g.max(until)));
        }
    }

    /// Graph reported `x-ms-throttle-limit-percentage` (1.0 = at the limit): at 80 % or more,
    /// the paced rate stops growing for this tick, and the slow start ends.
    pub fn usage(&self, fraction: f64) {
        if fraction.is_nan() || fraction < HIGH_USAGE {
            return;
        }
        let now = Instant::now();
        let mut s = self.lock();
        s.advance(now);
        s.high_usage = true;
        s.slow_start = false;
    }

    /// What it has done so far.
    pub fn stats(&self) -> PacingStats {
        let s = self.lock();
        PacingStats {
            waits: s.waits,
            waited: s.waited,
            throttled: s.throttled,
            cuts: s.cuts,
            write_rate: s.rate,
            factor: s.rate / s.quota.write_rate().max(1e-9),
        }
    }
}

impl State {
    /// Closes the ticks that ended before `now`: each busy tick without high usage grows the
    /// rate.
    fn advance(&mut self, now: Instant) {
        let tick = self.quota.tick();
        let r0 = self.quota.write_rate();
        let step = Duration::from_secs_f64(tick);
        for _ in 0..1_000 {
            let Some(end) = self.tick_start.checked_add(step) else {
                break;
            };
            if end > now {
                return;
            }
            let busy = self.sent_in_tick >= BUSY * self.rate * tick;
            if busy && !self.high_usage {
                let gain = if self.slow_start {
                    SLOW_START_GAIN
                } else {
                    (PROBE_GAIN * (1.0 + self.calm / CALM_TICKS)).min(SLOW_START_GAIN)
                };
                self.rate = (self.rate * (1.0 + gain)).min(r0 * MAX);
                self.calm += 1.0;
            }
            self.tick_start = end;
            self.sent_in_tick = 0.0;
            self.high_usage = false;
        }
        // Idle for more than 1,000 ticks: nothing to learn from them.
        self.tick_start = now;
    }
}

#[cfg(test)]
mod tests;
