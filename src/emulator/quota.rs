//! Graph's identity-service throttling (graph-api.md §8) as token buckets on the emulated clock.
//!
//! Pure: every operation takes the emulated time (seconds) explicitly.
//! - resource units per application + tenant per 10 s: 3,500 / 5,000 / 8,000 for tenants with
//!   < 50 / 50–500 / > 500 users;
//! - writes per application + tenant: 3,000 per 150 s;
//! - writes per tenant (all applications): 18,000 per 300 s.
//!
//! The emulator has one tenant, so the application + tenant buckets are kept per application
//! (client id) and the tenant write bucket is shared by all of them.
//!
//! Two harsher modes ([`QuotaSettings`]; background load on by default, mild; the burst
//! window off):
//! - **background load**: other applications of the tenant use a share of the tenant's write
//!   budget continuously (Microsoft: the 18,000 per 5 minutes are per tenant, "all apps"). It
//!   is modelled as that share taken out of every window of the tenant's write budget (capacity
//!   and refill alike), so what the emulator's own clients are granted is the rest;
//! - **burst window**: each write budget is also enforced over a short window (`burst_window`
//!   seconds, capacity = the budget's rate × the window), so a burst that the long window
//!   would admit is refused. Microsoft documents only the long windows and that 429s can come
//!   "below these numbers"; the short window is an assumption (UNCONFIRMED), the way an
//!   independent stand-in of Graph behaved.
//!
//! Throttled requests are not charged, so waiting the advertised time always suffices.

use std::collections::HashMap;

/// A continuously refilling token bucket: `capacity` tokens per `window` seconds.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    window: f64,
    level: f64,
    last: f64,
}

/// Float slack so that waiting exactly the advertised time is enough.
const EPSILON: f64 = 1e-9;

impl Bucket {
    /// A full bucket at time `now`.
    pub fn new(capacity: f64, window: f64, now: f64) -> Self {
        Self {
            capacity,
            window,
            level: capacity,
            last: now,
        }
    }

    fn rate(&self) -> f64 {
        self.capacity / self.window
    }

    fn refill(&mut self, now: f64) {
        if now > self.last {
            self.level = (self.level + (now - self.last) * self.rate()).min(self.capacity);
            self.last = now;
        }
    }

    /// Changes the capacity (tenant size changed), keeping what is used.
    pub fn set_capacity(&mut self, capacity: f64, now: f64) {
        self.refill(now);
        let used = self.capacity - self.level;
        self.capacity = capacity;
        self.level = (capacity - used).max(0.0);
    }

    /// `None` if `cost` can be taken at `now`, else the seconds to wait until it can.
    pub fn wait_for(&mut self, cost: f64, now: f64) -> Option<f64> {
        self.refill(now);
        if self.level + EPSILON >= cost {
            None
        } else {
            Some((cost - self.level) / self.rate())
        }
    }

    /// Takes `cost` tokens (after [`Bucket::wait_for`] said they are there).
    pub fn take(&mut self, cost: f64) {
        self.level = (self.level - cost).max(0.0);
    }

    /// Fraction of the capacity in use, plus `extra` tokens.
    pub fn usage(&self, extra: f64) -> f64 {
        (self.capacity - self.level + extra) / self.capacity
    }
}

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Resource units, application + tenant.
    ResourceUnits,
    /// Writes, application + tenant.
    AppWrites,
    /// Writes, tenant (all applications).
    TenantWrites,
}

impl Limit {
    /// `x-ms-throttle-scope` value.
    pub fn scope(self, app_id: &str, tenant_id: &str) -> String {
        let (scope, kind) = match self {
            Limit::ResourceUnits => ("Tenant_Application", "ReadWrite"),
            Limit::AppWrites => ("Tenant_Application", "Write"),
            Limit::TenantWrites => ("Tenant", "Write"),
        };
        format!("{scope}/{kind}/{app_id}/{tenant_id}")
    }

    /// `x-ms-throttle-information` value.
    pub fn information(self) -> &'static str {
        match self {
            Limit::ResourceUnits => "ResourceUnitLimitExceeded",
            Limit::AppWrites | Limit::TenantWrites => "WriteLimitExceeded",
        }
    }
}

/// What a request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Resource units.
    pub ru: u32,
    /// Write requests (0 or 1).
    pub writes: u32,
}

impl Charge {
    /// A read costing `base` RU before modifiers (`$select` −1, `$top` < 20 −1, never below 1).
    pub fn read(base: u32, select: bool, small_top: bool) -> Self {
        let ru = base
            .saturating_sub(u32::from(select))
            .saturating_sub(u32::from(small_top))
            .max(1);
        Self { ru, writes: 0 }
    }

