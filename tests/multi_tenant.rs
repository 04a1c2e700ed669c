//! Many tenants on one operator: one controller (on the Kubernetes API stand-in) guards
//! TenantSyncPolicies of several tenants served by one emulator process; one tenant throttled
//! hard leaves the others' guard passes going.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_apiserver;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::*;
use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::controller::{self, ControllerOptions, JournalStore, Metrics};
use entra_cloud_operator::emulator::{Emulator, EmulatorConfig, tenants};
use fake_apiserver::FakeApiServer;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const TENANTS: usize = 5;

async fn tenant_get(emu: &Emulator, tenant: &str, path: &str) -> Value {
    reqwest::get(format!("{}/_emulator/tenants/{tenant}/{path}", emu.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Graph requests each tenant was answered so far, and those refused by an injected fault.
async fn served(emu: &Emulator, ids: &[String]) -> Vec<(u64, u64)> {
    let mut all = Vec::new();
    for id in ids {
        let s = tenant_get(emu, id, "state").await;
        let n = |k: &str| s["requests"][k].as_u64().unwrap();
        all.push((n("total") - n("faulted"), n("faulted")));
    }
    all
}

fn ready(obj: &Value) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

#[tokio::test]
async fn one_controller_guards_many_tenants_and_a_throttled_one_does_not_hold_the_others() {
    let base = EmulatorConfig {
        time_scale: 600.0,
        ..consistent_config(20, 2)
    };
    let emu = Emulator::start_tenants(
        tenants::configs(base, TENANTS),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let ids: Vec<String> = (1..=TENANTS)
        .map(|n| tenants::tenant_id(TENANT, n))
        .collect();
    let listed: Value = reqwest::get(format!("{}/_emulator/tenants", emu.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["tenants"], json!(ids));

    let api_server = FakeApiServer::start().await;
    let client = api_server.client();
    api_server.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": "msp"},
               "stringData": {"clientSecret": SECRET}}),
    );
    // All in one namespace: fairness must hold between tenants, not only between namespaces.
    let api: Api<TenantSyncPolicy> = Api::namespaced(client.clone(), "msp");
    for (n, id) in ids.iter().enumerate() {
        let mut tsp = policy("Unmanaged", false, "Report");
        tsp.metadata.name = Some(format!("tenant-{}", n + 1));
        tsp.metadata.namespace = Some("msp".into());
        tsp.metadata.generation = None;
        tsp.spec.tenant_id = id.clone();
        tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
            graph: Some(emu.url()),
            login: Some(emu.url()),
            ..Default::default()
        });
        api.create(&PostParams::default(), &tsp).await.unwrap();
    }
    let options = ControllerOptions {
        namespaces: vec![],
        journal: JournalStore::ConfigMaps("operator".into()),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 4,
        // Three: the namespace's share is two, a tenant's one (fairness.rs).
        workers: 3,
        time_scale: 600.0,
        lease: None,
        instance: Some("t".into()),
        security: entra_cloud_operator::controller::Security {
            allow_endpoint_override: true,
            ..Default::default()
        },
    };
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(
        controller::prepare(client.clone(), options, metrics)
            .await
            .unwrap(),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller::run_with(
        ctx.clone(),
        Arc::new(AtomicBool::new(false)),
        async move {
            let _ = stop_rx.await;
        },
    ));

    for n in 1..=TENANTS {
        let name = format!("tenant-{n}");
        api_server
            .wait_for("tenantsyncpolicies", "msp", &name, ready, WAIT)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{name} not Ready: {:#?}",
                    api_server.get("tenantsyncpolicies", "msp", &name)
                )
            });
    }
    // Guarded: every policy follows its tenant's delta links; each tenant issued its own token
    // and served its own requests.
    let deadline = tokio::time::Instant::now() + WAIT;
    while ctx.held().guard_links < TENANTS && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ctx.held().guard_links, TENANTS, "{:?}", ctx.held());
    assert_eq!(ctx.held().graph_clients, TENANTS);
    for id in &ids {
        let s = tenant_get(&emu, id, "state").await;
        assert!(s["tokens"]["issued"].as_u64().unwrap() >= 1, "{id}: {s}");
        assert!(s["requests"]["total"].as_u64().unwrap() >= 3, "{id}: {s}");
    }

    // Every Graph request of the first tenant now answers 429 (Retry-After 1 s).
    let r = reqwest::Client::new()
        .post(format!("{}/_emulator/tenants/{}/faults", emu.url(), ids[0]))
        .json(&json!({"status": 429, "rate": 1.0, "retryAfter": 1.0}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let before = served(&emu, &ids).await;
    // While it is refused REFUSED requests (several of its passes, each retrying after every
    // Retry-After), each other tenant is served at least GUARDED requests: a guard pass of an
    // unchanged tenant reads the organization and one page of each delta round, so that is
    // at least a few guard passes each.
    const REFUSED: u64 = 8;
    const GUARDED: u64 = 9;
    let deadline = tokio::time::Instant::now() + WAIT;
    let after = loop {
        let now = served(&emu, &ids).await;
        if now[0].1 >= before[0].1 + REFUSED || tokio::time::Instant::now() >= deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        after[0].1 >= before[0].1 + REFUSED,
        "the throttled tenant was asked {} times",
        after[0].1 - before[0].1
    );
    for (n, (b, a)) in before.iter().zip(&after).enumerate().skip(1) {
        eprintln!("tenant {}: served {} requests meanwhile", n + 1, a.0 - b.0);
        assert!(
            a.0 >= b.0 + GUARDED,
            "tenant {} was served {} requests while tenant 1 was refused {}",
            n + 1,
            a.0 - b.0,
            after[0].1 - before[0].1
        );
    }

    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    api_server.shutdown().await;
    emu.shutdown().await;
}
