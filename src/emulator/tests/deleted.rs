//! Soft delete and restore over HTTP: out of scope → deleted at the next cycle → restore (same
//! id, cloud-only, anchor per switch) → UPN conflict → newUserPrincipalName; groups; the
//! 30-day purge; queries, paging, permissions and costs of `/directory/deletedItems`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Harness, PER_OBJECT, config, nth_of_kind, values};
use crate::emulator::{EmulatorConfig, ImmutableIdOnRestore};

const ON_PREM: &str =
    "id,userPrincipalName,onPremisesSyncEnabled,onPremisesImmutableId,onPremisesLastSyncDateTime";

async fn user(h: &Harness, id: &str) -> Value {
    h.get(&format!("/v1.0/users/{id}?$select={ON_PREM}"))
        .await
        .body
}

#[tokio::test]
async fn out_of_scope_then_restored_with_a_new_upn() {
    let h = Harness::start(config(20, 3)).await;
    h.grant(PER_OBJECT).await;
    let id = nth_of_kind(&h.all_users().await, "synced", 0);
    let before = user(&h, &id).await;
    let upn = before["userPrincipalName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let moved = h.scope("users", &id, false).await;
    assert_eq!(
        moved,
        json!({"id": id, "inScope": false, "state": "active"})
    );
    assert_eq!(h.object("users", &id).await["inScope"], false);
    // The first cycle is 28 emulated minutes away: nothing happens before it.
    h.advance(1_500.0).await;
    assert_eq!(
        h.get(&format!("/v1.0/users/{id}")).await.status,
        StatusCode::OK
    );
    h.advance(300.0).await;
    let gone = h.get(&format!("/v1.0/users/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let select = "id,userPrincipalName,deletedDateTime,onPremisesImmutableId";
    let list = h
        .get(&format!(
            "/v1.0/directory/deletedItems/microsoft.graph.user?$select={select}"
        ))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(
        list.body["@odata.context"],
        h.url(&format!(
            "/v1.0/$metadata#directoryObjects/microsoft.graph.user({select})"
        ))
    );
    let items = values(&list.body);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(
        items[0]["onPremisesImmutableId"],
        before["onPremisesImmutableId"]
    );
    assert!(
        items[0]["deletedDateTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let one = h.get(&format!("/v1.0/directory/deletedItems/{id}")).await;
    assert_eq!(one.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(
        one.body["@odata.context"],
        h.url("/v1.0/$metadata#directoryObjects/$entity")
    );
    assert_eq!(one.body["deletedDateTime"], items[0]["deletedDateTime"]);
    let filtered = h
        .get(&format!(
            "/v1.0/directory/deletedItems/microsoft.graph.user?$filter=userPrincipalName eq '{upn}'"
        ))
        .await;
    assert_eq!(values(&filtered.body).len(), 1);
    let deleted = h.control(reqwest::Method::GET, "/deleted", None).await;
    let entry = &values(&deleted.body)[0];
    assert_eq!(
        (entry["type"].clone(), entry["id"].clone()),
        (json!("user"), json!(id))
    );
    assert!(entry["purgeAt"].is_string() && entry["memberOf"].is_array());
    // An active user takes the UPN: restoring needs a new one.
    let admin = h.admin_path().await;
    assert_eq!(
        h.patch(&admin, json!({"userPrincipalName": upn}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let restore = format!("/v1.0/directory/deletedItems/{id}/restore");
    let a = h.post(&restore, None).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    assert_eq!(
        a.body["error"]["details"],
        json!([{"target": "userPrincipalName", "code": "ObjectConflict"}])
    );
    let a = h
        .post(
            &restore,
            Some(json!({"newUserPrincipalName": "restored@fabrikam.com"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "unverified domain");
    let a = h
        .post(&restore, Some(json!({"newUserPrincipalName": "restored@contoso.com", "autoReconcileProxyConflict": true})))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(
        (a.body["id"].clone(), a.body["@odata.type"].clone()),
        (json!(id), json!("#microsoft.graph.user"))
    );
    assert_eq!(a.body["userPrincipalName"], "restored@contoso.com");
    // Same id, cloud-only, anchor and last sync kept; writable.
    let after = user(&h, &id).await;
    assert_eq!(after["onPremisesSyncEnabled"], Value::Null);
    assert_eq!(
        after["onPremisesImmutableId"],
        before["onPremisesImmutableId"]
    );
    assert_eq!(
        after["onPremisesLastSyncDateTime"],
        before["onPremisesLastSyncDateTime"]
    );
    let clear = h
        .patch(
            &format!("/v1.0/users/{id}"),
            json!({"onPremisesImmutableId": null}),
        )
        .await;
    assert_eq!(clear.status, StatusCode::NO_CONTENT);
    assert_eq!(h.object("users", &id).await["writeCounts"]["restore"], 1);
    let ops = h.state().await["writes"].clone();
    assert_eq!(
        ops["byOperation"]["POST /directory/deletedItems/restore"],
        1
    );
    assert_eq!(ops["refused"], 2);
    assert_eq!(h.post(&restore, None).await.status, StatusCode::NOT_FOUND);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn the_restored_anchor_follows_its_switch_and_scope_brings_users_back() {
    for (switch, anchor_kept) in [
        (ImmutableIdOnRestore::Keep, true),
        (ImmutableIdOnRestore::Clear, false),
    ] {
        let h = Harness::start(EmulatorConfig {
            immutable_id_survives_restore: switch,
            ..config(10, 2)
        })
        .await;
        h.grant(PER_OBJECT).await;
        let users = h.all_users().await;
        let (a, b) = (
            nth_of_kind(&users, "synced", 0),
            nth_of_kind(&users, "synced", 1),
        );
        h.scope("users", &a, false).await;
        h.scope("users", &b, false).await;
        let report = h.cycle().await;
        assert_eq!(report["softDeleted"].as_array().map(Vec::len), Some(2));
        let restored = h
            .post(
                &format!("/beta/directory/deletedItems/{a}/microsoft.graph.restore"),
                None,
            )
            .await;
        assert_eq!(restored.status, StatusCode::OK);
        assert_eq!(
            user(&h, &a).await["onPremisesImmutableId"].is_string(),
            anchor_kept
        );
        // Back in scope: the soft-deleted user is recovered and synced, same id.
        assert_eq!(h.scope("users", &b, true).await["state"], "softDeleted");
        assert_eq!(h.cycle().await["recovered"], json!([b]));
        assert_eq!(user(&h, &b).await["onPremisesSyncEnabled"], true);
        h.emu.shutdown().await;
    }
}

#[tokio::test]
async fn security_groups_are_not_restorable_microsoft_365_groups_are() {
    let h = Harness::start(config(10, 5)).await;
    h.grant(PER_OBJECT).await;
    let groups = h.all_groups().await;
    let named = |n: &str| {
        groups
            .iter()
            .find(|g| g["displayName"] == n)
            .and_then(|g| g["id"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (everyone, admins) = (named("All Company"), named("Cloud Admins"));
    let members = h.object("groups", &everyone).await["members"].clone();
    let synced = groups
        .iter()
        .find(|g| g["kind"] == "synced" && g["securityEnabled"] == true)
        .and_then(|g| g["id"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(!synced.is_empty());
    // A synced security group out of scope is deleted for good at the next cycle.
    h.scope("groups", &synced, false).await;
    assert_eq!(h.cycle().await["hardDeleted"], json!([synced]));
    assert_eq!(
        h.get(&format!("/v1.0/groups/{synced}")).await.status,
        StatusCode::NOT_FOUND
    );
    // Graph deletes: the security group is gone, the Microsoft 365 group restorable.
    assert_eq!(
        h.delete(&format!("/v1.0/groups/{admins}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.delete(&format!("/v1.0/groups/{everyone}")).await.status,
        StatusCode::NO_CONTENT
    );
    let list = h.get("/v1.0/directory/deletedItems/microsoft.graph.group?$select=id,displayName,deletedDateTime").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        values(&list.body)
            .iter()
            .map(|g| g["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(everyone)]
    );
    for gone in [&synced, &admins] {
        let a = h
            .post(
                &format!("/v1.0/directory/deletedItems/{gone}/restore"),
                None,
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
        );
    }
    let a = h
        .post(
            &format!("/v1.0/directory/deletedItems/{everyone}/restore"),
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        (a.body["id"].clone(), a.body["@odata.type"].clone()),
        (json!(everyone), json!("#microsoft.graph.group"))
    );
    assert_eq!(h.object("groups", &everyone).await["members"], members);
    // A synced group cannot be deleted through Graph.
    let other = nth_of_kind(&h.all_groups().await, "synced", 0);
    assert_eq!(
        h.delete(&format!("/v1.0/groups/{other}")).await.status,
        StatusCode::BAD_REQUEST
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn deleted_items_are_purged_after_30_days_or_on_request() {
    let h = Harness::start(config(10, 2)).await;
    h.grant(PER_OBJECT).await;
    let users = h.all_users().await;
    let (a, b) = (
        nth_of_kind(&users, "breakGlass", 0),
        nth_of_kind(&users, "breakGlass", 1),
    );
    for id in [&a, &b] {
        let d = h.delete(&format!("/v1.0/users/{id}")).await;
        assert_eq!(
            (d.status, d.header("x-ms-resource-unit")),
            (StatusCode::NO_CONTENT, Some("1"))
        );
    }
    let purge = h.delete(&format!("/v1.0/directory/deletedItems/{b}")).await;
    assert_eq!(purge.status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.get(&format!("/v1.0/directory/deletedItems/{b}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.delete(&format!("/v1.0/directory/deletedItems/{b}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    h.advance(29.0 * 86_400.0).await;
    assert_eq!(
        h.get(&format!("/v1.0/directory/deletedItems/{a}"))
            .await
            .status,
        StatusCode::OK
    );
    h.advance(86_400.0 + 60.0).await;
    let gone = h.get(&format!("/v1.0/directory/deletedItems/{a}")).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    assert_eq!(
        h.post(&format!("/v1.0/directory/deletedItems/{a}/restore"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(h.state().await["deleted"], json!({"users": 0, "groups": 0}));
    h.emu.shutdown().await;
}

#[tokio::test]
async fn deleted_items_queries_paging_and_permissions() {
    let h = Harness::start(config(20, 2)).await;
    h.grant(PER_OBJECT).await;
    let users = h.all_users().await;
    for n in 0..5 {
        h.scope("users", &nth_of_kind(&users, "synced", n), false)
            .await;
    }
    assert_eq!(
        h.cycle().await["softDeleted"].as_array().map(Vec::len),
        Some(5)
    );
    let a = h.get("/v1.0/directory/deletedItems").await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    let a = h
        .get("/v1.0/directory/deletedItems/microsoft.graph.banana")
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // Paging two at a time, the links absolute, bounded.
    let mut next =
        Some(h.url("/v1.0/directory/deletedItems/microsoft.graph.user?$top=2&$select=id"));
    let mut seen = Vec::new();
    for _ in 0..10 {
        let Some(url) = next.take() else { break };
        let a = h.get(url.trim_start_matches(&h.emu.url())).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        seen.extend(values(&a.body).into_iter().map(|v| v["id"].clone()));
        next = a.body["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 5);
    // A /users token is not a deleted-items token.
    let page = h.get("/v1.0/users?$top=1").await;
    let link = page.body["@odata.nextLink"].as_str().unwrap_or_default();
    let token = link.split("$skiptoken=").nth(1).unwrap_or_default();
    let a = h
        .get(&format!(
            "/v1.0/directory/deletedItems/microsoft.graph.user?$skiptoken={token}"
        ))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // The filter rules of users apply.
    let a = h.get("/v1.0/directory/deletedItems/microsoft.graph.user?$filter=onPremisesSamAccountName eq 'x'").await;
    assert_eq!(a.code(), "Request_UnsupportedQuery");
    // Permissions: the object's type decides.
    let id = seen[0].as_str().unwrap_or_default().to_string();
    h.grant(&["Group.Read.All"]).await;
    assert_eq!(
        h.get("/v1.0/directory/deletedItems/microsoft.graph.user")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.get("/v1.0/directory/deletedItems/microsoft.graph.group")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.get(&format!("/v1.0/directory/deletedItems/{id}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    h.grant(&["User.Read.All"]).await;
    assert_eq!(
        h.get(&format!("/v1.0/directory/deletedItems/{id}"))
            .await
            .status,
        StatusCode::OK
    );
    let restore = format!("/v1.0/directory/deletedItems/{id}/restore");
    assert_eq!(h.post(&restore, None).await.status, StatusCode::FORBIDDEN);
    h.grant(&["User.DeleteRestore.All"]).await;
    assert_eq!(h.post(&restore, None).await.status, StatusCode::OK);
    let a = h
        .post(
            &format!(
                "/v1.0/directory/deletedItems/{}/restore",
                seen[1].as_str().unwrap_or_default()
            ),
            Some(json!({"colour": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    h.emu.shutdown().await;
}
