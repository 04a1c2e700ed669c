//! Which route a method and path are: the `Route` of every Graph resource the emulator serves.

use axum::http::{Method, StatusCode};

use super::GraphError;
use crate::emulator::state::{ObjectKind, Relation, SoaKind};

/// A collection of a group's related objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `members`
    Members,
    /// `transitiveMembers`
    TransitiveMembers,
    /// `owners`
    Owners,
}

impl Listing {
    /// Path segment.
    pub fn segment(self) -> &'static str {
        match self {
            Listing::Members => "members",
            Listing::TransitiveMembers => "transitiveMembers",
            Listing::Owners => "owners",
        }
    }
}

/// The OData type cast segment of a related-objects list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    /// No cast: every `directoryObject`.
    Any,
    /// `microsoft.graph.user`
    User,
    /// `microsoft.graph.group`
    Group,
    /// A type the relationship can hold but the emulator has none of (devices, contacts,
    /// service principals): always empty.
    Empty(&'static str),
}

impl Cast {
    /// The segment (`microsoft.graph.user`), if any.
    pub fn segment(self) -> Option<&'static str> {
        match self {
            Cast::Any => None,
            Cast::User => Some("microsoft.graph.user"),
            Cast::Group => Some("microsoft.graph.group"),
            Cast::Empty(name) => Some(name),
        }
    }
}

/// What a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /organization`
    OrgList,
    /// `GET /organization/{id}`
    OrgGet(String),
    /// `PATCH /organization/{id}`
    OrgPatch(String),
    /// `GET /users`
    UserList,
    /// `GET /users/$count`
    UserCount,
    /// `GET /users/{id | userPrincipalName}`
    UserGet(String),
    /// `PATCH /users/{id | userPrincipalName}`
    UserPatch(String),
    /// `DELETE /users/{id | userPrincipalName}`
    UserDelete(String),
    /// `GET /groups`
    GroupList,
    /// `GET /groups/$count`
    GroupCount,
    /// `GET /groups/{id}`
    GroupGet(String),
    /// `PATCH /groups/{id}`
    GroupPatch(String),
    /// `DELETE /groups/{id}`
    GroupDelete(String),
    /// `GET /contacts`
    ContactList,
    /// `GET /contacts/$count`
    ContactCount,
    /// `GET /contacts/{id}`
    ContactGet(String),
    /// `GET /{users|groups|contacts}/{id}/onPremisesSyncBehavior`
    SoaGet(SoaKind, String),
    /// `PATCH /{users|groups|contacts}/{id}/onPremisesSyncBehavior`
    SoaPatch(SoaKind, String),
    /// `GET /groups/{id}/{members|transitiveMembers|owners}[/{cast}]`
    Related(String, Listing, Cast),
    /// `GET /users/{id | userPrincipalName}/memberOf[/{cast}]`
    MemberOf(String, Cast),
    /// `POST /groups/{id}/{members|owners}/$ref`
    RefAdd(String, Relation),
    /// `DELETE /groups/{id}/{members|owners}/{target}/$ref`
    RefRemove(String, Relation, String),
    /// `GET /directory/onPremisesSynchronization`
    SyncList,
    /// `GET /directory/onPremisesSynchronization/{id}`
    SyncGet(String),
    /// `PATCH /directory/onPremisesSynchronization/{id}`
    SyncPatch(String),
    /// `GET /directory/deletedItems/microsoft.graph.{user|group}`
    DeletedList(ObjectKind),
    /// `GET /directory/deletedItems/{id}`
    DeletedGet(String),
    /// `DELETE /directory/deletedItems/{id}`
    DeletedPurge(String),
    /// `POST /directory/deletedItems/{id}/restore`
    DeletedRestore(String),
    /// `GET /{users|groups}/delta` (also `microsoft.graph.delta()`)
    Delta(ObjectKind),
    /// `GET /roleManagement/directory/roleAssignments`
    RoleAssignmentList,
    /// `GET /directory/administrativeUnits`
    AdminUnitList,
    /// `GET /directory/administrativeUnits/{id}/members`
    AdminUnitMembers(String),
}

