//! CloudUserConversion against the in-process emulator: selection, exclusions, Plan vs
//! Apply, blast radius, canary and waves, auto-halt, restart mid-rollout, drift, methods.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{CloudUserConversion, CloudUserConversionStatus};
use entra_cloud_operator::emulator::EmulatorConfig;
use entra_cloud_operator::journal::{Action, FileJournal, Phase};
use entra_cloud_operator::reconcile::RevertOutcome;
use entra_cloud_operator::reconcile::rollout::consistency::WINDOW;
use serde_json::{Value, json};

const PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
];

async fn grant(emu: &entra_cloud_operator::emulator::Emulator, perms: &[&str]) {
    control_put(emu, "permissions", json!({ "permissions": perms })).await;
}

fn cuc(spec: Value) -> CloudUserConversion {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave-1", "namespace": "identity", "generation": 1},
        "spec": spec
    }))
    .unwrap()
}

type UserHarness = Harness<CloudUserConversion>;

fn ready(s: &CloudUserConversionStatus) -> bool {
    cond::is_true(&s.conditions, cond::READY)
}

/// Users by kind, from the emulator's control endpoint.
async fn by_kind(emu: &entra_cloud_operator::emulator::Emulator) -> HashMap<String, Vec<Value>> {
    let mut m: HashMap<String, Vec<Value>> = HashMap::new();
    for u in users(emu).await {
        m.entry(u["kind"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(u);
    }
    m
}

fn synced_in(users: &[Value], domain: &str) -> usize {
    users
        .iter()
        .filter(|u| {
            u["userPrincipalName"]
                .as_str()
                .unwrap_or_default()
                .ends_with(&format!("@{domain}"))
        })
        .count()
}

#[tokio::test]
async fn plan_reports_and_writes_nothing() {
    let emu = start(config(30, 3)).await;
    grant(&emu, PERMISSIONS).await;
    let synced = synced_in(&by_kind(&emu).await["synced"], "contoso.com");
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Plan",
            "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}
        })),
    );
    h.pass().await.unwrap();
    let st = h.status();
    assert_eq!(h.reason(cond::READY).as_deref(), Some("Planned"));
    assert_eq!(st.pending as usize, synced);
    assert_eq!(st.converted, 0);
    assert_eq!(st.phase.as_deref(), Some("Planned"));
    let s = state(&emu).await;
    assert_eq!(s["writes"]["accepted"], 0, "{s}");
    assert_eq!(s["writes"]["refused"], 0, "{s}");
    emu.shutdown().await;
}

#[tokio::test]
async fn apply_converts_canary_then_waves_never_touching_excluded_or_sync_accounts() {
    let emu = start(config(25, 2)).await;
    grant(&emu, PERMISSIONS).await;
    let kinds = by_kind(&emu).await;
    let breakglass: Vec<String> = kinds["breakGlass"]
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_string())
        .collect();
    let onmicrosoft = kinds["syncServiceAccount"][0]["userPrincipalName"]
        .as_str()
        .unwrap()
        .split('@')
        .nth(1)
        .unwrap()
        .to_string();
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply",
            "selector": {"domains": ["contoso.com", onmicrosoft]},
            "exclude": {"userPrincipalNames": breakglass},
            "rollout": {"maxObjects": 200, "canary": 2, "waveSize": 10, "pauseBetweenWaves": "0s"}
        })),
    );
    h.until(10, ready).await;
    let st = h.status();
    let synced = synced_in(&kinds["synced"], "contoso.com");
    assert_eq!(st.converted as usize, synced);
    assert_eq!(st.pending, 0);
    assert!(
        st.exclusions
            .iter()
            .any(|e| e.reason == "SyncServiceAccount"),
        "{:?}",
        st.exclusions
    );
    assert_eq!(
        st.exclusions
            .iter()
            .filter(|e| e.reason == "ExcludedByName")
            .count(),
        2
    );
    assert_eq!(h.reason(cond::READY).as_deref(), Some("Converted"));
    let waves = h
        .events
        .iter()
        .filter(|e| e.reason == "WaveCompleted")
        .count();
    assert_eq!(waves, 1 + (synced - 2).div_ceil(10), "canary + waves of 10");
    assert!(
        h.events[0..]
            .iter()
            .any(|e| e.note.starts_with("canary wave: 2 of 2"))
    );

    for u in users(&emu).await {
        let kind = u["kind"].as_str().unwrap();
        if kind == "synced"
            && u["userPrincipalName"]
                .as_str()
                .unwrap()
                .ends_with("@contoso.com")
        {
            assert_eq!(u["isCloudManaged"], true, "{u}");
            assert_eq!(u["writes"], 1, "switched exactly once: {u}");
            assert!(
                !u["onPremisesImmutableId"].is_null(),
                "kept without clearImmutableId"
            );
        } else {
            assert_eq!(u["writes"], 0, "{kind} written: {u}");
        }
    }
    // Journal: every switch with its prior state, intent before result.
    let entries = h.journal_entries();
    let intents = entries
        .iter()
        .filter(|e| e.record.action == Action::SwitchToCloud && e.record.phase == Phase::Intent)
        .count();
    let applied = entries
        .iter()
        .filter(|e| e.record.action == Action::SwitchToCloud && e.record.phase == Phase::Applied)
        .count();
    assert_eq!((intents, applied), (synced, synced));
    // Converged: an idle guard pass writes nothing.
    let before = state(&emu).await["writes"]["accepted"].clone();
    h.pass().await.unwrap();
    assert_eq!(state(&emu).await["writes"]["accepted"], before);
    emu.shutdown().await;
}

