//! `/organization` and the tenant-wide disable lifecycle, with both UNCONFIRMED switches.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Harness, config};
use crate::emulator::{AfterDisable, EmulatorConfig};

const ON_PREM_SELECT: &str = "id,onPremisesSyncEnabled,onPremisesImmutableId,onPremisesLastSyncDateTime,onPremisesDistinguishedName,onPremisesSamAccountName,onPremisesUserPrincipalName,onPremisesDomainName,onPremisesSecurityIdentifier";

const PENDING: &str = "Directory Sync is currently in a pending disable state for this directory. Please wait until Directory Sync has been fully disabled before trying again.";

fn lifecycle_config(users: AfterDisable, org: AfterDisable) -> EmulatorConfig {
    EmulatorConfig {
        propagation: Duration::from_secs(3_600),
        user_sync_after_disable: users,
        org_sync_during_disable: org,
        ..config(40, 6)
    }
}

async fn org_sync(h: &Harness) -> Value {
    let a = h
        .get("/v1.0/organization?$select=onPremisesSyncEnabled")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    a.body["value"][0]["onPremisesSyncEnabled"].clone()
}

async fn user(h: &Harness, id: &str) -> Value {
    let a = h
        .get(&format!("/v1.0/users/{id}?$select={ON_PREM_SELECT}"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body
}

#[tokio::test]
async fn organization_is_a_one_element_collection_with_select() {
    let h = Harness::small().await;
    let a = h.get("/v1.0/organization").await;
    assert_eq!(a.status, StatusCode::OK);
    let value = a.body["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(value.len(), 1);
    let org = &value[0];
    assert_eq!(org["id"], h.config.tenant_id.as_str());
    assert_eq!(org["displayName"], "Contoso");
    assert_eq!(org["onPremisesSyncEnabled"], true);
    assert!(
        org["onPremisesLastSyncDateTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let domains: Vec<&str> = org["verifiedDomains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(domains, vec!["contoso.com", "contoso.onmicrosoft.com"]);
    assert_eq!(
        a.body["@odata.context"],
        h.url("/v1.0/$metadata#organization")
    );
    let s = h
        .get("/beta/organization?$select=id,onPremisesSyncEnabled")
        .await;
    assert_eq!(s.status, StatusCode::OK);
    let keys: Vec<&String> = s.body["value"][0]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        s.body["@odata.context"],
        h.url("/beta/$metadata#organization(id,onPremisesSyncEnabled)")
    );
    let bad = h.get("/v1.0/organization?$select=nope").await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    let one = h.get(&h.org_path()).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["id"], h.config.tenant_id.as_str());
    let missing = h
        .get("/v1.0/organization/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn organization_patch_validates_its_body() {
    let h = Harness::small().await;
    let org = h.org_path();
    let a = h.patch(&org, json!({"displayName": "X"})).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    assert!(a.message().contains("'displayName'"), "{}", a.message());
    let a = h.patch(&org, json!({"favourite": 1})).await;
    assert!(a.status == StatusCode::BAD_REQUEST && a.message().contains("'favourite'"));
    let a = h
        .patch(&org, json!({"onPremisesSyncEnabled": "false"}))
        .await;
    assert!(a.status == StatusCode::BAD_REQUEST && a.message().contains("'onPremisesSyncEnabled'"));
    let r = h
        .http
        .patch(h.url(&org))
        .bearer_auth(&h.token)
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let a = h
        .patch(
            "/v1.0/organization/00000000-0000-0000-0000-000000000000",
            json!({"onPremisesSyncEnabled": false}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    // Re-enabling an enabled tenant is a no-op.
    assert_eq!(
        h.patch(&org, json!({"onPremisesSyncEnabled": true}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let state = h.state().await;
    assert_eq!(state["organization"]["syncState"], "Enabled");
    assert_eq!(state["writes"]["refused"], 5);
    assert_eq!(state["writes"]["byOperation"]["PATCH /organization"], 1);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn disable_propagates_object_by_object_and_the_sync_client_relinks() {
    let h = Harness::start(lifecycle_config(AfterDisable::False, AfterDisable::False)).await;
    let org = h.org_path();
    let synced = h.user_of_kind("synced").await;
    let id = synced["id"].as_str().unwrap_or_default().to_string();
    let before = user(&h, &id).await;
    assert_eq!(before["onPremisesSyncEnabled"], true);
    let anchor = before["onPremisesImmutableId"].clone();
    assert!(anchor.is_string());

    assert_eq!(
        h.patch(&org, json!({"onPremisesSyncEnabled": false}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(org_sync(&h).await, false);
    let state = h.state().await;
    assert_eq!(state["organization"]["syncState"], "PendingDisable");
    assert!(state["organization"]["disableCompletesAt"].is_string());
    // Re-enabling is refused while pending, by Graph and by the admin control endpoint alike.
    let a = h.patch(&org, json!({"onPremisesSyncEnabled": true})).await;
    assert_eq!(
        (a.status, a.code(), a.message()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest", PENDING)
    );
    assert_eq!(
        h.control(Method::POST, "/sync/enable", None).await.status,
        StatusCode::BAD_REQUEST
    );
    // A second disable is a no-op.
    assert_eq!(
        h.patch(&org, json!({"onPremisesSyncEnabled": false}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    let half = h.advance(1_800.0).await;
    let (now_synced, converted) = (
        half["users"]["synced"].as_u64(),
        half["users"]["formerlySynced"].as_u64(),
    );
    assert!(now_synced.is_some_and(|n| n > 0 && n < 40), "{half}");
    assert_eq!(now_synced.zip(converted).map(|(a, b)| a + b), Some(40));
    assert_eq!(half["organization"]["syncState"], "PendingDisable");

    let done = h.advance(1_800.0).await;
    assert_eq!(done["organization"]["syncState"], "Disabled");
    assert_eq!(done["organization"]["onPremisesSyncEnabled"], false);
    assert_eq!(done["users"]["synced"], 0);
    assert_eq!(done["users"]["formerlySynced"], 40);
    assert_eq!(done["groups"]["synced"], 0);
    assert_eq!(done["groups"]["formerlySynced"], 6);
    let after = user(&h, &id).await;
    assert_eq!(after["onPremisesSyncEnabled"], false);
    for cleared in [
        "onPremisesDistinguishedName",
        "onPremisesSamAccountName",
        "onPremisesUserPrincipalName",
        "onPremisesDomainName",
    ] {
        assert_eq!(after[cleared], Value::Null, "{cleared}");
    }
    for kept in [
        "onPremisesImmutableId",
        "onPremisesLastSyncDateTime",
        "onPremisesSecurityIdentifier",
    ] {
        assert_eq!(after[kept], before[kept], "{kept}");
    }
    let groups = h.get("/v1.0/groups?$top=999").await.body["value"].clone();
    let group = groups
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["onPremisesLastSyncDateTime"].is_string())
        .cloned()
        .unwrap_or_default();
    assert_eq!(group["onPremisesSyncEnabled"], false);
    assert_eq!(group["onPremisesNetBiosName"], Value::Null);

    // The converted user is now cloud-managed: its anchor can be cleared.
    let cleared = h
        .patch(
            &format!("/v1.0/users/{id}"),
            json!({"onPremisesImmutableId": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT, "{:?}", cleared.body);
    assert_eq!(user(&h, &id).await["onPremisesImmutableId"], Value::Null);

    // Re-enable: the sync client re-links every formerly synced object, anchor included.
    assert_eq!(
        h.patch(&org, json!({"onPremisesSyncEnabled": true}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(org_sync(&h).await, true);
    let relinked = user(&h, &id).await;
    assert_eq!(relinked["onPremisesSyncEnabled"], true);
    assert_eq!(relinked["onPremisesImmutableId"], anchor);
    assert_eq!(
        relinked["onPremisesDistinguishedName"],
        before["onPremisesDistinguishedName"]
    );
    assert!(
        relinked["onPremisesLastSyncDateTime"].as_str()
            > before["onPremisesLastSyncDateTime"].as_str()
    );
    let state = h.state().await;
    assert_eq!(state["users"]["synced"], 40);
    assert_eq!(state["groups"]["synced"], 6);
    assert_eq!(state["users"]["withImmutableId"], 40);
    let admin = h
        .get("/v1.0/users/admin@contoso.onmicrosoft.com?$select=onPremisesSyncEnabled")
        .await;
    assert_eq!(admin.body["onPremisesSyncEnabled"], Value::Null);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn null_switches_report_null_during_and_after_the_disable() {
    let h = Harness::start(lifecycle_config(AfterDisable::Null, AfterDisable::Null)).await;
    let id = h.user_of_kind("synced").await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        h.patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(org_sync(&h).await, Value::Null);
    let done = h.advance(3_600.0).await;
    assert_eq!(done["organization"]["syncState"], "Disabled");
    assert_eq!(org_sync(&h).await, false);
    let after = user(&h, &id).await;
    assert!(
        after
            .as_object()
            .is_some_and(|o| o.contains_key("onPremisesSyncEnabled"))
    );
    assert_eq!(after["onPremisesSyncEnabled"], Value::Null);
    assert!(after["onPremisesImmutableId"].is_string());
    // Still told apart from never-synced objects by their last sync time.
    assert_eq!(done["users"]["formerlySynced"], 40);
    // An admin re-enable through the control endpoint re-links and is not an app write.
    let enabled = h.control(Method::POST, "/sync/enable", None).await;
    assert_eq!(enabled.status, StatusCode::OK);
    assert_eq!(enabled.body["users"]["synced"], 40);
    assert_eq!(enabled.body["writes"]["accepted"], 1);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn false_switches_report_false_during_and_after_the_disable() {
    let h = Harness::start(EmulatorConfig {
        propagation: Duration::ZERO,
        ..lifecycle_config(AfterDisable::False, AfterDisable::False)
    })
    .await;
    assert_eq!(
        h.patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // Zero propagation: the next request already sees every object converted.
    let users = h
        .get("/v1.0/users?$select=onPremisesSyncEnabled&$top=999")
        .await;
    let values: Vec<&Value> = users.body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| &u["onPremisesSyncEnabled"])
        .collect();
    assert_eq!(values.iter().filter(|v| **v == false).count(), 40);
    assert_eq!(
        values.iter().filter(|v| v.is_null()).count(),
        values.len() - 40
    );
    assert_eq!(h.state().await["organization"]["syncState"], "Disabled");
    h.emu.shutdown().await;
}
