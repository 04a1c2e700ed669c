//! Contacts in the state machine: the SOA state table, cycles, the tenant-wide disable and
//! the re-enable.

use super::*;
use crate::emulator::AfterDisable;
use crate::emulator::state::fixture::{at, tenant, tenant_with};
use crate::emulator::state::{Behaviour, SoaError, SoaKind, SyncState};
use crate::emulator::switches::SoaOnCloudObject;

fn first_contact(t: &Tenant) -> String {
    t.contacts.keys().next().cloned().unwrap_or_default()
}

/// `(isCloudManaged, onPremisesSyncEnabled)`.
fn state(t: &Tenant, id: &str) -> (bool, Option<bool>) {
    let c = t.contacts.get(id);
    (
        c.is_some_and(|c| c.sync.cloud_managed),
        c.and_then(|c| c.sync.enabled),
    )
}

#[test]
fn the_contact_state_table_end_to_end() {
    let mut t = tenant();
    assert!(t.features.block_hard_match(), "the gate is on by default");
    let id = first_contact(&t);
    let deltas = t.changes.stats();
    assert_eq!(state(&t, &id), (false, Some(true)));
    assert_eq!(
        t.cloud_managed(SoaKind::Contact, &id),
        Some((id.clone(), false))
    );
    // Switched: true, null.
    assert_eq!(
        t.set_cloud_managed(SoaKind::Contact, &id, true),
        Ok((id.clone(), true))
    );
    assert_eq!(state(&t, &id), (true, None));
    // Skipped by cycles.
    let report = t.run_cycle(at(60.0));
    assert_eq!(report.skipped_cloud_managed, vec![id.clone()]);
    // Rolled back: not gated by the hard-match flag (users only); false, still null.
    assert_eq!(
        t.set_cloud_managed(SoaKind::Contact, &id, false),
        Ok((id.clone(), false))
    );
    assert_eq!(state(&t, &id), (false, None));
    // The next cycle takes it back.
    let report = t.run_cycle(at(120.0));
    assert_eq!(report.relinked, vec![id.clone()]);
    assert_eq!(state(&t, &id), (false, Some(true)));
    let contact = &t.contacts[&id];
    assert_eq!(contact.sync.last_sync, Some(at(120.0)));
    assert_eq!(contact.writes.soa, 2);
    // Contacts feed no change log (no delta for them).
    assert_eq!(t.changes.stats(), deltas);
    assert_eq!(
        t.set_cloud_managed(SoaKind::Contact, "missing", true),
        Err(SoaError::NotFound)
    );
}

#[test]
fn a_never_synced_contact_follows_the_cloud_object_switch() {
    for (switch, expected) in [
        (SoaOnCloudObject::Refuse, Err(SoaError::NotSynced)),
        (SoaOnCloudObject::Accept, Ok(false)),
    ] {
        let mut t = tenant_with(Behaviour {
            soa_on_cloud_object: switch,
            ..Behaviour::default()
        });
        let id = first_contact(&t);
        if let Some(c) = t.contacts.get_mut(&id) {
            c.sync = crate::emulator::model::SyncInfo::default();
        }
        let got = t
            .set_cloud_managed(SoaKind::Contact, &id, true)
            .map(|(_, v)| v);
        assert_eq!(got, expected, "{switch:?}");
        assert_eq!(state(&t, &id), (false, None));
    }
}

#[test]
fn a_disable_converts_contacts_and_a_re_enable_takes_them_back() {
    for (after, value) in [
        (AfterDisable::False, Some(false)),
        (AfterDisable::Null, None),
    ] {
        let mut t = tenant_with(Behaviour {
            user_sync_after_disable: after,
            ..Behaviour::default()
        });
        let ids: Vec<String> = t.contacts.keys().cloned().collect();
        assert!(ids.len() >= 2);
        let switched = ids[0].clone();
        assert!(
            t.set_cloud_managed(SoaKind::Contact, &switched, true)
                .is_ok()
        );
        assert!(t.disable(at(10.0)));
        // The window is 30 minutes: every flip is due by then.
        t.apply_due(at(10.0 + 1_800.0));
        assert_eq!(t.sync, SyncState::Disabled);
        for id in &ids[1..] {
            assert_eq!(state(&t, id), (false, value), "{after:?}");
            assert!(!t.contacts[id].sync.joined);
        }
        assert_eq!(
            state(&t, &switched),
            (true, None),
            "SOA-switched: left alone"
        );
        let counts = t.contact_counts();
        assert_eq!((counts.synced, counts.cloud_managed), (0, 1));
        assert_eq!(t.enable(at(5_000.0)), Ok(()));
        for id in &ids[1..] {
            assert_eq!(state(&t, id), (false, Some(true)));
        }
        assert_eq!(state(&t, &switched), (true, None));
    }
}

#[test]
fn a_contact_out_of_scope_is_deleted_by_the_next_cycle() {
    let mut t = tenant();
    let id = first_contact(&t);
    assert_eq!(t.set_contact_scope(&id, false), Ok(ScopeState::Active));
    assert_eq!(
        t.set_contact_scope("missing", false),
        Err(ScopeError::NotFound)
    );
    let report = t.run_cycle(at(60.0));
    assert_eq!(report.hard_deleted, vec![id.clone()]);
    assert!(!t.contacts.contains_key(&id));
    // A cloud-only contact has no AD object to move.
    let other = first_contact(&t);
    if let Some(c) = t.contacts.get_mut(&other) {
        c.sync = crate::emulator::model::SyncInfo::default();
    }
    assert_eq!(
        t.set_contact_scope(&other, false),
        Err(ScopeError::NoAdObject)
    );
}
