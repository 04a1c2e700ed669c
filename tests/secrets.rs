//! Secrets never reach logs, statuses, Events, errors or the journal: every flow runs with
//! recognisable secret values while everything is logged at TRACE, then all output is
//! searched for them. That covers certificate private keys, the client assertions they sign
//! and federated (workload identity) tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use entra_cloud_operator::emulator::{EmulatorConfig, FederatedCredentialSpec};
use entra_cloud_operator::graph::{ClientCertificate, Credential, SecretString};
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const WRONG: &str = "Wr0ng-S3cret-Canary-41d8";
const APP_CRT: &str = include_str!("data/app.crt");
const APP_KEY: &str = include_str!("data/app.key");
const OTHER_CRT: &str = include_str!("data/other.crt");
const OTHER_KEY: &str = include_str!("data/other.key");
/// The signature part of a federated token: a recognisable value (valid base64url).
const SA_TOKEN_CANARY: &str = "SaTokenCanary9d2";
const ISSUER: &str = "https://oidc.kind.example/cluster-1";

/// A federated token for `subject` (claims only: its issuer has no registered key).
fn sa_token(subject: &str) -> String {
    let now = jiff::Timestamp::now().as_second();
    let header = json!({"alg": "RS256", "kid": "k1"});
    let claims = json!({"iss": ISSUER, "sub": subject, "aud": "api://AzureADTokenExchange",
                        "nbf": now, "exp": now + 3600});
    format!(
        "{}.{}.{SA_TOKEN_CANARY}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The private key's base64 lines: none may appear anywhere.
fn key_lines(pem: &str) -> Vec<&str> {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[tokio::test]
async fn no_secret_in_logs_status_events_errors_or_journal() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let mut seen = String::new();
    let emu = start(EmulatorConfig {
        certificates: vec![APP_CRT.into()],
        federated_credentials: vec![FederatedCredentialSpec {
            issuer: ISSUER.into(),
            subject: "system:serviceaccount:identity:operator".into(),
            ..FederatedCredentialSpec::default()
        }],
        ..config(40, 3)
    })
    .await;

    // The whole cutover, with faults so retries and warnings are logged too.
    control_post(&emu, "faults", json!({"status": 503, "count": 3})).await;
    let mut h = Harness::new(&emu, policy("Disabled", true, "Remediate"), SECRET);
    h.until(5, |s| s.disable_requested_at.is_some()).await;
    advance(&emu, 4000.0).await;
    h.until(5, is_ready).await;
    control_post(&emu, "sync/enable", json!({})).await;
    h.pass().await.unwrap();
    seen.push_str(&serde_json::to_string(&h.status()).unwrap());
    seen.push_str(&format!("{:?}", h.events));
    seen.push_str(&std::fs::read_to_string(&h.journal_path).unwrap());

    // A token-endpoint outage: the error is returned, never the secret.
    control_post(
        &emu,
        "faults",
        json!({"status": 503, "count": 100, "target": "token"}),
    )
    .await;
    let mut fresh = Harness::new(&emu, policy("Disabled", true, "Report"), SECRET);
    let err = fresh.pass().await.unwrap_err();
    seen.push_str(&format!("{err} {err:?}"));
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .unwrap();

    // A wrong secret and a missing permission: Stalled, with messages and Events.
    let mut wrong = Harness::new(&emu, policy("Disabled", true, "Report"), WRONG);
    wrong.pass().await.unwrap();
    seen.push_str(&serde_json::to_string(&wrong.status()).unwrap());
    seen.push_str(&format!("{:?}", wrong.events));
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.Read.All"]}),
    )
    .await;
    let mut denied = Harness::new(&emu, policy("Disabled", true, "Report"), SECRET);
    denied.pass().await.unwrap();
    seen.push_str(&serde_json::to_string(&denied.status()).unwrap());

    // Debug output of credentials is redacted.
    let cred = Credential::ClientSecret {
        client_id: CLIENT.into(),
        secret: SecretString::new(SECRET),
    };
    seen.push_str(&format!("{cred:?}"));

    // Certificates: a token, a refused key, a mismatched pair; their Debug output.
    let cert = certificate(APP_CRT, APP_KEY);
    client_with(&emu, cert.clone())
        .organization()
        .await
        .unwrap();
    let err = client_with(&emu, certificate(OTHER_CRT, OTHER_KEY))
        .organization()
        .await
        .unwrap_err();
    seen.push_str(&format!("{err} {err:?} {cert:?}"));
    let mismatch = ClientCertificate::from_pem(APP_CRT, &SecretString::new(OTHER_KEY)).unwrap_err();
    seen.push_str(&format!("{mismatch} {mismatch:?}"));

    // Workload identity: a token file accepted, then one no federated credential matches.
    let dir = temp_dir("secrets-wif");
    let token_file = dir.join("azure-identity-token");
    let wif = Credential::WorkloadIdentity {
        client_id: CLIENT.into(),
        token_file: token_file.clone(),
    };
    std::fs::write(
        &token_file,
        sa_token("system:serviceaccount:identity:operator"),
    )
    .unwrap();
    client_with(&emu, wif.clone()).organization().await.unwrap();
    std::fs::write(
        &token_file,
        sa_token("system:serviceaccount:identity:other"),
    )
    .unwrap();
    let err = client_with(&emu, wif.clone())
        .organization()
        .await
        .unwrap_err();
    seen.push_str(&format!("{err} {err:?} {wif:?}"));
    let _ = std::fs::remove_dir_all(&dir);
    emu.shutdown().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.len() > 1000, "the test must actually capture logs");
    assert!(logs.contains("graph"), "Graph calls are logged");
    assert!(
        logs.contains("certificate"),
        "certificate token requests are logged"
    );
    assert!(
        logs.contains("federated"),
        "federated token requests are logged"
    );
    let mut secrets = vec![SECRET, WRONG, SA_TOKEN_CANARY];
    secrets.extend(key_lines(APP_KEY));
    secrets.extend(key_lines(OTHER_KEY));
    for (what, text) in [("logs", &logs), ("status/events/errors/journal", &seen)] {
        for secret in &secrets {
            assert!(!text.contains(secret), "{secret} found in {what}");
        }
        // Every client assertion (signed JWT) starts with the base64url of `{"alg`.
        assert!(!text.contains("eyJhbGci"), "a client assertion in {what}");
        assert!(
            !text.to_lowercase().contains("bearer "),
            "a bearer token in {what}"
        );
    }
}