fn is(segment: &str, name: &str) -> bool {
    segment.eq_ignore_ascii_case(name)
}

/// `delta`, `delta()`, `microsoft.graph.delta` or `microsoft.graph.delta()`.
fn is_delta(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let name = lower.strip_prefix("microsoft.graph.").unwrap_or(&lower);
    name == "delta" || name == "delta()"
}

fn not_allowed() -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}

fn unsupported_cast(cast: &str, on: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        format!("The type cast '{cast}' is not supported on the '{on}' relationship."),
    )
}

/// Resolves a method and the path segments after the version.
pub fn resolve(method: &Method, segments: &[String]) -> Result<Route, GraphError> {
    let segments = unaliased(segments);
    match segments.as_slice() {
        [] => Err(GraphError::unknown_segment("")),
        [root, rest @ ..] if is(root, "organization") => organization(method, rest),
        [root, rest @ ..] if is(root, "users") => users(method, rest),
        [root, rest @ ..] if is(root, "groups") => groups(method, rest),
        [root, rest @ ..] if is(root, "contacts") => contacts(method, rest),
        [root, rest @ ..] if is(root, "directory") => directory(method, rest),
        [root, rest @ ..] if is(root, "roleManagement") => match (rest, method.clone()) {
            ([d, a], Method::GET) if is(d, "directory") && is(a, "roleAssignments") => {
                Ok(Route::RoleAssignmentList)
            }
            ([d, a], _) if is(d, "directory") && is(a, "roleAssignments") => Err(not_allowed()),
            ([d, extra, ..], _) if is(d, "directory") => Err(GraphError::unknown_segment(extra)),
            ([extra, ..], _) => Err(GraphError::unknown_segment(extra)),
            ([], _) => Err(not_allowed()),
        },
        [root, ..] => Err(GraphError::unknown_segment(root)),
    }
}

fn organization(method: &Method, rest: &[String]) -> Result<Route, GraphError> {
    match (rest, method.clone()) {
        ([], Method::GET) => Ok(Route::OrgList),
        ([id], Method::GET) => Ok(Route::OrgGet(id.clone())),
        ([id], Method::PATCH) => Ok(Route::OrgPatch(id.clone())),
        ([_, extra, ..], _) => Err(GraphError::unknown_segment(extra)),
        _ => Err(not_allowed()),
    }
}

fn users(method: &Method, rest: &[String]) -> Result<Route, GraphError> {
    match (rest, method.clone()) {
        ([], Method::GET) => Ok(Route::UserList),
        ([c], Method::GET) if is(c, "$count") => Ok(Route::UserCount),
        ([c], _) if is(c, "$count") => Err(not_allowed()),
        ([d], Method::GET) if is_delta(d) => Ok(Route::Delta(ObjectKind::User)),
        ([d], _) if is_delta(d) => Err(not_allowed()),
        ([key], Method::GET) => Ok(Route::UserGet(key.clone())),
        ([key], Method::PATCH) => Ok(Route::UserPatch(key.clone())),
        ([key], Method::DELETE) => Ok(Route::UserDelete(key.clone())),
        ([key, s], m) if is(s, "onPremisesSyncBehavior") => soa(m, SoaKind::User, key),
        ([key, s], Method::GET) if is(s, "memberOf") => Ok(Route::MemberOf(key.clone(), Cast::Any)),
        ([key, s, c], Method::GET) if is(s, "memberOf") => {
            member_of_cast(c).map(|cast| Route::MemberOf(key.clone(), cast))
        }
        ([_, s, ..], _) if is(s, "memberOf") => Err(not_allowed()),
        ([_, extra, ..], _) => Err(GraphError::unknown_segment(extra)),
        _ => Err(not_allowed()),
    }
}

fn soa(method: Method, kind: SoaKind, key: &str) -> Result<Route, GraphError> {
    match method {
        Method::GET => Ok(Route::SoaGet(kind, key.to_string())),
        Method::PATCH => Ok(Route::SoaPatch(kind, key.to_string())),
        _ => Err(not_allowed()),
    }
}

