//! Unit tests of `resolve.rs`.

use super::*;

fn route(method: Method, path: &str) -> Result<Route, GraphError> {
    let segments: Vec<String> = path.split('/').map(str::to_string).collect();
    resolve(&method, &segments)
}

#[test]
fn resolves_the_per_object_routes() {
    assert_eq!(
        route(Method::PATCH, "users/u1/onPremisesSyncBehavior"),
        Ok(Route::SoaPatch(SoaKind::User, "u1".into()))
    );
    assert_eq!(
        route(Method::GET, "groups/g1/onpremisessyncbehavior"),
        Ok(Route::SoaGet(SoaKind::Group, "g1".into()))
    );
    assert_eq!(
        route(Method::PATCH, "contacts/c1/onPremisesSyncBehavior"),
        Ok(Route::SoaPatch(SoaKind::Contact, "c1".into()))
    );
    assert_eq!(route(Method::GET, "contacts"), Ok(Route::ContactList));
    assert_eq!(
        route(Method::GET, "Contacts/$count"),
        Ok(Route::ContactCount)
    );
    assert_eq!(
        route(Method::GET, "contacts/c1"),
        Ok(Route::ContactGet("c1".into()))
    );
    assert_eq!(
        route(
            Method::GET,
            "groups/g1/transitiveMembers/microsoft.graph.user"
        ),
        Ok(Route::Related(
            "g1".into(),
            Listing::TransitiveMembers,
            Cast::User
        ))
    );
    assert_eq!(
        route(Method::POST, "groups/g1/owners/$ref"),
        Ok(Route::RefAdd("g1".into(), Relation::Owners))
    );
    assert_eq!(
        route(Method::DELETE, "groups/g1/members/u1/$ref"),
        Ok(Route::RefRemove(
            "g1".into(),
            Relation::Members,
            "u1".into()
        ))
    );
    assert_eq!(
        route(
            Method::POST,
            "directory/deletedItems/x/microsoft.graph.restore"
        ),
        Ok(Route::DeletedRestore("x".into()))
    );
    assert_eq!(
        route(Method::GET, "directory/deletedItems/microsoft.graph.group"),
        Ok(Route::DeletedList(ObjectKind::Group))
    );
    assert_eq!(
        route(Method::GET, "users/delta"),
        Ok(Route::Delta(ObjectKind::User))
    );
    assert_eq!(
        route(Method::GET, "groups/microsoft.graph.delta()"),
        Ok(Route::Delta(ObjectKind::Group))
    );
    assert_eq!(
        route(Method::GET, "users/Delta()"),
        Ok(Route::Delta(ObjectKind::User))
    );
    let code = |m, p| route(m, p).err().map(|e| (e.status.as_u16(), e.code));
    assert_eq!(
        code(Method::GET, "groups/g1/owners/microsoft.graph.group"),
        Some((400, "Request_UnsupportedQuery"))
    );
    assert_eq!(
        code(Method::GET, "groups/g1/members/microsoft.graph.domain"),
        Some((400, "Request_UnsupportedQuery"))
    );
    assert_eq!(
        code(Method::GET, "groups/g1/members/nope"),
        Some((400, "BadRequest"))
    );
    assert_eq!(
        code(Method::GET, "directory/deletedItems"),
        Some((400, "Request_BadRequest"))
    );
    assert_eq!(
        code(Method::POST, "groups/g1/transitiveMembers/$ref"),
        Some((405, "Request_BadRequest"))
    );
    assert_eq!(
        code(Method::PUT, "users/u1"),
        Some((405, "Request_BadRequest"))
    );
    assert_eq!(
        code(Method::PATCH, "groups/delta"),
        Some((405, "Request_BadRequest"))
    );
    assert_eq!(
        code(Method::PATCH, "contacts/c1"),
        Some((405, "Request_BadRequest"))
    );
    assert_eq!(
        code(Method::GET, "contacts/c1/manager"),
        Some((400, "BadRequest"))
    );
}

#[test]
fn a_users_memberships_and_their_casts() {
    assert_eq!(
        route(Method::GET, "users/u1/memberOf"),
        Ok(Route::MemberOf("u1".into(), Cast::Any))
    );
    assert_eq!(
        route(Method::GET, "users/u1/memberOf/microsoft.graph.group"),
        Ok(Route::MemberOf("u1".into(), Cast::Group))
    );
    assert!(route(Method::GET, "users/u1/memberOf/microsoft.graph.user").is_err());
    assert!(route(Method::POST, "users/u1/memberOf").is_err());
}
