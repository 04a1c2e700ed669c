//! What each route needs (permission, query options, cost) and what it runs.

use axum::http::{HeaderMap, StatusCode};

use super::delta::DeltaQuery;
use super::member_of::MemberOfQuery;
use super::query::{self, ListQuery, Params};
use super::related::RelatedQuery;
use super::resolve::Listing;
use super::{
    Access, GraphError, Query, Reply, Request, Route, contacts, deleted, delta, directory, groups,
    list, member_of, organization, related, roles, soa, users,
};
use crate::emulator::odata::{self, Resource};
use crate::emulator::quota::Charge;
use crate::emulator::state::{Behaviour, ObjectKind, Relation, SoaKind, Tenant};

impl Route {
    /// The permission class it needs; deleted items need their type's (looked up in `tenant`).
    pub fn access(&self, tenant: &Tenant) -> Access {
        let deleted = |id: &str| tenant.deleted_kind(id).unwrap_or(ObjectKind::User);
        match self {
            Route::OrgList | Route::OrgGet(_) => Access::ReadOrg,
            Route::OrgPatch(_) => Access::WriteOrg,
            Route::UserList
            | Route::UserCount
            | Route::UserGet(_)
            | Route::Delta(ObjectKind::User) => Access::ReadUsers,
            Route::UserPatch(_) => Access::WriteUsers,
            Route::UserDelete(_) => Access::DeleteRestoreUsers,
            Route::GroupList
            | Route::GroupCount
            | Route::GroupGet(_)
            | Route::Delta(ObjectKind::Group) => Access::ReadGroups,
            Route::GroupPatch(_) | Route::GroupDelete(_) => Access::WriteGroups,
            Route::SoaGet(SoaKind::User, _) | Route::SoaPatch(SoaKind::User, _) => Access::UserSoa,
            Route::SoaGet(SoaKind::Group, _) | Route::SoaPatch(SoaKind::Group, _) => {
                Access::GroupSoa
            }
            Route::SoaGet(SoaKind::Contact, _) | Route::SoaPatch(SoaKind::Contact, _) => {
                Access::ContactSoa
            }
            Route::ContactList | Route::ContactCount | Route::ContactGet(_) => Access::ReadContacts,
            Route::Related(..) | Route::MemberOf(..) => Access::ReadMembers,
            Route::RefAdd(_, Relation::Members) | Route::RefRemove(_, Relation::Members, _) => {
                Access::WriteMembers
            }
            Route::RefAdd(_, Relation::Owners) | Route::RefRemove(_, Relation::Owners, _) => {
                Access::WriteOwners
            }
            Route::SyncList | Route::SyncGet(_) => Access::ReadSyncFeatures,
            Route::SyncPatch(_) => Access::WriteSyncFeatures,
            Route::DeletedList(ObjectKind::User) => Access::ReadUsers,
            Route::DeletedList(ObjectKind::Group) => Access::ReadGroups,
            Route::DeletedGet(id) => match deleted(id) {
                ObjectKind::User => Access::ReadUsers,
                ObjectKind::Group => Access::ReadGroups,
            },
            Route::DeletedPurge(id) | Route::DeletedRestore(id) => match deleted(id) {
                ObjectKind::User => Access::DeleteRestoreUsers,
                ObjectKind::Group => Access::WriteGroups,
            },
            Route::RoleAssignmentList => Access::ReadRoleAssignments,
            Route::AdminUnitList | Route::AdminUnitMembers(_) => Access::ReadAdminUnits,
        }
    }

