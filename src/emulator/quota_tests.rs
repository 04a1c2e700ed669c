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
    let mut q = Quotas::new(0.0, QuotaSettings::OFF);
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
    let mut q = Quotas::new(0.0, QuotaSettings::OFF);
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
    let mut q = Quotas::new(0.0, QuotaSettings::OFF);
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
    let mut q = Quotas::new(0.0, QuotaSettings::OFF);
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
    let mut q = Quotas::new(0.0, QuotaSettings::OFF);
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
    let mut q = Quotas::new(0.0, QuotaSettings::OFF);
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
    let mut q = Quotas::new(0.0, QuotaSettings::OFF);
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

fn harsh(share: f64, window: f64) -> QuotaSettings {
    QuotaSettings {
        background_write_share: share,
        burst_window_secs: window,
    }
}

/// Writes admitted at `rate` per second, evenly spaced, over `secs` seconds.
fn admitted_at(q: &mut Quotas, rate: f64, secs: f64) -> (u32, u32) {
    let (mut ok, mut refused) = (0, 0);
    let n = (rate * secs) as u32;
    for i in 0..n {
        match q.admit("app", Charge::write(), 1_000, f64::from(i) / rate) {
            Ok(_) => ok += 1,
            Err(_) => refused += 1,
        }
    }
    (ok, refused)
}

#[test]
fn without_the_modes_a_burst_of_the_long_window_passes() {
    let mut q = Quotas::new(0.0, harsh(0.0, 0.0));
    for _ in 0..3_000 {
        assert!(q.admit("app", Charge::write(), 1_000, 0.0).is_ok());
    }
}

#[test]
fn the_burst_window_refuses_a_burst_and_admits_the_rate() {
    let mut q = Quotas::new(0.0, harsh(0.0, 1.0));
    // One second of the application's rate (20 writes) at once, then a refusal.
    for i in 0..20 {
        assert!(q.admit("app", Charge::write(), 1_000, 0.0).is_ok(), "{i}");
    }
    let Err(t) = q.admit("app", Charge::write(), 1_000, 0.0) else {
        panic!("the 21st write of the same instant must be refused");
    };
    assert_eq!(t.limit, Limit::AppWrites);
    assert!((t.wait - 0.05).abs() < 1e-9, "{}", t.wait);
    // Evenly spaced at the rate, nothing is refused.
    let mut q = Quotas::new(0.0, harsh(0.0, 1.0));
    assert_eq!(admitted_at(&mut q, 19.9, 60.0), (1_194, 0));
}

#[test]
fn background_load_leaves_the_rest_of_the_tenant_budget() {
    // 55 of the tenant's 60 writes a second are taken: 5 a second are granted.
    let settings = harsh(55.0 / 60.0, 1.0);
    assert!((settings.tenant_write_rate() - 5.0).abs() < 1e-9);
    let mut q = Quotas::new(0.0, settings);
    let (ok, refused) = admitted_at(&mut q, 20.0, 60.0);
    // Over 60 s: the one-second window's 5, then 5 a second.
    assert!((300..=306).contains(&ok), "{ok}");
    assert_eq!(ok + refused, 1_200);
    let refusal = (0..2).find_map(|_| q.admit("app", Charge::write(), 1_000, 60.0).err());
    let Some(t) = refusal else {
        panic!("refused at the tenant limit");
    };
    assert_eq!(t.limit, Limit::TenantWrites);
    // Without the burst window the long tenant window holds what is left of 18,000.
    let mut q = Quotas::new(0.0, harsh(0.5, 0.0));
    for _ in 0..3_000 {
        assert!(q.admit("a", Charge::write(), 1_000, 0.0).is_ok());
    }
    for app in ["b", "c"] {
        for _ in 0..3_000 {
            assert!(q.admit(app, Charge::write(), 1_000, 0.0).is_ok());
        }
    }
    let Err(t) = q.admit("d", Charge::write(), 1_000, 0.0) else {
        panic!("9,000 writes is half the tenant budget");
    };
    assert_eq!(t.limit, Limit::TenantWrites);
}

#[test]
fn usage_near_the_burst_limit_is_reported() {
    let mut q = Quotas::new(0.0, harsh(55.0 / 60.0, 2.0));
    // Capacity 10 over 2 s: the 9th write at once is at 90 %.
    let mut last = 0.0;
    for _ in 0..9 {
        last = q.admit("app", Charge::write(), 1_000, 0.0).unwrap_or(0.0);
    }
    assert!((last - 0.9).abs() < 1e-9, "{last}");
}

#[test]
fn settings_change_at_run_time_and_are_checked() {
    let mut q = Quotas::new(0.0, QuotaSettings::OFF);
    q.set_settings(harsh(0.5, 1.0), 0.0);
    assert_eq!(q.settings(), harsh(0.5, 1.0));
    for _ in 0..20 {
        assert!(q.admit("app", Charge::write(), 1_000, 0.0).is_ok());
    }
    assert!(q.admit("app", Charge::write(), 1_000, 0.0).is_err());
    q.set_settings(QuotaSettings::OFF, 0.0);
    assert!(q.admit("app", Charge::write(), 1_000, 0.0).is_ok());
    assert!(harsh(1.0, 0.0).validate().is_err());
    assert!(harsh(f64::NAN, 0.0).validate().is_err());
    assert!(harsh(0.2, -1.0).validate().is_err());
    assert!(harsh(0.2, 151.0).validate().is_err());
    assert!(harsh(0.99, 150.0).validate().is_ok());
    assert_eq!(harsh(2.0, f64::INFINITY).clamped(), harsh(0.99, 0.0));
}
