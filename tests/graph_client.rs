//! The Graph client against the emulator: paging, advanced queries, typed errors, retries,
//! and each credential kind (secret, certificate, workload identity).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use common::workload::*;
use common::*;
use entra_cloud_operator::emulator::{EmulatorConfig, FederatedCredentialSpec};
use entra_cloud_operator::graph::{
    AuthError, Credential, ErrorCategory, GraphError, ListQuery, SecretString,
};
use serde_json::{Value, json};

const APP_CRT: &str = include_str!("data/app.crt");
const APP_KEY: &str = include_str!("data/app.key");
const OTHER_CRT: &str = include_str!("data/other.crt");
const OTHER_KEY: &str = include_str!("data/other.key");

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
        ..consistent_config(3, 1)
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

fn rejected(err: &GraphError) -> (Option<u32>, &str) {
    match err {
        GraphError::Auth(AuthError::Rejected { aadsts, error, .. }) => (*aadsts, error.as_str()),
        other => panic!("expected a token refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_gets_a_token_and_reads_the_organization() {
    let emu = start(EmulatorConfig {
        certificates: vec![APP_CRT.into()],
        ..config(3, 1)
    })
    .await;
    let graph = client_with(&emu, certificate(APP_CRT, APP_KEY));
    assert_eq!(graph.organization().await.unwrap().id, TENANT);
    // A valid pair the application does not know: Entra's 700027, typed and classified.
    let stranger = client_with(&emu, certificate(OTHER_CRT, OTHER_KEY));
    let err = stranger.organization().await.unwrap_err();
    assert_eq!(rejected(&err), (Some(700_027), "invalid_client"));
    assert_eq!(err.category(), ErrorCategory::InvalidCredentials);
    assert!(err.to_string().contains("The key was not found"), "{err}");
    assert_eq!(state(&emu).await["tokens"]["issued"], 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn workload_identity_against_a_registered_federated_credential() {
    let emu = start(EmulatorConfig {
        federated_credentials: vec![FederatedCredentialSpec {
            issuer: ISSUER.into(),
            subject: SUBJECT.into(),
            signing_key: Some(ISSUER_PUB.into()),
            ..FederatedCredentialSpec::default()
        }],
        ..config(3, 1)
    })
    .await;
    let dir = temp_dir("wif");
    let token_file = dir.join("azure-identity-token");
    let wif = || Credential::WorkloadIdentity {
        client_id: CLIENT.into(),
        token_file: token_file.clone(),
    };
    std::fs::write(&token_file, service_account_token(SUBJECT, ISSUER_KEY)).unwrap();
    assert_eq!(
        client_with(&emu, wif()).organization().await.unwrap().id,
        TENANT
    );
    // Another service account: no federated credential matches.
    std::fs::write(
        &token_file,
        service_account_token("system:serviceaccount:identity:other", ISSUER_KEY),
    )
    .unwrap();
    let err = client_with(&emu, wif()).organization().await.unwrap_err();
    assert_eq!(rejected(&err), (Some(70_021), "invalid_request"));
    assert_eq!(err.category(), ErrorCategory::InvalidCredentials);
    // The right subject, signed by a key the issuer never published.
    std::fs::write(&token_file, service_account_token(SUBJECT, OTHER_KEY)).unwrap();
    let err = client_with(&emu, wif()).organization().await.unwrap_err();
    assert_eq!(rejected(&err).0, Some(700_027));
    let _ = std::fs::remove_dir_all(&dir);
    emu.shutdown().await;
}

#[tokio::test]
async fn least_privilege_is_enforced_per_application() {
    let emu = start(config(3, 1)).await;
    // A second application with only what reading the tenant needs.
    let reader = "c0ffee00-1111-4222-8333-944444444444";
    let body: Value = json!({"clientId": reader, "secrets": [SECRET],
                             "permissions": ["Organization.Read.All"]});
    control_post(&emu, "apps", body).await;
    let graph = client_with(
        &emu,
        Credential::ClientSecret {
            client_id: reader.into(),
            secret: SecretString::new(SECRET),
        },
    );
    assert_eq!(graph.organization().await.unwrap().id, TENANT);
    let err = graph
        .users(&ListQuery::default())
        .unwrap()
        .next_page()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Authorization_RequestDenied"));
    assert_eq!(err.category(), ErrorCategory::MissingPermission);
    emu.shutdown().await;
}