#[tokio::test]
async fn blast_radius_stalls_without_writes() {
    let emu = start(config(20, 1)).await;
    grant(&emu, PERMISSIONS).await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply",
            "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 5}
        })),
    );
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::STALLED).as_deref(),
        Some("BlastRadiusExceeded")
    );
    let msg = cond::get(&h.status().conditions, cond::STALLED)
        .unwrap()
        .message
        .clone();
    assert!(msg.contains("spec.rollout.maxObjects"), "{msg}");
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn failures_in_the_canary_halt_until_the_spec_changes() {
    let emu = start(config(12, 1)).await;
    grant(&emu, PERMISSIONS).await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply",
            "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 100, "canary": 2, "waveSize": 5, "maxFailuresPerWave": 0}
        })),
    );
    control_post(
        &emu,
        "faults",
        json!({"status": 500, "count": 1000, "path": "onPremisesSyncBehavior", "method": "PATCH"}),
    )
    .await;
    h.pass().await.unwrap();
    assert_eq!(h.reason(cond::STALLED).as_deref(), Some("AutoHalted"));
    assert_eq!(h.status().failed, 2);
    assert!(h.events.iter().any(|e| e.reason == "AutoHalted"));
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .unwrap();
    // Halted stays halted: nothing is written.
    let before = state(&emu).await["writes"]["accepted"].clone();
    h.pass().await.unwrap();
    assert_eq!(h.reason(cond::STALLED).as_deref(), Some("AutoHalted"));
    assert_eq!(state(&emu).await["writes"]["accepted"], before);
    // A spec change resumes.
    h.obj.metadata.generation = Some(2);
    h.until(10, ready).await;
    assert_eq!(h.status().failed, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_restart_mid_rollout_converts_nobody_twice() {
    let emu = start(config(20, 1)).await;
    grant(&emu, PERMISSIONS).await;
    let spec = json!({
        "tenantRef": {"name": "contoso"}, "mode": "Apply", "selector": {"domains": ["contoso.com"]},
        "rollout": {"maxObjects": 100, "canary": 3, "waveSize": 4}
    });
    let mut h = UserHarness::new(&emu, cuc(spec.clone()));
    h.pass().await.unwrap();
    h.pass().await.unwrap();
    // The operator restarts: same journal, no status.
    let journal_path = h.journal_path.clone();
    let mut again = UserHarness::new(&emu, cuc(spec));
    again.journal = FileJournal::open(
        &journal_path,
        entra_cloud_operator::journal::default_key(std::path::Path::new(&&journal_path)).unwrap(),
    )
    .unwrap();
    again.journal_path = journal_path;
    again.until(10, ready).await;
    for u in users(&emu).await.iter().filter(|u| {
        u["kind"] == "synced"
            && u["userPrincipalName"]
                .as_str()
                .unwrap()
                .ends_with("@contoso.com")
    }) {
        assert_eq!(u["writes"], 1, "{u}");
    }
    FileJournal::verify(
        &again.journal_path,
        Some(
            &entra_cloud_operator::journal::default_key(std::path::Path::new(&&again.journal_path))
                .unwrap(),
        ),
    )
    .unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn a_user_taken_back_by_ad_is_drift() {
    let emu = start(config(6, 1)).await;
    grant(&emu, PERMISSIONS).await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 100}
        })),
    );
    h.until(5, ready).await;
    let rolled_out = h.status().last_wave_at.unwrap().0;
    // Another admin rolls one user back; the next sync cycle takes it over.
    let victim = users(&emu)
        .await
        .into_iter()
        .find(|u| u["isCloudManaged"] == true)
        .unwrap();
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    h.graph
        .set_user_cloud_managed(victim["id"].as_str().unwrap(), false)
        .await
        .unwrap();
    // Graph's reads show the rollback once past its read lag.
    advance(&emu, 11.0).await;
    // Within the consistency window after the last wave, a user that does not read back is
    // waiting (Graph is eventually consistent), not drift.
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::RECONCILING).as_deref(),
        Some("WaitingForConsistency"),
        "{:#?}",
        h.status()
    );
    assert!(!cond::is_true(&h.status().conditions, cond::DRIFT_DETECTED));
    assert_eq!(h.status().pending, 1);
    // Once the window is over: switched back but not yet re-synchronised is drift.
    h.clock_at(rolled_out.checked_add(WINDOW).unwrap());
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::DRIFT_DETECTED).as_deref(),
        Some("TakenBackByAD")
    );
    control_post(&emu, "sync/cycle", json!({})).await;
    h.pass().await.unwrap();
    let st = h.status();
    assert_eq!(
        h.reason(cond::DRIFT_DETECTED).as_deref(),
        Some("TakenBackByAD")
    );
    assert_eq!(h.reason(cond::STALLED).as_deref(), Some("DriftDetected"));
    assert_eq!(
        st.drifted,
        vec![victim["userPrincipalName"].as_str().unwrap().to_string()]
    );
    // With Remediate on the tenant, it is switched back.
    h.tenant.drift = entra_cloud_operator::api::tenant::DriftPolicy::Remediate;
    h.until(5, ready).await;
    assert_eq!(h.reason(cond::DRIFT_DETECTED).as_deref(), Some("Resolved"));
    emu.shutdown().await;
}

