//! The operator's Graph client over HTTPS: against `emulator --tls`, given the emulator's CA
//! (`GraphConfig::ca_bundle`), it gets a token, reads, pages through `https://` nextLinks and
//! writes; without the CA it refuses the certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{CLIENT, SECRET, TENANT, config, retry, start};
use entra_cloud_operator::emulator::{Emulator, EmulatorConfig};
use entra_cloud_operator::graph::{
    AuthError, Credential, GraphClient, GraphConfig, GraphError, ListQuery, RetryPolicy,
    SecretString,
};
use serde_json::Value;

fn graph_config(emu: &Emulator, ca_bundle: Option<String>, retry: RetryPolicy) -> GraphConfig {
    GraphConfig {
        graph_root: emu.url(),
        login_root: emu.url(),
        scope: "https://graph.microsoft.com/.default".into(),
        tenant_id: TENANT.into(),
        retry,
        timeout: Duration::from_secs(30),
        observer: None,
        pacing: None,
        ca_bundle,
    }
}

fn credential() -> Credential {
    Credential::ClientSecret {
        client_id: CLIENT.into(),
        secret: SecretString::new(SECRET),
    }
}

async fn tls_emulator(users: usize) -> Emulator {
    start(EmulatorConfig {
        tls: true,
        ..config(users, 2)
    })
    .await
}

/// `/_emulator/state`, read by a client that trusts the emulator's CA.
async fn state(emu: &Emulator) -> Value {
    let roots = reqwest::Certificate::from_pem_bundle(emu.ca_pem().unwrap().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only(roots)
        .build()
        .unwrap();
    http.get(format!("{}/_emulator/state", emu.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_graph_client_reads_pages_and_writes_over_https() {
    let emu = tls_emulator(23).await;
    assert!(emu.url().starts_with("https://"));
    let ca = emu.ca_pem().unwrap().to_string();
    let client = GraphClient::new(graph_config(&emu, Some(ca), retry()), credential()).unwrap();

    let org = client.organization().await.unwrap();
    assert_eq!(org.id, TENANT);

    let query = ListQuery {
        select: vec!["id".into(), "userPrincipalName".into()],
        top: Some(5),
        ..ListQuery::default()
    };
    let mut pager = client.users(&query).unwrap();
    let (mut users, mut pages) = (0, 0);
    while let Some(page) = pager.next_page().await.unwrap() {
        users += page.items.len();
        pages += 1;
    }
    let total = state(&emu).await["users"]["total"].as_u64().unwrap() as usize;
    assert_eq!(users, total);
    assert_eq!(pages, total.div_ceil(5));

    client.set_directory_sync(TENANT, false).await.unwrap();
    let after = state(&emu).await;
    assert_eq!(after["organization"]["syncState"], "PendingDisable");
    assert_eq!(after["tokens"]["issued"], 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn without_the_ca_the_certificate_is_refused() {
    let emu = tls_emulator(3).await;
    let quick = RetryPolicy {
        max_attempts: 2,
        ..retry()
    };
    let client = GraphClient::new(graph_config(&emu, None, quick), credential()).unwrap();
    let err = client.organization().await.unwrap_err();
    let GraphError::Auth(AuthError::Unavailable { url, detail }) = &err else {
        panic!("expected the token endpoint to be unreachable, got {err:?}");
    };
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(!detail.contains(SECRET), "{detail}");
    // Nothing reached the emulator's token endpoint.
    assert_eq!(state(&emu).await["tokens"]["issued"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_bundle_without_a_certificate_is_refused_up_front() {
    let emu = tls_emulator(1).await;
    for bundle in ["", "not a certificate"] {
        let err = GraphClient::new(
            graph_config(&emu, Some(bundle.into()), retry()),
            credential(),
        )
        .err()
        .unwrap();
        assert!(
            matches!(&err, GraphError::Endpoint { detail, .. } if detail.contains("ca bundle")),
            "{err:?}"
        );
    }
    emu.shutdown().await;
}
