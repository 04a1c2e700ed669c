//! The simulated sync client's control endpoints, lazy cycles on the emulated clock, and the
//! shape of `/directory/onPremisesSynchronization`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Harness, PER_OBJECT, config, nth_of_kind, values};
use crate::emulator::EmulatorConfig;

async fn org_last_sync(h: &Harness) -> Value {
    let a = h
        .get("/v1.0/organization?$select=onPremisesLastSyncDateTime")
        .await;
    a.body["value"][0]["onPremisesLastSyncDateTime"].clone()
}

#[tokio::test]
async fn cycles_run_on_the_emulated_clock_and_on_request() {
    let h = Harness::start(config(10, 2)).await;
    let s = h.state().await;
    let sync = &s["directorySync"];
    assert_eq!(sync["syncIntervalSeconds"], 1800.0);
    assert_eq!(
        sync["features"]["blockCloudObjectTakeoverThroughHardMatchEnabled"],
        true
    );
    let next = sync["nextCycleAt"].as_str().unwrap_or_default().to_string();
    let before = org_last_sync(&h).await;
    assert_eq!(sync["lastSyncAt"], before);
    // Half an hour of emulated time: one cycle ran, the organization's last sync moved.
    h.advance(1_800.0).await;
    let after = org_last_sync(&h).await;
    assert_eq!(after, json!(next));
    let s = h.state().await;
    assert!(s["directorySync"]["nextCycleAt"].as_str() > Some(next.as_str()));
    // On request: a report, the schedule unchanged.
    let report = h.cycle().await;
    for key in [
        "relinked",
        "softDeleted",
        "hardDeleted",
        "recovered",
        "recreated",
        "blocked",
        "skippedCloudManaged",
    ] {
        assert_eq!(report[key], json!([]), "{key}");
    }
    assert!(report["ranAt"].is_string());
    assert_eq!(report["nextCycleAt"], s["directorySync"]["nextCycleAt"]);
    // While a disable is pending (or done) the sync client cannot export.
    let off = h
        .patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT);
    let a = h.control(Method::POST, "/sync/cycle", None).await;
    assert_eq!(
        (a.status, a.body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("SyncNotEnabled"))
    );
    assert_eq!(h.state().await["directorySync"]["nextCycleAt"], Value::Null);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn scope_and_feature_endpoints_validate_their_input() {
    let h = Harness::start(config(10, 2)).await;
    let users = h.all_users().await;
    let cloud = nth_of_kind(&users, "cloudOnly", 0);
    let synced = nth_of_kind(&users, "synced", 0);
    let scope = |id: &str| format!("/users/{id}/scope");
    let a = h
        .control(
            Method::POST,
            &scope("nobody"),
            Some(json!({"inScope": false})),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = h
        .control(
            Method::POST,
            &scope(&cloud),
            Some(json!({"inScope": false})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    for bad in [
        json!({}),
        json!({"inScope": "no"}),
        json!({"inScope": true, "x": 1}),
    ] {
        let a = h
            .control(Method::POST, &scope(&synced), Some(bad.clone()))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let a = h
        .control(
            Method::POST,
            "/groups/nothing/scope",
            Some(json!({"inScope": true})),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let features = "/directory/features";
    let a = h
        .control(Method::POST, features, Some(json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false, "blockSoftMatchEnabled": true})))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        a.body["features"]["blockCloudObjectTakeoverThroughHardMatchEnabled"],
        false
    );
    assert_eq!(a.body["features"]["blockSoftMatchEnabled"], true);
    for bad in [
        json!({"nope": true}),
        json!({"blockSoftMatchEnabled": 1}),
        json!([]),
    ] {
        let a = h.control(Method::POST, features, Some(bad.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let g = h.all_groups().await;
    let entry = g
        .iter()
        .find(|x| x["kind"] == "synced")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (entry["inScope"].clone(), entry["isCloudManaged"].clone()),
        (json!(true), json!(false))
    );
    assert!(entry["owners"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(entry["writeCounts"]["soa"], 0);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn the_sync_configuration_reads_and_updates_like_graph() {
    let h = Harness::start(EmulatorConfig {
        sync_interval: Duration::from_secs(600),
        block_hard_match_takeover: false,
        ..config(10, 2)
    })
    .await;
    h.grant(PER_OBJECT).await;
    let a = h.get("/beta/directory/onPremisesSynchronization").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(
        a.body["@odata.context"],
        h.url("/beta/$metadata#directory/onPremisesSynchronization")
    );
    let sync = &values(&a.body)[0];
    assert_eq!(sync["id"], h.config.tenant_id.as_str());
    assert_eq!(sync["configuration"]["synchronizationInterval"], "PT10M");
    assert_eq!(
        sync["features"]["blockCloudObjectTakeoverThroughHardMatchEnabled"],
        false
    );
    assert_eq!(sync["features"]["blockSoftMatchEnabled"], false);
    let one = format!(
        "/beta/directory/onPremisesSynchronization/{}",
        h.config.tenant_id
    );
    let a = h.get(&format!("{one}?$select=features")).await;
    let keys: Vec<&String> = a
        .body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(
        h.get(&format!("{one}?$select=nope")).await.status,
        StatusCode::BAD_REQUEST
    );
    let other = "/beta/directory/onPremisesSynchronization/00000000-0000-0000-0000-000000000000";
    assert_eq!(h.get(other).await.status, StatusCode::NOT_FOUND);
    for bad in [
        json!({"features": {"nope": true}}),
        json!({"features": {"blockSoftMatchEnabled": "yes"}}),
        json!({"features": true}),
        json!({"configuration": {}}),
        json!({"colour": 1}),
    ] {
        let a = h.patch(&one, bad.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // A refused PATCH changes nothing, even its valid part.
    let mixed = json!({"features": {"blockSoftMatchEnabled": true, "nope": false}});
    assert_eq!(h.patch(&one, mixed).await.status, StatusCode::BAD_REQUEST);
    let a = h
        .patch(&one, json!({"features": {"blockSoftMatchEnabled": true}}))
        .await;
    assert_eq!(
        (a.status, a.header("x-ms-resource-unit")),
        (StatusCode::NO_CONTENT, Some("1"))
    );
    let a = h.get(&one).await;
    assert_eq!(a.body["features"]["blockSoftMatchEnabled"], true);
    assert_eq!(
        a.body["features"]["blockCloudObjectTakeoverThroughHardMatchEnabled"],
        false
    );
    assert_eq!(h.state().await["writes"]["accepted"], 1);
    h.emu.shutdown().await;
}
