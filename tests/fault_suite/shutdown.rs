//! The controller's shutdown with a wave in flight: it stops within the pod's grace period (the
//! chart's 30 s), abandoning what the drain period did not finish, releases its Lease, and the
//! next leader settles the open intents from the cluster journal and converts everyone once.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use entra_cloud_operator::api::{CloudUserConversion, TenantSyncPolicy};
use entra_cloud_operator::controller::{
    self, ControllerOptions, DRAIN_TIMEOUT, JournalStore, LeaseOptions, Metrics,
};
use entra_cloud_operator::journal::{Action, ConfigMapJournal, Entry, Phase, ResourceKey};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use crate::common::*;
use crate::fake_apiserver::FakeApiServer;

/// The chart's `terminationGracePeriodSeconds`.
const GRACE: Duration = Duration::from_secs(30);

fn options(id: &str) -> ControllerOptions {
    ControllerOptions {
        namespaces: vec!["identity".into()],
        journal: JournalStore::ConfigMaps("operator".into()),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 1,
        workers: 2,
        time_scale: 1.0,
        lease: Some(LeaseOptions {
            name: "eco".into(),
            namespace: "operator".into(),
            identity: id.into(),
            duration_s: 15,
        }),
        instance: Some(id.into()),
        // The emulator is an endpoint override.
        security: entra_cloud_operator::controller::Security {
            allow_endpoint_override: true,
            ..Default::default()
        },
    }
}

fn start_controller(
    api: &FakeApiServer,
    id: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller::run(
        api.client(),
        options(id),
        Arc::new(Metrics::default()),
        Arc::new(AtomicBool::new(false)),
        async move {
            let _ = rx.await;
        },
    ));
    (tx, run)
}

async fn journal(api: &FakeApiServer) -> Vec<Entry> {
    ConfigMapJournal::new(
        api.client(),
        "operator",
        ResourceKey {
            kind: "CloudUserConversion".into(),
            namespace: "identity".into(),
            name: "wave".into(),
        },
        Some(entra_cloud_operator::journal::SecretKey {
            key: entra_cloud_operator::journal::read_key_secret(
                api.client(),
                "operator",
                "entra-cloud-operator-journal-key",
            )
            .await
            .unwrap()
            .expect("the operator created its journal key Secret"),
            secret: "entra-cloud-operator-journal-key".into(),
        }),
    )
    .entries()
    .await
    .unwrap()
}

fn open_intents(entries: &[Entry]) -> usize {
    let mut open = std::collections::BTreeMap::new();
    for e in entries {
        let r = &e.record;
        open.insert((r.object_id.clone(), r.action), r.phase == Phase::Intent);
    }
    open.values().filter(|o| **o).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_stops_within_the_grace_period_with_a_wave_in_flight() {
    let emu = start(config(100, 2)).await;
    // Every write (JSON batches included) takes 2 s: a wave of 100 users, one batch at a time,
    // lasts about 30 s, longer than the drain period.
    control_put(&emu, "latency", json!({"latency": "write=2s"})).await;
    let api = FakeApiServer::start().await;
    api.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": "identity"},
               "stringData": {"clientSecret": SECRET}}),
    );
    let mut tsp = policy("Unmanaged", false, "Report");
    tsp.metadata.generation = None;
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(emu.url()),
        login: Some(emu.url()),
        ..Default::default()
    });
    Api::<TenantSyncPolicy>::namespaced(api.client(), "identity")
        .create(&PostParams::default(), &tsp)
        .await
        .unwrap();
    let cuc: CloudUserConversion = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave", "namespace": "identity"},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true,
                 "selector": {"domains": ["contoso.com"]},
                 "rollout": {"maxObjects": 1000, "canary": 0, "waveSize": 100}}
    }))
    .unwrap();
    Api::<CloudUserConversion>::namespaced(api.client(), "identity")
        .create(&PostParams::default(), &cuc)
        .await
        .unwrap();

    let (stop, run) = start_controller(&api, "a");
    // The wave's intents are in the cluster journal: its writes are going out.
    let mut started = false;
    for _ in 0..1200 {
        if api.objects("configmaps").iter().any(|cm| {
            cm["data"].as_object().is_some_and(|d| {
                d.values()
                    .any(|v| v.as_str().is_some_and(|s| s.contains("\"Intent\"")))
            })
        }) {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started, "a wave started");
    stop.send(()).unwrap();
    tokio::time::timeout(GRACE, run)
        .await
        .expect("the controller exits within the grace period")
        .unwrap()
        .unwrap();
    let lease = api.get("leases", "operator", "eco").unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
    let open = open_intents(&journal(&api).await);
    assert!(
        open > 0,
        "the wave outlasted the drain period ({DRAIN_TIMEOUT:?}) and was abandoned"
    );

    // The next leader settles the open intents by reading back, then converts the rest.
    control_put(&emu, "latency", json!({"latency": "0"})).await;
    let (stop, run) = start_controller(&api, "b");
    api.wait_for(
        "clouduserconversions",
        "identity",
        "wave",
        |o| {
            o.pointer("/status/conditions")
                .and_then(|c| c.as_array())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        },
        Duration::from_secs(60),
    )
    .await
    .expect("Ready after the restart");
    stop.send(()).unwrap();
    tokio::time::timeout(GRACE, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let entries = journal(&api).await;
    assert_eq!(open_intents(&entries), 0);
    assert!(entries.iter().any(|e| e.record.note.is_some()), "read back");
    for u in users(&emu).await.iter().filter(|u| u["kind"] == "synced") {
        assert_eq!(u["isCloudManaged"], true, "{u}");
        assert_eq!(u["writeCounts"]["soaChanges"], 1, "{u}");
        let applied = |a: Action| {
            entries
                .iter()
                .filter(|e| {
                    e.record.object_id == u["id"]
                        && e.record.action == a
                        && e.record.phase == Phase::Applied
                })
                .count()
        };
        assert_eq!(applied(Action::SwitchToCloud), 1, "{u}");
        assert_eq!(applied(Action::ClearImmutableId), 1, "{u}");
    }
    api.shutdown().await;
    emu.shutdown().await;
}
