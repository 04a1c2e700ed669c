//! A shared cluster: the operator's own identity acts only where an administrator granted
//! it, endpoints leave Microsoft's hosts only with the operator's opt-in, and one policy per
//! tenant sets its directory synchronisation. Each refusal stalls the policy with a message
//! naming the fix, and sends nothing to the tenant (the emulator counts every token it issues).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::scripted::*;
use common::workload::*;
use common::*;
use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::controller::credentials::WorkloadIdentityEnv;
use entra_cloud_operator::controller::grants::{Grant, Grants};
use entra_cloud_operator::controller::{self, Security};
use entra_cloud_operator::emulator::EmulatorConfig;
use serde_json::{Value, json};

/// A policy of namespace `identity` observing the tenant on the emulator at `url`.
fn observing(url: &str, credentials: Value) -> TenantSyncPolicy {
    let mut tsp = policy("Unmanaged", false, "Report");
    tsp.spec.credentials = serde_json::from_value(credentials).unwrap();
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(url.into()),
        login: Some(url.into()),
        ..Default::default()
    });
    tsp
}

fn grant(endpoint_override: bool) -> Security {
    Security {
        grants: Arc::new(
            Grants::new(vec![Grant {
                namespaces: vec!["identity".into()],
                tenant_ids: vec![TENANT.into()],
                endpoint_override,
                ..Grant::default()
            }])
            .unwrap(),
        ),
        allow_endpoint_override: true,
        ..Security::default()
    }
}

/// One pass of `tsp` expecting exactly an Event with `reason` and a status patch; the status.
async fn one_pass(
    ctx: Arc<controller::Context>,
    mut handle: Handle,
    tsp: TenantSyncPolicy,
    (type_, reason): (&'static str, &'static str),
) -> Value {
    let answer = tsp.clone();
    let verifier = tokio::spawn(async move {
        expect_event(&mut handle, type_, reason).await;
        expect_status_patch(&mut handle, &answer).await
    });
    tokio::time::timeout(
        Duration::from_secs(30),
        controller::reconciler::reconcile(Arc::new(tsp), ctx),
    )
    .await
    .expect("the pass ends")
    .unwrap();
    let patch = tokio::time::timeout(Duration::from_secs(10), verifier)
        .await
        .unwrap()
        .unwrap();
    patch["status"].clone()
}