#[tokio::test]
async fn clear_immutable_id_with_the_switch_and_alone() {
    let emu = start(config(8, 1)).await;
    grant(&emu, PERMISSIONS).await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "method": "SourceOfAuthority", "clearImmutableId": true,
            "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}
        })),
    );
    h.until(5, ready).await;
    for u in users(&emu).await.iter().filter(|u| u["kind"] == "synced") {
        assert_eq!(u["isCloudManaged"], true);
        assert!(u["onPremisesImmutableId"].is_null(), "{u}");
    }
    let entries = h.journal_entries();
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == Action::ClearImmutableId
                && e.record.phase == Phase::Intent
                && !e.record.prior["onPremisesImmutableId"].is_null())
    );

    // ClearImmutableId alone, after a tenant-wide disable.
    let emu2 = start(config(8, 1)).await;
    grant(
        &emu2,
        &[
            "Organization.ReadWrite.All",
            "User.ReadWrite.All",
            "Group.Read.All",
            "GroupMember.Read.All",
        ],
    )
    .await;
    let mut t = Harness::tenant(&emu2, policy("Disabled", false, "Report"), SECRET);
    t.pass().await.unwrap();
    advance(&emu2, 4000.0).await;
    t.until(4, is_ready).await;
    let mut c = UserHarness::new(
        &emu2,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "method": "ClearImmutableId",
            "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}
        })),
    );
    c.until(5, ready).await;
    assert_eq!(state(&emu2).await["users"]["withImmutableId"], 0);
    emu.shutdown().await;
    emu2.shutdown().await;
}

#[tokio::test]
async fn missing_permission_and_bad_filter_stall_naming_the_fix() {
    let emu = start(config(5, 1)).await;
    grant(
        &emu,
        &[
            "Organization.Read.All",
            "User.ReadWrite.All",
            "GroupMember.Read.All",
        ],
    )
    .await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 100}
        })),
    );
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::STALLED).as_deref(),
        Some("MissingPermission")
    );
    let msg = cond::get(&h.status().conditions, cond::STALLED)
        .unwrap()
        .message
        .clone();
    assert!(
        msg.contains("User-OnPremisesSyncBehavior.ReadWrite.All"),
        "{msg}"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    grant(&emu, PERMISSIONS).await;
    let mut bad = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Plan", "selector": {"filter": "nosuchproperty eq 'x'"}
        })),
    );
    bad.pass().await.unwrap();
    assert_eq!(
        bad.reason(cond::STALLED).as_deref(),
        Some("InvalidSelector")
    );
    let msg = cond::get(&bad.status().conditions, cond::STALLED)
        .unwrap()
        .message
        .clone();
    assert!(msg.starts_with("spec.selector.filter"), "{msg}");
    emu.shutdown().await;
}

