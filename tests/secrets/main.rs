//! Secrets never reach logs, statuses, Events, errors, the journal or `Debug` output. Every
//! flow runs with recognisable secret values, once per kind of credential (client secret,
//! certificate private key, federated token), while everything is logged at TRACE: the
//! reconcilers (tenant-wide cutover and drift, user conversions by each method, group
//! conversions with owners, both undos, refusals), the controller against the Kubernetes API
//! stand-in (credentials from Secrets; its Events, statuses, journal ConfigMaps, metrics) and
//! the `apply`/`plan` command line (credentials from manifests and from the environment). Then
//! all of it is searched for the secrets, for the exact client assertions, federated tokens
//! and access tokens that crossed the token endpoint (a recording tap in front of it), and for
//! their shapes (a JWT header, a bearer header).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../ad_support/mod.rs"]
mod ad_support;
#[path = "../common/mod.rs"]
mod common;
#[path = "../fake_apiserver/mod.rs"]
mod fake_apiserver;

mod cli;
mod controller;
mod directory;
mod flows;
mod tap;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

pub const WRONG: &str = "Wr0ng-S3cret-Canary-41d8";
pub const APP_CRT: &str = include_str!("../data/app.crt");
pub const APP_KEY: &str = include_str!("../data/app.key");
pub const APP_PKCS1_KEY: &str = include_str!("../data/app-pkcs1.key");
pub const OTHER_CRT: &str = include_str!("../data/other.crt");
pub const OTHER_KEY: &str = include_str!("../data/other.key");
/// The signature part of a federated token: a recognisable value (valid base64url).
pub const SA_TOKEN_CANARY: &str = "SaTokenCanary9d2";
pub const ISSUER: &str = "https://oidc.kind.example/cluster-1";
pub const SUBJECT: &str = "system:serviceaccount:identity:operator";

/// Everything logged in this process, at TRACE, from the first test on.
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

static LOGS: OnceLock<Capture> = OnceLock::new();

/// Starts capturing (once per process) and returns the capture.
fn logs() -> &'static Capture {
    LOGS.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        capture
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned()
}

/// A federated token for `subject` (claims only: its issuer has no registered key).
pub fn sa_token(subject: &str) -> String {
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
fn key_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_string)
        .collect()
}

/// Every fixed secret value, and the forms a Kubernetes Secret gives them (base64 of the whole
/// value, as `data` holds it).
fn fixed_secrets() -> Vec<String> {
    let mut s = vec![
        common::SECRET.to_string(),
        WRONG.to_string(),
        SA_TOKEN_CANARY.to_string(),
        STANDARD.encode(common::SECRET),
        STANDARD.encode(WRONG),
    ];
    for key in [APP_KEY, APP_PKCS1_KEY, OTHER_KEY] {
        s.extend(key_lines(key));
        // The start of the base64 of the whole PEM (the header is the same in every key, so
        // the prefix past it tells keys apart).
        s.push(STANDARD.encode(key)[40..100].to_string());
    }
    s
}

/// Asserts that `text` (named `what`) holds no secret: neither a fixed one nor any value the
/// token tap saw, nor anything shaped like a signed JWT or an Authorization header.
pub fn assert_clean(what: &str, text: &str, seen: &tap::Seen) {
    assert!(!text.is_empty(), "{what}: nothing to search");
    let mut secrets = fixed_secrets();
    secrets.extend(seen.values());
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({}…) found in {what}",
            &secret[..8.min(secret.len())]
        );
    }
    // Every JWT (client assertion, federated token) starts with the base64url of `{"alg`.
    assert!(!text.contains("eyJhbGci"), "a JWT in {what}");
    assert!(
        !text.to_lowercase().contains("bearer "),
        "a bearer token in {what}"
    );
}

/// The credentials the tests run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cred {
    ClientSecret,
    Certificate,
    WorkloadIdentity,
}

pub const CREDS: [Cred; 3] = [
    Cred::ClientSecret,
    Cred::Certificate,
    Cred::WorkloadIdentity,
];

