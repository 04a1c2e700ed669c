//! The Graph client against the emulator: paging, advanced queries, typed errors, retries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use common::*;
use entra_cloud_operator::graph::{ErrorCategory, GraphError, ListQuery};
use serde_json::json;

fn select(props: &[&str]) -> Vec<String> {
    props.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn pages_through_every_user_once() {
    let emu = start(config(2500, 2)).await;
    let graph = client(&emu, SECRET);
    let mut pager = graph
        .users(&ListQuery {
            select: select(&["id", "userPrincipalName", "onPremisesImmutableId"]),
            top: Some(999),
            ..Default::default()
        })
        .unwrap();
    let (mut pages, mut ids) = (0, HashSet::new());
    while let Some(page) = pager.next_page().await.unwrap() {
        pages += 1;
        assert!(page.items.len() <= 999);
        for u in page.items {
            assert!(ids.insert(u.id), "duplicate");
        }
    }
    let total = state(&emu).await["users"]["total"].as_u64().unwrap() as usize;
    assert_eq!(ids.len(), total);
    assert_eq!(pages, total.div_ceil(999));
    emu.shutdown().await;
}

#[tokio::test]
async fn advanced_queries_count_and_missing_parameters_are_typed_errors() {
    let emu = start(config(60, 2)).await;
    let graph = client(&emu, SECRET);
    let q = |advanced| ListQuery {
        select: select(&["id"]),
        filter: Some("onPremisesSyncEnabled ne true".into()),
        top: Some(1),
        advanced,
    };
    let page = graph
        .users(&q(true))
        .unwrap()
        .next_page()
        .await
        .unwrap()
        .unwrap();
    let cloud_only = state(&emu).await["users"]["cloudOnly"].as_u64().unwrap();
    assert_eq!(page.count, Some(cloud_only));

    let err = graph
        .users(&q(false))
        .unwrap()
        .next_page()
        .await
        .unwrap_err();
    match &err {
        GraphError::Api {
            status,
            code,
            request_id,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(code, "Request_UnsupportedQuery");
            assert!(request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.category(), ErrorCategory::Rejected);
    emu.shutdown().await;
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let emu = start(config(5, 1)).await;
    let graph = client(&emu, SECRET);
    control_post(
        &emu,
        "faults",
        json!({"status": 429, "count": 3, "retryAfter": 0.05}),
    )
    .await;
    let org = graph.organization().await.unwrap();
    assert_eq!(org.id, TENANT);
    assert_eq!(graph.stats().throttled.load(Ordering::Relaxed), 3);
    assert_eq!(graph.stats().retries.load(Ordering::Relaxed), 3);

    // Past the retry budget the 429 is returned, classified as throttling.
    control_post(
        &emu,
        "faults",
        json!({"status": 429, "count": 50, "retryAfter": 0.001}),
    )
    .await;
    let err = graph.organization().await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Throttled);
    assert!(matches!(
        err,
        GraphError::Api {
            retry_after: Some(_),
            ..
        }
    ));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_synced_user_write_is_refused_with_graphs_error() {
    let emu = start(config(3, 1)).await;
    let graph = client(&emu, SECRET);
    let synced = users(&emu)
        .await
        .into_iter()
        .find(|u| u["kind"] == "synced")
        .unwrap();
    let err = graph
        .clear_immutable_id(synced["id"].as_str().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Request_BadRequest"));
    assert!(err.to_string().contains("on-premises mastered"), "{err}");
    assert_eq!(state(&emu).await["writes"]["refused"], 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn one_token_serves_many_requests() {
    let emu = start(config(3, 1)).await;
    let graph = client(&emu, SECRET);
    // Break the token endpoint after the first token: later calls must use the cache.
    graph.organization().await.unwrap();
    control_post(
        &emu,
        "faults",
        json!({"status": 500, "count": 1000, "target": "token"}),
    )
    .await;
    for _ in 0..5 {
        graph.organization().await.unwrap();
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_are_retried_and_a_landed_write_is_not_lost() {
    let emu = start(config(3, 1)).await;
    let graph = client(&emu, SECRET);
    // Dropped before the request reached the tenant, then after the write landed: the client
    // retries both (an SOA or sync switch is idempotent) and ends with the write applied.
    control_post(
        &emu,
        "faults",
        json!({"reset": "before", "count": 2, "method": "GET"}),
    )
    .await;
    assert_eq!(graph.organization().await.unwrap().id, TENANT);
    control_post(
        &emu,
        "faults",
        json!({"reset": "after", "count": 1, "method": "PATCH"}),
    )
    .await;
    graph.set_directory_sync(TENANT, false).await.unwrap();
    assert_eq!(graph.stats().retries.load(Ordering::Relaxed), 3);
    let state = control_get(&emu, "state").await;
    assert_eq!(state["requests"]["faultsInjected"]["reset-before"], 2);
    assert_eq!(state["requests"]["faultsInjected"]["reset-after"], 1);
    assert_eq!(state["writes"]["byOperation"]["PATCH /organization"], 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn user_soa_falls_back_to_beta_where_v1_lacks_the_route() {
    use entra_cloud_operator::emulator::UserSoaApi;
    let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
        user_soa_api: UserSoaApi::BetaOnly,
        ..config(3, 1)
    })
    .await;
    let graph = client(&emu, SECRET);
    let synced = users(&emu)
        .await
        .into_iter()
        .find(|u| u["kind"] == "synced")
        .unwrap();
    let id = synced["id"].as_str().unwrap();
    assert!(!graph.user_cloud_managed(id).await.unwrap());
    graph.set_user_cloud_managed(id, true).await.unwrap();
    assert!(graph.user_cloud_managed(id).await.unwrap());
    // One refusal from v1.0, then beta only: four answers in all.
    let state = control_get(&emu, "state").await;
    assert_eq!(state["requests"]["byStatus"]["400"], 1);
    assert_eq!(
        state["writes"]["byOperation"]["PATCH /users/onPremisesSyncBehavior"],
        1
    );
    emu.shutdown().await;
}
