//! HTTPS (`EmulatorConfig::tls`) and the discovery documents MSAL reads: absolute links
//! follow the scheme, the certificate verifies against the emulator's CA only, and the OpenID
//! configuration leads to a working token endpoint.

use std::net::SocketAddr;

use reqwest::StatusCode;
use serde_json::Value;

use super::{Harness, config};
use crate::emulator::{Emulator, EmulatorConfig};

/// A reqwest client that trusts only `ca_pem`.
fn trusting(ca_pem: &str) -> reqwest::Client {
    let roots = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .build()
        .expect("client")
}

/// A harness over HTTPS whose client trusts the emulator's CA.
async fn tls_harness(config: EmulatorConfig) -> Harness {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let emu = Emulator::start(config.clone(), listen)
        .await
        .expect("emulator starts");
    let http = trusting(emu.ca_pem().expect("a CA under TLS"));
    let mut h = Harness {
        emu,
        http,
        token: String::new(),
        config,
    };
    let t = h.token_request(&h.token_form()).await;
    assert_eq!(t.status, StatusCode::OK, "{:?}", t.body);
    h.token = t.body["access_token"].as_str().expect("token").to_string();
    h
}

fn tls_config(users: usize) -> EmulatorConfig {
    EmulatorConfig {
        tls: true,
        ..config(users, 2)
    }
}

#[tokio::test]
async fn links_are_https_under_tls() {
    let h = tls_harness(tls_config(12)).await;
    assert!(
        h.emu.url().starts_with("https://127.0.0.1:"),
        "{}",
        h.emu.url()
    );
    let page = h.get("/v1.0/users?$top=5").await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    let next = page.body["@odata.nextLink"].as_str().unwrap_or_default();
    assert!(
        next.starts_with(&format!("{}/v1.0/users?", h.emu.url())),
        "{next}"
    );
    let context = page.body["@odata.context"].as_str().unwrap_or_default();
    assert!(context.starts_with("https://"), "{context}");
    // The nextLink works as given, over the same TLS connection pool.
    let rest = h.get(next.trim_start_matches(&h.emu.url())).await;
    assert_eq!(rest.status, StatusCode::OK, "{:?}", rest.body);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn plain_http_is_the_default_and_has_no_ca() {
    let h = Harness::start(config(3, 1)).await;
    assert!(h.emu.url().starts_with("http://"));
    assert!(h.emu.ca_pem().is_none());
    let page = h.get("/v1.0/users?$top=1").await;
    let next = page.body["@odata.nextLink"].as_str().unwrap_or_default();
    assert!(next.starts_with("http://127.0.0.1:"), "{next}");
}

#[tokio::test]
async fn the_certificate_verifies_against_its_own_ca_only() {
    let emu = Emulator::start(tls_config(3), "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("emulator starts");
    let state = format!("{}/_emulator/state", emu.url());
    let ok = trusting(emu.ca_pem().expect("CA")).get(&state).send().await;
    assert_eq!(ok.expect("trusted").status(), StatusCode::OK);

    // The platform's roots do not know it; another start's CA is another CA.
    let platform = reqwest::Client::new().get(&state).send().await;
    assert!(platform.is_err(), "an unknown CA must not verify");
    let other = Emulator::start(tls_config(1), "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("emulator starts");
    let wrong = trusting(other.ca_pem().expect("CA"))
        .get(&state)
        .send()
        .await;
    assert!(wrong.is_err(), "another emulator's CA must not verify");

    // Plain HTTP to the TLS port gets no answer; a broken client does not stop the server.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/_emulator/state", emu.addr()))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    let again = trusting(emu.ca_pem().expect("CA")).get(&state).send().await;
    assert_eq!(again.expect("still serving").status(), StatusCode::OK);
    other.shutdown().await;
    emu.shutdown().await;
}

async fn discovery(h: &Harness, tenant: &str) -> (StatusCode, Value) {
    let url = h.url(&format!("/{tenant}/v2.0/.well-known/openid-configuration"));
    let r = h.http.get(url).send().await.expect("discovery");
    let status = r.status();
    (status, r.json().await.expect("JSON"))
}

#[tokio::test]
async fn openid_configuration_leads_to_the_token_endpoint() {
    let h = tls_harness(tls_config(3)).await;
    let base = h.emu.url();
    let tenant = h.config.tenant_id.clone();
    for name in [tenant.as_str(), "contoso.com", "CONTOSO.onmicrosoft.com"] {
        let (status, doc) = discovery(&h, name).await;
        assert_eq!(status, StatusCode::OK, "{name}: {doc}");
        assert_eq!(
            doc["token_endpoint"],
            format!("{base}/{tenant}/oauth2/v2.0/token"),
            "{name}"
        );
        assert_eq!(doc["issuer"], format!("{base}/{tenant}/v2.0"));
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{base}/{tenant}/oauth2/v2.0/authorize")
        );
    }
    // What MSAL does next: POST the client credentials to the advertised endpoint.
    let (_, doc) = discovery(&h, "contoso.com").await;
    let endpoint = doc["token_endpoint"].as_str().unwrap_or_default();
    let token = h
        .http
        .post(endpoint)
        .form(&h.token_form())
        .send()
        .await
        .expect("token request");
    assert_eq!(token.status(), StatusCode::OK);

    let (status, common) = discovery(&h, "common").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(common["issuer"], format!("{base}/{{tenantid}}/v2.0"));

    let (status, unknown) = discovery(&h, "11111111-2222-3333-4444-555555555555").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown["error"], "invalid_tenant");
    assert_eq!(unknown["error_codes"][0], 90_002);
    let (status, malformed) = discovery(&h, "not_a_tenant").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed["error_codes"][0], 900_023);
}

fn instance_url(h: &Harness, query: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&h.url("/common/discovery/instance")).expect("URL");
    url.query_pairs_mut().extend_pairs(query);
    url.to_string()
}

#[tokio::test]
async fn instance_discovery_names_the_tenant_document() {
    let h = tls_harness(tls_config(2)).await;
    let base = h.emu.url();
    let authorize = format!("{base}/contoso.com/oauth2/v2.0/authorize");
    let r = h
        .http
        .get(instance_url(
            &h,
            &[
                ("api-version", "1.1"),
                ("authorization_endpoint", &authorize),
            ],
        ))
        .send()
        .await
        .expect("instance discovery");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!("{base}/contoso.com/v2.0/.well-known/openid-configuration")
    );
    let host = base.trim_start_matches("https://");
    assert_eq!(body["metadata"][0]["aliases"][0], host);

    let foreign = h
        .http
        .get(instance_url(
            &h,
            &[(
                "authorization_endpoint",
                "https://login.microsoftonline.com/x/oauth2/v2.0/authorize",
            )],
        ))
        .send()
        .await
        .expect("instance discovery");
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
    let body: Value = foreign.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_instance");
    let missing = h
        .http
        .get(h.url("/common/discovery/instance"))
        .send()
        .await
        .expect("instance discovery");
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}
