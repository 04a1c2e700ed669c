//! Per-object refusals (graph-api.md §14): Graph refuses single objects (administrators,
//! AdminSDHolder-protected objects, members of restricted-management administrative units)
//! with the same 403 as a missing permission. A refusal fails its object alone — recorded in
//! status.recentFailures and the journal with Graph's code, counted toward
//! rollout.maxFailuresPerWave — while a permission refused for every object still stalls
//! `MissingPermission` with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion};
use entra_cloud_operator::emulator::Emulator;
use std::fmt::Debug;

use entra_cloud_operator::reconcile::resource::Reconciled;
use serde_json::{Value, json};

const USER_PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
];

const GROUP_PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
];

const DENIED: &str = "Authorization_RequestDenied";

async fn grant(emu: &Emulator, perms: &[&str]) {
    control_put(emu, "permissions", json!({ "permissions": perms })).await;
}

async fn mark(emu: &Emulator, id: &str, privilege: &str) {
    control_put(emu, "privileged", json!({"id": id, "privilege": privilege})).await;
}

fn cuc(rollout: Value) -> CloudUserConversion {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave-1", "namespace": "identity", "generation": 1},
        "spec": {
            "tenantRef": {"name": "contoso"}, "mode": "Apply",
            "selector": {"domains": ["contoso.com"]}, "rollout": rollout
        }
    }))
    .unwrap()
}