fn listing(segment: &str) -> Option<Listing> {
    [
        Listing::Members,
        Listing::TransitiveMembers,
        Listing::Owners,
    ]
    .into_iter()
    .find(|l| is(segment, l.segment()))
}

fn relation(listing: Listing) -> Option<Relation> {
    match listing {
        Listing::Members => Some(Relation::Members),
        Listing::Owners => Some(Relation::Owners),
        Listing::TransitiveMembers => None,
    }
}

/// The cast segment of a related-objects list; `None` when the segment is not a cast at all.
fn cast(listing: Listing, segment: &str) -> Option<Result<Cast, GraphError>> {
    let lower = segment.to_ascii_lowercase();
    if !lower.starts_with("microsoft.graph.") {
        return None;
    }
    let owners = listing == Listing::Owners;
    let found = match lower.as_str() {
        "microsoft.graph.user" => Some(Cast::User),
        "microsoft.graph.group" if !owners => Some(Cast::Group),
        "microsoft.graph.serviceprincipal" => Some(Cast::Empty("microsoft.graph.servicePrincipal")),
        "microsoft.graph.device" if !owners => Some(Cast::Empty("microsoft.graph.device")),
        "microsoft.graph.orgcontact" if !owners => Some(Cast::Empty("microsoft.graph.orgContact")),
        _ => None,
    };
    Some(found.ok_or_else(|| unsupported_cast(segment, listing.segment())))
}

/// A user's memberships are groups, directory roles and administrative units.
fn member_of_cast(segment: &str) -> Result<Cast, GraphError> {
    match segment.to_ascii_lowercase().as_str() {
        "microsoft.graph.group" => Ok(Cast::Group),
        "microsoft.graph.directoryrole" => Ok(Cast::Empty("microsoft.graph.directoryRole")),
        "microsoft.graph.administrativeunit" => {
            Ok(Cast::Empty("microsoft.graph.administrativeUnit"))
        }
        lower if lower.starts_with("microsoft.graph.") => {
            Err(unsupported_cast(segment, "memberOf"))
        }
        _ => Err(GraphError::unknown_segment(segment)),
    }
}

fn groups(method: &Method, rest: &[String]) -> Result<Route, GraphError> {
    let m = method.clone();
    match rest {
        [] if m == Method::GET => Ok(Route::GroupList),
        [c] if is(c, "$count") && m == Method::GET => Ok(Route::GroupCount),
        [c] if is(c, "$count") => Err(not_allowed()),
        [d] if is_delta(d) && m == Method::GET => Ok(Route::Delta(ObjectKind::Group)),
        [d] if is_delta(d) => Err(not_allowed()),
        [id] => match m {
            Method::GET => Ok(Route::GroupGet(id.clone())),
            Method::PATCH => Ok(Route::GroupPatch(id.clone())),
            Method::DELETE => Ok(Route::GroupDelete(id.clone())),
            _ => Err(not_allowed()),
        },
        [id, s] if is(s, "onPremisesSyncBehavior") => soa(m, SoaKind::Group, id),
        [id, s, tail @ ..] => {
            let Some(list) = listing(s) else {
                return Err(GraphError::unknown_segment(s));
            };
            related(m, id, list, tail)
        }
        _ => Err(not_allowed()),
    }
}

/// Organizational contacts: read-only in Graph but for their Source of Authority.
fn contacts(method: &Method, rest: &[String]) -> Result<Route, GraphError> {
    match (rest, method.clone()) {
        ([], Method::GET) => Ok(Route::ContactList),
        ([c], Method::GET) if is(c, "$count") => Ok(Route::ContactCount),
        ([id], Method::GET) if !is(id, "$count") => Ok(Route::ContactGet(id.clone())),
        ([id, s], m) if is(s, "onPremisesSyncBehavior") => soa(m, SoaKind::Contact, id),
        ([_, extra, ..], _) => Err(GraphError::unknown_segment(extra)),
        _ => Err(not_allowed()),
    }
}

