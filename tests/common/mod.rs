//! Shared helpers of the integration tests: an in-process emulator, a Graph client for it,
//! manifests and the one reconcile harness (`harness`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod harness;
pub mod process;
pub mod samba;
pub mod scripted;
pub mod workload;

// Not every test binary drives a resource.
#[allow(unused_imports)]
pub use harness::Harness;

use std::path::PathBuf;
use std::time::Duration;

use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::tenant::TenantSyncPolicyStatus;
use entra_cloud_operator::emulator::{Emulator, EmulatorConfig};
use entra_cloud_operator::graph::{
    Credential, GraphClient, GraphConfig, RetryPolicy, SecretString,
};
use serde_json::{Value, json};

pub const TENANT: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
pub const CLIENT: &str = "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e";
/// A recognisable secret, so tests can look for leaks.
pub const SECRET: &str = "S3cr3t-Leak-Canary-7f3e9b";

pub fn config(users: usize, groups: usize) -> EmulatorConfig {
    EmulatorConfig {
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        client_secret: SECRET.into(),
        users,
        groups,
        time_scale: 1.0,
        propagation: Duration::from_secs(3600),
        ..EmulatorConfig::default()
    }
}

/// [`config`] with reads consistent at once (no read lag): for tests that count requests or
/// read what they just wrote to check something else (the lag has its own tests,
/// `tests/consistency.rs`).
pub fn consistent_config(users: usize, groups: usize) -> EmulatorConfig {
    EmulatorConfig {
        read_lag: Duration::ZERO,
        index_lag: Duration::ZERO,
        ..config(users, groups)
    }
}

pub async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts")
}

/// Fast retries: the emulator answers in microseconds and tests inject many faults.
pub fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn client(emu: &Emulator, secret: &str) -> GraphClient {
    client_with(
        emu,
        Credential::ClientSecret {
            client_id: CLIENT.into(),
            secret: SecretString::new(secret),
        },
    )
}

/// A client of the emulator with any credential (no pacing, short retries).
pub fn client_with(emu: &Emulator, credential: Credential) -> GraphClient {
    GraphClient::new(
        GraphConfig {
            graph_root: emu.url(),
            login_root: emu.url(),
            scope: "https://graph.microsoft.com/.default".into(),
            tenant_id: TENANT.into(),
            retry: retry(),
            timeout: Duration::from_secs(30),
            observer: None,
            pacing: None,
            ca_bundle: None,
        },
        credential,
    )
    .unwrap()
}

/// The default application's certificate credential from PEM texts.
pub fn certificate(cert: &str, key: &str) -> Credential {
    Credential::Certificate {
        client_id: CLIENT.into(),
        certificate: entra_cloud_operator::graph::ClientCertificate::from_pem(
            cert,
            &SecretString::new(key),
        )
        .unwrap(),
    }
}

pub fn policy(directory_sync: &str, clear: bool, drift: &str) -> TenantSyncPolicy {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1",
        "kind": "TenantSyncPolicy",
        "metadata": {"name": "contoso", "namespace": "identity", "generation": 1},
        "spec": {
            "tenantId": TENANT,
            "credentials": {"clientSecret": {"clientId": CLIENT,
                            "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
            "directorySync": directory_sync,
            "clearImmutableIds": clear,
            "drift": drift
        }
    }))
    .unwrap()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-it-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn is_ready(s: &TenantSyncPolicyStatus) -> bool {
    cond::is_true(&s.conditions, cond::READY)
}

pub fn is_stalled(s: &TenantSyncPolicyStatus) -> bool {
    cond::is_true(&s.conditions, cond::STALLED)
}

/// `GET /_emulator/<path>`.
pub async fn control_get(emu: &Emulator, path: &str) -> Value {
    reqwest::get(format!("{}/_emulator/{path}", emu.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `POST /_emulator/<path>` with a JSON body; panics unless 2xx.
pub async fn control_post(emu: &Emulator, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/_emulator/{path}", emu.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

pub async fn control_put(emu: &Emulator, path: &str, body: Value) {
    let r = reqwest::Client::new()
        .put(format!("{}/_emulator/{path}", emu.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "PUT {path}: {}", r.status());
}

pub async fn advance(emu: &Emulator, seconds: f64) {
    control_post(emu, "time/advance", json!({ "seconds": seconds })).await;
}

pub async fn state(emu: &Emulator) -> Value {
    control_get(emu, "state").await
}

pub async fn users(emu: &Emulator) -> Vec<Value> {
    control_get(emu, "users").await["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `method /v1.0/{path}` as the application, for changes the operator's client never makes.
pub async fn graph_request(
    emu: &Emulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut req = http
        .request(method.clone(), format!("{}/v1.0/{path}", emu.url()))
        .bearer_auth(token["access_token"].as_str().unwrap());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{method} {path}: {}", r.status());
}

/// The plan of the tenant-wide disable as the emulator's tenant stands now, approved: what a
/// person writes into `spec.approvedPlan` after reading `plan`.
pub async fn approved_plan(emu: &Emulator) -> String {
    use entra_cloud_operator::reconcile::tenant::observe;
    let obs = observe::observe(&client(emu, SECRET)).await.unwrap();
    obs.plan_digest(TENANT).unwrap().render()
}
