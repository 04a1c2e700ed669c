//! Eventual consistency over HTTP (`lag.rs`): after a write, per-object reads show the prior
//! state for the read lag, advanced queries for the index lag; zero lags read at once; writes
//! act on the current state. Time is moved with `/_emulator/time/advance`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Harness, config, nth_of_kind, values};
use crate::emulator::EmulatorConfig;

/// The default lags (on), a small tenant with the per-object permissions.
async fn lagged(read: u64, index: u64) -> (Harness, String) {
    let h = Harness::start(EmulatorConfig {
        read_lag: Duration::from_secs(read),
        index_lag: Duration::from_secs(index),
        ..config(30, 5)
    })
    .await;
    h.grant(super::PER_OBJECT).await;
    let id = nth_of_kind(&h.all_users().await, "synced", 0);
    (h, id)
}

async fn cloud_managed(h: &Harness, id: &str) -> bool {
    let a = h
        .get(&format!("/v1.0/users/{id}/onPremisesSyncBehavior"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body["isCloudManaged"].as_bool().unwrap()
}

/// `onPremisesSyncEnabled` of `id` as the advanced query sees it.
async fn indexed_sync(h: &Harness, id: &str) -> serde_json::Value {
    let a = h
        .get_eventual(&format!(
            "/v1.0/users?$filter=id eq '{id}'&$count=true&$select=id,onPremisesSyncEnabled"
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    values(&a.body)[0]["onPremisesSyncEnabled"].clone()
}

async fn members(h: &Harness, path: &str) -> usize {
    values(&h.get(path).await.body).len()
}

async fn switch(h: &Harness, id: &str, value: bool) -> StatusCode {
    let path = format!("/v1.0/users/{id}/onPremisesSyncBehavior");
    h.patch(&path, json!({"isCloudManaged": value}))
        .await
        .status
}

#[tokio::test]
async fn reads_lag_behind_a_switch_and_the_index_lags_longer() {
    let (h, id) = lagged(2, 10).await;
    assert!(switch(&h, &id, true).await.is_success());
    // The control endpoint sees the write at once; Graph's reads do not.
    let mine = h.control(Method::GET, "/users", None).await.body;
    let me = values(&mine)
        .into_iter()
        .find(|u| u["id"] == json!(id))
        .unwrap();
    assert_eq!(me["writeCounts"]["soa"], json!(1));
    assert_eq!(me["isCloudManaged"], json!(true));
    assert!(
        !cloud_managed(&h, &id).await,
        "per-object read within the lag"
    );
    let user = h
        .get(&format!("/v1.0/users/{id}?$select=onPremisesSyncEnabled"))
        .await;
    assert_eq!(user.body["onPremisesSyncEnabled"], json!(true));
    assert_eq!(indexed_sync(&h, &id).await, json!(true));
    h.advance(2.5).await;
    assert!(cloud_managed(&h, &id).await, "after the read lag");
    let user = h
        .get(&format!("/v1.0/users/{id}?$select=onPremisesSyncEnabled"))
        .await;
    assert_eq!(user.body["onPremisesSyncEnabled"], serde_json::Value::Null);
    assert_eq!(
        indexed_sync(&h, &id).await,
        json!(true),
        "the index lags more"
    );
    let lag = h.control(Method::GET, "/lag", None).await.body;
    assert_eq!(lag["objects"], json!(1));
    h.advance(8.0).await;
    assert_eq!(indexed_sync(&h, &id).await, serde_json::Value::Null);
    let lag = h.control(Method::GET, "/lag", None).await.body;
    assert_eq!(
        lag["objects"],
        json!(0),
        "nothing kept past the longest lag"
    );
}

#[tokio::test]
async fn writes_act_on_the_current_state_and_reads_show_the_state_at_the_cutoff() {
    let (h, id) = lagged(4, 4).await;
    assert!(switch(&h, &id, true).await.is_success());
    // Writable at once, though reads still show a synchronised user.
    let renamed = h
        .patch(
            &format!("/v1.0/users/{id}"),
            json!({"displayName": "Renamed"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::NO_CONTENT, "{:?}", renamed.body);
    h.advance(2.0).await;
    let rename_path = format!("/v1.0/users/{id}?$select=displayName");
    let name = |a: &super::Answer| a.body["displayName"].clone();
    // 2 s after both writes: neither shows yet.
    assert!(!cloud_managed(&h, &id).await);
    assert_ne!(name(&h.get(&rename_path).await), json!("Renamed"));
    h.advance(2.5).await;
    assert!(cloud_managed(&h, &id).await);
    assert_eq!(name(&h.get(&rename_path).await), json!("Renamed"));
}

#[tokio::test]
async fn group_members_and_switches_lag_too() {
    let (h, user) = lagged(3, 10).await;
    let group = nth_of_kind(&h.all_groups().await, "cloudOnly", 0);
    let path = format!("/v1.0/groups/{group}/members?$select=id");
    let before = members(&h, &path).await;
    let added = h
        .post(
            &format!("/v1.0/groups/{group}/members/$ref"),
            Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")})),
        )
        .await;
    assert_eq!(added.status, StatusCode::NO_CONTENT, "{:?}", added.body);
    assert_eq!(members(&h, &path).await, before, "within the read lag");
    h.advance(3.5).await;
    assert_eq!(members(&h, &path).await, before + 1);

    let synced = nth_of_kind(&h.all_groups().await, "synced", 0);
    let soa = format!("/v1.0/groups/{synced}/onPremisesSyncBehavior");
    assert!(
        h.patch(&soa, json!({"isCloudManaged": true}))
            .await
            .status
            .is_success()
    );
    assert_eq!(h.get(&soa).await.body["isCloudManaged"], json!(false));
    h.advance(3.5).await;
    assert_eq!(h.get(&soa).await.body["isCloudManaged"], json!(true));
}

#[tokio::test]
async fn zero_lags_read_every_write_at_once_and_the_lag_is_switchable() {
    let (h, id) = lagged(0, 0).await;
    assert!(switch(&h, &id, true).await.is_success());
    assert!(cloud_managed(&h, &id).await);
    assert_eq!(indexed_sync(&h, &id).await, serde_json::Value::Null);
    assert_eq!(
        h.control(Method::GET, "/lag", None).await.body["objects"],
        json!(0)
    );
    // Turned on mid-run.
    let set = h
        .control(
            Method::PUT,
            "/lag",
            Some(json!({"readSecs": 5, "indexSecs": 20})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(
        (set.body["readSecs"].clone(), set.body["indexSecs"].clone()),
        (json!(5.0), json!(20.0))
    );
    let other = nth_of_kind(&h.all_users().await, "synced", 1);
    assert!(switch(&h, &other, true).await.is_success());
    assert!(!cloud_managed(&h, &other).await);
    for bad in [
        json!({"readSecs": -1}),
        json!({"indexSecs": 1e9}),
        json!({"later": 1}),
    ] {
        let a = h.control(Method::PUT, "/lag", Some(bad.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn the_default_config_lags() {
    let d = EmulatorConfig::default();
    assert!(!d.read_lag.is_zero() && d.index_lag > d.read_lag);
    let h = Harness::start(EmulatorConfig {
        users: 30,
        groups: 5,
        ..EmulatorConfig::default()
    })
    .await;
    h.grant(super::PER_OBJECT).await;
    let id = nth_of_kind(&h.all_users().await, "synced", 0);
    assert!(switch(&h, &id, true).await.is_success());
    assert!(!cloud_managed(&h, &id).await);
}
