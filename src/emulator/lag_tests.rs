use std::time::Duration;

use super::*;
use crate::emulator::state::Behaviour;
use crate::emulator::state::fixture::{at, synced_user, tenant_with};

fn tenant(read: u64, index: u64) -> Tenant {
    tenant_with(Behaviour {
        lag: (Duration::from_secs(read), Duration::from_secs(index)),
        // So a user can be switched back too.
        block_hard_match_takeover: false,
        ..Behaviour::default()
    })
}

/// Switches `id` at `now` as the SOA route does, keeping the prior state.
fn switch(t: &mut Tenant, id: &str, now: Timestamp) {
    let prior = snapshot(t, &Target::User(id.into()), id);
    assert!(t.set_cloud_managed(SoaKind::User, id, true).is_ok());
    if let Some(p) = prior {
        t.lag.record(now, id.to_string(), p);
    }
}

fn seen(t: &mut Tenant, id: &str, now: Timestamp, window: Window, only: bool) -> bool {
    read_through(t, now, window, only.then_some(id), |t| {
        t.users.get(id).is_some_and(|u| u.sync.cloud_managed)
    })
}

#[test]
fn a_read_shows_the_state_before_the_write_for_its_window() {
    let mut t = tenant(2, 10);
    let id = synced_user(&t, 0);
    switch(&mut t, &id, at(100.0));
    assert!(!seen(&mut t, &id, at(101.0), Window::Read, true));
    assert!(!seen(&mut t, &id, at(101.0), Window::Read, false));
    assert!(seen(&mut t, &id, at(102.5), Window::Read, true));
    assert!(!seen(&mut t, &id, at(102.5), Window::Index, false));
    assert!(seen(&mut t, &id, at(110.5), Window::Index, false));
    // The swap is undone: the tenant itself is current throughout.
    assert!(t.users.get(&id).is_some_and(|u| u.sync.cloud_managed));
}

#[test]
fn reads_show_the_state_at_the_cutoff_across_several_writes() {
    let mut t = tenant(5, 5);
    let id = synced_user(&t, 1);
    switch(&mut t, &id, at(100.0));
    let prior = snapshot(&t, &Target::User(id.clone()), &id);
    assert!(t.set_cloud_managed(SoaKind::User, &id, false).is_ok());
    t.lag.record(
        at(103.0),
        id.clone(),
        prior.unwrap_or_else(|| unreachable!()),
    );
    // Before 105: the original state; from 105 to 108: the switched one; then current.
    assert!(!seen(&mut t, &id, at(104.0), Window::Read, true));
    assert!(seen(&mut t, &id, at(106.0), Window::Read, true));
    assert!(!seen(&mut t, &id, at(108.5), Window::Read, true));
}

#[test]
fn zero_lags_keep_nothing_and_other_objects_are_untouched() {
    let mut t = tenant(0, 0);
    let id = synced_user(&t, 0);
    switch(&mut t, &id, at(100.0));
    assert_eq!(t.lag.pending(), 0);
    assert!(seen(&mut t, &id, at(100.0), Window::Index, false));

    let mut t = tenant(2, 10);
    let (a, b) = (synced_user(&t, 0), synced_user(&t, 1));
    switch(&mut t, &a, at(100.0));
    switch(&mut t, &b, at(100.0));
    // A read of `a` alone leaves `b` as it is now.
    let (sa, sb) = read_through(&mut t, at(101.0), Window::Read, Some(&a), |t| {
        let cm = |id: &str| t.users.get(id).is_some_and(|u| u.sync.cloud_managed);
        (cm(&a), cm(&b))
    });
    assert_eq!((sa, sb), (false, true));
    // Prior states are forgotten once no window shows them.
    let _ = seen(&mut t, &a, at(111.0), Window::Read, false);
    assert_eq!(t.lag.pending(), 0);
}

#[test]
fn routes_read_through_the_window_they_belong_to() {
    use crate::emulator::routes::resolve::{Cast, Listing};
    let none = Query::None;
    let id = || "x".to_string();
    assert_eq!(
        effect(&Route::SoaPatch(SoaKind::User, id()), &none),
        Effect::Writes(Target::User(id()))
    );
    assert_eq!(
        effect(&Route::SoaGet(SoaKind::Group, id()), &none),
        Effect::Reads(Window::Read, Some(Target::Group(id())))
    );
    assert_eq!(
        effect(&Route::Related(id(), Listing::Members, Cast::Any), &none),
        Effect::Reads(Window::Read, Some(Target::Group(id())))
    );
    assert_eq!(
        effect(&Route::UserCount, &none),
        Effect::Reads(Window::Index, None)
    );
    assert_eq!(
        effect(
            &Route::Delta(crate::emulator::state::ObjectKind::User),
            &none
        ),
        Effect::Untouched
    );
    assert_eq!(effect(&Route::OrgList, &none), Effect::Untouched);
}
