//! The full loop against a real cluster (kind, k3d, …): `make e2e` with KUBECONFIG set.
//! Installs the CRDs, runs the controller in-process against the cluster's API server and the
//! in-process Graph emulator, and checks Ready, then DriftDetected. Ignored by `make test`
//! (no cluster can be had on the build machines).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::*;
use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::controller::{
    self, ControllerOptions, JournalStore, LeaseOptions, Metrics,
};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

async fn wait_for(
    api: &Api<TenantSyncPolicy>,
    name: &str,
    what: &str,
    ok: impl Fn(&TenantSyncPolicy) -> bool,
) -> TenantSyncPolicy {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let obj = api.get(name).await.unwrap();
        if ok(&obj) {
            return obj;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not reached: {:#?}",
            obj.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
#[ignore = "needs cluster"]
async fn cluster_create_ready_then_drift() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "set KUBECONFIG to a disposable cluster (kind, k3d)"
    );
    let client = Client::try_default().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in entra_cloud_operator::api::crds() {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(
            &name,
            &PatchParams::apply("entra-cloud-operator-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    }
    // Wait until every CRD is Established (served).
    for crd in entra_cloud_operator::api::crds() {
        let name = crd.metadata.name.clone().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = crds.get(&name).await.unwrap();
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(Instant::now() < deadline, "CRD {name} not Established");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    let ns = format!("eco-e2e-{:08x}", fastrand::u32(..));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();

    let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
        time_scale: 3600.0,
        propagation: Duration::from_secs(1800),
        ..config(100, 5)
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "graph-credentials"}, "stringData": {"clientSecret": SECRET}})).unwrap(),
        )
        .await
        .unwrap();
    let api: Api<TenantSyncPolicy> = Api::namespaced(client.clone(), &ns);
    let mut tsp = policy("Disabled", true, "Report");
    // The disable's plan, approved (as a person would after reading `plan`).
    tsp.spec.approved_plan = Some(approved_plan(&emu).await);
    tsp.metadata.namespace = Some(ns.clone());
    tsp.metadata.generation = None;
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(emu.url()),
        login: Some(emu.url()),
        ..Default::default()
    });
    api.create(&PostParams::default(), &tsp).await.unwrap();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller::run(
        client.clone(),
        ControllerOptions {
            namespaces: vec![ns.clone()],
            journal: JournalStore::ConfigMaps(ns.clone()),
            journal_key_secret: "entra-cloud-operator-journal-key".into(),
            concurrency: 8,
            workers: 1,
            time_scale: 3600.0,
            lease: Some(LeaseOptions {
                name: "entra-cloud-operator".into(),
                namespace: ns.clone(),
                identity: "e2e".into(),
                duration_s: 15,
            }),
            instance: Some("e2e".into()),
            // The emulator is an endpoint override.
            security: entra_cloud_operator::controller::Security {
                allow_endpoint_override: true,
                ..Default::default()
            },
        },
        Arc::new(Metrics::default()),
        Arc::new(AtomicBool::new(false)),
        async move {
            let _ = stopped.await;
        },
    ));

    let ready = wait_for(&api, "contoso", "Ready", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| cond::is_true(&s.conditions, cond::READY))
    })
    .await;
    assert_eq!(ready.status.unwrap().immutable_ids.unwrap().cleared, 100);
    control_post(&emu, "sync/enable", json!({})).await;
    wait_for(&api, "contoso", "DriftDetected", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| cond::is_true(&s.conditions, cond::DRIFT_DETECTED))
    })
    .await;

    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    emu.shutdown().await;
}
