//! Requests shaped the way Microsoft's Kiota-generated SDKs send them (msgraph-sdk for Python
//! 1.65.0, seen by tests/sdk_conformance.rs): `@odata.type` in every entity body, and type
//! casts written with the `graph.` namespace alias.

use reqwest::StatusCode;
use serde_json::json;

use super::{Harness, config, nth_of_kind, values};

#[tokio::test]
async fn entity_bodies_may_carry_their_odata_type() {
    let h = Harness::start(config(6, 1)).await;
    let org = h
        .patch(
            &h.org_path(),
            json!({"@odata.type": "#microsoft.graph.organization", "onPremisesSyncEnabled": false}),
        )
        .await;
    assert_eq!(org.status, StatusCode::NO_CONTENT, "{:?}", org.body);
    assert_eq!(
        h.state().await["organization"]["syncState"],
        "PendingDisable"
    );

    let admin = h.admin_path().await;
    let user = h
        .patch(
            &admin,
            json!({"@odata.type": "#microsoft.graph.user", "jobTitle": "Rehearsal", "onPremisesImmutableId": null}),
        )
        .await;
    assert_eq!(user.status, StatusCode::NO_CONTENT, "{:?}", user.body);
    let read = h.get(&format!("{admin}?$select=jobTitle")).await;
    assert_eq!(read.body["jobTitle"], "Rehearsal");

    // Only the annotation is ignored: an unknown property is still refused.
    let unknown = h
        .patch(
            &admin,
            json!({"@odata.type": "#microsoft.graph.user", "favouriteColour": "blue"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.message(), "Invalid property 'favouriteColour'.");
}

#[tokio::test]
async fn casts_accept_the_graph_namespace_alias() {
    let h = Harness::start(config(6, 2)).await;
    let id = nth_of_kind(&h.all_users().await, "synced", 0);
    h.scope("users", &id, false).await;
    h.cycle().await;
    for path in [
        "/v1.0/directory/deletedItems/graph.user",
        "/v1.0/directory/deletedItems/microsoft.graph.user",
        "/v1.0/directory/deletedItems/Graph.User",
    ] {
        let deleted = h.get(path).await;
        assert_eq!(deleted.status, StatusCode::OK, "{path}: {:?}", deleted.body);
        let ids: Vec<_> = values(&deleted.body)
            .iter()
            .map(|u| u["id"].clone())
            .collect();
        assert_eq!(ids, vec![json!(id)], "{path}");
    }
    let groups = h.get("/v1.0/directory/deletedItems/graph.group").await;
    assert_eq!(groups.status, StatusCode::OK, "{:?}", groups.body);

    let group = h.all_groups().await[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let members = h
        .get(&format!("/v1.0/groups/{group}/members/graph.user"))
        .await;
    assert_eq!(members.status, StatusCode::OK, "{:?}", members.body);

    // A user principal name that happens to start with "graph." is not a cast.
    let upn = h.get("/v1.0/users/graph.smith@contoso.com").await;
    assert_eq!(upn.status, StatusCode::NOT_FOUND, "{:?}", upn.body);
    assert!(
        upn.message().contains("graph.smith@contoso.com"),
        "{:?}",
        upn.body
    );
    let unknown = h.get("/v1.0/directory/deletedItems/graph.device").await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        unknown.body
    );
}
