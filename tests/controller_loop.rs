//! The whole loop without a cluster: the controller (with leader election) against a stateful
//! Kubernetes API stand-in, driving the Graph emulator. Create a TenantSyncPolicy → Ready →
//! drift injected in the emulator → DriftDetected; the journal lands in ConfigMaps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_apiserver;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::controller::{
    self, ControllerOptions, JournalStore, LeaseOptions, Metrics,
};
use entra_cloud_operator::graph::pacing;
use entra_cloud_operator::journal::{
    Action as JournalAction, ConfigMapJournal, Phase, ResourceKey,
};
use fake_apiserver::FakeApiServer;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn condition(obj: &Value, t: &str) -> Option<Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
        .cloned()
}

fn is(obj: &Value, t: &str, status: &str) -> bool {
    condition(obj, t).is_some_and(|c| c["status"] == status)
}

#[tokio::test]
async fn create_then_ready_then_drift_detected() {
    let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
        time_scale: 3600.0,
        propagation: Duration::from_secs(1800),
        ..config(60, 4)
    })
    .await;
    let api_server = FakeApiServer::start().await;
    let client = api_server.client();

    api_server.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": "identity"},
               "stringData": {"clientSecret": SECRET}}),
    );
    let mut tsp = policy("Disabled", true, "Report");
    // The disable's plan, approved (as a person would after reading `plan`).
    tsp.spec.approved_plan = Some(approved_plan(&emu).await);
    tsp.metadata.generation = None;
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(emu.url()),
        login: Some(emu.url()),
        ..Default::default()
    });
    let api: Api<TenantSyncPolicy> = Api::namespaced(client.clone(), "identity");
    api.create(&PostParams::default(), &tsp).await.unwrap();

    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = ControllerOptions {
        namespaces: vec![],
        journal: JournalStore::ConfigMaps("operator".into()),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 8,
        workers: 2,
        time_scale: 3600.0,
        lease: Some(LeaseOptions {
            name: "entra-cloud-operator".into(),
            namespace: "operator".into(),
            identity: "replica-a".into(),
            duration_s: 15,
        }),
        instance: Some("replica-a".into()),
        // The emulator is an endpoint override.
        security: entra_cloud_operator::controller::Security {
            allow_endpoint_override: true,
            ..Default::default()
        },
    };
    let run = tokio::spawn(controller::run(
        client.clone(),
        options,
        metrics.clone(),
        ready.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));

    // Ready: every object converted, every ImmutableID cleared.
    let done = api_server
        .wait_for(
            "tenantsyncpolicies",
            "identity",
            "contoso",
            |o| is(o, "Ready", "True"),
            WAIT,
        )
        .await
        .unwrap_or_else(|| {
            panic!(
                "not Ready: {:#?}",
                api_server.get("tenantsyncpolicies", "identity", "contoso")
            )
        });
    assert!(ready.load(Ordering::Relaxed));
    assert_eq!(done["status"]["observedGeneration"], 1);
    assert_eq!(done["status"]["syncState"], "Disabled");
    assert_eq!(done["status"]["immutableIds"]["cleared"], 60);
    assert!(condition(&done, "Reconciling").is_none());
    let s = state(&emu).await;
    assert_eq!(s["users"]["withImmutableId"], 0);
    assert_eq!(s["writes"]["refused"], 0);

    // Leader election: this replica holds the Lease.
    let lease = api_server
        .get("leases", "operator", "entra-cloud-operator")
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    assert!(metrics.encode().contains("entra_cloud_operator_leader 1"));

    // Events were published for the transitions.
    let reasons: Vec<String> = api_server
        .objects("events")
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    for r in ["DisableRequested", "Converged", "ImmutableIdsCleared"] {
        assert!(
            reasons.iter().any(|x| x == r),
            "no {r} event in {reasons:?}"
        );
    }

    // The journal is in ConfigMaps of the operator's namespace, chained and complete.
    let journal = ConfigMapJournal::new(
        client.clone(),
        "operator",
        ResourceKey {
            kind: "TenantSyncPolicy".into(),
            namespace: "identity".into(),
            name: "contoso".into(),
        },
        Some(operator_key(&client, "operator").await),
    );
    let entries = journal.entries().await.unwrap();
    let intents = entries
        .iter()
        .filter(|e| {
            e.record.action == JournalAction::ClearImmutableId && e.record.phase == Phase::Intent
        })
        .count();
    assert_eq!(intents, 60);
    // Its head is kept in the journal key Secret (once per pass), and the chain verifies.
    let report = journal.verify().await.unwrap();
    assert!(report.head_kept.is_some_and(|n| n > 0), "{report:?}");
    assert_eq!(report.legacy, 0);
    assert!(
        api_server
            .objects("configmaps")
            .iter()
            .all(|cm| cm["metadata"]["namespace"] == "operator")
    );

    // Idle guard passes read Graph but write no status.
    let status_writes = |api: &FakeApiServer| {
        api.requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with("/contoso/status"))
            .count()
    };
    let writes_before = status_writes(&api_server);
    let counters = |m: &Metrics| -> Vec<String> {
        m.encode()
            .lines()
            .filter(|l| l.starts_with("entra_cloud_operator_objects_"))
            .map(str::to_string)
            .collect()
    };
    let counted = counters(&metrics);
    assert!(
        counted.iter().any(|l| l.starts_with(
            "entra_cloud_operator_objects_converted_total{kind=\"TenantSyncPolicy\"} 60"
        )),
        "{counted:?}"
    );
    let org_reads = |s: &Value| s["requests"]["byStatus"]["200"].as_u64().unwrap_or(0);
    let reads_before = org_reads(&state(&emu).await);
    for _ in 0..200 {
        if org_reads(&state(&emu).await) > reads_before + 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        org_reads(&state(&emu).await) > reads_before + 20,
        "guard passes continue"
    );
    assert_eq!(
        status_writes(&api_server),
        writes_before,
        "an unchanged status is not written"
    );
    assert_eq!(
        counters(&metrics),
        counted,
        "guard passes that change nothing count nothing"
    );
    let text = metrics.encode();
    for needle in [
        "entra_cloud_operator_objects{kind=\"TenantSyncPolicy\",resource_namespace=\"identity\",resource_name=\"contoso\",state=\"converted\"} 64",
        "entra_cloud_operator_objects{kind=\"TenantSyncPolicy\",resource_namespace=\"identity\",resource_name=\"contoso\",state=\"pending\"} 0",
        "entra_cloud_operator_build_info{version=",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }

    // Drift: an admin re-enables directory sync.
    control_post(&emu, "sync/enable", json!({})).await;
    let drifted = api_server
        .wait_for(
            "tenantsyncpolicies",
            "identity",
            "contoso",
            |o| is(o, "DriftDetected", "True"),
            WAIT,
        )
        .await
        .expect("DriftDetected");
    assert_eq!(
        condition(&drifted, "DriftDetected").unwrap()["reason"],
        "SyncReEnabled"
    );
    assert!(is(&drifted, "Stalled", "True"));
    for obj in [&done, &drifted] {
        let st: entra_cloud_operator::api::TenantSyncPolicyStatus =
            serde_json::from_value(obj["status"].clone()).unwrap();
        entra_cloud_operator::api::conditions::check_kstatus(
            &st.conditions,
            st.observed_generation,
            obj["metadata"]["generation"].as_i64(),
        )
        .unwrap_or_else(|e| panic!("kstatus: {e}"));
    }
    assert!(metrics.encode().contains(
        "entra_cloud_operator_drift_detected{kind=\"TenantSyncPolicy\",resource_namespace=\"identity\",resource_name=\"contoso\"} 1"
    ));

    // Graceful shutdown releases the Lease.
    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let lease = api_server
        .get("leases", "operator", "entra-cloud-operator")
        .unwrap();
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "lease released: {lease}"
    );
    api_server.shutdown().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_second_replica_stands_by_while_the_first_leads() {
    let api_server = FakeApiServer::start().await;
    let options = |id: &str| ControllerOptions {
        namespaces: vec!["identity".into()],
        journal: JournalStore::ConfigMaps("operator".into()),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 1,
        workers: 1,
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
    };
    let (m1, m2) = (Arc::new(Metrics::default()), Arc::new(Metrics::default()));
    let (r1, r2) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (s1, rx1) = tokio::sync::oneshot::channel::<()>();
    let (s2, rx2) = tokio::sync::oneshot::channel::<()>();
    let a = tokio::spawn(controller::run(
        api_server.client(),
        options("a"),
        m1.clone(),
        r1.clone(),
        async move {
            let _ = rx1.await;
        },
    ));
    api_server
        .wait_for(
            "leases",
            "operator",
            "eco",
            |l| l["spec"]["holderIdentity"] == "a",
            WAIT,
        )
        .await
        .expect("a leads");
    let b = tokio::spawn(controller::run(
        api_server.client(),
        options("b"),
        m2.clone(),
        r2.clone(),
        async move {
            let _ = rx2.await;
        },
    ));
    // b is up (ready) but standing by.
    for _ in 0..400 {
        if r2.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(r2.load(Ordering::Relaxed), "b starts");
    assert!(m2.encode().contains("entra_cloud_operator_leader 0"));
    assert!(m1.encode().contains("entra_cloud_operator_leader 1"));
    // a stops and releases: b takes over.
    s1.send(()).unwrap();
    tokio::time::timeout(WAIT, a)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    api_server
        .wait_for(
            "leases",
            "operator",
            "eco",
            |l| l["spec"]["holderIdentity"] == "b",
            WAIT,
        )
        .await
        .expect("b takes over after a releases");
    s2.send(()).unwrap();
    tokio::time::timeout(WAIT, b)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    api_server.shutdown().await;
}

#[tokio::test]
async fn a_user_conversion_with_on_delete_revert_is_undone_when_deleted() {
    use entra_cloud_operator::api::CloudUserConversion;
    use kube::api::DeleteParams;
    let emu = start(config(8, 1)).await;
    control_put(
        &emu,
        "permissions",
        json!({"permissions": [
        "Organization.Read.All", "User.ReadWrite.All", "Group.Read.All", "GroupMember.Read.All",
        "User-OnPremisesSyncBehavior.ReadWrite.All"]}),
    )
    .await;
    let api_server = FakeApiServer::start().await;
    let client = api_server.client();
    api_server.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "graph-credentials", "namespace": "identity"},
               "stringData": {"clientSecret": SECRET}}),
    );
    let mut tsp = policy("Unmanaged", false, "Report");
    tsp.metadata.generation = None;
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(emu.url()),
        login: Some(emu.url()),
        ..Default::default()
    });
    Api::<TenantSyncPolicy>::namespaced(client.clone(), "identity")
        .create(&PostParams::default(), &tsp)
        .await
        .unwrap();
    let cuc: CloudUserConversion = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave", "namespace": "identity"},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "onDelete": "Revert",
                 "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}}
    }))
    .unwrap();
    let cucs: Api<CloudUserConversion> = Api::namespaced(client.clone(), "identity");
    cucs.create(&PostParams::default(), &cuc).await.unwrap();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = ControllerOptions {
        namespaces: vec!["identity".into()],
        journal: JournalStore::ConfigMaps("operator".into()),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 4,
        workers: 2,
        time_scale: 600.0,
        lease: None,
        instance: Some("t".into()),
        // The emulator is an endpoint override.
        security: entra_cloud_operator::controller::Security {
            allow_endpoint_override: true,
            ..Default::default()
        },
    };
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(
        controller::prepare(client.clone(), options, metrics.clone())
            .await
            .unwrap(),
    );
    let run = tokio::spawn(controller::run_with(
        ctx.clone(),
        Arc::new(AtomicBool::new(false)),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let converted = api_server
        .wait_for(
            "clouduserconversions",
            "identity",
            "wave",
            |o| is(o, "Ready", "True"),
            WAIT,
        )
        .await
        .expect("converted");
    assert_eq!(
        converted["metadata"]["finalizers"],
        json!(["cloudidentity.dev/revert"])
    );
    assert_eq!(state(&emu).await["users"]["synced"], 0);

    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    cucs.delete("wave", &DeleteParams::default()).await.unwrap();
    assert!(
        api_server
            .wait_for_absent("clouduserconversions", "identity", "wave", WAIT)
            .await,
        "finalizer removed after the revert"
    );
    for u in users(&emu).await.iter().filter(|u| u["kind"] == "synced") {
        assert_eq!(u["isCloudManaged"], false, "{u}");
    }
    // The resource's series went with it; the policy's stay.
    let text = metrics.encode();
    assert!(!text.contains("resource_name=\"wave\""), "{text}");
    assert!(text.contains("resource_name=\"contoso\""), "{text}");
    assert!(
        api_server
            .objects("events")
            .iter()
            .any(|e| e["reason"] == "Reverted")
    );
    // What the controller keeps for the conversion went on the finalizer path; the policy's
    // client, pacer and journal stay while it exists.
    let service = emu.url().trim_end_matches('/').to_string();
    let held = ctx.held();
    assert_eq!((held.resources, held.journals), (1, 1), "{held:?}");
    assert_eq!(held.graph_clients, 1, "{held:?}");
    assert_eq!(pacing::live_for(&service), 1);
    // The policy goes without a finalizer: no pass sees it go; the sweep against the watch
    // caches frees its client, pacer, guard links, journal and series.
    Api::<TenantSyncPolicy>::namespaced(client.clone(), "identity")
        .delete("contoso", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while ctx.held().resources > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = ctx.held();
    let none = controller::Held {
        pacers: held.pacers,
        ..Default::default()
    };
    assert_eq!(held, none, "released");
    assert_eq!(pacing::live_for(&service), 0, "the tenant's pacer is freed");
    let text = metrics.encode();
    assert!(!text.contains("resource_name=\"contoso\""), "{text}");
    assert!(!text.contains(&format!("tenant=\"{TENANT}\"")), "{text}");
    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    api_server.shutdown().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn journal_export_reads_the_cluster_journal() {
    use entra_cloud_operator::journal::{Journal, Record};
    let api_server = FakeApiServer::start().await;
    let key = ResourceKey {
        kind: "CloudUserConversion".into(),
        namespace: "identity".into(),
        name: "finance-wave".into(),
    };
    let secret = controller::journal_key::load_or_create(
        &api_server.client(),
        "entra-system",
        "entra-cloud-operator-journal-key",
    )
    .await
    .unwrap();
    let journal = ConfigMapJournal::new(
        api_server.client(),
        "entra-system",
        key.clone(),
        Some(secret),
    );
    let record = |id: &str, phase| Record {
        resource: key.clone(),
        tenant_id: TENANT.into(),
        object_type: "user".into(),
        object_id: id.into(),
        object_name: Some(format!("{id}@contoso.com")),
        action: JournalAction::SwitchToCloud,
        phase,
        prior: json!({"isCloudManaged": false}),
        request_id: None,
        error: None,
        note: None,
    };
    journal
        .append(&[record("a", Phase::Intent), record("b", Phase::Intent)])
        .await
        .unwrap();
    journal
        .append(&[record("a", Phase::Applied), record("b", Phase::Applied)])
        .await
        .unwrap();

    let dir = temp_dir("kubeconfig");
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: '{}'}}}}]\nusers: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: fake, user: u}}}}]\ncurrent-context: c\n",
            api_server.url()
        ),
    )
    .unwrap();
    // The server runs on this test's runtime: wait for the CLI on a blocking thread.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_entra-cloud-operator"))
            .args([
                "journal",
                "export",
                "--resource",
                "CloudUserConversion/identity/finance-wave",
                "--journal-namespace",
                "entra-system",
                "--format",
                "csv",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(csv.lines().count(), 5, "header and four entries: {csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("1,"));
    assert!(csv.contains(",SwitchToCloud,Applied,"));
    api_server.shutdown().await;
}

/// The journal key the operator created in `namespace`.
async fn operator_key(
    client: &kube::Client,
    namespace: &str,
) -> entra_cloud_operator::journal::SecretKey {
    let name = "entra-cloud-operator-journal-key";
    let key = entra_cloud_operator::journal::read_key_secret(client.clone(), namespace, name)
        .await
        .unwrap()
        .expect("the operator created its journal key Secret");
    entra_cloud_operator::journal::SecretKey {
        key,
        secret: name.into(),
    }
}