#[tokio::test]
async fn restore_deleted_brings_back_users_whose_ad_object_left_scope() {
    let emu = start(config(6, 1)).await;
    grant(
        &emu,
        &[
            "Organization.Read.All",
            "User.ReadWrite.All",
            "User.DeleteRestore.All",
        ],
    )
    .await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "method": "RestoreDeleted",
            "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}
        })),
    );
    // Nothing left scope yet: wait, write nothing.
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::RECONCILING).as_deref(),
        Some("WaitingForSoftDelete"),
        "{:#?}",
        h.status()
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    // Someone moves two AD objects to an unsynchronised OU; the next cycle soft-deletes them.
    let synced: Vec<Value> = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .collect();
    let moved: Vec<&Value> = synced.iter().take(2).collect();
    for u in &moved {
        control_post(
            &emu,
            &format!("users/{}/scope", u["id"].as_str().unwrap()),
            json!({"inScope": false}),
        )
        .await;
    }
    control_post(&emu, "sync/cycle", json!({})).await;
    h.pass().await.unwrap();
    let now: HashMap<String, Value> = users(&emu)
        .await
        .into_iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), u))
        .collect();
    for u in &moved {
        let back = &now[u["id"].as_str().unwrap()];
        assert!(
            back["onPremisesSyncEnabled"] != true,
            "restored cloud-only: {back}"
        );
        assert!(back["onPremisesImmutableId"].is_null(), "{back}");
    }
    let entries = h.journal_entries();
    let restores: Vec<_> = entries
        .iter()
        .filter(|e| e.record.action == Action::RestoreUser && e.record.phase == Phase::Intent)
        .collect();
    assert_eq!(restores.len(), 2);
    for r in restores {
        let original = moved
            .iter()
            .find(|u| u["id"] == r.record.object_id.as_str())
            .unwrap();
        assert_eq!(
            r.record.prior["onPremisesImmutableId"],
            original["onPremisesImmutableId"]
        );
    }
    assert_eq!(h.reason(cond::RECONCILING).as_deref(), Some("Converting"));

    // The rest follow; then Ready.
    for u in synced.iter().skip(2) {
        control_post(
            &emu,
            &format!("users/{}/scope", u["id"].as_str().unwrap()),
            json!({"inScope": false}),
        )
        .await;
    }
    control_post(&emu, "sync/cycle", json!({})).await;
    h.until(5, ready).await;
    assert_eq!(h.status().converted as usize, synced.len());
    // A later sync cycle does not take them back: their AD objects are out of scope.
    control_post(&emu, "sync/cycle", json!({})).await;
    h.pass().await.unwrap();
    assert!(ready(&h.status()));
    emu.shutdown().await;
}

