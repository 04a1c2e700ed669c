//! The controller's exact Kubernetes API requests for one reconcile, against a scripted API
//! stand-in at the HTTP level (kube-rs's ApiServerVerifier pattern with tower-test), while
//! Graph is the in-process emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::scripted::*;
use common::*;
use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::controller;
use serde_json::json;

fn context(emu_url: &str) -> (Arc<controller::Context>, Handle, TenantSyncPolicy) {
    // The emulator is an endpoint override.
    let (ctx, handle) = scripted_context(
        controller::Security {
            allow_endpoint_override: true,
            ..Default::default()
        },
        Default::default(),
    );
    let mut tsp = policy("Disabled", true, "Report");
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(emu_url.into()),
        login: Some(emu_url.into()),
        ..Default::default()
    });
    (ctx, handle, tsp)
}

#[tokio::test]
async fn first_pass_reads_the_secret_publishes_an_event_and_applies_status() {
    let emu = start(config(20, 2)).await;
    let (ctx, mut handle, mut tsp) = context(&emu.url());
    tsp.spec.approved_plan = Some(approved_plan(&emu).await);
    let obj = Arc::new(tsp.clone());
    let verifier = tokio::spawn(async move {
        expect_policy_list(&mut handle, &[]).await;
        expect_secret_get(&mut handle, Some(SECRET)).await;
        expect_event(&mut handle, "Normal", "DisableRequested").await;
        let patch = expect_status_patch(&mut handle, &tsp).await;
        (handle, patch)
    });
    let action = controller::reconciler::reconcile(obj, ctx.clone())
        .await
        .unwrap();
    let (_handle, patch) = tokio::time::timeout(Duration::from_secs(10), verifier)
        .await
        .unwrap()
        .unwrap();
    let status = &patch["status"];
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(condition(status, "Ready")["status"], "False");
    assert_eq!(
        condition(status, "Reconciling")["reason"],
        "DisableRequested"
    );
    assert!(condition(status, "Stalled").is_null());
    assert_eq!(condition(status, "Ready")["observedGeneration"], 1);
    assert_eq!(
        format!("{action:?}"),
        format!(
            "{:?}",
            kube::runtime::controller::Action::requeue(Duration::from_secs(30))
        )
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 1);

    let metrics = ctx.metrics.encode();
    assert!(metrics.contains("entra_cloud_operator_reconciles_total{kind=\"TenantSyncPolicy\",result=\"progressing\"} 1"), "{metrics}");
    assert!(metrics.contains("entra_cloud_operator_graph_requests_total{operation=\"organization.update\",status=\"204\"} 1"), "{metrics}");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    let emu = start(config(10, 1)).await;
    let (ctx, mut handle, mut tsp) = context(&emu.url());
    tsp.spec.directory_sync = entra_cloud_operator::api::tenant::DirectorySyncMode::Unmanaged;
    tsp.spec.clear_immutable_ids = false;
    let first = tsp.clone();
    let verifier = tokio::spawn(async move {
        expect_secret_get(&mut handle, Some(SECRET)).await;
        expect_event(&mut handle, "Normal", "Observing").await;
        let patch = expect_status_patch(&mut handle, &first).await;
        (handle, patch)
    });
    controller::reconciler::reconcile(Arc::new(tsp.clone()), ctx.clone())
        .await
        .unwrap();
    let (mut handle, patch) = verifier.await.unwrap();
    assert_eq!(condition(&patch["status"], "Ready")["status"], "True");

    // Second pass with that status: the Secret is read, nothing else. A status patch or an
    // Event would wait for an answer that never comes, and the bounded wait would fail.
    tsp.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
    tsp.spec.endpoints = patch_endpoints(&emu.url());
    let verifier = tokio::spawn(async move {
        expect_secret_get(&mut handle, Some(SECRET)).await;
        handle
    });
    tokio::time::timeout(
        Duration::from_secs(10),
        controller::reconciler::reconcile(Arc::new(tsp), ctx.clone()),
    )
    .await
    .expect("no request beyond the Secret read")
    .unwrap();
    verifier.await.unwrap();
    emu.shutdown().await;
}