    /// A write: 1 RU and 1 write.
    pub fn write() -> Self {
        Self { ru: 1, writes: 1 }
    }
}

/// A refusal: which limit, how long to wait (emulated seconds) and the usage it would reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttled {
    /// The limit exceeded (the one asking for the longest wait).
    pub limit: Limit,
    /// Emulated seconds until the request would be admitted.
    pub wait: f64,
    /// Usage fraction the request would bring that limit to (above 1).
    pub usage: f64,
}

/// Resource-unit capacity per 10 s for a tenant with `users` users.
pub fn ru_capacity(users: usize) -> f64 {
    match users {
        0..50 => 3_500.0,
        50..=500 => 5_000.0,
        _ => 8_000.0,
    }
}

/// Writes per second of the application + tenant write budget (3,000 per 150 s).
pub const APP_WRITE_RATE: f64 = 3_000.0 / 150.0;
/// Writes per second of the tenant's write budget, all applications (18,000 per 300 s).
pub const TENANT_WRITE_RATE: f64 = 18_000.0 / 300.0;
/// Largest background share accepted: the emulator's clients keep at least 1 %.
pub const MAX_BACKGROUND_SHARE: f64 = 0.99;
/// Longest burst window accepted (emulated seconds): the application's long window.
pub const MAX_BURST_WINDOW: f64 = 150.0;

/// Share of the tenant's write budget other applications use by default: a quarter (15 of its
/// 60 writes a second). One application still gets its whole 20 a second; three at full speed
/// no longer do, as in a tenant where HR provisioning, Teams and others write too.
pub const DEFAULT_BACKGROUND_SHARE: f64 = 0.25;
/// Burst window by default (emulated seconds): off. Microsoft documents the write limits over
/// the long windows only (a short window for writes is UNCONFIRMED), and the operator's pacer
/// uses the long window's burst, which a short window would refuse (`--burst-window 10s`
/// shows what that costs; the adaptive-pacing benchmark runs with `1s`).
pub const DEFAULT_BURST_WINDOW: f64 = 0.0;

/// The harsher throttling modes, changeable at run time (`PUT /_emulator/quotas`): background
/// load on by default ([`DEFAULT_BACKGROUND_SHARE`]), the burst window off
/// ([`DEFAULT_BURST_WINDOW`]); [`QuotaSettings::OFF`] turns both off.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaSettings {
    /// Share (0 to 0.99) of the tenant's write budget used by other applications.
    #[serde(default = "default_share")]
    pub background_write_share: f64,
    /// Short window (emulated seconds) over which every write budget is also enforced; 0: off.
    #[serde(default = "default_window")]
    pub burst_window_secs: f64,
}

fn default_share() -> f64 {
    DEFAULT_BACKGROUND_SHARE
}

fn default_window() -> f64 {
    DEFAULT_BURST_WINDOW
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            background_write_share: DEFAULT_BACKGROUND_SHARE,
            burst_window_secs: DEFAULT_BURST_WINDOW,
        }
    }
}

impl QuotaSettings {
    /// Neither mode: the documented long windows alone.
    pub const OFF: Self = Self {
        background_write_share: 0.0,
        burst_window_secs: 0.0,
    };

    /// Checks the ranges; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let share = self.background_write_share;
        if !share.is_finite() || !(0.0..=MAX_BACKGROUND_SHARE).contains(&share) {
            return Err(format!(
                "backgroundWriteShare must be between 0 and {MAX_BACKGROUND_SHARE}"
            ));
        }
        let window = self.burst_window_secs;
        if !window.is_finite() || !(0.0..=MAX_BURST_WINDOW).contains(&window) {
            return Err(format!(
                "burstWindowSecs must be between 0 and {MAX_BURST_WINDOW}"
            ));
        }
        Ok(())
    }

    /// The same, brought into the accepted ranges (non-finite values read as 0).
    pub fn clamped(self) -> Self {
        let fix = |x: f64, max: f64| {
            if x.is_finite() {
                x.clamp(0.0, max)
            } else {
                0.0
            }
        };
        Self {
            background_write_share: fix(self.background_write_share, MAX_BACKGROUND_SHARE),
            burst_window_secs: fix(self.burst_window_secs, MAX_BURST_WINDOW),
        }
    }

    /// Writes per second the emulator's clients are granted together, after background load.
    pub fn tenant_write_rate(&self) -> f64 {
        TENANT_WRITE_RATE * (1.0 - self.background_write_share)
    }

    /// The short-window bucket of a budget of `rate` writes per second, if the mode is on.
    fn burst(&self, rate: f64, now: f64) -> Option<Bucket> {
        let w = self.burst_window_secs;
        (w > 0.0).then(|| Bucket::new((rate * w).max(1.0), w, now))
    }
}

