//! Rollout guards and failures: nested failures, blast radius, auto-halt, drift, missing
//! permission and owners.

use crate::common::*;
use crate::harness::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::tenant::DriftPolicy;
use entra_cloud_operator::reconcile::rollout::consistency::WINDOW;
use serde_json::json;

#[tokio::test]
async fn a_group_containing_a_failed_group_waits_for_a_later_wave() {
    let emu = start(config(20, 5)).await;
    grant(&emu, PERMISSIONS).await;
    let gs = groups(&emu).await;
    let a = roots(&gs).remove(0);
    let b = nested_in(&gs[&a], &gs)
        .into_iter()
        .find(|c| !nested_in(&gs[c], &gs).is_empty())
        .unwrap();
    let d = nested_in(&gs[&b], &gs).remove(0);
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
            "selector": {"groupIds": [a]}, "rollout": {"maxFailuresPerWave": 5}
        })),
    );
    let fault = format!("groups/{d}/onPremisesSyncBehavior");
    control_post(
        &emu,
        "faults",
        json!({"status": 503, "count": 1000, "path": fault, "method": "PATCH"}),
    )
    .await;
    h.pass().await.unwrap();
    let st = h.status();
    assert_eq!((st.converted, st.failed), (1, 1), "c converted, d failed");
    let note = &h
        .events
        .iter()
        .find(|e| e.reason == "WaveCompleted")
        .unwrap()
        .note;
    assert!(note.contains("2 left for a later wave"), "{note}");
    let after = groups(&emu).await;
    assert_eq!(
        (after[&a]["writes"].clone(), after[&b]["writes"].clone()),
        (json!(0), json!(0))
    );
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .unwrap();
    h.until(5, ready).await;
    assert_eq!(h.status().converted, 4);
    emu.shutdown().await;
}

#[tokio::test]
async fn blast_radius_stalls_without_writes() {
    let emu = start(config(20, 10)).await;
    grant(&emu, PERMISSIONS).await;
    let gs = groups(&emu).await;
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
            "selector": {"groupIds": roots(&gs)}, "rollout": {"maxObjects": 3}
        })),
    );
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::STALLED).as_deref(),
        Some("BlastRadiusExceeded")
    );
    assert!(h.message(cond::STALLED).contains("spec.rollout.maxObjects"));
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn failures_in_the_canary_halt_until_the_spec_changes() {
    let emu = start(config(20, 10)).await;
    grant(&emu, PERMISSIONS).await;
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
            "selector": {"filter": SEEDED},
            "rollout": {"canary": 2, "waveSize": 5, "maxFailuresPerWave": 0}
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
    assert_eq!(h.status().recent_failures[0].action, "SwitchToCloud");
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
    assert_eq!((h.status().failed, h.status().converted), (0, 10));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_group_taken_back_by_ad_is_drift() {
    let emu = start(config(20, 5)).await;
    grant(&emu, PERMISSIONS).await;
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
            "selector": {"filter": SEEDED}, "owners": [ADMIN]
        })),
    );
    h.until(5, ready).await;
    let rolled_out = h.status().last_wave_at.unwrap().0;
    // Another admin rolls one group back; the next sync cycle takes it over.
    let victim = groups(&emu)
        .await
        .into_values()
        .find(|g| g["isCloudManaged"] == true)
        .unwrap();
    h.graph
        .set_group_cloud_managed(victim["id"].as_str().unwrap(), false)
        .await
        .unwrap();
    control_post(&emu, "sync/cycle", json!({})).await;
    // Past Graph's read lag, still within the consistency window after the last wave: waiting.
    advance(&emu, 11.0).await;
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::RECONCILING).as_deref(),
        Some("WaitingForConsistency")
    );
    assert!(!cond::is_true(&h.status().conditions, cond::DRIFT_DETECTED));
    // After the window, a group AD took back is drift.
    h.clock_at(rolled_out.checked_add(WINDOW).unwrap());
    h.pass().await.unwrap();
    let name = victim["displayName"].as_str().unwrap().to_string();
    assert_eq!(
        h.reason(cond::DRIFT_DETECTED).as_deref(),
        Some("TakenBackByAD")
    );
    assert!(h.message(cond::DRIFT_DETECTED).contains(&name));
    assert_eq!(h.reason(cond::STALLED).as_deref(), Some("DriftDetected"));
    assert_eq!(h.status().drifted, vec![name]);
    // With Remediate on the tenant, it is switched back (its owners are in place already).
    let owners_before =
        groups(&emu).await[victim["id"].as_str().unwrap()]["writeCounts"]["ownersAdded"].clone();
    h.tenant.drift = DriftPolicy::Remediate;
    h.until(5, ready).await;
    assert_eq!(h.reason(cond::DRIFT_DETECTED).as_deref(), Some("Resolved"));
    let g = &groups(&emu).await[victim["id"].as_str().unwrap()];
    assert_eq!(g["isCloudManaged"], true);
    assert_eq!(g["writeCounts"]["ownersAdded"], owners_before);
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_inputs_and_missing_permission_stall_naming_the_fix() {
    let emu = start(config(10, 5)).await;
    grant(
        &emu,
        &[
            "Organization.Read.All",
            "User.Read.All",
            "Group.ReadWrite.All",
            "GroupMember.Read.All",
        ],
    )
    .await;
    let spec = json!({
        "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
        "selector": {"filter": SEEDED}, "owners": [ADMIN]
    });
    let mut h = GroupHarness::new(&emu, cgc(spec.clone()));
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::STALLED).as_deref(),
        Some("MissingPermission")
    );
    let msg = h.message(cond::STALLED);
    assert!(
        msg.contains("Group-OnPremisesSyncBehavior.ReadWrite.All"),
        "{msg}"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    grant(&emu, PERMISSIONS).await;
    let mut spec = spec;
    spec["owners"] = json!(["nobody@contoso.com"]);
    let mut owner = GroupHarness::new(&emu, cgc(spec));
    owner.pass().await.unwrap();
    assert_eq!(
        owner.reason(cond::STALLED).as_deref(),
        Some("OwnerNotFound")
    );
    let msg = owner.message(cond::STALLED);
    assert!(
        msg.starts_with("spec.owners") && msg.contains("nobody@contoso.com"),
        "{msg}"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    // A filter Graph refuses names the field; a group id that does not exist is reported.
    let mut bad = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Plan",
            "selector": {"filter": "nosuchproperty eq 'x'"}
        })),
    );
    bad.pass().await.unwrap();
    assert_eq!(
        bad.reason(cond::STALLED).as_deref(),
        Some("InvalidSelector")
    );
    let msg = bad.message(cond::STALLED);
    assert!(msg.starts_with("spec.selector.filter"), "{msg}");
    let ghost = "00000000-0000-4000-8000-000000000000";
    let mut missing = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Plan", "selector": {"groupIds": [ghost]}
        })),
    );
    missing.pass().await.unwrap();
    let st = missing.status();
    assert_eq!(missing.reason(cond::READY).as_deref(), Some("Planned"));
    assert_eq!(
        (st.skipped, st.exclusions[0].reason.as_str()),
        (1, "NotFound")
    );
    assert_eq!(st.exclusions[0].id, ghost);
    emu.shutdown().await;
}
