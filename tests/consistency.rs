//! Rollouts against an emulator whose reads lag behind writes (Graph is eventually
//! consistent; `emulator/lag.rs`): users and groups converge with no false drift, no failure
//! and no second write, with `drift: Report` or `Remediate` and `maxFailuresPerWave: 0`.
//!
//! The read lag (30 s of tenant time) is longer than a pass's read-backs, so every wave ends
//! with switches not read back yet: the test moves the emulator's clock past the lag when the
//! resource says it waits (`WaitingForConsistency`), never sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion};
use entra_cloud_operator::emulator::{Emulator, EmulatorConfig};
use entra_cloud_operator::journal::{Action, FileJournal, Phase};
use serde_json::{Value, json};

const USER_PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.Read.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
];
const GROUP_PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
];
const ADMIN: &str = "admin@contoso.onmicrosoft.com";
const WAITING: &str = "WaitingForConsistency";

/// An emulator with `read` and `index` lags (seconds of tenant time).
async fn lagged(users: usize, groups: usize, read: u64, index: u64, perms: &[&str]) -> Emulator {
    let emu = start(EmulatorConfig {
        read_lag: Duration::from_secs(read),
        index_lag: Duration::from_secs(index),
        ..config(users, groups)
    })
    .await;
    control_put(&emu, "permissions", json!({ "permissions": perms })).await;
    emu
}

fn resource<R: serde::de::DeserializeOwned>(kind: &str, spec: Value) -> R {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": kind,
        "metadata": {"name": "lagged", "namespace": "identity", "generation": 1},
        "spec": spec
    }))
    .unwrap()
}

const ROLLOUT: &str = r#"{"maxObjects": 100, "canary": 1, "waveSize": 10,
    "pauseBetweenWaves": "0s", "maxFailuresPerWave": 0}"#;

fn rollout() -> Value {
    serde_json::from_str(ROLLOUT).unwrap()
}

/// What a pass shows, checked on each: never drift, never stalled, nothing failed.
struct Seen {
    ready: bool,
    waiting: bool,
}

fn check(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    failed: i64,
) -> Seen {
    assert!(
        !cond::is_true(conditions, cond::DRIFT_DETECTED),
        "false drift: {conditions:#?}"
    );
    assert!(
        !cond::is_true(conditions, cond::STALLED),
        "stalled: {conditions:#?}"
    );
    assert_eq!(failed, 0, "{conditions:#?}");
    Seen {
        ready: cond::is_true(conditions, cond::READY),
        waiting: cond::get(conditions, cond::RECONCILING).is_some_and(|c| c.reason == WAITING),
    }
}

/// Passes `h` until ready (at most 20), moving the emulator's clock past `lag` whenever the
/// resource waits for its switches to read back. Returns how many passes waited.
macro_rules! converge {
    ($h:expr, $emu:expr, $lag:expr) => {{
        let mut waited = 0;
        let mut ready = false;
        for _ in 0..20 {
            $h.pass().await.unwrap();
            let st = $h.status();
            let seen = check(&st.conditions, st.failed);
            if seen.ready {
                ready = true;
                break;
            }
            if seen.waiting {
                waited += 1;
                advance($emu, $lag).await;
            }
        }
        assert!(ready, "not ready after 20 passes: {:#?}", $h.status());
        waited
    }};
}

/// Each object's `SwitchToCloud` is journaled `Applied` exactly once.
fn one_applied_switch_each(path: &std::path::Path, expected: usize) {
    let key = entra_cloud_operator::journal::default_key(path).unwrap();
    FileJournal::verify(path, Some(&key)).unwrap();
    let entries = FileJournal::read(path, Some(&key)).unwrap();
    let mut applied = std::collections::BTreeMap::<String, usize>::new();
    for r in entries.iter().map(|e| &e.record) {
        if r.action == Action::SwitchToCloud && r.phase == Phase::Applied {
            *applied.entry(r.object_id.clone()).or_default() += 1;
        }
    }
    assert_eq!(applied.len(), expected, "{applied:?}");
    assert!(applied.values().all(|n| *n == 1), "{applied:?}");
}

async fn synced_contoso_users(emu: &Emulator) -> Vec<Value> {
    users(emu)
        .await
        .into_iter()
        .filter(|u| {
            u["kind"] == "synced"
                && u["userPrincipalName"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("@contoso.com"))
        })
        .collect()
}

