//! A small seeded tenant and ways to find its objects, for the state tests.

use jiff::Timestamp;

use super::{Behaviour, Tenant};
use crate::emulator::model::Kind;
use crate::emulator::seed::{SeedSpec, seed_tenant};

/// The seeding time: the org last synced two minutes before, the first cycle is due at
/// `t0 + 28 min`.
pub fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `t0 + secs`.
pub fn at(secs: f64) -> Timestamp {
    crate::emulator::clock::add_secs(t0(), secs)
}

/// 30 synced users and 5 synced groups (nested), with `behaviour`.
pub fn tenant_with(behaviour: Behaviour) -> Tenant {
    let spec = SeedSpec {
        tenant_id: "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        tenant_name: "Contoso",
        domain: "contoso.com",
        users: 30,
        groups: 5,
        seed: 3,
    };
    seed_tenant(&spec, t0(), behaviour)
}

/// The default behaviour's tenant.
pub fn tenant() -> Tenant {
    tenant_with(Behaviour::default())
}

/// The `n`-th synced user (by id).
pub fn synced_user(t: &Tenant, n: usize) -> String {
    t.users
        .values()
        .filter(|u| u.kind == Kind::Synced)
        .nth(n)
        .map(|u| u.id.clone())
        .unwrap_or_default()
}

/// The first synced group that is (or is not) mail-enabled.
pub fn synced_group(t: &Tenant, mail_enabled: bool) -> String {
    t.groups
        .values()
        .find(|g| g.kind == Kind::Synced && g.mail_enabled == mail_enabled)
        .map(|g| g.id.clone())
        .unwrap_or_default()
}

/// The cloud-only Microsoft 365 group (`unified`) or security group.
pub fn cloud_group(t: &Tenant, unified: bool) -> String {
    t.groups
        .values()
        .find(|g| g.kind == Kind::CloudOnly && g.is_unified() == unified)
        .map(|g| g.id.clone())
        .unwrap_or_default()
}

/// The cloud-only tenant admin.
pub fn admin(t: &Tenant) -> String {
    t.user("admin@contoso.onmicrosoft.com")
        .map(|u| u.id.clone())
        .unwrap_or_default()
}

/// The seeded parent group (a synced group with nested groups among its members).
pub fn parent_group(t: &Tenant) -> String {
    t.groups
        .values()
        .filter(|g| g.kind == Kind::Synced)
        .max_by_key(|g| {
            g.members
                .iter()
                .filter(|m| t.groups.contains_key(*m))
                .count()
        })
        .map(|g| g.id.clone())
        .unwrap_or_default()
}
