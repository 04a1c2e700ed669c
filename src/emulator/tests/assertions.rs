//! Client assertions at the token endpoint: certificate-signed JWTs and workload identity
//! federation, every acceptance and refusal path (test keys in `tests/data/`).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::auth::assert_aadsts;
use super::{Answer, Harness, config};
use crate::emulator::apps::Certificate;
use crate::emulator::{AssertionAlgorithms, EmulatorConfig, FederatedCredentialSpec};

pub const APP_CRT: &str = include_str!("../../../tests/data/app.crt");
pub const APP_KEY: &str = include_str!("../../../tests/data/app.key");
pub const OTHER_CRT: &str = include_str!("../../../tests/data/other.crt");
pub const OTHER_KEY: &str = include_str!("../../../tests/data/other.key");
pub const ISSUER_KEY: &str = include_str!("../../../tests/data/issuer.key");
pub const ISSUER_PUB: &str = include_str!("../../../tests/data/issuer.pub");

const ISSUER: &str = "https://oidc.cluster.example/3f9a";
const SUBJECT: &str = "system:serviceaccount:identity:entra-cloud-operator";

/// A JWS over `header` and `claims`, signed with a PKCS#8 PEM RSA key (RS256, or PS256 when
/// the header says so).
pub fn sign(header: &Value, claims: &Value, key_pem: &str) -> String {
    let der = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).expect("PKCS#8 PEM");
    let key = KeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("RSA key");
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; key.public_modulus_len()];
    let padding = if header["alg"] == "PS256" {
        &RSA_PSS_SHA256
    } else {
        &RSA_PKCS1_SHA256
    };
    key.sign(
        padding,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("signing");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn thumbprints(cert_pem: &str) -> (String, String) {
    let c = Certificate::from_pem(cert_pem).expect("certificate");
    (c.x5t().to_string(), c.x5t_s256().to_string())
}

/// The header MSAL sends for a certificate.
fn cert_header(alg: &str, cert_pem: &str) -> Value {
    let (x5t, s256) = thumbprints(cert_pem);
    json!({"alg": alg, "typ": "JWT", "x5t": x5t, "x5t#S256": s256})
}

impl Harness {
    fn token_url(&self) -> String {
        self.url(&format!("/{}/oauth2/v2.0/token", self.config.tenant_id))
    }

    /// Certificate-assertion claims for the default app, addressed to this emulator.
    fn cert_claims(&self) -> Value {
        let t = now();
        json!({
            "aud": self.token_url(), "iss": self.config.client_id, "sub": self.config.client_id,
            "jti": crate::guid::random(), "nbf": t, "iat": t, "exp": t + 600,
        })
    }

    async fn assert_with(&self, client_id: &str, assertion: &str) -> Answer {
        self.token_request(&[
            ("grant_type", "client_credentials".into()),
            ("client_id", client_id.into()),
            ("scope", "https://graph.microsoft.com/.default".into()),
            (
                "client_assertion_type",
                crate::emulator::token::JWT_BEARER.into(),
            ),
            ("client_assertion", assertion.into()),
        ])
        .await
    }

    async fn assert_cert(&self, header: &Value, claims: &Value, key_pem: &str) -> Answer {
        let client_id = self.config.client_id.clone();
        self.assert_with(&client_id, &sign(header, claims, key_pem))
            .await
    }
}

fn with_cert(algorithms: AssertionAlgorithms) -> EmulatorConfig {
    EmulatorConfig {
        certificates: vec![APP_CRT.into()],
        assertion_algorithms: algorithms,
        ..config(10, 1)
    }
}

fn description(a: &Answer) -> &str {
    a.body["error_description"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_registered_certificate_gets_a_token_that_works_on_graph() {
    let h = Harness::start(with_cert(AssertionAlgorithms::default())).await;
    let claims = h.cert_claims();
    let (x5t, s256) = thumbprints(APP_CRT);
    let cloud_aud = format!(
        "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
        h.config.tenant_id
    );
    let cases = [
        (cert_header("RS256", APP_CRT), claims.clone()),
        (cert_header("PS256", APP_CRT), claims.clone()),
        (
            json!({"alg": "RS256", "typ": "JWT", "x5t": x5t}),
            claims.clone(),
        ),
        (json!({"alg": "RS256", "x5t#S256": s256}), claims.clone()),
        (
            cert_header("RS256", APP_CRT),
            with_claim(&claims, "aud", json!(cloud_aud)),
        ),
        // Within the tolerated skew.
        (
            cert_header("RS256", APP_CRT),
            with_claim(&claims, "exp", json!(now() - 60)),
        ),
    ];
    for (header, claims) in &cases {
        let a = h.assert_cert(header, claims, APP_KEY).await;
        assert_eq!(a.status, StatusCode::OK, "{header} {claims}: {:?}", a.body);
        let token = a.body["access_token"].as_str().unwrap_or_default();
        let org = h
            .http
            .get(h.url("/v1.0/organization"))
            .bearer_auth(token)
            .send()
            .await
            .expect("graph");
        assert_eq!(org.status(), StatusCode::OK);
    }
    h.emu.shutdown().await;
}

/// `claims` with `key` set to `value`.
fn with_claim(claims: &Value, key: &str, value: Value) -> Value {
    let mut c = claims.clone();
    c[key] = value;
    c
}

#[tokio::test]
async fn every_certificate_assertion_refusal_has_entras_error() {
    let h = Harness::start(with_cert(AssertionAlgorithms::default())).await;
    let good = h.cert_claims();
    let header = cert_header("RS256", APP_CRT);
    let edit = |key: &str, value: Value| with_claim(&good, key, value);
    let drop = |key: &str| {
        let mut c = good.clone();
        c.as_object_mut().map(|o| o.remove(key));
        c
    };
    let client = h.config.client_id.clone();
    let a = h.assert_with(&client, "eyJ.x.y").await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 50_027);
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", client.clone()),
        ("scope", "https://graph.microsoft.com/.default".into()),
        ("client_assertion", sign(&header, &good, APP_KEY)),
    ];
    let a = h.token_request(&form).await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 900_144);
    assert!(description(&a).contains("'client_assertion_type'"));
    form.push(("client_assertion_type", "urn:example:saml".into()));
    let a = h.token_request(&form).await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 50_027);

    let hs = json!({"alg": "HS256", "x5t#S256": header["x5t#S256"]});
    let a = h.assert_cert(&hs, &good, APP_KEY).await;
    assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 5_002_738);
    assert!(description(&a).contains("'HS256' is not a supported signature algorithm. Supported signing algorithms are: 'RS256,PS256'"));
    for claim in ["aud", "sub", "exp", "jti"] {
        let a = h.assert_cert(&header, &drop(claim), APP_KEY).await;
        assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 90_014);
        assert!(description(&a).contains(&format!("The required field '{claim}' is missing")));
    }
    for (key, value) in [
        ("iss", json!("11111111-2222-3333-4444-555555555555")),
        ("sub", json!("someone")),
    ] {
        let a = h.assert_cert(&header, &edit(key, value), APP_KEY).await;
        assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 700_021);
    }
    for aud in [
        "https://login.microsoftonline.com/fabrikam.com/oauth2/v2.0/token".to_string(),
        "https://login.example.com/contoso.com/oauth2/v2.0/token".into(),
        format!(
            "https://graph.microsoft.com/{}/oauth2/v2.0/token",
            h.config.tenant_id
        ),
    ] {
        let a = h
            .assert_cert(&header, &edit("aud", json!(aud)), APP_KEY)
            .await;
        assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 700_023);
    }
    let a = h
        .assert_cert(&json!({"alg": "RS256"}), &good, APP_KEY)
        .await;
    assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 5_002_723);
    // A certificate the application does not have: "The key was not found." with its thumbprint.
    let a = h
        .assert_cert(&cert_header("RS256", OTHER_CRT), &good, OTHER_KEY)
        .await;
    assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 700_027);
    let other = Certificate::from_pem(OTHER_CRT).expect("certificate");
    let hex = crate::emulator::apps::hex_upper(
        &URL_SAFE_NO_PAD.decode(other.x5t_s256()).unwrap_or_default(),
    );
    assert!(
        description(&a)
            .contains("[Reason - The key was not found., Thumbprint of key used by client: '"),
        "{}",
        description(&a)
    );
    assert!(description(&a).contains(&hex));
    assert!(description(&a).contains(&format!("app Id '{client}'")));
    // The registered certificate's thumbprint, signed by another key.
    let a = h.assert_cert(&header, &good, OTHER_KEY).await;
    assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 700_027);
    assert!(
        description(&a)
            .contains("The provided signature value did not match the expected signature value.")
    );
    // Expired, and not yet valid, beyond the skew.
    let t = now();
    for claims in [edit("exp", json!(t - 3_600)), edit("nbf", json!(t + 3_600))] {
        let a = h.assert_cert(&header, &claims, APP_KEY).await;
        assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 700_024);
        assert!(
            description(&a)
                .contains("Client assertion is not within its valid time range. Current time: ")
        );
    }
    // The assertion authenticates the app it names, not another registered one.
    let a = h
        .assert_with(
            "22222222-0000-0000-0000-000000000002",
            &sign(&header, &good, APP_KEY),
        )
        .await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "unauthorized_client", 700_016);
    let state = h.state().await;
    assert_eq!(state["tokens"]["issued"], 1, "only the harness's own token");
    h.emu.shutdown().await;
}

