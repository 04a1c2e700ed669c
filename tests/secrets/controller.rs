//! The controller with its credentials in Kubernetes Secrets (`data`, base64, as a cluster
//! stores them): a tenant policy with a certificate (a `kubernetes.io/tls` Secret), one with a
//! client secret, one with a wrong client secret; a user and a group conversion on the
//! certificate, undone when deleted. Returns what the API server holds afterwards (Events,
//! statuses, journal ConfigMaps, the Lease) and the metrics, for the caller to search.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use entra_cloud_operator::controller::{self, ControllerOptions, JournalStore, LeaseOptions};
use serde_json::{Value, json};

use crate::common::*;
use crate::fake_apiserver::FakeApiServer;
use crate::{APP_CRT, APP_KEY, WRONG, tap};

const WAIT: Duration = Duration::from_secs(60);
const NS: &str = "identity";

fn secret(name: &str, type_: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(STANDARD.encode(v))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "type": type_,
           "metadata": {"name": name, "namespace": NS}, "data": data})
}

fn tenant(name: &str, credentials: Value, graph: &str, login: &str) -> Value {
    json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
           "metadata": {"name": name, "namespace": NS},
           "spec": {"tenantId": TENANT, "directorySync": "Unmanaged", "credentials": credentials,
                    "endpoints": {"graph": graph, "login": login}}})
}

fn is(o: &Value, t: &str) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c["type"] == t && c["status"] == "True"))
}

pub async fn run(seen: &tap::Seen) -> String {
    let emu = crate::flows::emulator().await;
    let login = tap::start(&emu.url(), seen.clone()).await;
    let api = FakeApiServer::start().await;
    api.put_object(
        "secrets",
        secret(
            "app-cert",
            "kubernetes.io/tls",
            &[("tls.crt", APP_CRT), ("tls.key", APP_KEY)],
        ),
    );
    api.put_object(
        "secrets",
        secret("graph-credentials", "Opaque", &[("clientSecret", SECRET)]),
    );
    api.put_object(
        "secrets",
        secret("wrong-credentials", "Opaque", &[("clientSecret", WRONG)]),
    );
    let cert = json!({"certificate": {"clientId": CLIENT, "secretRef": {"name": "app-cert"}}});
    let secret_ref = |name: &str| {
        json!({"clientSecret": {"clientId": CLIENT,
               "secretRef": {"name": name, "key": "clientSecret"}}})
    };
    let url = emu.url();
    for (name, creds) in [
        ("contoso", cert),
        ("contoso-secret", secret_ref("graph-credentials")),
        ("contoso-wrong", secret_ref("wrong-credentials")),
    ] {
        api.put_object("tenantsyncpolicies", tenant(name, creds, &url, &login));
    }
    let rollout = json!({"maxObjects": 100, "waveSize": 4});
    api.put_object(
        "clouduserconversions",
        json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
               "metadata": {"name": "wave", "namespace": NS},
               "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "onDelete": "Revert",
                        "clearImmutableId": true, "selector": {"domains": ["contoso.com"]},
                        "rollout": rollout}}),
    );
    api.put_object(
        "cloudgroupconversions",
        json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudGroupConversion",
               "metadata": {"name": "groups", "namespace": NS},
               "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "onDelete": "Revert",
                        "selector": {"filter": "startswith(displayName,'SG ')"},
                        "owners": ["admin@contoso.onmicrosoft.com"], "rollout": rollout}}),
    );

    let metrics = Arc::new(controller::Metrics::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = ControllerOptions {
        namespaces: vec![],
        journal: JournalStore::ConfigMaps("operator".into()),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 4,
        workers: 2,
        time_scale: 600.0,
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
        api.client(),
        options,
        metrics.clone(),
        Arc::new(AtomicBool::new(false)),
        async move {
            let _ = stop_rx.await;
        },
    ));
    for (plural, name, t) in [
        ("tenantsyncpolicies", "contoso", "Ready"),
        ("tenantsyncpolicies", "contoso-secret", "Ready"),
        ("tenantsyncpolicies", "contoso-wrong", "Stalled"),
        ("clouduserconversions", "wave", "Ready"),
        ("cloudgroupconversions", "groups", "Ready"),
    ] {
        let done = api.wait_for(plural, NS, name, |o| is(o, t), WAIT).await;
        assert!(
            done.is_some(),
            "{plural}/{name} not {t}: {:#?}",
            api.get(plural, NS, name)
        );
    }
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    api.delete_object("clouduserconversions", NS, "wave")
        .unwrap();
    api.delete_object("cloudgroupconversions", NS, "groups")
        .unwrap();
    for (plural, name) in [
        ("clouduserconversions", "wave"),
        ("cloudgroupconversions", "groups"),
    ] {
        assert!(
            api.wait_for_absent(plural, NS, name, WAIT).await,
            "{plural}/{name}"
        );
    }
    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let mut out = String::new();
    for plural in ["events", "configmaps", "leases", "tenantsyncpolicies"] {
        let objects = api.objects(plural);
        assert!(!objects.is_empty(), "no {plural}");
        out.push_str(&serde_json::to_string(&objects).unwrap());
    }
    let wrong = api.get("tenantsyncpolicies", NS, "contoso-wrong").unwrap();
    assert!(
        wrong.to_string().contains("wrong-credentials"),
        "the stall names the Secret to fix: {wrong}"
    );
    out.push_str(&metrics.encode());
    api.shutdown().await;
    emu.shutdown().await;
    out
}
