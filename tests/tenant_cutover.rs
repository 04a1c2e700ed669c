//! The tenant-wide cutover against the in-process emulator: every flow and error path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::journal::{Action, Phase};
use serde_json::json;

/// A person's edit of the manifest: `spec.approvedPlan` (and `planTolerance`), a new
/// generation.
fn approve(
    h: &mut Harness<entra_cloud_operator::api::TenantSyncPolicy>,
    plan: &str,
    tolerance: Option<i64>,
) {
    h.obj.spec.approved_plan = Some(plan.to_string());
    h.obj.spec.plan_tolerance = tolerance;
    h.obj.metadata.generation = h.obj.metadata.generation.map(|g| g + 1);
    h.tenant = h.obj.spec.clone();
}

#[tokio::test]
async fn the_disable_waits_for_an_approved_plan_the_tenant_still_matches() {
    let emu = start(config(30, 3)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", false, "Report"), SECRET);
    h.approve = false;
    // Unapproved: nothing written; Stalled, saying what to approve and how.
    h.pass().await.unwrap();
    let st = h.status();
    let (stalled, reason, msg) = h.condition(cond::STALLED).unwrap();
    assert_eq!(
        (stalled.as_str(), reason.as_str()),
        ("True", "ApprovalRequired")
    );
    let plan = st.plan.clone().unwrap();
    assert!(
        msg.contains(&format!("spec.approvedPlan: {}", plan.digest)),
        "{msg}"
    );
    assert!(msg.contains("cannot be undone"), "{msg}");
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    let synced = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .count();
    assert_eq!(plan.users as usize, synced);
    // The same plan again: the same digest.
    h.pass().await.unwrap();
    assert_eq!(h.status().plan.unwrap().digest, plan.digest);

    // Approved, then a synchronised user leaves before the operator acts: the plan changed.
    approve(&mut h, &plan.digest, None);
    let gone = users(&emu)
        .await
        .into_iter()
        .find(|u| u["kind"] == "synced")
        .unwrap();
    control_post(
        &emu,
        &format!("users/{}/scope", gone["id"].as_str().unwrap()),
        json!({"inScope": false}),
    )
    .await;
    control_post(&emu, "sync/cycle", json!({})).await;
    h.pass().await.unwrap();
    let (_, reason, msg) = h.condition(cond::STALLED).unwrap();
    assert_eq!(reason, "PlanChanged", "{msg}");
    assert!(
        msg.contains(&format!("now {}", plan.users - 1)) && msg.contains("1 objects differ"),
        "{msg}"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    // Within a stated tolerance of one object, the approved plan still holds: sync goes off.
    approve(&mut h, &plan.digest, Some(1));
    h.pass().await.unwrap();
    assert_eq!(
        h.condition(cond::RECONCILING).unwrap().1,
        "DisableRequested"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 1);
    assert!(h.events.iter().any(|e| e.reason == "PlanApproved"));

    // A bad approval is a spec error naming the field, before any Graph call.
    let mut bad = Harness::tenant(&emu, policy("Disabled", false, "Report"), SECRET);
    approve(&mut bad, "yes please", None);
    bad.pass().await.unwrap();
    let (_, reason, msg) = bad.condition(cond::STALLED).unwrap();
    assert_eq!(reason, "InvalidSpec");
    assert!(msg.starts_with("spec.approvedPlan"), "{msg}");
    emu.shutdown().await;
}

#[tokio::test]
async fn full_cutover_converts_everything_and_clears_immutable_ids_after_conversion() {
    // Counts every request exactly: reads consistent at once. (Under a read lag, ImmutableIDs
    // the listing still shows after they were cleared are read back through each user, not
    // cleared again: tests/tenant_clear_consistency.rs.)
    let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
        read_lag: std::time::Duration::ZERO,
        index_lag: std::time::Duration::ZERO,
        ..config(300, 12)
    })
    .await;
    let before: HashMap<String, serde_json::Value> = users(&emu)
        .await
        .into_iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), u))
        .collect();
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);

    // Pass 1: the disable is requested, nothing else written.
    h.pass().await.unwrap();
    assert_eq!(
        h.condition(cond::RECONCILING).unwrap().1,
        "DisableRequested"
    );
    assert!(h.status().disable_requested_at.is_some());
    let s = state(&emu).await;
    assert_eq!(s["writes"]["accepted"], 1, "{s}");
    assert_eq!(s["organization"]["syncState"], "PendingDisable");

    // Half-way: objects convert progressively; ImmutableIDs are left alone meanwhile.
    advance(&emu, 1800.0).await;
    h.pass().await.unwrap();
    let st = h.status();
    let users_st = st.users.unwrap();
    assert_eq!(h.condition(cond::READY).unwrap().1, "Propagating");
    assert!(
        users_st.synced > 0 && users_st.converted > 0,
        "{users_st:?}"
    );
    assert_eq!(users_st.synced + users_st.converted, 300);
    assert_eq!(state(&emu).await["writes"]["accepted"], 1);

    // Complete: the next passes clear every ImmutableID, then Ready.
    advance(&emu, 1900.0).await;
    h.until(5, is_ready).await;
    let st = h.status();
    assert_eq!(st.users.unwrap().synced, 0);
    assert_eq!(st.users.unwrap().converted, 300);
    assert_eq!(st.groups.unwrap().synced, 0);
    assert_eq!(st.groups.unwrap().converted, 12);
    let ids = st.immutable_ids.unwrap();
    assert_eq!((ids.cleared, ids.remaining, ids.failed), (300, 0, 0));
    assert!(cond::is_true(&st.conditions, cond::DIRECTORY_SYNC_DISABLED));
    assert!(cond::get(&st.conditions, cond::RECONCILING).is_none());
    assert!(cond::get(&st.conditions, cond::STALLED).is_none());
    // Generation 2: the harness approved the plan of generation 1 (a spec edit).
    assert_eq!(st.observed_generation, Some(2));
    assert_eq!(st.progress.as_deref(), Some("312/312"));
    assert!(st.converged_at.is_some());

    // The emulator refuses writes to synchronised users: none was refused, so every clear
    // came after the user's conversion.
    let s = state(&emu).await;
    assert_eq!(s["writes"]["refused"], 0, "{s}");
    assert_eq!(s["writes"]["accepted"], 301, "{s}");
    assert_eq!(s["users"]["synced"], 0);

    // Exactly the formerly synchronised users were written, once each; cloud-only,
    // break-glass and sync service accounts never.
    for u in users(&emu).await {
        let kind = u["kind"].as_str().unwrap();
        if kind == "synced" {
            assert_eq!(u["writes"], 1, "{u}");
            assert!(u["onPremisesImmutableId"].is_null(), "{u}");
        } else {
            assert_eq!(u["writes"], 0, "{kind} written: {u}");
        }
    }

    // Every prior ImmutableID is in the journal, recorded before its write.
    let entries = h.journal_entries();
    let mut intent_seq = HashMap::new();
    for e in &entries {
        let r = &e.record;
        if r.action != Action::ClearImmutableId {
            continue;
        }
        match r.phase {
            Phase::Intent => {
                let original = &before[&r.object_id]["onPremisesImmutableId"];
                assert_eq!(&r.prior["onPremisesImmutableId"], original);
                intent_seq.insert(r.object_id.clone(), e.seq);
            }
            Phase::Applied => assert!(intent_seq[&r.object_id] < e.seq),
            Phase::Failed => panic!("unexpected failure {r:?}"),
        }
    }
    assert_eq!(intent_seq.len(), 300);

    // Idle guard passes write nothing.
    h.pass().await.unwrap();
    assert_eq!(state(&emu).await["writes"]["accepted"], 301);
    emu.shutdown().await;
}