#[tokio::test]
async fn reconcilers_leak_no_secret_with_any_credential() {
    logs();
    let seen = tap::Seen::default();
    let mut out = String::new();
    for cred in CREDS {
        out.push_str(&flows::every_flow(cred, &seen).await);
    }
    assert!(
        seen.values().len() >= 6,
        "the tap saw tokens and assertions"
    );
    assert_clean("statuses, Events, errors and journals", &out, &seen);
    let logs = logged();
    for what in ["graph", "certificate", "federated"] {
        assert!(
            logs.contains(what),
            "{what} token requests and calls are logged"
        );
    }
    assert_clean("logs", &logs, &seen);
}

#[tokio::test]
async fn the_controller_leaks_no_secret() {
    logs();
    let seen = tap::Seen::default();
    let out = controller::run(&seen).await;
    assert_clean(
        "the API server's Events, statuses, journal ConfigMaps and Leases, and metrics",
        &out,
        &seen,
    );
    assert_clean("logs", &logged(), &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_leaks_no_secret() {
    logs();
    let seen = tap::Seen::default();
    let out = cli::every_credential(&seen).await;
    assert_clean("apply and plan output, logs and journal", &out, &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_flows_leak_no_bind_password() {
    logs();
    let Some((out, password)) = directory::run().await else {
        return;
    };
    let logs = logged();
    for (what, text) in [
        ("statuses, Events, journal and Debug", &out),
        ("logs", &logs),
    ] {
        for secret in [password.as_str(), directory::WRONG_BIND] {
            assert!(
                !text.contains(secret),
                "an AD bind password ({}…) found in {what}",
                &secret[..6]
            );
            assert!(
                !text.contains(&STANDARD.encode(secret)),
                "base64 of a bind password in {what}"
            );
        }
    }
    assert!(
        logs.contains("ldap_connect"),
        "LDAP connections are logged (spans)"
    );
}

/// `Debug` of every type that holds a credential is redacted.
#[test]
fn debug_output_of_credentials_is_redacted() {
    use entra_cloud_operator::graph::{ClientCertificate, Credential, SecretString};
    let cert = ClientCertificate::from_pem(APP_CRT, &SecretString::new(APP_KEY)).unwrap();
    let pkcs1 = ClientCertificate::from_pem(APP_CRT, &SecretString::new(APP_PKCS1_KEY)).unwrap();
    let mismatch = ClientCertificate::from_pem(APP_CRT, &SecretString::new(OTHER_KEY)).unwrap_err();
    let not_a_key =
        ClientCertificate::from_pem(APP_CRT, &SecretString::new(common::SECRET)).unwrap_err();
    let env = entra_cloud_operator::local::credentials::Env {
        tenant_id: Some(common::TENANT.into()),
        client_id: Some(common::CLIENT.into()),
        client_secret: Some(SecretString::new(common::SECRET)),
        client_certificate_path: Some("/tmp/app.pem".into()),
        federated_token_file: Some("/var/run/secrets/token".into()),
        ad_bind_password: Some(SecretString::new(WRONG)),
        allow_endpoint_override: false,
    };
    let app = entra_cloud_operator::emulator::AppRegistration {
        secrets: vec![common::SECRET.into()],
        certificates: vec![APP_CRT.into()],
        ..Default::default()
    };
    let debug = [
        format!(
            "{:?}",
            Credential::ClientSecret {
                client_id: common::CLIENT.into(),
                secret: SecretString::new(common::SECRET),
            }
        ),
        format!(
            "{:?}",
            Credential::Certificate {
                client_id: common::CLIENT.into(),
                certificate: cert.clone(),
            }
        ),
        format!(
            "{:?}",
            Credential::WorkloadIdentity {
                client_id: common::CLIENT.into(),
                token_file: "/var/run/secrets/token".into(),
            }
        ),
        format!("{cert:?} {pkcs1:?} {mismatch:?} {mismatch} {not_a_key:?} {not_a_key}"),
        format!("{:?}", SecretString::new(sa_token(SUBJECT))),
        format!("{env:?} {app:?}"),
    ];
    let all = debug.join("\n");
    assert!(all.contains("[redacted]"), "{all}");
    assert_clean("Debug output", &all, &tap::Seen::default());
}
