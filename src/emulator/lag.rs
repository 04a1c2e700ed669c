//! Eventual consistency (graph-api.md §14): "a successful write to Microsoft Entra does not
//! guarantee that an immediate read will reflect that change" (Entra blog "Designing for
//! Eventual Consistency for Microsoft Entra", 2026-03-24), and advanced queries
//! (`ConsistencyLevel: eventual`, `$count`, `$search`) read an index that is updated
//! asynchronously (`aad-advanced-queries`).
//!
//! After a Graph write to a user or a group (its Source of Authority, its properties, its
//! members or owners), reads show the object as it was before for a while: per-object reads
//! (`GET /users/{id}`, `…/onPremisesSyncBehavior`, a group, its members and owners) and plain
//! lists for `read`, advanced queries and `$count` for the longer `index`. Writes always act
//! on the current state (Graph writes to the primary). Each write keeps the object's prior
//! state with the write's time; a read swaps in, for each object written within its window,
//! the state it had at `now − window`, runs, and swaps back. Creations and deletions
//! (restore, soft delete) and the sync client's own changes are not delayed.

use jiff::Timestamp;

use super::clock::add_secs;
use super::routes::resolve::Listing;
use super::routes::{GraphError, Query, Reply, Request, Route};
use super::state::history::Prior;
pub use super::state::history::{Lag, Window};
use super::state::{SoaKind, Tenant};

/// What a route reads or writes, as far as the lag is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Effect {
    /// Nothing the lag delays.
    Untouched,
    /// A write to the user or group with this key.
    Writes(Target),
    /// A read of one object (`Some`) or of every object (`None`) through a window.
    Reads(Window, Option<Target>),
}

#[derive(Debug, PartialEq, Eq)]
enum Target {
    User(String),
    Group(String),
}

fn effect(route: &Route, query: &Query) -> Effect {
    let user = |k: &String| Target::User(k.clone());
    let group = |k: &String| Target::Group(k.clone());
    match (route, query) {
        (Route::UserPatch(k) | Route::SoaPatch(SoaKind::User, k), _) => Effect::Writes(user(k)),
        (
            Route::GroupPatch(k)
            | Route::SoaPatch(SoaKind::Group, k)
            | Route::RefAdd(k, _)
            | Route::RefRemove(k, ..),
            _,
        ) => Effect::Writes(group(k)),
        (Route::UserGet(k) | Route::SoaGet(SoaKind::User, k), _) => {
            Effect::Reads(Window::Read, Some(user(k)))
        }
        (Route::GroupGet(k) | Route::SoaGet(SoaKind::Group, k), _) => {
            Effect::Reads(Window::Read, Some(group(k)))
        }
        // Transitive members are computed from every nested group.
        (Route::Related(_, Listing::TransitiveMembers, _), q) => Effect::Reads(window_of(q), None),
        (Route::Related(k, ..), q) => Effect::Reads(window_of(q), Some(group(k))),
        // A user's memberships are read from every group.
        (Route::MemberOf(..), q) => Effect::Reads(window_of(q), None),
        (Route::UserList | Route::GroupList, q) => Effect::Reads(window_of(q), None),
        (Route::UserCount | Route::GroupCount, _) => Effect::Reads(Window::Index, None),
        _ => Effect::Untouched,
    }
}

/// Advanced queries read the index; everything else the replicas.
fn window_of(query: &Query) -> Window {
    let advanced = match query {
        Query::List(q) => q.is_advanced(),
        Query::Related(q) => q.is_advanced(),
        Query::MemberOf(q) => q.is_advanced(),
        _ => false,
    };
    if advanced {
        Window::Index
    } else {
        Window::Read
    }
}

/// The id of `target` in `tenant`, if it exists.
fn resolve(tenant: &Tenant, target: &Target) -> Option<String> {
    match target {
        Target::User(key) => tenant.user(key).map(|u| u.id.clone()),
        Target::Group(id) => tenant.groups.get(id).map(|g| g.id.clone()),
    }
}