#[tokio::test]
async fn revert_restores_prior_values_once_the_hard_match_block_is_lifted() {
    let emu = start(config(5, 1)).await;
    grant(&emu, PERMISSIONS).await;
    let before: HashMap<String, Value> = users(&emu)
        .await
        .into_iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), u))
        .collect();
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true, "onDelete": "Revert",
            "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}
        })),
    );
    h.until(5, ready).await;
    // Microsoft's prerequisite: user rollback is refused while hard-match takeover is blocked.
    match h.revert().await {
        RevertOutcome::Blocked(msg) => assert!(
            msg.contains("blockCloudObjectTakeoverThroughHardMatchEnabled"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    let done = h.revert().await;
    assert_eq!(done, RevertOutcome::Done(5));
    for u in users(&emu).await.iter().filter(|u| u["kind"] == "synced") {
        assert_eq!(u["isCloudManaged"], false, "{u}");
        assert_eq!(
            u["onPremisesImmutableId"],
            before[u["id"].as_str().unwrap()]["onPremisesImmutableId"],
            "prior value restored"
        );
    }
    // Idempotent: nothing left to undo, nothing written.
    let writes = state(&emu).await["writes"]["accepted"].clone();
    assert_eq!(h.revert().await, RevertOutcome::Done(0));
    assert_eq!(state(&emu).await["writes"]["accepted"], writes);
    // The next sync cycle takes them back.
    control_post(&emu, "sync/cycle", json!({})).await;
    assert_eq!(state(&emu).await["users"]["synced"], 5);
    emu.shutdown().await;
}

#[tokio::test]
async fn users_of_federated_domains_are_never_converted_or_cleared() {
    let emu = start(config(6, 1)).await;
    grant(&emu, PERMISSIONS).await;
    control_post(
        &emu,
        "domains",
        json!({"name": "contoso.com", "type": "Federated"}),
    )
    .await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true,
            "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}
        })),
    );
    h.until(3, ready).await;
    let st = h.status();
    assert_eq!(st.excluded, 6);
    assert!(
        st.exclusions.iter().all(|e| e.reason == "FederatedDomain"),
        "{:?}",
        st.exclusions
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    // Tenant-wide: the disable goes ahead, but federated users keep the ImmutableID they sign
    // in with, and the tenant is still Ready.
    let mut t = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    grant(
        &emu,
        &[
            "Organization.ReadWrite.All",
            "User.ReadWrite.All",
            "Group.Read.All",
        ],
    )
    .await;
    t.pass().await.unwrap();
    advance(&emu, 4000.0).await;
    t.until(4, is_ready).await;
    assert_eq!(state(&emu).await["users"]["withImmutableId"], 6);
    assert_eq!(
        state(&emu).await["writes"]["accepted"],
        1,
        "only the organization"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn selection_by_group_membership_direct_transitive_and_excluded() {
    let emu = start(config(40, 10)).await;
    grant(&emu, PERMISSIONS).await;
    let groups: Vec<Value> = control_get(&emu, "groups").await["value"]
        .as_array()
        .cloned()
        .unwrap();
    let by_id: HashMap<String, Value> = groups
        .iter()
        .map(|g| (g["id"].as_str().unwrap().to_string(), g.clone()))
        .collect();
    // A synced group with a nested synced group that has user members of its own.
    let parent = groups
        .iter()
        .find(|g| {
            g["kind"] == "synced"
                && g["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| by_id.contains_key(m.as_str().unwrap()))
        })
        .expect("a nesting group");
    let members: Vec<String> = parent["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    let direct_users: Vec<&String> = members.iter().filter(|m| !by_id.contains_key(*m)).collect();
    let child = members.iter().find(|m| by_id.contains_key(*m)).unwrap();
    // Users anywhere below a group (nesting goes several levels deep).
    fn users_below(
        id: &str,
        by_id: &HashMap<String, Value>,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        for m in by_id[id]["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str())
        {
            if by_id.contains_key(m) {
                users_below(m, by_id, out);
            } else {
                out.insert(m.to_string());
            }
        }
    }
    let mut child_set = std::collections::BTreeSet::new();
    users_below(child, &by_id, &mut child_set);
    let child_users: Vec<String> = child_set.into_iter().collect();

    let plan = |transitive: bool, exclude_child: bool| {
        let mut spec = json!({
            "tenantRef": {"name": "contoso"}, "mode": "Plan",
            "selector": {"groups": [{"id": parent["id"], "transitive": transitive}]},
            "rollout": {"maxObjects": 1000}
        });
        if exclude_child {
            spec["exclude"] = json!({"groups": [{"id": child, "transitive": true}]});
        }
        cuc(spec)
    };
    let mut direct = UserHarness::new(&emu, plan(false, false));
    direct.pass().await.unwrap();
    assert_eq!(direct.status().matched as usize, direct_users.len());
    let mut transitive = UserHarness::new(&emu, plan(true, false));
    transitive.pass().await.unwrap();
    let mut all = std::collections::BTreeSet::new();
    users_below(parent["id"].as_str().unwrap(), &by_id, &mut all);
    assert_eq!(transitive.status().matched as usize, all.len());
    let mut excluded = UserHarness::new(&emu, plan(true, true));
    excluded.pass().await.unwrap();
    let st = excluded.status();
    assert_eq!(
        st.excluded as usize,
        child_users.len(),
        "members of the excluded group are excluded"
    );
    assert!(st.exclusions.iter().all(|e| e.reason == "ExcludedByGroup"));
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn groups_by_display_name_must_name_exactly_one() {
    let emu = start(config(30, 2)).await;
    grant(&emu, PERMISSIONS).await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Plan",
            "selector": {"groups": [{"displayName": "Migration Wave 1"}]}, "rollout": {"maxObjects": 100}
        })),
    );
    h.pass().await.unwrap();
    assert_eq!(h.reason(cond::READY).as_deref(), Some("Planned"));
    assert_eq!(h.status().matched, 3, "every tenth of 30 synced users");
    let mut missing = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Plan",
            "selector": {"groups": [{"displayName": "No Such Group"}]}
        })),
    );
    missing.pass().await.unwrap();
    assert_eq!(
        missing.reason(cond::STALLED).as_deref(),
        Some("GroupNotFound")
    );
    let msg = cond::get(&missing.status().conditions, cond::STALLED)
        .unwrap()
        .message
        .clone();
    assert!(
        msg.starts_with("spec.selector.groups") && msg.contains("No Such Group"),
        "{msg}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_wave_of_200_goes_out_in_batches_converting_each_user_once() {
    // Counts requests exactly: reads consistent at once, so no read-back is repeated (the
    // read lag has its own tests, `tests/consistency`).
    let emu = start(EmulatorConfig {
        read_lag: Duration::ZERO,
        index_lag: Duration::ZERO,
        ..config(300, 2)
    })
    .await;
    grant(&emu, PERMISSIONS).await;
    let pending = synced_in(&by_kind(&emu).await["synced"], "contoso.com");
    assert!(pending >= 200, "{pending} synced users");
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "method": "SourceOfAuthority",
            "clearImmutableId": true, "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 1000, "waveSize": 200, "pauseBetweenWaves": "0s"}
        })),
    );
    assert!(h.graph.batching());
    h.pass().await.unwrap();
    assert!(
        h.events.iter().any(|e| e
            .note
            .starts_with("wave 1: 200 of 200 users converted, 0 failed")),
        "{:?}",
        h.events
    );
    // Ten groups of twenty, each switched, read back and cleared in one batch per step.
    let s = state(&emu).await;
    assert_eq!(s["requests"]["batches"], 30, "{s}");
    assert_eq!(s["requests"]["batchItems"], 600, "{s}");
    let converted: Vec<Value> = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["isCloudManaged"] == true)
        .collect();
    assert_eq!(converted.len(), 200);
    for u in &converted {
        assert_eq!(u["writeCounts"]["soa"], 1, "switched once: {u}");
        assert_eq!(u["writeCounts"]["patch"], 1, "cleared once: {u}");
        assert!(u["onPremisesImmutableId"].is_null(), "{u}");
    }
    // The journal has each intent and outcome per user, as without batching.
    let entries = h.journal_entries();
    for (action, phase) in [
        (Action::SwitchToCloud, Phase::Intent),
        (Action::SwitchToCloud, Phase::Applied),
        (Action::ClearImmutableId, Phase::Intent),
        (Action::ClearImmutableId, Phase::Applied),
    ] {
        let n = entries
            .iter()
            .filter(|e| e.record.action == action && e.record.phase == phase)
            .count();
        assert_eq!(n, 200, "{action:?} {phase:?}");
    }
    assert!(
        entries
            .iter()
            .filter(|e| e.record.phase == Phase::Applied)
            .all(|e| e.record.request_id.is_some())
    );
    // The rest converge; nobody is written twice.
    h.until(10, ready).await;
    for u in users(&emu)
        .await
        .iter()
        .filter(|u| u["isCloudManaged"] == true)
    {
        assert_eq!(u["writes"], 2, "{u}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn without_batching_a_wave_goes_one_request_per_user_and_step() {
    let emu = start(config(30, 1)).await;
    grant(&emu, PERMISSIONS).await;
    let mut h = UserHarness::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true,
            "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 100, "waveSize": 100}
        })),
    );
    h.graph.set_batching(false);
    h.until(5, ready).await;
    let s = state(&emu).await;
    assert_eq!(s["requests"]["batches"], 0, "{s}");
    let converted = h.status().converted;
    assert!(converted > 0);
    assert_eq!(s["writes"]["accepted"], 2 * converted, "{s}");
    for u in users(&emu)
        .await
        .iter()
        .filter(|u| u["isCloudManaged"] == true)
    {
        assert_eq!(u["writes"], 2, "switched and cleared once: {u}");
    }
    emu.shutdown().await;
}
