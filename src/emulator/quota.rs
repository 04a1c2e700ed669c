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

/// The application + tenant buckets of one application.
#[derive(Debug, Clone)]
struct AppBuckets {
    ru: Bucket,
    writes: Bucket,
}

impl AppBuckets {
    fn new(users: usize, now: f64) -> Self {
        Self {
            ru: Bucket::new(ru_capacity(users), 10.0, now),
            writes: Bucket::new(3_000.0, 150.0, now),
        }
    }
}

/// The buckets of every application in the emulator's one tenant.
#[derive(Debug, Clone)]
pub struct Quotas {
    apps: HashMap<String, AppBuckets>,
    tenant_writes: Bucket,
}

impl Quotas {
    /// A full tenant write bucket at `now`; an application's buckets start full at its first
    /// request, sized for the tenant then.
    pub fn new(now: f64) -> Self {
        Self {
            apps: HashMap::new(),
            tenant_writes: Bucket::new(18_000.0, 300.0, now),
        }
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
        let buckets = self
            .apps
            .entry(app.to_ascii_lowercase())
            .or_insert_with(|| AppBuckets::new(users, now));
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
        if let Some(throttled) = worst {
            return Err(throttled);
        }
        buckets.ru.take(ru);
        let mut usage = buckets.ru.usage(0.0);
        if writes > 0.0 {
            buckets.writes.take(writes);
            self.tenant_writes.take(writes);
            usage = usage
                .max(buckets.writes.usage(0.0))
                .max(self.tenant_writes.usage(0.0));
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_documented_modifiers() {
        assert_eq!(Charge::read(2, false, false).ru, 2);
        assert_eq!(Charge::read(2, true, false).ru, 1);
        assert_eq!(Charge::read(2, true, true).ru, 1);
        assert_eq!(Charge::read(1, false, true).ru, 1);
        assert_eq!(Charge::write(), Charge { ru: 1, writes: 1 });
    }

    #[test]
    fn tenant_size_sets_the_resource_unit_capacity() {
        assert_eq!(ru_capacity(49), 3_500.0);
        assert_eq!(ru_capacity(50), 5_000.0);
        assert_eq!(ru_capacity(500), 5_000.0);
        assert_eq!(ru_capacity(501), 8_000.0);
    }

    #[test]
    fn resource_units_run_out_and_refill_on_time() {
        let mut q = Quotas::new(0.0);
        for _ in 0..1_750 {
            assert!(
                q.admit("app", Charge::read(2, false, false), 10, 0.0)
                    .is_ok()
            );
        }
        let refused = q.admit("app", Charge::read(2, false, false), 10, 0.0);
        let Err(t) = refused else {
            panic!("expected a refusal, got {refused:?}");
        };
        assert_eq!(t.limit, Limit::ResourceUnits);
        // 350 RU/s refill: 2 RU take 2/350 s.
        assert!((t.wait - 2.0 / 350.0).abs() < 1e-9);
        assert!(t.usage > 1.0);
        assert!(
            q.admit("app", Charge::read(2, false, false), 10, t.wait / 2.0)
                .is_err()
        );
        assert!(
            q.admit("app", Charge::read(2, false, false), 10, t.wait)
                .is_ok()
        );
    }

    #[test]
    fn usage_is_reported_as_a_fraction() {
        let mut q = Quotas::new(0.0);
        let mut last = 0.0;
        for _ in 0..3_000 {
            last = q
                .admit("app", Charge::read(1, false, false), 10, 0.0)
                .unwrap_or(0.0);
        }
        assert!((last - 3_000.0 / 3_500.0).abs() < 1e-9);
    }

    #[test]
    fn writes_are_limited_to_3000_per_150_seconds() {
        let mut q = Quotas::new(0.0);
        for i in 0..3_000 {
            assert!(
                q.admit("app", Charge::write(), 1_000, 0.0).is_ok(),
                "write {i}"
            );
        }
        let Err(t) = q.admit("app", Charge::write(), 1_000, 0.0) else {
            panic!("the 3,001st write must be throttled");
        };
        assert_eq!(t.limit, Limit::AppWrites);
        assert!((t.wait - 0.05).abs() < 1e-9);
        assert_eq!(t.limit.information(), "WriteLimitExceeded");
        assert_eq!(
            t.limit.scope("app", "ten"),
            "Tenant_Application/Write/app/ten"
        );
        // Reads still pass: they need no write budget.
        assert!(
            q.admit("app", Charge::read(1, true, false), 1_000, 0.0)
                .is_ok()
        );
        assert!(q.admit("app", Charge::write(), 1_000, 0.05).is_ok());
        // A full window later the bucket is full again.
        for _ in 0..3_000 {
            assert!(q.admit("app", Charge::write(), 1_000, 150.05).is_ok());
        }
    }

    #[test]
    fn a_refused_request_charges_nothing() {
        let mut q = Quotas::new(0.0);
        for _ in 0..3_500 {
            assert!(
                q.admit("app", Charge::read(1, false, false), 10, 0.0)
                    .is_ok()
            );
        }
        for _ in 0..100 {
            assert!(
                q.admit("app", Charge::read(1, false, false), 10, 0.0)
                    .is_err()
            );
        }
        assert!(
            q.admit("app", Charge::read(1, false, false), 10, 1.0 / 350.0)
                .is_ok()
        );
    }

    #[test]
    fn growing_tenant_gets_the_larger_capacity() {
        let mut q = Quotas::new(0.0);
        for _ in 0..3_500 {
            assert!(
                q.admit("app", Charge::read(1, false, false), 10, 0.0)
                    .is_ok()
            );
        }
        assert!(
            q.admit("app", Charge::read(1, false, false), 10, 0.0)
                .is_err()
        );
        assert!(
            q.admit("app", Charge::read(1, false, false), 600, 0.0)
                .is_ok()
        );
    }

    #[test]
    fn applications_have_their_own_buckets_and_share_the_tenant_writes() {
        let mut q = Quotas::new(0.0);
        for _ in 0..3_500 {
            assert!(q.admit("a", Charge::read(1, false, false), 10, 0.0).is_ok());
        }
        assert!(
            q.admit("a", Charge::read(1, false, false), 10, 0.0)
                .is_err()
        );
        // Client ids are case-insensitive; another application still has its full budget.
        assert!(
            q.admit("A", Charge::read(1, false, false), 10, 0.0)
                .is_err()
        );
        assert!(q.admit("b", Charge::read(1, false, false), 10, 0.0).is_ok());
        // Six applications use the tenant's 18,000 writes; the seventh meets the tenant limit.
        let mut q = Quotas::new(0.0);
        for app in ["1", "2", "3", "4", "5", "6"] {
            for _ in 0..3_000 {
                assert!(q.admit(app, Charge::write(), 1_000, 0.0).is_ok());
            }
            let Err(t) = q.admit(app, Charge::write(), 1_000, 0.0) else {
                panic!("app {app}: its own write limit");
            };
            assert_eq!(t.limit, Limit::AppWrites);
        }
        let Err(t) = q.admit("7", Charge::write(), 1_000, 0.0) else {
            panic!("the tenant write limit");
        };
        assert_eq!(t.limit, Limit::TenantWrites);
        assert_eq!(t.limit.scope("7", "ten"), "Tenant/Write/7/ten");
        assert!(
            q.admit("7", Charge::read(1, true, false), 1_000, 0.0)
                .is_ok()
        );
    }
}