    /// The operation name under which an accepted write is counted.
    pub fn write_operation(&self) -> Option<&'static str> {
        Some(match self {
            Route::OrgPatch(_) => "PATCH /organization",
            Route::UserPatch(_) => "PATCH /users",
            Route::UserDelete(_) => "DELETE /users",
            Route::GroupPatch(_) => "PATCH /groups",
            Route::GroupDelete(_) => "DELETE /groups",
            Route::SoaPatch(SoaKind::User, _) => "PATCH /users/onPremisesSyncBehavior",
            Route::SoaPatch(SoaKind::Group, _) => "PATCH /groups/onPremisesSyncBehavior",
            Route::SoaPatch(SoaKind::Contact, _) => "PATCH /contacts/onPremisesSyncBehavior",
            Route::RefAdd(_, Relation::Members) => "POST /groups/members/$ref",
            Route::RefAdd(_, Relation::Owners) => "POST /groups/owners/$ref",
            Route::RefRemove(_, Relation::Members, _) => "DELETE /groups/members/$ref",
            Route::RefRemove(_, Relation::Owners, _) => "DELETE /groups/owners/$ref",
            Route::SyncPatch(_) => "PATCH /directory/onPremisesSynchronization",
            Route::DeletedRestore(_) => "POST /directory/deletedItems/restore",
            Route::DeletedPurge(_) => "DELETE /directory/deletedItems",
            _ => return None,
        })
    }

    /// Parses the query options the route honours.
    pub fn query(
        &self,
        params: &Params,
        headers: &HeaderMap,
        token_key: u64,
    ) -> Result<Query, GraphError> {
        let count = |resource| {
            if !query::eventual(headers) {
                return Err(GraphError::bad_request(
                    "$count is not currently supported.",
                ));
            }
            let filter = params
                .get("filter")
                .map(|f| odata::parse_filter(resource, f, true));
            Ok(Query::Count(filter.transpose()?))
        };
        let list = |scope: &str, resource| {
            ListQuery::parse_scoped(scope, resource, params, headers, token_key)
                .map(|q| Query::List(Box::new(q)))
        };
        let raw_select = params.get("select");
        if params.get("deltatoken").is_some() && !matches!(self, Route::Delta(_)) {
            return Err(GraphError::bad_request(
                "'$deltatoken' is not supported by the service.",
            ));
        }
        Ok(match self {
            Route::OrgList | Route::OrgGet(_) => {
                Query::Select(raw_select.map(organization::parse_select).transpose()?)
            }
            Route::UserList => list("User", Resource::User)?,
            Route::GroupList => list("Group", Resource::Group)?,
            Route::ContactList => list("OrgContact", Resource::Contact)?,
            Route::DeletedList(ObjectKind::User) => list(deleted::USER_SCOPE, Resource::User)?,
            Route::DeletedList(ObjectKind::Group) => list(deleted::GROUP_SCOPE, Resource::Group)?,
            Route::UserCount => count(Resource::User)?,
            Route::GroupCount => count(Resource::Group)?,
            Route::ContactCount => count(Resource::Contact)?,
            Route::UserGet(_) => Query::Select(params.select(Resource::User)?),
            Route::GroupGet(_) => Query::Select(params.select(Resource::Group)?),
            Route::ContactGet(_) => Query::Select(params.select(Resource::Contact)?),
            Route::DeletedGet(_) => {
                Query::Select(raw_select.map(related::parse_any_select).transpose()?)
            }
            Route::SoaGet(..) => Query::Select(raw_select.map(soa::parse_select).transpose()?),
            Route::SyncList | Route::SyncGet(_) => {
                Query::Select(raw_select.map(directory::parse_select).transpose()?)
            }
            Route::Related(group, listing, cast) => Query::Related(Box::new(RelatedQuery::parse(
                group, *listing, *cast, params, headers, token_key,
            )?)),
            Route::MemberOf(user, cast) => Query::MemberOf(Box::new(MemberOfQuery::parse(
                user, *cast, params, headers, token_key,
            )?)),
            Route::Delta(kind) => Query::Delta(Box::new(DeltaQuery::parse(
                *kind, params, headers, token_key,
            )?)),
            _ => Query::None,
        })
    }

    /// What the request costs (graph-api.md §8); `query` is `None` when it did not parse;
    /// `behaviour` says what `users/delta` costs.
    pub fn charge(&self, query: Option<&Query>, behaviour: &Behaviour) -> Charge {
        if self.write_operation().is_some() {
            return Charge::write();
        }
        let base = match self {
            Route::UserList => 2,
            Route::Delta(ObjectKind::User) => behaviour.users_delta_cost.base(),
            Route::Related(_, Listing::Members, _) => 3,
            Route::Related(_, Listing::TransitiveMembers, _) => 5,
            Route::MemberOf(..) => 2,
            _ => 1,
        };
        match query {
            Some(Query::List(q)) => Charge::read(base, q.has_select(), q.small_top()),
            Some(Query::Related(q)) => Charge::read(base, q.has_select(), q.small_top()),
            Some(Query::MemberOf(q)) => Charge::read(base, q.has_select(), q.small_top()),
            Some(Query::Delta(q)) => Charge::read(base, q.has_select(), false),
            Some(Query::Select(select)) => Charge::read(base, select.is_some(), false),
            _ => Charge::read(base, false, false),
        }
    }

    /// Runs the route against the tenant.
    pub fn execute(
        &self,
        query: Query,
        tenant: &mut Tenant,
        req: &Request<'_>,
    ) -> Result<Reply, GraphError> {
        let select = |q: Query| match q {
            Query::Select(s) => s,
            _ => None,
        };
        match (self, query) {
            (Route::OrgList, q) => Ok(organization::list(tenant, select(q), req)),
            (Route::OrgGet(id), q) => organization::get(tenant, id, select(q), req),
            (Route::OrgPatch(id), _) => organization::patch(tenant, id, req),
            (Route::UserList, Query::List(q)) => Ok(list::page(&tenant.users, &q, req, "users")),
            (Route::GroupList, Query::List(q)) => Ok(list::page(&tenant.groups, &q, req, "groups")),
            (Route::UserCount, Query::Count(f)) => Ok(list::count(&tenant.users, f.as_ref())),
            (Route::GroupCount, Query::Count(f)) => Ok(list::count(&tenant.groups, f.as_ref())),
            (Route::ContactList, Query::List(q)) => {
                Ok(list::page(&tenant.contacts, &q, req, "contacts"))
            }
            (Route::ContactCount, Query::Count(f)) => Ok(list::count(&tenant.contacts, f.as_ref())),
            (Route::ContactGet(id), q) => contacts::get(tenant, id, select(q), req),
            (Route::UserGet(key), q) => users::get(tenant, key, select(q), req),
            (Route::UserPatch(key), _) => users::patch(tenant, key, req),
            (Route::UserDelete(key), _) => users::delete(tenant, key, req),
            (Route::GroupGet(id), q) => groups::get(tenant, id, select(q), req),
            (Route::GroupPatch(id), _) => groups::patch(tenant, id, req),
            (Route::GroupDelete(id), _) => groups::delete(tenant, id, req),
            (Route::SoaGet(kind, key), q) => {
                soa::get(tenant, *kind, kind.segment(), key, select(q), req)
            }
            (Route::SoaPatch(kind, key), _) => soa::patch(tenant, *kind, key, req),
            (Route::Related(..), Query::Related(q)) => related::list(tenant, &q, req),
            (Route::MemberOf(..), Query::MemberOf(q)) => member_of::list(tenant, &q, req),
            (Route::RefAdd(group, rel), _) => related::add(tenant, group, *rel, req),
            (Route::RefRemove(group, rel, target), _) => {
                related::remove(tenant, group, *rel, target)
            }
            (Route::SyncList, q) => Ok(directory::list(tenant, select(q), req)),
            (Route::SyncGet(id), q) => directory::get(tenant, id, select(q), req),
            (Route::SyncPatch(id), _) => directory::patch(tenant, id, req),
            (Route::DeletedList(kind), Query::List(q)) => Ok(deleted::list(tenant, *kind, &q, req)),
            (Route::DeletedGet(id), q) => deleted::get(tenant, id, select(q), req),
            (Route::DeletedRestore(id), _) => deleted::restore(tenant, id, req),
            (Route::DeletedPurge(id), _) => deleted::purge(tenant, id),
            (Route::Delta(_), Query::Delta(q)) => delta::page(tenant, &q, req),
            (Route::RoleAssignmentList, _) => Ok(roles::assignments(tenant, req)),
            (Route::AdminUnitList, _) => Ok(roles::admin_units(tenant, req)),
            (Route::AdminUnitMembers(id), _) => roles::admin_unit_members(tenant, id, req),
            (route, _) => Err(GraphError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                format!("emulator: no query parsed for {route:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::routes::resolve::Cast;
    use crate::emulator::routes::resolve::Listing::{Members, Owners, TransitiveMembers};

    fn ru(route: Route, query: &str) -> (u32, u32) {
        let params = Params::parse(Some(query)).unwrap_or_default();
        let parsed = route.query(&params, &HeaderMap::new(), 7);
        assert!(parsed.is_ok(), "{route:?} {query}: {parsed:?}");
        let c = route.charge(parsed.as_ref().ok(), &Behaviour::default());
        (c.ru, c.writes)
    }

    #[test]
    fn the_new_routes_cost_what_graph_charges() {
        let g = || "g1".to_string();
        let related = |l| Route::Related(g(), l, Cast::Any);
        assert_eq!(ru(related(Members), ""), (3, 0));
        assert_eq!(ru(related(Members), "$select=id"), (2, 0));
        assert_eq!(ru(related(Members), "$select=id&$top=5"), (1, 0));
        assert_eq!(ru(related(TransitiveMembers), ""), (5, 0));
        assert_eq!(
            ru(related(TransitiveMembers), "$select=id&$top=999"),
            (4, 0)
        );
        assert_eq!(ru(related(Owners), "$select=id"), (1, 0));
        assert_eq!(
            ru(Route::SoaGet(SoaKind::User, g()), "$select=isCloudManaged"),
            (1, 0)
        );
        // orgContact is in the identity scope: reads 1 RU ($select never below 1).
        assert_eq!(ru(Route::ContactList, ""), (1, 0));
        assert_eq!(ru(Route::ContactList, "$select=id&$top=5"), (1, 0));
        assert_eq!(ru(Route::ContactGet(g()), ""), (1, 0));
        assert_eq!(ru(Route::SoaGet(SoaKind::Contact, g()), ""), (1, 0));
        assert_eq!(ru(Route::SyncList, ""), (1, 0));
        assert_eq!(
            ru(Route::DeletedList(ObjectKind::User), "$select=id"),
            (1, 0)
        );
        assert_eq!(ru(Route::DeletedGet(g()), ""), (1, 0));
        for write in [
            Route::SoaPatch(SoaKind::User, g()),
            Route::SoaPatch(SoaKind::Group, g()),
            Route::SoaPatch(SoaKind::Contact, g()),
            Route::RefAdd(g(), Relation::Owners),
            Route::RefAdd(g(), Relation::Members),
            Route::RefRemove(g(), Relation::Owners, g()),
            Route::SyncPatch(g()),
            Route::DeletedRestore(g()),
            Route::DeletedPurge(g()),
            Route::UserDelete(g()),
            Route::GroupPatch(g()),
            Route::GroupDelete(g()),
        ] {
            assert!(write.write_operation().is_some(), "{write:?}");
            assert_eq!(ru(write, ""), (1, 1));
        }
    }
}