async fn tokens_issued(emu: &entra_cloud_operator::emulator::Emulator) -> u64 {
    state(emu).await["tokens"]["issued"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn the_operators_workload_identity_acts_only_where_granted() {
    let emu = start(EmulatorConfig {
        federated_credentials: vec![federated_credential()],
        ..config(3, 1)
    })
    .await;
    let dir = temp_dir("grant");
    let token_file = dir.join("azure-identity-token");
    std::fs::write(&token_file, service_account_token(SUBJECT, ISSUER_KEY)).unwrap();
    let wi = WorkloadIdentityEnv {
        client_id: Some(CLIENT.into()),
        token_file: Some(token_file.display().to_string()),
        authority_host: None,
    };
    let tsp = observing(&emu.url(), json!({"workloadIdentity": {}}));

    // No grant: Stalled, naming what to add, and no token requested.
    let (ctx, handle) = scripted_context(
        Security {
            allow_endpoint_override: true,
            ..Security::default()
        },
        wi.clone(),
    );
    let status = one_pass(
        ctx,
        handle,
        tsp.clone(),
        ("Warning", "CredentialNotGranted"),
    )
    .await;
    let stalled = condition(&status, "Stalled");
    assert_eq!(stalled["status"], "True", "{status}");
    assert_eq!(stalled["reason"], "CredentialNotGranted");
    let message = stalled["message"].as_str().unwrap();
    assert!(
        message.contains("credentialGrants")
            && message.contains(&format!(
                "{{namespaces: [identity], tenantIds: [{TENANT}]}}"
            )),
        "{message}"
    );
    assert_eq!(tokens_issued(&emu).await, 0);

    // A grant that does not allow endpoint overrides: still no token.
    let (ctx, handle) = scripted_context(grant(false), wi.clone());
    let status = one_pass(
        ctx,
        handle,
        tsp.clone(),
        ("Warning", "CredentialNotGranted"),
    )
    .await;
    let message = condition(&status, "Stalled")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("endpointOverride: true"), "{message}");
    assert_eq!(tokens_issued(&emu).await, 0);

    // Granted: the pass reads the tenant and the policy is Ready.
    let (ctx, handle) = scripted_context(grant(true), wi);
    let status = one_pass(ctx, handle, tsp, ("Normal", "Observing")).await;
    assert_eq!(condition(&status, "Ready")["status"], "True", "{status}");
    assert_eq!(tokens_issued(&emu).await, 1);
    let _ = std::fs::remove_dir_all(&dir);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_override_without_the_opt_in_sends_nothing() {
    let emu = start(config(3, 1)).await;
    let tsp = observing(
        &emu.url(),
        json!({"clientSecret": {"clientId": CLIENT,
                                "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}}),
    );
    // Not even the Secret is read: the first request is the Event.
    let (ctx, handle) = scripted_context(Security::default(), WorkloadIdentityEnv::default());
    let status = one_pass(ctx, handle, tsp, ("Warning", "EndpointOverrideNotAllowed")).await;
    let stalled = condition(&status, "Stalled");
    assert_eq!(stalled["reason"], "EndpointOverrideNotAllowed", "{status}");
    let message = stalled["message"].as_str().unwrap();
    assert!(
        message.contains(&emu.url())
            && message.contains("https://graph.microsoft.com")
            && message.contains("--allow-endpoint-override"),
        "{message}"
    );
    assert_eq!(tokens_issued(&emu).await, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_second_policy_setting_a_claimed_tenant_stalls() {
    let emu = start(config(3, 1)).await;
    let mut tsp = observing(
        &emu.url(),
        json!({"clientSecret": {"clientId": CLIENT,
                                "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}}),
    );
    tsp.spec.directory_sync = entra_cloud_operator::api::tenant::DirectorySyncMode::Enabled;
    tsp.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-12-01T10:00:00Z".parse().unwrap(),
    ));
    let owner = json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
        "metadata": {"name": "cutover", "namespace": "platform",
                     "creationTimestamp": "2026-11-01T10:00:00Z"},
        "spec": {"tenantId": TENANT, "directorySync": "Disabled",
                 "credentials": {"workloadIdentity": {}}},
        "status": {"organization": {"displayName": "Contoso"}}
    });
    let own = serde_json::to_value(&tsp).unwrap();
    let (ctx, mut handle) = scripted_context(
        Security {
            allow_endpoint_override: true,
            ..Security::default()
        },
        WorkloadIdentityEnv::default(),
    );
    let answer = tsp.clone();
    let verifier = tokio::spawn(async move {
        expect_policy_list(&mut handle, &[owner, own]).await;
        // No Secret read: straight to the Event and the status.
        expect_event(&mut handle, "Warning", "TenantClaimed").await;
        expect_status_patch(&mut handle, &answer).await
    });
    controller::reconciler::reconcile(Arc::new(tsp), ctx)
        .await
        .unwrap();
    let patch = verifier.await.unwrap();
    let stalled = condition(&patch["status"], "Stalled");
    assert_eq!(stalled["reason"], "TenantClaimed");
    let message = stalled["message"].as_str().unwrap();
    assert!(
        message.contains("TenantSyncPolicy platform/cutover") && message.contains("Unmanaged"),
        "{message}"
    );
    assert_eq!(tokens_issued(&emu).await, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn spec_endpoints_ca_bundle_trusts_an_inspecting_proxys_ca() {
    let emu = start(EmulatorConfig {
        tls: true,
        ..config(3, 1)
    })
    .await;
    let ca = emu.ca_pem().unwrap().to_string();
    let secret = json!({"clientSecret": {"clientId": CLIENT,
                        "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}});
    let mut tsp = observing(&emu.url(), secret);
    tsp.spec.endpoints.as_mut().unwrap().ca_bundle = Some(
        serde_json::from_value(json!({"secretRef": {"name": "proxy-ca", "key": "ca.crt"}}))
            .unwrap(),
    );
    let (ctx, mut handle) = scripted_context(
        Security {
            allow_endpoint_override: true,
            ..Security::default()
        },
        WorkloadIdentityEnv::default(),
    );
    let answer = tsp.clone();
    let verifier = tokio::spawn(async move {
        expect_secret_get(&mut handle, Some(SECRET)).await;
        // The CA from a Secret of the policy's namespace.
        let (req, send) = next(&mut handle).await;
        assert_eq!(
            req.uri().path(),
            "/api/v1/namespaces/identity/secrets/proxy-ca"
        );
        respond(
            send,
            200,
            &json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "proxy-ca", "namespace": "identity", "resourceVersion": "3"},
                    "stringData": {"ca.crt": ca}}),
        );
        expect_event(&mut handle, "Normal", "Observing").await;
        expect_status_patch(&mut handle, &answer).await
    });
    controller::reconciler::reconcile(Arc::new(tsp), ctx)
        .await
        .unwrap();
    let patch = verifier.await.unwrap();
    assert_eq!(
        condition(&patch["status"], "Ready")["status"],
        "True",
        "{patch}"
    );
    emu.shutdown().await;
}