fn related(m: Method, id: &str, list: Listing, tail: &[String]) -> Result<Route, GraphError> {
    let id = id.to_string();
    match tail {
        [] if m == Method::GET => Ok(Route::Related(id, list, Cast::Any)),
        [r] if is(r, "$ref") => match (m, relation(list)) {
            (Method::POST, Some(rel)) => Ok(Route::RefAdd(id, rel)),
            _ => Err(not_allowed()),
        },
        [c] => match cast(list, c) {
            Some(Ok(cast)) if m == Method::GET => Ok(Route::Related(id, list, cast)),
            Some(Err(e)) => Err(e),
            Some(Ok(_)) => Err(not_allowed()),
            None => Err(GraphError::unknown_segment(c)),
        },
        [target, r] if is(r, "$ref") => match (m, relation(list)) {
            (Method::DELETE, Some(rel)) => Ok(Route::RefRemove(id, rel, target.clone())),
            _ => Err(not_allowed()),
        },
        [_, extra, ..] => Err(GraphError::unknown_segment(extra)),
        _ => Err(not_allowed()),
    }
}

fn directory(method: &Method, rest: &[String]) -> Result<Route, GraphError> {
    let m = method.clone();
    match rest {
        [s, tail @ ..] if is(s, "onPremisesSynchronization") => match (tail, m) {
            ([], Method::GET) => Ok(Route::SyncList),
            ([id], Method::GET) => Ok(Route::SyncGet(id.clone())),
            ([id], Method::PATCH) => Ok(Route::SyncPatch(id.clone())),
            ([_, extra, ..], _) => Err(GraphError::unknown_segment(extra)),
            _ => Err(not_allowed()),
        },
        [s, tail @ ..] if is(s, "deletedItems") => deleted(m, tail),
        [s, tail @ ..] if is(s, "administrativeUnits") => match (tail, m) {
            ([], Method::GET) => Ok(Route::AdminUnitList),
            ([id, members], Method::GET) if is(members, "members") => {
                Ok(Route::AdminUnitMembers(id.clone()))
            }
            ([_, extra, ..], _) => Err(GraphError::unknown_segment(extra)),
            _ => Err(not_allowed()),
        },
        [s, ..] => Err(GraphError::unknown_segment(s)),
        [] => Err(not_allowed()),
    }
}

fn deleted(m: Method, tail: &[String]) -> Result<Route, GraphError> {
    match tail {
        [] if m == Method::GET => Err(GraphError::bad_request(
            "A type cast segment is required to list deleted items: /directory/deletedItems/microsoft.graph.user, microsoft.graph.group, microsoft.graph.application, …",
        )),
        [c] if c.to_ascii_lowercase().starts_with("microsoft.graph.") => {
            let kind = match c.to_ascii_lowercase().as_str() {
                "microsoft.graph.user" => ObjectKind::User,
                "microsoft.graph.group" => ObjectKind::Group,
                _ => return Err(GraphError::unknown_segment(c)),
            };
            if m == Method::GET {
                Ok(Route::DeletedList(kind))
            } else {
                Err(not_allowed())
            }
        }
        [id] => match m {
            Method::GET => Ok(Route::DeletedGet(id.clone())),
            Method::DELETE => Ok(Route::DeletedPurge(id.clone())),
            _ => Err(not_allowed()),
        },
        [id, r] if is(r, "restore") || is(r, "microsoft.graph.restore") => {
            if m == Method::POST {
                Ok(Route::DeletedRestore(id.clone()))
            } else {
                Err(not_allowed())
            }
        }
        [_, extra, ..] => Err(GraphError::unknown_segment(extra)),
        [] => Err(not_allowed()),
    }
}

/// `graph.` is the alias of the `microsoft.graph` namespace in Graph's `$metadata`, and the
/// SDKs generated from it (Kiota) write type casts that way (`deletedItems/graph.user`):
/// Graph accepts both spellings. Only identifier-like segments are rewritten, never a UPN.
fn unaliased(segments: &[String]) -> Vec<String> {
    segments
        .iter()
        .map(|s| match s.get(..6) {
            Some(prefix)
                if prefix.eq_ignore_ascii_case("graph.")
                    && s.len() > 6
                    && s[6..].bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                format!("microsoft.graph.{}", &s[6..])
            }
            _ => s.clone(),
        })
        .collect()
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
