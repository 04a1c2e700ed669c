//! `…/onPremisesSyncBehavior` and `/directory/onPremisesSynchronization` over HTTP: the SOA
//! state table, the rollback gate, each UNCONFIRMED switch both ways, permissions.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Harness, PER_OBJECT, config, nth_of_kind};
use crate::emulator::{
    EmulatorConfig, HardMatchFlagAppOnly, ImmutableIdAfterSoa, SoaOnCloudObject, SoaPatchResponse,
};

const BLOCK: &str = "blockCloudObjectTakeoverThroughHardMatchEnabled";

async fn start(config: EmulatorConfig) -> (Harness, String) {
    let h = Harness::start(config).await;
    h.grant(PER_OBJECT).await;
    let id = nth_of_kind(&h.all_users().await, "synced", 0);
    (h, id)
}

async fn sync_enabled(h: &Harness, id: &str) -> Value {
    let a = h
        .get(&format!("/v1.0/users/{id}?$select=onPremisesSyncEnabled"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body["onPremisesSyncEnabled"].clone()
}

async fn rename(h: &Harness, id: &str) -> StatusCode {
    h.patch(
        &format!("/v1.0/users/{id}"),
        json!({"displayName": "Renamed"}),
    )
    .await
    .status
}

async fn set_block(h: &Harness, version: &str, value: bool) -> StatusCode {
    let path = format!(
        "/{version}/directory/onPremisesSynchronization/{}",
        h.config.tenant_id
    );
    h.patch(&path, json!({"features": {BLOCK: value}}))
        .await
        .status
}

#[tokio::test]
async fn the_state_table_end_to_end() {
    let (h, id) = start(config(30, 5)).await;
    let soa = format!("/v1.0/users/{id}/onPremisesSyncBehavior");
    let a = h.get(&format!("{soa}?$select=isCloudManaged")).await;
    assert_eq!(a.status, StatusCode::OK);
    let context = h.url(&format!(
        "/v1.0/$metadata#users('{id}')/onPremisesSyncBehavior(isCloudManaged)/$entity"
    ));
    assert_eq!(
        a.body,
        json!({"@odata.context": context, "id": id, "isCloudManaged": false})
    );
    assert_eq!(a.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(sync_enabled(&h, &id).await, true);
    assert_eq!(rename(&h, &id).await, StatusCode::BAD_REQUEST);
    // Switch: 200 with the documented body; the user is null and writable.
    let a = h.patch(&soa, json!({"isCloudManaged": true})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body,
        json!({"@odata.type": "#microsoft.graph.onPremisesSyncBehavior", "id": id, "isCloudManaged": true})
    );
    assert_eq!(a.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(sync_enabled(&h, &id).await, Value::Null);
    assert_eq!(rename(&h, &id).await, StatusCode::NO_CONTENT);
    // Skipped by cycles while cloud-managed.
    let report = h.cycle().await;
    assert_eq!(report["skippedCloudManaged"], json!([id]));
    // Rollback refused while the tenant blocks takeover by hard match.
    let refused = h.patch(&soa, json!({"isCloudManaged": false})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.code(), "Request_BadRequest");
    assert!(refused.message().contains(BLOCK), "{}", refused.message());
    // The flag: v1.0 refuses an application by default, beta takes it.
    assert_eq!(set_block(&h, "v1.0", false).await, StatusCode::FORBIDDEN);
    assert_eq!(set_block(&h, "beta", false).await, StatusCode::NO_CONTENT);
    let sync = h.get("/v1.0/directory/onPremisesSynchronization").await;
    assert_eq!(sync.body["value"][0]["features"][BLOCK], false);
    // Rolled back: false, still null and writable until the next cycle.
    let beta = format!("/beta/users/{id}/onPremisesSyncBehavior");
    let a = h.patch(&beta, json!({"isCloudManaged": false})).await;
    assert_eq!(
        (a.status, a.body["isCloudManaged"].clone()),
        (StatusCode::OK, json!(false))
    );
    assert_eq!(sync_enabled(&h, &id).await, Value::Null);
    assert_eq!(rename(&h, &id).await, StatusCode::NO_CONTENT);
    // The next cycle takes it back.
    assert_eq!(h.cycle().await["relinked"], json!([id]));
    assert_eq!(sync_enabled(&h, &id).await, true);
    assert_eq!(rename(&h, &id).await, StatusCode::BAD_REQUEST);
    assert_eq!(set_block(&h, "beta", true).await, StatusCode::NO_CONTENT);
    // What the control endpoint says about the user: two SOA writes, two renames.
    let user = h.object("users", &id).await;
    assert_eq!(user["isCloudManaged"], false);
    assert_eq!(user["inScope"], true);
    assert_eq!(user["writeCounts"]["soa"], 2);
    assert_eq!(user["writeCounts"]["patch"], 2);
    assert_eq!(user["writes"], 4);
    let state = h.state().await;
    assert_eq!(
        state["writes"]["byOperation"]["PATCH /users/onPremisesSyncBehavior"],
        2
    );
    assert_eq!(
        state["writes"]["byOperation"]["PATCH /directory/onPremisesSynchronization"],
        2
    );
    assert_eq!(state["directorySync"]["features"][BLOCK], true);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn the_patch_answer_and_cloud_objects_follow_their_switches() {
    for (response, on_cloud) in [
        (SoaPatchResponse::Body, SoaOnCloudObject::Refuse),
        (SoaPatchResponse::NoContent, SoaOnCloudObject::Accept),
    ] {
        let (h, id) = start(EmulatorConfig {
            soa_patch_response: response,
            soa_on_cloud_object: on_cloud,
            ..config(10, 2)
        })
        .await;
        let a = h
            .patch(
                &format!("/v1.0/users/{id}/onPremisesSyncBehavior"),
                json!({"isCloudManaged": true}),
            )
            .await;
        match response {
            SoaPatchResponse::Body => assert_eq!(a.status, StatusCode::OK),
            SoaPatchResponse::NoContent => {
                assert_eq!(
                    (a.status, a.body.clone()),
                    (StatusCode::NO_CONTENT, json!(""))
                );
            }
        }
        assert_eq!(sync_enabled(&h, &id).await, Value::Null);
        let admin = "/v1.0/users/admin@contoso.onmicrosoft.com/onPremisesSyncBehavior";
        let a = h.patch(admin, json!({"isCloudManaged": true})).await;
        match on_cloud {
            SoaOnCloudObject::Refuse => {
                assert_eq!(
                    (a.status, a.code()),
                    (StatusCode::BAD_REQUEST, "Request_BadRequest")
                );
                assert!(a.message().contains("is not synchronized from on-premises"));
            }
            SoaOnCloudObject::Accept => assert_eq!(a.status, StatusCode::NO_CONTENT),
        }
        // Either way the cloud-native admin stays false/null.
        let a = h.get(admin).await;
        assert_eq!(a.body["isCloudManaged"], false);
        h.emu.shutdown().await;
    }
}

#[tokio::test]
async fn the_v1_flag_update_and_the_anchor_after_soa_follow_their_switches() {
    for (app_only, anchor) in [
        (HardMatchFlagAppOnly::Allow, ImmutableIdAfterSoa::Refuse),
        (HardMatchFlagAppOnly::Deny, ImmutableIdAfterSoa::Allow),
    ] {
        let (h, id) = start(EmulatorConfig {
            hard_match_flag_app_only: app_only,
            immutable_id_after_soa: anchor,
            block_hard_match_takeover: false,
            ..config(10, 2)
        })
        .await;
        let features = h.get("/beta/directory/onPremisesSynchronization").await;
        assert_eq!(features.body["value"][0]["features"][BLOCK], false);
        let expected = match app_only {
            HardMatchFlagAppOnly::Allow => StatusCode::NO_CONTENT,
            HardMatchFlagAppOnly::Deny => StatusCode::FORBIDDEN,
        };
        assert_eq!(set_block(&h, "v1.0", true).await, expected);
        let soa = format!("/v1.0/users/{id}/onPremisesSyncBehavior");
        assert_eq!(
            h.patch(&soa, json!({"isCloudManaged": true})).await.status,
            StatusCode::OK
        );
        let clear = h
            .patch(
                &format!("/v1.0/users/{id}"),
                json!({"onPremisesImmutableId": null}),
            )
            .await;
        let expected = match anchor {
            ImmutableIdAfterSoa::Allow => StatusCode::NO_CONTENT,
            ImmutableIdAfterSoa::Refuse => StatusCode::BAD_REQUEST,
        };
        assert_eq!(clear.status, expected, "{:?}", clear.body);
        h.emu.shutdown().await;
    }
}

#[tokio::test]
async fn permissions_errors_and_groups() {
    let h = Harness::start(config(10, 5)).await;
    let users = h.all_users().await;
    let id = nth_of_kind(&users, "synced", 0);
    let group = nth_of_kind(&h.all_groups().await, "synced", 0);
    let user_soa = format!("/v1.0/users/{id}/onPremisesSyncBehavior");
    let group_soa = format!("/beta/groups/{group}/onPremisesSyncBehavior");
    let body = json!({"isCloudManaged": true});
    // The defaults and Directory.ReadWrite.All are not enough.
    for grants in [
        &[][..],
        &["Directory.ReadWrite.All", "User.ReadWrite.All"][..],
    ] {
        h.grant(grants).await;
        for path in [&user_soa, &group_soa] {
            let a = h.get(path).await;
            assert_eq!(
                (a.status, a.code()),
                (StatusCode::FORBIDDEN, "Authorization_RequestDenied")
            );
            assert_eq!(
                h.patch(path, body.clone()).await.status,
                StatusCode::FORBIDDEN
            );
        }
    }
    h.grant(&["User-OnPremisesSyncBehavior.ReadWrite.All"])
        .await;
    assert_eq!(h.get(&user_soa).await.status, StatusCode::OK);
    assert_eq!(h.get(&group_soa).await.status, StatusCode::FORBIDDEN);
    h.grant(&["Group-OnPremisesSyncBehavior.ReadWrite.All"])
        .await;
    assert_eq!(h.get(&user_soa).await.status, StatusCode::FORBIDDEN);
    let a = h.patch(&group_soa, body.clone()).await;
    assert_eq!(
        (a.status, a.body["isCloudManaged"].clone()),
        (StatusCode::OK, json!(true))
    );
    let group_entry = h.object("groups", &group).await;
    assert_eq!(
        (
            group_entry["isCloudManaged"].clone(),
            group_entry["onPremisesSyncEnabled"].clone()
        ),
        (json!(true), Value::Null)
    );
    h.grant(PER_OBJECT).await;
    let missing = h
        .patch(
            "/v1.0/users/00000000-0000-0000-0000-000000000000/onPremisesSyncBehavior",
            body,
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    for bad in [
        json!({"isCloudManaged": "yes"}),
        json!({"isCloudManaged": true, "colour": 1}),
        json!({"id": "x"}),
        json!([true]),
    ] {
        let a = h.patch(&user_soa, bad.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let a = h.get(&format!("{user_soa}?$select=nope")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let by_upn = users
        .iter()
        .find(|u| u["id"] == id)
        .and_then(|u| u["userPrincipalName"].as_str())
        .unwrap_or_default()
        .to_string();
    let a = h
        .get(&format!("/v1.0/users/{by_upn}/onPremisesSyncBehavior"))
        .await;
    assert_eq!(a.body["id"], id.as_str());
    assert_eq!(
        h.delete(&user_soa).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // Reading the sync features needs OnPremDirectorySynchronization.Read(Write).All.
    h.grant(&["Directory.ReadWrite.All"]).await;
    let features = "/v1.0/directory/onPremisesSynchronization";
    assert_eq!(h.get(features).await.status, StatusCode::FORBIDDEN);
    h.grant(&["OnPremDirectorySynchronization.Read.All"]).await;
    assert_eq!(h.get(features).await.status, StatusCode::OK);
    assert_eq!(set_block(&h, "beta", false).await, StatusCode::FORBIDDEN);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn user_soa_on_v1_follows_its_switch() {
    use crate::emulator::UserSoaApi;
    for (api, v1_status) in [
        (UserSoaApi::Both, StatusCode::OK),
        (UserSoaApi::BetaOnly, StatusCode::BAD_REQUEST),
    ] {
        let h = Harness::start(crate::emulator::EmulatorConfig {
            user_soa_api: api,
            ..super::config(5, 1)
        })
        .await;
        let id = h.user_of_kind("synced").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let v1 = h
            .get(&format!("/v1.0/users/{id}/onPremisesSyncBehavior"))
            .await;
        assert_eq!(v1.status, v1_status, "{api:?}");
        if v1_status == StatusCode::BAD_REQUEST {
            assert_eq!(
                v1.message(),
                "Resource not found for the segment 'onPremisesSyncBehavior'."
            );
        }
        let beta = h
            .patch(
                &format!("/beta/users/{id}/onPremisesSyncBehavior"),
                json!({"isCloudManaged": true}),
            )
            .await;
        assert_eq!(beta.status, StatusCode::OK, "{api:?}");
        // Groups are not concerned.
        let group = h
            .all_groups()
            .await
            .into_iter()
            .find(|g| g["kind"] == "synced")
            .unwrap();
        let g = h
            .get(&format!(
                "/v1.0/groups/{}/onPremisesSyncBehavior",
                group["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(g.status, StatusCode::OK);
        h.emu.shutdown().await;
    }
}
