//! Conversions under an approved plan (`spec.requireApproval`): nothing written until the
//! plan is approved, the approved plan carries the rollout to the end, a selection that
//! changed beyond the tolerance stalls, and a plan of the wrong kind is an invalid spec.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion};
use serde_json::{Value, json};

const PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
];

fn cuc(spec: Value) -> CloudUserConversion {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "approved-wave", "namespace": "identity", "generation": 1},
        "spec": spec
    }))
    .unwrap()
}

fn spec(extra: Value) -> Value {
    let mut s = json!({
        "tenantRef": {"name": "contoso"}, "mode": "Apply",
        "selector": {"domains": ["contoso.com"]},
        "rollout": {"maxObjects": 100, "canary": 2, "waveSize": 50, "pauseBetweenWaves": "0s"}
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

async fn accepted_writes(emu: &entra_cloud_operator::emulator::Emulator) -> i64 {
    state(emu).await["writes"]["accepted"].as_i64().unwrap()
}

fn stalled(h: &Harness<CloudUserConversion>) -> Option<String> {
    cond::is_true(&h.status().conditions, cond::STALLED).then(|| h.reason(cond::STALLED))?
}

#[tokio::test]
async fn a_conversion_that_requires_approval_writes_only_under_the_approved_plan() {
    let emu = start(consistent_config(12, 1)).await;
    control_put(&emu, "permissions", json!({ "permissions": PERMISSIONS })).await;
    let mut h = Harness::new(&emu, cuc(spec(json!({"requireApproval": true}))));
    h.approve = false;

    // Unapproved: the plan is in status and in the message, nothing is written.
    h.pass().await.unwrap();
    assert_eq!(stalled(&h).as_deref(), Some("ApprovalRequired"));
    let digest = h.status().plan.expect("status.plan").digest;
    assert!(digest.starts_with("convert:users="), "{digest}");
    assert!(h.message(cond::STALLED).contains(&digest));
    assert_eq!(accepted_writes(&emu).await, 0);
    assert!(h.journal_entries().is_empty(), "nothing journaled");

    // A user leaves the selection (out of sync scope, soft-deleted) before the approval
    // lands: the approved plan no longer matches, nothing is written.
    let approved = digest.clone();
    let leaving = users(&emu)
        .await
        .into_iter()
        .find(|u| {
            u["kind"] == "synced"
                && u["userPrincipalName"]
                    .as_str()
                    .unwrap_or_default()
                    .ends_with("@contoso.com")
        })
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    control_post(
        &emu,
        &format!("users/{leaving}/scope"),
        json!({"inScope": false}),
    )
    .await;
    control_post(&emu, "sync/cycle", json!({})).await;
    h.obj = cuc(spec(
        json!({"requireApproval": true, "approvedPlan": approved}),
    ));
    h.obj.metadata.generation = Some(2);
    h.pass().await.unwrap();
    assert_eq!(stalled(&h).as_deref(), Some("PlanChanged"));
    let msg = h.message(cond::STALLED);
    assert!(msg.contains("1 objects differ"), "{msg}");
    let now = h.status().plan.unwrap().digest;
    assert_ne!(now, approved);
    assert!(msg.contains(&now), "the message offers the new plan: {msg}");
    assert_eq!(accepted_writes(&emu).await, 0);

    // A tolerance of one object accepts the difference; the approved plan carries the
    // rollout (canary, then a wave) to the end.
    h.obj = cuc(spec(json!({"approvedPlan": approved, "planTolerance": 1})));
    h.obj.metadata.generation = Some(3);
    h.until(20, |s| cond::is_true(&s.conditions, cond::READY))
        .await;
    assert_eq!(h.reason(cond::READY).as_deref(), Some("Converted"));
    assert!(accepted_writes(&emu).await > 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_approved_plan_of_the_wrong_kind_or_shape_is_an_invalid_spec() {
    let emu = start(consistent_config(4, 1)).await;
    control_put(&emu, "permissions", json!({ "permissions": PERMISSIONS })).await;
    let mut h = Harness::new(
        &emu,
        cuc(spec(
            json!({"approvedPlan": "convert:groups=3:0123456789abcdef"}),
        )),
    );
    h.approve = false;
    h.pass().await.unwrap();
    assert_eq!(stalled(&h).as_deref(), Some("InvalidSpec"));
    let msg = h.message(cond::STALLED);
    assert!(
        msg.contains("spec.approvedPlan") && msg.contains("for groups"),
        "{msg}"
    );
    assert_eq!(accepted_writes(&emu).await, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_group_conversion_can_require_approval_too() {
    let emu = start(consistent_config(6, 3)).await;
    control_put(&emu, "permissions", json!({ "permissions": PERMISSIONS })).await;
    let synced: Vec<String> = control_get(&emu, "groups").await["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["kind"] == "synced")
        .filter_map(|g| g["id"].as_str().map(str::to_string))
        .take(2)
        .collect();
    assert_eq!(synced.len(), 2);
    let cgc: CloudGroupConversion = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudGroupConversion",
        "metadata": {"name": "approved-groups", "namespace": "identity", "generation": 1},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "requireApproval": true,
                 "selector": {"groupIds": synced},
                 "rollout": {"canary": 0, "waveSize": 10, "pauseBetweenWaves": "0s"}}
    }))
    .unwrap();
    let mut h = Harness::new(&emu, cgc);
    h.approve = false;
    h.pass().await.unwrap();
    assert_eq!(h.reason(cond::STALLED).as_deref(), Some("ApprovalRequired"));
    let digest = h.status().plan.unwrap().digest;
    assert!(digest.starts_with("convert:groups="), "{digest}");
    assert_eq!(accepted_writes(&emu).await, 0);
    // Approved as a person would (the harness copies status.plan into spec.approvedPlan).
    h.approve = true;
    h.until(20, |s| cond::is_true(&s.conditions, cond::READY))
        .await;
    assert_eq!(h.reason(cond::READY).as_deref(), Some("Converted"));
    let st = h.status();
    assert_eq!(
        st.converted,
        st.plan.unwrap().objects,
        "every group of the plan"
    );
    emu.shutdown().await;
}