/// The application + tenant buckets of one application.
#[derive(Debug, Clone)]
struct AppBuckets {
    ru: Bucket,
    writes: Bucket,
    /// The write budget over the burst window.
    burst: Option<Bucket>,
}

impl AppBuckets {
    fn new(users: usize, settings: &QuotaSettings, now: f64) -> Self {
        Self {
            ru: Bucket::new(ru_capacity(users), 10.0, now),
            writes: Bucket::new(3_000.0, 150.0, now),
            burst: settings.burst(APP_WRITE_RATE, now),
        }
    }
}

/// The buckets of every application in the emulator's one tenant.
#[derive(Debug, Clone)]
pub struct Quotas {
    apps: HashMap<String, AppBuckets>,
    tenant_writes: Bucket,
    tenant_burst: Option<Bucket>,
    settings: QuotaSettings,
}

impl Quotas {
    /// A full tenant write bucket at `now` (less the background share); an application's
    /// buckets start full at its first request, sized for the tenant then.
    pub fn new(now: f64, settings: QuotaSettings) -> Self {
        let settings = settings.clamped();
        let granted = 1.0 - settings.background_write_share;
        Self {
            apps: HashMap::new(),
            tenant_writes: Bucket::new((18_000.0 * granted).max(1.0), 300.0, now),
            tenant_burst: settings.burst(settings.tenant_write_rate(), now),
            settings,
        }
    }

    /// The modes in force.
    pub fn settings(&self) -> QuotaSettings {
        self.settings
    }

    /// Changes the modes at `now`: the tenant budget keeps what it has used; short windows
    /// start full.
    pub fn set_settings(&mut self, settings: QuotaSettings, now: f64) {
        let settings = settings.clamped();
        let granted = 1.0 - settings.background_write_share;
        self.tenant_writes
            .set_capacity((18_000.0 * granted).max(1.0), now);
        self.tenant_burst = settings.burst(settings.tenant_write_rate(), now);
        for app in self.apps.values_mut() {
            app.burst = settings.burst(APP_WRITE_RATE, now);
        }
        self.settings = settings;
    }

    /// Admits and charges a request of application `app` (client id), returning the highest
    /// usage fraction afterwards, or refuses it without charging anything.
    pub fn admit(
        &mut self,
        app: &str,
        charge: Charge,
        users: usize,
        now: f64,
    ) -> Result<f64, Throttled> {
        let settings = self.settings;
        let buckets = self
            .apps
            .entry(app.to_ascii_lowercase())
            .or_insert_with(|| AppBuckets::new(users, &settings, now));
        buckets.ru.set_capacity(ru_capacity(users), now);
        let ru = f64::from(charge.ru);
        let writes = f64::from(charge.writes);
        let mut worst: Option<Throttled> = None;
        let mut check = |bucket: &mut Bucket, cost: f64, limit: Limit| {
            if cost <= 0.0 {
                return;
            }
            if let Some(wait) = bucket.wait_for(cost, now)
                && worst.is_none_or(|w| wait > w.wait)
            {
                let usage = bucket.usage(cost);
                worst = Some(Throttled { limit, wait, usage });
            }
        };
        check(&mut buckets.ru, ru, Limit::ResourceUnits);
        check(&mut buckets.writes, writes, Limit::AppWrites);
        check(&mut self.tenant_writes, writes, Limit::TenantWrites);
        if let Some(b) = buckets.burst.as_mut() {
            check(b, writes, Limit::AppWrites);
        }
        if let Some(b) = self.tenant_burst.as_mut() {
            check(b, writes, Limit::TenantWrites);
        }
        if let Some(throttled) = worst {
            return Err(throttled);
        }
        buckets.ru.take(ru);
        let mut usage = buckets.ru.usage(0.0);
        if writes > 0.0 {
            let shorts = buckets.burst.iter_mut().chain(self.tenant_burst.iter_mut());
            for b in [&mut buckets.writes, &mut self.tenant_writes]
                .into_iter()
                .chain(shorts)
            {
                b.take(writes);
                usage = usage.max(b.usage(0.0));
            }
        }
        Ok(usage)
    }
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;