/// The synced users of contoso.com, as the control endpoint shows them.
async fn synced_contoso(emu: &Emulator) -> Vec<Value> {
    users(emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .filter(|u| {
            u["userPrincipalName"]
                .as_str()
                .unwrap_or_default()
                .ends_with("@contoso.com")
        })
        .collect()
}

fn id(u: &Value) -> String {
    u["id"].as_str().unwrap().to_string()
}

/// Whether the object reads back cloud-managed (the emulator's own view).
async fn cloud_managed(emu: &Emulator, kind: &str, id: &str) -> bool {
    let all = control_get(emu, kind).await["value"]
        .as_array()
        .cloned()
        .unwrap();
    all.iter().find(|o| o["id"] == id).unwrap()["isCloudManaged"] == true
}

fn stalled<R: Reconciled + serde::de::DeserializeOwned>(h: &Harness<R>) -> bool
where
    R::Status: Debug,
{
    h.condition(cond::STALLED)
        .is_some_and(|(status, _, _)| status == "True")
}

/// The journal's `Failed` records.
fn failed_records<R: Reconciled + serde::de::DeserializeOwned>(h: &Harness<R>) -> Vec<Value>
where
    R::Status: Debug,
{
    h.journal_lines()
        .into_iter()
        .filter(|r| r["phase"] == "Failed")
        .collect()
}

#[tokio::test]
async fn a_privileged_user_fails_alone_while_the_rest_convert() {
    let emu = start(config(12, 1)).await;
    grant(&emu, USER_PERMISSIONS).await;
    let synced = synced_contoso(&emu).await;
    assert!(synced.len() >= 6, "{}", synced.len());
    // Whichever wave it lands in, and the last one alone if it comes last.
    let admin = id(&synced[synced.len() / 2]);
    mark(&emu, &admin, "adminSdHolder").await;
    let rollout = json!({"maxObjects": 100, "canary": 2, "waveSize": 3, "maxFailuresPerWave": 1, "pauseBetweenWaves": "0s"});
    let mut h = Harness::new(&emu, cuc(rollout));
    let others: Vec<String> = synced.iter().map(id).filter(|u| *u != admin).collect();
    let mut passes = 0;
    loop {
        h.pass().await.unwrap();
        assert!(!stalled(&h), "stalled: {}", h.message(cond::STALLED));
        let mut all = true;
        for u in &others {
            all &= cloud_managed(&emu, "users", u).await;
        }
        if all {
            break;
        }
        passes += 1;
        assert!(passes < 20, "{:#?}", h.status());
    }
    // Once more: the refused user alone in its wave still fails alone (the earlier waves
    // proved the switch with this token), and is not tried again in a tight loop: the
    // next try waits as a stall's would.
    let alone = h.pass().await.unwrap();
    assert!(!stalled(&h), "stalled: {}", h.message(cond::STALLED));
    assert_eq!(
        h.reason(cond::RECONCILING).as_deref(),
        Some("RetryingFailures")
    );
    assert_eq!(
        alone.requeue_after,
        Some(std::time::Duration::from_secs(300)),
        "{}",
        h.message(cond::RECONCILING)
    );
    // Without RoleManagement.Read.Directory the privileged users can't be looked for: said
    // once for the generation, not on each of its passes.
    let unverified = h
        .events
        .iter()
        .filter(|e| e.reason == "PrivilegedUnverified")
        .count();
    assert!(passes >= 2, "{passes}");
    assert_eq!(unverified, 1, "{:#?}", h.events);
    let st = h.status();
    assert_eq!(st.converted, others.len() as i64);
    assert_eq!(st.failed, 1);
    let f = &st.recent_failures[0];
    assert_eq!(
        (f.object_id.as_str(), f.code.as_str()),
        (admin.as_str(), DENIED)
    );
    assert_eq!(f.action, "SwitchToCloud");
    assert!(!cloud_managed(&emu, "users", &admin).await);
    let failed = failed_records(&h);
    assert!(!failed.is_empty());
    for r in &failed {
        assert_eq!(r["objectId"], admin.as_str());
        assert_eq!(r["action"], "SwitchToCloud");
        assert!(r["error"].as_str().unwrap().contains(DENIED), "{r}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn refusals_beyond_max_failures_per_wave_auto_halt_naming_the_user_and_code() {
    let emu = start(config(12, 1)).await;
    grant(&emu, USER_PERMISSIONS).await;
    let synced = synced_contoso(&emu).await;
    let admin = &synced[1];
    mark(&emu, &id(admin), "restrictedAu").await;
    // One wave holding everyone; no failure allowed.
    let rollout = json!({"maxObjects": 100, "canary": 50, "waveSize": 50, "maxFailuresPerWave": 0, "pauseBetweenWaves": "0s"});
    let mut h = Harness::new(&emu, cuc(rollout));
    h.pass().await.unwrap();
    assert_eq!(h.reason(cond::STALLED).as_deref(), Some("AutoHalted"));
    let msg = h.message(cond::STALLED);
    let upn = admin["userPrincipalName"].as_str().unwrap();
    assert!(msg.contains(upn) && msg.contains(DENIED), "{msg}");
    let st = h.status();
    assert_eq!((st.converted, st.failed), (synced.len() as i64 - 1, 1));
    assert_eq!(failed_records(&h).len(), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_missing_permission_still_stalls_with_nothing_half_done() {
    let emu = start(config(12, 1)).await;
    let without: Vec<&str> = USER_PERMISSIONS
        .iter()
        .copied()
        .filter(|p| *p != "User-OnPremisesSyncBehavior.ReadWrite.All")
        .collect();
    grant(&emu, &without).await;
    let synced = synced_contoso(&emu).await;
    // A privileged user among them changes nothing: every switch is refused.
    mark(&emu, &id(&synced[0]), "adminRole").await;
    let rollout = json!({"maxObjects": 100, "canary": 3, "waveSize": 5, "maxFailuresPerWave": 5, "pauseBetweenWaves": "0s"});
    let mut h = Harness::new(&emu, cuc(rollout));
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::STALLED).as_deref(),
        Some("MissingPermission")
    );
    let msg = h.message(cond::STALLED);
    assert!(
        msg.contains("User-OnPremisesSyncBehavior.ReadWrite.All"),
        "{msg}"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    assert_eq!(h.status().converted, 0);
    emu.shutdown().await;
}

fn cgc(rollout: Value) -> CloudGroupConversion {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudGroupConversion",
        "metadata": {"name": "groups-1", "namespace": "identity", "generation": 1},
        "spec": {
            "tenantRef": {"name": "contoso"}, "mode": "Apply",
            "selector": {"filter": "startswith(displayName,'SG ')"}, "rollout": rollout
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn a_privileged_group_fails_alone_while_the_rest_convert() {
    let emu = start(config(10, 6)).await;
    grant(&emu, GROUP_PERMISSIONS).await;
    let groups: Vec<Value> = control_get(&emu, "groups").await["value"]
        .as_array()
        .cloned()
        .unwrap()
        .into_iter()
        .filter(|g| g["kind"] == "synced")
        .filter(|g| {
            g["displayName"]
                .as_str()
                .unwrap_or_default()
                .starts_with("SG ")
        })
        .collect();
    assert!(groups.len() >= 3, "{}", groups.len());
    // A group that contains no group and is in none, so nothing waits on it.
    let ids: Vec<String> = groups.iter().map(id).collect();
    let leaf = groups
        .iter()
        .find(|g| {
            let members = g["members"].as_array().unwrap();
            !members.iter().any(|m| ids.iter().any(|i| m == i.as_str()))
                && !groups.iter().any(|p| {
                    p["members"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|m| *m == g["id"])
                })
        })
        .map(id);
    let Some(admin) = leaf else {
        panic!("no stand-alone group among {ids:?}");
    };
    mark(&emu, &admin, "restrictedAu").await;
    let rollout = json!({"maxObjects": 100, "canary": 100, "waveSize": 100, "maxFailuresPerWave": 1, "pauseBetweenWaves": "0s"});
    let mut h = Harness::new(&emu, cgc(rollout));
    h.pass().await.unwrap();
    assert!(!stalled(&h), "stalled: {}", h.message(cond::STALLED));
    let st = h.status();
    assert_eq!(st.failed, 1, "{st:#?}");
    let f = &st.recent_failures[0];
    assert_eq!(
        (f.object_id.as_str(), f.code.as_str()),
        (admin.as_str(), DENIED)
    );
    for g in ids.iter().filter(|g| **g != admin) {
        assert!(cloud_managed(&emu, "groups", g).await, "{g}");
    }
    assert!(!cloud_managed(&emu, "groups", &admin).await);
    emu.shutdown().await;
}

#[tokio::test]
async fn restoring_an_admin_without_the_restore_permission_fails_that_user_alone() {
    let emu = start(config(8, 1)).await;
    // User.ReadWrite.All restores users, but not administrators.
    grant(&emu, &["Organization.Read.All", "User.ReadWrite.All"]).await;
    let synced = synced_contoso(&emu).await;
    let moved: Vec<String> = synced.iter().take(3).map(id).collect();
    let admin = moved[1].clone();
    mark(&emu, &admin, "adminRole").await;
    for u in &moved {
        control_post(&emu, &format!("users/{u}/scope"), json!({"inScope": false})).await;
    }
    control_post(&emu, "sync/cycle", json!({})).await;
    let mut h = Harness::new(
        &emu,
        serde_json::from_value::<CloudUserConversion>(json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
            "metadata": {"name": "restore-1", "namespace": "identity", "generation": 1},
            "spec": {
                "tenantRef": {"name": "contoso"}, "mode": "Apply", "method": "RestoreDeleted",
                "selector": {"domains": ["contoso.com"]},
                "rollout": {"maxObjects": 100, "canary": 10, "waveSize": 10, "maxFailuresPerWave": 1}
            }
        }))
        .unwrap(),
    );
    h.pass().await.unwrap();
    assert!(!stalled(&h), "stalled: {}", h.message(cond::STALLED));
    let st = h.status();
    assert_eq!((st.converted, st.failed), (2, 1), "{st:#?}");
    let f = &st.recent_failures[0];
    assert_eq!(
        (f.object_id.as_str(), f.action.as_str(), f.code.as_str()),
        (admin.as_str(), "RestoreUser", DENIED)
    );
    let alive: Vec<String> = users(&emu).await.iter().map(id).collect();
    assert!(!alive.contains(&admin));
    assert!(
        moved
            .iter()
            .filter(|u| **u != admin)
            .all(|u| alive.contains(u))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn privileged_users_graph_shows_are_excluded_before_the_first_write() {
    let emu = start(config(12, 1)).await;
    // With the read permissions that let the application see them.
    let mut perms = USER_PERMISSIONS.to_vec();
    perms.extend([
        "RoleManagement.Read.Directory",
        "AdministrativeUnit.Read.All",
    ]);
    grant(&emu, &perms).await;
    let synced = synced_contoso(&emu).await;
    let (role, unit, sd) = (id(&synced[0]), id(&synced[1]), id(&synced[2]));
    mark(&emu, &role, "adminRole").await;
    mark(&emu, &unit, "restrictedAu").await;
    // AdminSDHolder protection is AD's: Graph does not show it, so that user fails alone.
    mark(&emu, &sd, "adminSdHolder").await;
    let rollout = json!({"maxObjects": 100, "canary": 50, "waveSize": 50, "maxFailuresPerWave": 1, "pauseBetweenWaves": "0s"});
    let mut h = Harness::new(&emu, cuc(rollout));
    h.pass().await.unwrap();
    let st = h.status();
    let reasons: Vec<(String, String)> = st
        .exclusions
        .iter()
        .map(|x| (x.user_principal_name.clone(), x.reason.clone()))
        .collect();
    let upn = |i: usize| synced[i]["userPrincipalName"].as_str().unwrap().to_string();
    assert!(
        reasons.contains(&(upn(0), "DirectoryRole".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&(upn(1), "RestrictedAdministrativeUnit".into())),
        "{reasons:?}"
    );
    // Never tried: the only refusal recorded is the AdminSDHolder user's.
    let failed = failed_records(&h);
    assert!(
        failed.iter().all(|r| r["objectId"] == sd.as_str()),
        "{failed:?}"
    );
    assert!(!cloud_managed(&emu, "users", &role).await);
    assert!(!cloud_managed(&emu, "users", &unit).await);
    assert_eq!(st.converted, synced.len() as i64 - 3);
    emu.shutdown().await;
}