fn snapshot(tenant: &Tenant, target: &Target, id: &str) -> Option<Prior> {
    match target {
        Target::User(_) => tenant.users.get(id).cloned().map(|u| Prior::User(u.into())),
        Target::Group(_) => tenant
            .groups
            .get(id)
            .cloned()
            .map(|g| Prior::Group(g.into())),
    }
}

/// Runs `route` as Graph would with the tenant's lags: a write keeps the prior state of what
/// it changed, a read sees the states of its window.
pub fn execute(
    route: &Route,
    query: Query,
    tenant: &mut Tenant,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    let off = tenant.lag.read.is_zero() && tenant.lag.index.is_zero();
    match effect(route, &query) {
        Effect::Untouched => route.execute(query, tenant, req),
        // Nothing to keep or show: no copy of the object either.
        _ if off && tenant.lag.history.is_empty() => route.execute(query, tenant, req),
        Effect::Writes(target) => {
            let before = resolve(tenant, &target).and_then(|id| {
                let prior = snapshot(tenant, &target, &id)?;
                Some((id, prior))
            });
            let result = route.execute(query, tenant, req);
            if let (Ok(_), Some((id, prior))) = (&result, before)
                && resolve(tenant, &target).as_ref() == Some(&id)
            {
                tenant.lag.record(req.now, id, prior);
            }
            result
        }
        Effect::Reads(window, target) => {
            let only = match target {
                Some(t) => match resolve(tenant, &t) {
                    Some(id) => Some(id),
                    None => return route.execute(query, tenant, req),
                },
                None => None,
            };
            read_through(tenant, req.now, window, only.as_deref(), |t| {
                route.execute(query, t, req)
            })
        }
    }
}

/// Runs `read` on the tenant as `window` shows it at `now`: every object (or `only`) written
/// within the window has the state it had at `now − lag` while `read` runs.
pub fn read_through<R>(
    tenant: &mut Tenant,
    now: Timestamp,
    window: Window,
    only: Option<&str>,
    read: impl FnOnce(&mut Tenant) -> R,
) -> R {
    tenant.lag.prune(now);
    let lag = tenant.lag.of(window);
    if lag.is_zero() || tenant.lag.history.is_empty() {
        return read(tenant);
    }
    let cutoff = add_secs(now, -lag.as_secs_f64());
    let swapped = swap_in(tenant, cutoff, only);
    let out = read(tenant);
    swap_back(tenant, &swapped);
    out
}

/// Exchanges the prior state at `at` of the object `id` with its current state.
fn exchange(tenant: &mut Tenant, id: &str, at: usize) {
    let Tenant {
        users, groups, lag, ..
    } = tenant;
    let Some((_, prior)) = lag.history.get_mut(id).and_then(|e| e.get_mut(at)) else {
        return;
    };
    match prior {
        Prior::User(p) => {
            if let Some(current) = users.get_mut(id) {
                std::mem::swap(current, p);
            }
        }
        Prior::Group(p) => {
            if let Some(current) = groups.get_mut(id) {
                std::mem::swap(current, p);
            }
        }
    }
}

/// Puts in place the state each object (or `only`) had at `cutoff`: the one before the first
/// write after it. Returns what was exchanged.
fn swap_in(tenant: &mut Tenant, cutoff: Timestamp, only: Option<&str>) -> Vec<(String, usize)> {
    let visible: Vec<(String, usize)> = tenant
        .lag
        .history
        .iter()
        .filter(|(id, _)| only.is_none_or(|o| o == id.as_str()))
        .filter_map(|(id, entries)| {
            let at = entries.iter().position(|(t, _)| *t > cutoff)?;
            Some((id.clone(), at))
        })
        .collect();
    for (id, at) in &visible {
        exchange(tenant, id, *at);
    }
    visible
}

/// Undoes [`swap_in`].
fn swap_back(tenant: &mut Tenant, swapped: &[(String, usize)]) {
    for (id, at) in swapped {
        exchange(tenant, id, *at);
    }
}

#[cfg(test)]
#[path = "lag_tests.rs"]
mod tests;