#[tokio::test]
async fn both_unconfirmed_post_disable_values_converge() {
    use entra_cloud_operator::emulator::AfterDisable;
    let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
        user_sync_after_disable: AfterDisable::Null,
        org_sync_during_disable: AfterDisable::Null,
        ..config(40, 3)
    })
    .await;
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    h.pass().await.unwrap();
    advance(&emu, 4000.0).await;
    h.until(5, is_ready).await;
    let st = h.status();
    assert_eq!(st.users.unwrap().converted, 40);
    assert_eq!(st.immutable_ids.unwrap().cleared, 40);
    assert_eq!(state(&emu).await["writes"]["refused"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn survives_429_storms_and_5xx_bursts() {
    let emu = start(config(150, 4)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    control_post(&emu, "faults", json!({"status": 503, "count": 6})).await;
    h.until(10, |s| s.disable_requested_at.is_some()).await;
    advance(&emu, 4000.0).await;
    control_post(
        &emu,
        "faults",
        json!({"status": 429, "count": 40, "retryAfter": 0.01, "method": "PATCH"}),
    )
    .await;
    control_post(
        &emu,
        "faults",
        json!({"status": 502, "count": 10, "path": "/users"}),
    )
    .await;
    h.until(20, is_ready).await;
    let s = state(&emu).await;
    assert!(s["requests"]["faulted"].as_u64().unwrap() >= 50, "{s}");
    assert_eq!(s["users"]["withImmutableId"], 0, "{s}");
    assert_eq!(h.status().immutable_ids.unwrap().cleared, 150);
    assert!(
        h.graph
            .stats()
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 40
    );
    // Each user cleared exactly once, despite the retries.
    for u in users(&emu).await.iter().filter(|u| u["kind"] == "synced") {
        assert_eq!(u["writes"], 1, "{u}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_stalls_without_any_write() {
    let emu = start(config(20, 2)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), "not-the-secret");
    let outcome = h.pass().await.unwrap();
    let (status, reason, message) = h.condition(cond::STALLED).unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "InvalidCredentials")
    );
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(
        message.contains("Secret identity/graph-credentials"),
        "{message}"
    );
    assert!(!message.contains("not-the-secret") && !message.contains(SECRET));
    assert_eq!(h.condition(cond::READY).unwrap().0, "False");
    assert!(
        outcome
            .events
            .iter()
            .any(|e| e.reason == "InvalidCredentials")
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    assert_eq!(h.journal_entries().len(), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn missing_permission_stalls_naming_it_without_any_write() {
    let emu = start(config(20, 2)).await;
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.Read.All", "User.ReadWrite.All", "Group.Read.All"]}),
    )
    .await;
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    h.pass().await.unwrap();
    let (_, reason, message) = h.condition(cond::STALLED).unwrap();
    assert_eq!(reason, "MissingPermission");
    assert!(
        message.contains("Organization.ReadWrite.All") && message.contains(CLIENT),
        "{message}"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    // Granting it is not enough: the clearing after the disable needs User.ReadWrite.All, and
    // the preflight says so before the disable, which is not started half a flow short.
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.ReadWrite.All", "User.Read.All", "Group.Read.All"]}),
    )
    .await;
    h.pass().await.unwrap();
    let (_, reason, message) = h.condition(cond::STALLED).unwrap();
    assert_eq!(reason, "MissingPermission");
    assert!(
        message.contains("grant the application permission User.ReadWrite.All "),
        "{message}"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    // With both, the same client (its token renewed) disables, then clears.
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.ReadWrite.All", "User.ReadWrite.All", "Group.Read.All"]}),
    )
    .await;
    h.pass().await.unwrap();
    assert_eq!(h.condition(cond::READY).unwrap().1, "DisableRequested");
    let s = state(&emu).await;
    assert_eq!(s["writes"]["accepted"], 1, "only the organization: {s}");
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_tenant_stalls() {
    let emu = start(config(5, 1)).await;
    let mut tsp = policy("Disabled", false, "Report");
    tsp.spec.tenant_id = "11111111-2222-3333-4444-555555555555".into();
    let mut h = Harness::tenant(&emu, tsp, SECRET);
    // The client was built for TENANT; rebuild it for the unknown tenant.
    h.graph = entra_cloud_operator::graph::GraphClient::new(
        entra_cloud_operator::graph::GraphConfig {
            graph_root: emu.url(),
            login_root: emu.url(),
            scope: "https://graph.microsoft.com/.default".into(),
            tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            retry: retry(),
            timeout: std::time::Duration::from_secs(10),
            observer: None,
            pacing: None,
            ca_bundle: None,
        },
        entra_cloud_operator::graph::Credential::ClientSecret {
            client_id: CLIENT.into(),
            secret: entra_cloud_operator::graph::SecretString::new(SECRET),
        },
    )
    .unwrap();
    h.pass().await.unwrap();
    let (_, reason, message) = h.condition(cond::STALLED).unwrap();
    assert_eq!(reason, "TenantNotFound", "{message}");
    assert!(message.contains("spec.tenantId"), "{message}");
    emu.shutdown().await;
}

#[tokio::test]
async fn invalid_spec_stalls_before_any_request() {
    let emu = start(config(5, 1)).await;
    let mut tsp = policy("Unmanaged", true, "Report");
    tsp.spec.clear_immutable_ids = true;
    let mut h = Harness::tenant(&emu, tsp, SECRET);
    let outcome = h.pass().await.unwrap();
    let (_, reason, message) = h.condition(cond::STALLED).unwrap();
    assert_eq!(reason, "InvalidSpec");
    assert!(message.starts_with("spec.clearImmutableIds"), "{message}");
    assert_eq!(
        outcome.requeue_after, None,
        "an invalid spec waits for a spec change"
    );
    assert_eq!(state(&emu).await["requests"]["total"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn drift_is_reported_and_with_remediate_undone() {
    let emu = start(config(30, 2)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    h.pass().await.unwrap();
    advance(&emu, 4000.0).await;
    h.until(5, is_ready).await;
    let writes = state(&emu).await["writes"]["accepted"].clone();

    // An admin re-enables directory sync: the sync client takes the objects back.
    control_post(&emu, "sync/enable", json!({})).await;
    h.pass().await.unwrap();
    let (status, reason, _) = h.condition(cond::DRIFT_DETECTED).unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "SyncReEnabled")
    );
    assert_eq!(h.condition(cond::STALLED).unwrap().1, "DriftDetected");
    assert!(h.status().drift_detected_at.is_some());
    assert!(h.events.iter().any(|e| e.reason == "DriftDetected"));
    // Report only: nothing written.
    h.pass().await.unwrap();
    assert_eq!(state(&emu).await["writes"]["accepted"], writes);

    // With Remediate the operator disables sync again and re-clears the anchors that the
    // sync client wrote back.
    h.obj.spec.drift = entra_cloud_operator::api::tenant::DriftPolicy::Remediate;
    h.pass().await.unwrap();
    assert_eq!(
        h.condition(cond::RECONCILING).unwrap().1,
        "DisableRequested"
    );
    assert_eq!(
        state(&emu).await["organization"]["syncState"],
        "PendingDisable"
    );
    advance(&emu, 4000.0).await;
    h.until(5, is_ready).await;
    let (status, reason, _) = h.condition(cond::DRIFT_DETECTED).unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Resolved"));
    let s = state(&emu).await;
    assert_eq!(s["users"]["synced"], 0);
    assert_eq!(s["users"]["withImmutableId"], 0);
    assert_eq!(s["writes"]["refused"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn remediate_without_a_spec_change_is_still_drift_handling() {
    // Remediate set from the start: after convergence a re-enable is undone at once.
    let emu = start(config(10, 1)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", false, "Remediate"), SECRET);
    h.pass().await.unwrap();
    advance(&emu, 4000.0).await;
    h.until(5, is_ready).await;
    control_post(&emu, "sync/enable", json!({})).await;
    h.pass().await.unwrap();
    assert_eq!(h.condition(cond::DRIFT_DETECTED).unwrap().0, "True");
    assert_eq!(
        state(&emu).await["organization"]["syncState"],
        "PendingDisable"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn unmanaged_only_observes() {
    let emu = start(config(25, 2)).await;
    let mut h = Harness::tenant(&emu, policy("Unmanaged", false, "Report"), SECRET);
    h.pass().await.unwrap();
    let (status, reason, message) = h.condition(cond::READY).unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Observing"));
    assert!(message.contains("25 users"), "{message}");
    let st = h.status();
    assert_eq!(st.users.unwrap().synced, 25);
    assert_eq!(format!("{:?}", st.sync_state.unwrap()), "Enabled");
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn enabled_turns_sync_back_on_after_a_disable_completes() {
    let emu = start(config(10, 1)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", false, "Report"), SECRET);
    h.pass().await.unwrap();
    // While the disable propagates, Enabled waits: Entra would refuse.
    let mut on = policy("Enabled", false, "Report");
    on.metadata.generation = Some(2);
    on.status = h.obj.status.clone();
    h.obj = on;
    h.pass().await.unwrap();
    assert_eq!(h.condition(cond::RECONCILING).unwrap().1, "DisablePending");
    advance(&emu, 4000.0).await;
    h.until(4, is_ready).await;
    let s = state(&emu).await;
    assert_eq!(s["organization"]["syncState"], "Enabled");
    assert_eq!(s["users"]["synced"], 10);
    emu.shutdown().await;
}

#[tokio::test]
async fn suspend_makes_no_graph_call() {
    let emu = start(config(5, 1)).await;
    let mut tsp = policy("Disabled", true, "Report");
    tsp.spec.suspend = true;
    let mut h = Harness::tenant(&emu, tsp, SECRET);
    let outcome = h.pass().await.unwrap();
    assert_eq!(outcome.requeue_after, None);
    assert!(outcome.events.iter().any(|e| e.reason == "Suspended"));
    assert_eq!(outcome.status.observed_generation, Some(1));
    assert_eq!(state(&emu).await["requests"]["total"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn open_intents_left_by_a_kill_are_read_back_before_the_cutover_goes_on() {
    use entra_cloud_operator::journal::{Journal, Record, ResourceKey};
    let emu = start(config(20, 2)).await;
    let synced: Vec<serde_json::Value> = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .collect();
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    let org = h.graph.organization().await.unwrap();
    let intent = |object_type: &str, id: &str, action, prior| Record {
        resource: ResourceKey {
            kind: "TenantSyncPolicy".into(),
            namespace: "identity".into(),
            name: "contoso".into(),
        },
        tenant_id: TENANT.into(),
        object_type: object_type.into(),
        object_id: id.into(),
        object_name: None,
        action,
        phase: Phase::Intent,
        prior,
        request_id: None,
        error: None,
        note: None,
    };
    // A kill left two intents: the disable, which landed, and a clear that never left.
    let victim = synced[0]["id"].as_str().unwrap();
    h.journal
        .append(&[
            intent(
                "organization",
                &org.id,
                Action::DisableDirectorySync,
                json!({"onPremisesSyncEnabled": true}),
            ),
            intent(
                "user",
                victim,
                Action::ClearImmutableId,
                json!({"onPremisesImmutableId": synced[0]["onPremisesImmutableId"]}),
            ),
        ])
        .await
        .unwrap();
    h.graph.set_directory_sync(&org.id, false).await.unwrap();

    h.pass().await.unwrap();
    let resumed = h.events.iter().find(|e| e.reason == "Resumed").unwrap();
    assert!(
        resumed.note.contains("read back 2 changes"),
        "{}",
        resumed.note
    );
    advance(&emu, 4000.0).await;
    h.until(8, is_ready).await;

    let s = state(&emu).await;
    assert_eq!(s["writes"]["refused"], 0, "{s}");
    let entries = h.journal_entries();
    // Every intent has exactly one outcome after it; every synced user cleared once.
    let mut open: HashMap<(String, Action), i64> = HashMap::new();
    for e in &entries {
        let n = open
            .entry((e.record.object_id.clone(), e.record.action))
            .or_default();
        *n += if e.record.phase == Phase::Intent {
            1
        } else {
            -1
        };
        assert!((0..=1).contains(n), "{:?}", e.record);
    }
    assert!(open.values().all(|n| *n == 0), "{open:?}");
    let closed = entries.iter().find(|e| {
        e.record.object_id == victim
            && e.record.phase == Phase::Failed
            && e.record
                .note
                .as_deref()
                .is_some_and(|n| n.contains("had not been made"))
    });
    assert!(
        closed.is_some(),
        "the clear that never left is closed as not made"
    );
    for u in &synced {
        let applied = entries
            .iter()
            .filter(|e| {
                e.record.object_id == u["id"].as_str().unwrap()
                    && e.record.action == Action::ClearImmutableId
                    && e.record.phase == Phase::Applied
            })
            .count();
        assert_eq!(applied, 1, "{u}");
    }
    emu.shutdown().await;
}