#[tokio::test]
async fn the_algorithm_switch_produces_both_answers() {
    for (algorithms, refused, supported) in [
        (AssertionAlgorithms::Rs256, "PS256", "RS256"),
        (AssertionAlgorithms::Ps256, "RS256", "PS256"),
    ] {
        let h = Harness::start(with_cert(algorithms)).await;
        let claims = h.cert_claims();
        let a = h
            .assert_cert(&cert_header(refused, APP_CRT), &claims, APP_KEY)
            .await;
        assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 5_002_738);
        assert!(
            description(&a).contains(&format!("Supported signing algorithms are: '{supported}'"))
        );
        let a = h
            .assert_cert(&cert_header(supported, APP_CRT), &claims, APP_KEY)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        h.emu.shutdown().await;
    }
}

fn federated(
    audiences: &[&str],
    signing_key: Option<&str>,
    subject: &str,
) -> FederatedCredentialSpec {
    FederatedCredentialSpec {
        name: None,
        issuer: ISSUER.into(),
        subject: subject.into(),
        audiences: audiences.iter().map(|a| (*a).to_string()).collect(),
        signing_key: signing_key.map(str::to_string),
    }
}

/// A projected service-account token as a cluster's OIDC issuer signs it.
fn sa_token(claims: &Value, key_pem: &str) -> String {
    sign(
        &json!({"alg": "RS256", "kid": "cluster-key-1"}),
        claims,
        key_pem,
    )
}