async fn users_converge(drift: &str, clear: bool) {
    let mut perms = USER_PERMISSIONS.to_vec();
    if clear {
        perms.push("User.ReadWrite.All");
    }
    let emu = lagged(8, 1, 30, 60, &perms).await;
    let mut h = Harness::new(
        &emu,
        resource::<CloudUserConversion>(
            "CloudUserConversion",
            json!({
                "tenantRef": {"name": "contoso"}, "mode": "Apply",
                "selector": {"domains": ["contoso.com"]}, "rollout": rollout(),
                "clearImmutableId": clear
            }),
        ),
    );
    h.tenant = policy("Unmanaged", false, drift).spec;
    let waited = converge!(h, &emu, 31.0);
    assert!(waited >= 2, "the canary and the wave each waited: {waited}");
    // The waves said so, and counted nobody as converted or failed before the read-back.
    assert!(
        h.events
            .iter()
            .any(|e| e.note.contains("switched but not read back yet")),
        "{:?}",
        h.events
    );
    let mine = synced_contoso_users(&emu).await;
    assert!(mine.len() >= 5, "{}", mine.len());
    for u in &mine {
        assert_eq!(u["isCloudManaged"], true, "{u}");
        assert_eq!(u["writeCounts"]["soa"], 1, "switched exactly once: {u}");
        let clears = if clear { 1 } else { 0 };
        assert_eq!(
            u["writeCounts"]["patch"], clears,
            "cleared at most once: {u}"
        );
        assert_eq!(u["onPremisesImmutableId"].is_null(), clear, "{u}");
    }
    let st = h.status();
    assert_eq!((st.converted, st.pending), (mine.len() as i64, 0));
    one_applied_switch_each(&h.journal_path, mine.len());
    emu.shutdown().await;
}

#[tokio::test]
async fn users_converge_under_read_lag_with_drift_reported() {
    users_converge("Report", false).await;
}

#[tokio::test]
async fn users_converge_under_read_lag_with_drift_remediated() {
    users_converge("Remediate", false).await;
}

#[tokio::test]
async fn immutable_ids_cleared_under_read_lag_are_cleared_once() {
    users_converge("Report", true).await;
}

#[tokio::test]
async fn with_the_default_lag_a_pass_reads_its_switches_back_itself() {
    // 2 s per-object, 10 s for the index: the read-backs of the pass outlast the first, and
    // the selection's stale view is corrected through per-object reads.
    let emu = start(config(8, 1)).await;
    control_put(
        &emu,
        "permissions",
        json!({ "permissions": USER_PERMISSIONS }),
    )
    .await;
    let lag = control_get(&emu, "lag").await;
    assert_eq!(
        (lag["readSecs"].clone(), lag["indexSecs"].clone()),
        (json!(2.0), json!(10.0))
    );
    let mut h = Harness::new(
        &emu,
        resource::<CloudUserConversion>(
            "CloudUserConversion",
            json!({
                "tenantRef": {"name": "contoso"}, "mode": "Apply",
                "selector": {"domains": ["contoso.com"]}, "rollout": rollout()
            }),
        ),
    );
    let waited = converge!(h, &emu, 11.0);
    assert_eq!(waited, 0, "{:?}", h.events);
    for u in synced_contoso_users(&emu).await {
        assert_eq!(u["writeCounts"]["soa"], 1, "{u}");
    }
    emu.shutdown().await;
}

async fn groups_converge(drift: &str) {
    let emu = lagged(20, 4, 30, 60, GROUP_PERMISSIONS).await;
    let mut h = Harness::new(
        &emu,
        resource::<CloudGroupConversion>(
            "CloudGroupConversion",
            json!({
                "tenantRef": {"name": "contoso"}, "mode": "Apply",
                "selector": {"filter": "startswith(displayName,'SG ') or startswith(displayName,'DL ')"},
                "owners": [ADMIN], "rollout": rollout(), "mailEnabledGroups": "Convert"
            }),
        ),
    );
    h.tenant = policy("Unmanaged", false, drift).spec;
    let waited = converge!(h, &emu, 31.0);
    assert!(waited >= 2, "{waited}");
    let gs: Vec<Value> = control_get(&emu, "groups").await["value"]
        .as_array()
        .cloned()
        .unwrap()
        .into_iter()
        .filter(|g| g["kind"] == "synced")
        .collect();
    assert!(gs.len() >= 4, "{}", gs.len());
    for g in &gs {
        assert_eq!(g["isCloudManaged"], true, "{g}");
        assert_eq!(g["writeCounts"]["soa"], 1, "switched exactly once: {g}");
        let mail = g["mailEnabled"] == true;
        let owners = if mail { 0 } else { 1 };
        assert_eq!(g["writeCounts"]["ownersAdded"], owners, "{g}");
    }
    one_applied_switch_each(&h.journal_path, gs.len());
    emu.shutdown().await;
}

#[tokio::test]
async fn groups_converge_under_read_lag_with_drift_reported() {
    groups_converge("Report").await;
}

#[tokio::test]
async fn groups_converge_under_read_lag_with_drift_remediated() {
    groups_converge("Remediate").await;
}