fn patch_endpoints(url: &str) -> Option<entra_cloud_operator::api::tenant::Endpoints> {
    Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(url.into()),
        login: Some(url.into()),
        ..Default::default()
    })
}

#[tokio::test]
async fn a_missing_secret_stalls_with_a_warning_and_no_graph_call() {
    let emu = start(config(5, 1)).await;
    let (ctx, mut handle, tsp) = context(&emu.url());
    let obj = Arc::new(tsp.clone());
    let verifier = tokio::spawn(async move {
        expect_policy_list(&mut handle, &[]).await;
        expect_secret_get(&mut handle, None).await;
        expect_event(&mut handle, "Warning", "SecretNotFound").await;
        expect_status_patch(&mut handle, &tsp).await
    });
    let action = controller::reconciler::reconcile(obj, ctx).await.unwrap();
    let patch = verifier.await.unwrap();
    let stalled = condition(&patch["status"], "Stalled");
    assert_eq!(stalled["status"], "True");
    assert_eq!(stalled["reason"], "SecretNotFound");
    assert!(
        stalled["message"]
            .as_str()
            .unwrap()
            .contains("kubectl -n identity create secret generic graph-credentials")
    );
    assert!(
        stalled["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.credentials.clientSecret.secretRef.name: ")
    );
    assert_eq!(
        format!("{action:?}"),
        format!(
            "{:?}",
            kube::runtime::controller::Action::requeue(Duration::from_secs(300))
        )
    );
    assert_eq!(state(&emu).await["requests"]["total"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_invalid_spec_stalls_without_reading_the_secret() {
    let emu = start(config(5, 1)).await;
    let (ctx, mut handle, mut tsp) = context(&emu.url());
    tsp.spec.directory_sync = entra_cloud_operator::api::tenant::DirectorySyncMode::Unmanaged;
    let obj = Arc::new(tsp.clone());
    let verifier = tokio::spawn(async move {
        expect_event(&mut handle, "Warning", "InvalidSpec").await;
        expect_status_patch(&mut handle, &tsp).await
    });
    let action = controller::reconciler::reconcile(obj, ctx).await.unwrap();
    let patch = verifier.await.unwrap();
    assert_eq!(
        condition(&patch["status"], "Stalled")["reason"],
        "InvalidSpec"
    );
    assert_eq!(
        format!("{action:?}"),
        format!("{:?}", kube::runtime::controller::Action::await_change())
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn throttling_beyond_the_retries_requeues_after_retry_after() {
    let emu = start(config(5, 1)).await;
    let (ctx, mut handle, tsp) = context(&emu.url());
    control_post(
        &emu,
        "faults",
        json!({"status": 429, "count": 1000, "retryAfter": 0.002}),
    )
    .await;
    let obj = Arc::new(tsp);
    let verifier = tokio::spawn(async move {
        expect_policy_list(&mut handle, &[]).await;
        expect_secret_get(&mut handle, Some(SECRET)).await;
    });
    let err = controller::reconciler::reconcile(obj.clone(), ctx.clone())
        .await
        .unwrap_err();
    verifier.await.unwrap();
    assert_eq!(err.category(), "Throttled");
    let action = controller::reconciler::error_policy(obj, &err, ctx.clone());
    // Graph's Retry-After (2 ms here), not the generic backoff.
    assert_eq!(
        format!("{action:?}"),
        format!(
            "{:?}",
            kube::runtime::controller::Action::requeue(Duration::from_millis(2))
        )
    );
    let metrics = ctx.metrics.encode();
    assert!(metrics.contains("entra_cloud_operator_reconcile_errors_total{kind=\"TenantSyncPolicy\",category=\"Throttled\"} 1"), "{metrics}");
    assert!(
        metrics.contains(
            "entra_cloud_operator_graph_throttled_total{operation=\"organization.get\"} 8"
        ),
        "{metrics}"
    );
    emu.shutdown().await;
}