fn sa_claims(subject: &str, audience: &str) -> Value {
    let t = now();
    json!({"iss": ISSUER, "sub": subject, "aud": [audience], "iat": t, "nbf": t, "exp": t + 3_600,
           "kubernetes.io": {"namespace": "identity"}})
}

#[tokio::test]
async fn workload_identity_tokens_must_match_a_federated_credential() {
    let claims_only = "system:serviceaccount:identity:claims-only";
    let h = Harness::start(EmulatorConfig {
        federated_credentials: vec![
            federated(&[], Some(ISSUER_PUB), SUBJECT),
            federated(&["api://AzureADTokenExchangeUSGov"], None, claims_only),
        ],
        ..config(10, 1)
    })
    .await;
    let client = h.config.client_id.clone();
    let aud = "api://AzureADTokenExchange";
    let a = h
        .assert_with(&client, &sa_token(&sa_claims(SUBJECT, aud), ISSUER_KEY))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    // Without a registered key only the claims count: any signature passes.
    let usgov = sa_claims(claims_only, "api://AzureADTokenExchangeUSGov");
    let a = h.assert_with(&client, &sa_token(&usgov, OTHER_KEY)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);

    let mismatches = [
        sa_claims("system:serviceaccount:identity:other", aud),
        sa_claims(SUBJECT, "api://AzureADTokenExchangeUSGov"),
        with_claim(
            &sa_claims(SUBJECT, aud),
            "iss",
            json!("https://other-issuer.example"),
        ),
        // The claims-only credential was registered for the US Government audience only.
        sa_claims(claims_only, aud),
    ];
    for claims in &mismatches {
        let a = h.assert_with(&client, &sa_token(claims, ISSUER_KEY)).await;
        assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 70_021);
        let expected = format!(
            "No matching federated identity record found for presented assertion. Assertion Issuer: '{}'. Assertion Subject: '{}'. Assertion Audience: '{}'.",
            claims["iss"].as_str().unwrap_or_default(),
            claims["sub"].as_str().unwrap_or_default(),
            claims["aud"][0].as_str().unwrap_or_default(),
        );
        assert!(description(&a).contains(&expected), "{}", description(&a));
    }
    // Signed by a key the issuer did not register.
    let a = h
        .assert_with(&client, &sa_token(&sa_claims(SUBJECT, aud), OTHER_KEY))
        .await;
    assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 700_027);
    // Expired projected token (the kubelet stopped rotating it).
    let expired = with_claim(&sa_claims(SUBJECT, aud), "exp", json!(now() - 3_600));
    let a = h
        .assert_with(&client, &sa_token(&expired, ISSUER_KEY))
        .await;
    assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 700_024);
    let mut no_sub = sa_claims(SUBJECT, aud);
    no_sub.as_object_mut().map(|o| o.remove("sub"));
    let a = h.assert_with(&client, &sa_token(&no_sub, ISSUER_KEY)).await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 90_014);
    h.emu.shutdown().await;
}
