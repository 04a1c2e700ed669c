//! Approval through the CRDs: the controller against the Kubernetes API stand-in, driving the
//! Graph emulator. A tenant-wide disable and a conversion under `spec.requireApproval` stall
//! `ApprovalRequired` with nothing written to Graph; the person approving copies
//! `status.plan.digest` into `spec.approvedPlan` (an edit of the resource, a new generation),
//! and the operator proceeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_apiserver;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::*;
use entra_cloud_operator::api::{CloudUserConversion, TenantSyncPolicy};
use entra_cloud_operator::controller::{self, ControllerOptions, JournalStore, Metrics};
use entra_cloud_operator::emulator::Emulator;
use fake_apiserver::FakeApiServer;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn condition(obj: &Value, t: &str) -> Option<Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
        .cloned()
}

fn stalled_for(obj: &Value, reason: &str) -> bool {
    condition(obj, "Stalled").is_some_and(|c| c["status"] == "True" && c["reason"] == reason)
}

fn ready(obj: &Value) -> bool {
    condition(obj, "Ready").is_some_and(|c| c["status"] == "True")
}

/// The stand-in with the credentials Secret and a policy (`directory_sync`) pointing at `emu`.
async fn cluster(emu: &Emulator, directory_sync: &str) -> FakeApiServer {
    let api_server = FakeApiServer::start().await;
    api_server.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": "identity"},
               "stringData": {"clientSecret": SECRET}}),
    );
    let mut tsp = policy(directory_sync, false, "Report");
    tsp.metadata.generation = None;
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(emu.url()),
        login: Some(emu.url()),
        ..Default::default()
    });
    Api::<TenantSyncPolicy>::namespaced(api_server.client(), "identity")
        .create(&PostParams::default(), &tsp)
        .await
        .unwrap();
    api_server
}

/// The controller on `api_server`; stopped by the sender.
fn controller(
    api_server: &FakeApiServer,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = ControllerOptions {
        namespaces: vec!["identity".into()],
        journal: JournalStore::ConfigMaps("operator".into()),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 4,
        workers: 2,
        time_scale: 3600.0,
        lease: None,
        instance: Some("t".into()),
        // The emulator is an endpoint override.
        security: entra_cloud_operator::controller::Security {
            allow_endpoint_override: true,
            ..Default::default()
        },
    };
    let run = tokio::spawn(controller::run(
        api_server.client(),
        options,
        Arc::new(Metrics::default()),
        Arc::new(AtomicBool::new(false)),
        async move {
            let _ = stop_rx.await;
        },
    ));
    (stop_tx, run)
}

/// `spec.approvedPlan` set to the digest the status asks for, as a reviewer's merge would.
async fn approve<K>(api: &Api<K>, obj: &Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let digest = obj["status"]["plan"]["digest"]
        .as_str()
        .expect("status.plan.digest");
    api.patch(
        obj["metadata"]["name"].as_str().unwrap(),
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"approvedPlan": digest}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_tenant_wide_disable_waits_for_approval_through_the_crd() {
    let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
        time_scale: 3600.0,
        propagation: Duration::from_secs(1800),
        ..consistent_config(20, 2)
    })
    .await;
    let api_server = cluster(&emu, "Disabled").await;
    let (stop, run) = controller(&api_server);

    let waiting = api_server
        .wait_for(
            "tenantsyncpolicies",
            "identity",
            "contoso",
            |o| stalled_for(o, "ApprovalRequired"),
            WAIT,
        )
        .await
        .unwrap_or_else(|| {
            panic!(
                "{:#?}",
                api_server.get("tenantsyncpolicies", "identity", "contoso")
            )
        });
    let digest = waiting["status"]["plan"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(digest.starts_with("disable:users="), "{digest}");
    assert!(
        condition(&waiting, "Stalled").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains(&digest)
    );
    assert!(condition(&waiting, "Ready").is_some_and(|c| c["status"] == "False"));
    let s = state(&emu).await;
    assert_eq!(
        s["writes"]["accepted"], 0,
        "no PATCH of the organization: {s}"
    );

    let api: Api<TenantSyncPolicy> = Api::namespaced(api_server.client(), "identity");
    approve(&api, &waiting).await;
    let done = api_server
        .wait_for("tenantsyncpolicies", "identity", "contoso", ready, WAIT)
        .await
        .unwrap_or_else(|| {
            panic!(
                "{:#?}",
                api_server.get("tenantsyncpolicies", "identity", "contoso")
            )
        });
    assert_eq!(done["status"]["syncState"], "Disabled");
    assert_eq!(
        done["status"]["observedGeneration"], 2,
        "the approval was a new generation"
    );
    let reasons: Vec<String> = api_server
        .objects("events")
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    for r in ["ApprovalRequired", "DisableRequested"] {
        assert!(
            reasons.iter().any(|x| x == r),
            "no {r} event in {reasons:?}"
        );
    }

    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    api_server.shutdown().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_conversion_requiring_approval_converts_once_approved_through_the_crd() {
    let emu = start(consistent_config(8, 1)).await;
    control_put(
        &emu,
        "permissions",
        json!({"permissions": [
        "Organization.Read.All", "User.ReadWrite.All", "Group.Read.All", "GroupMember.Read.All",
        "User-OnPremisesSyncBehavior.ReadWrite.All"]}),
    )
    .await;
    let api_server = cluster(&emu, "Unmanaged").await;
    let cuc: CloudUserConversion = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave", "namespace": "identity"},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "requireApproval": true,
                 "selector": {"domains": ["contoso.com"]},
                 "rollout": {"maxObjects": 100, "pauseBetweenWaves": "0s"}}
    }))
    .unwrap();
    let cucs: Api<CloudUserConversion> = Api::namespaced(api_server.client(), "identity");
    cucs.create(&PostParams::default(), &cuc).await.unwrap();
    let (stop, run) = controller(&api_server);

    let waiting = api_server
        .wait_for(
            "clouduserconversions",
            "identity",
            "wave",
            |o| stalled_for(o, "ApprovalRequired"),
            WAIT,
        )
        .await
        .unwrap_or_else(|| {
            panic!(
                "{:#?}",
                api_server.get("clouduserconversions", "identity", "wave")
            )
        });
    assert!(
        waiting["status"]["plan"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("convert:users=")
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    approve(&cucs, &waiting).await;
    let done = api_server
        .wait_for(
            "clouduserconversions",
            "identity",
            "wave",
            |o| ready(o) && condition(o, "Ready").unwrap()["reason"] == "Converted",
            WAIT,
        )
        .await
        .unwrap_or_else(|| {
            panic!(
                "{:#?}",
                api_server.get("clouduserconversions", "identity", "wave")
            )
        });
    assert_eq!(
        done["status"]["converted"],
        done["status"]["plan"]["objects"]
    );
    assert!(state(&emu).await["writes"]["accepted"].as_i64().unwrap() > 0);

    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    api_server.shutdown().await;
    emu.shutdown().await;
}
