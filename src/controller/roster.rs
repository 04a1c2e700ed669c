//! The conversions the controller knows exist, read from its watches' caches: after a start
//! (or a new leadership term), a conversion waits before its first write until the earlier
//! ones of its tenant and kind have shown what they select (`reconcile::selections`).

use futures::FutureExt;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::{Resource, ResourceExt};

use crate::api::{CloudGroupConversion, CloudUserConversion, TenantSyncPolicy};
use crate::journal::ResourceKey;
use crate::reconcile::resource::Reconciled;
use crate::reconcile::selections::{Member, Rank, Roster};

/// The caches of one leadership term's watches: every scope's, per kind.
#[derive(Default)]
pub struct StoreRoster {
    tenants: Vec<Store<TenantSyncPolicy>>,
    users: Vec<Store<CloudUserConversion>>,
    groups: Vec<Store<CloudGroupConversion>>,
}

/// A new cache, kept in `stores`, and the writer its watch fills.
fn track<K>(stores: &mut Vec<Store<K>>) -> Writer<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, writer) = reflector::store();
    stores.push(reader);
    writer
}

impl StoreRoster {
    /// The writer of a new cache of TenantSyncPolicies (their tenant ids).
    pub fn tenants(&mut self) -> Writer<TenantSyncPolicy> {
        track(&mut self.tenants)
    }

    /// The writer of a new cache of CloudUserConversions.
    pub fn users(&mut self) -> Writer<CloudUserConversion> {
        track(&mut self.users)
    }

    /// The writer of a new cache of CloudGroupConversions.
    pub fn groups(&mut self) -> Writer<CloudGroupConversion> {
        track(&mut self.groups)
    }
}

/// Whether every cache holds its first full list.
fn listed<K>(stores: &[Store<K>]) -> bool
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    stores.iter().all(|s| {
        s.wait_until_ready()
            .now_or_never()
            .is_some_and(|r| r.is_ok())
    })
}

/// Each conversion in `stores`, ranked by creation, with the tenant id of the policy it names.
fn members<K>(stores: &[Store<K>], tenants: &[Store<TenantSyncPolicy>]) -> Option<Vec<Member>>
where
    K: Reconciled + Resource<DynamicType = ()> + Clone + 'static,
{
    if !listed(stores) || !listed(tenants) {
        return None;
    }
    let tenant_id = |ns: &str, name: &str| {
        let policy = ObjectRef::new(name).within(ns);
        tenants
            .iter()
            .find_map(|s| s.get(&policy))
            .map(|t| t.spec.tenant_id.clone())
    };
    let member = |obj: std::sync::Arc<K>| {
        let key = ResourceKey {
            kind: K::KIND.into(),
            namespace: obj.namespace().unwrap_or_else(|| "default".into()),
            name: obj.name_any(),
        };
        let created = obj.meta().creation_timestamp.as_ref().map(|t| t.0);
        Member {
            rank: Rank::created(created, &key),
            tenant_id: obj.tenant_ref().and_then(|t| tenant_id(&key.namespace, t)),
            key,
        }
    };
    Some(stores.iter().flat_map(|s| s.state()).map(member).collect())
}

/// Every resource in `stores`, once they hold their first full list.
fn keys<K>(stores: &[Store<K>]) -> Option<Vec<ResourceKey>>
where
    K: Reconciled + Resource<DynamicType = ()> + Clone + 'static,
{
    listed(stores).then(|| {
        let key = |obj: std::sync::Arc<K>| ResourceKey {
            kind: K::KIND.into(),
            namespace: obj.namespace().unwrap_or_else(|| "default".into()),
            name: obj.name_any(),
        };
        stores.iter().flat_map(|s| s.state()).map(key).collect()
    })
}

impl StoreRoster {
    /// Every resource of the three kinds the watches hold; `None` before their first lists.
    pub fn resources(&self) -> Option<Vec<ResourceKey>> {
        let mut all = keys(&self.tenants)?;
        all.extend(keys(&self.users)?);
        all.extend(keys(&self.groups)?);
        Some(all)
    }
}

/// How often what is kept for resources gone from the watches is released (in operator time:
/// faster with `--time-scale`, never more often than every [`SWEEP_FLOOR`]).
const SWEEP: std::time::Duration = std::time::Duration::from_secs(30);
/// The shortest real interval between sweeps.
const SWEEP_FLOOR: std::time::Duration = std::time::Duration::from_millis(500);

/// Until `stop`, release every `SWEEP` what the controller keeps for resources no longer in
/// this term's watches (deleted without a finalizer, the controller never sees them go): their
/// Graph clients, journals, guard links, failure counts and metric series. Ends with the term
/// (its roster dropped).
pub async fn sweep(
    roster: std::sync::Weak<StoreRoster>,
    ctx: std::sync::Arc<super::Context>,
    stop: impl std::future::Future<Output = ()>,
) {
    let every = ctx.clock.real(SWEEP).clamp(SWEEP_FLOOR, SWEEP);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(every) => {}
        }
        let Some(roster) = roster.upgrade() else {
            return;
        };
        if let Some(keys) = roster.resources() {
            ctx.retain(&keys);
        }
    }
}

impl Roster for StoreRoster {
    fn members(&self, kind: &str) -> Option<Vec<Member>> {
        if kind == <CloudUserConversion as Reconciled>::KIND {
            members(&self.users, &self.tenants)
        } else if kind == <CloudGroupConversion as Reconciled>::KIND {
            members(&self.groups, &self.tenants)
        } else {
            Some(Vec::new())
        }
    }
}
