//! Workload identity in tests: a projected service-account token signed like a cluster's OIDC
//! issuer, and the emulator's federated credential that trusts it.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_cloud_operator::emulator::FederatedCredentialSpec;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

pub const ISSUER_KEY: &str = include_str!("../data/issuer.key");
pub const ISSUER_PUB: &str = include_str!("../data/issuer.pub");
pub const ISSUER: &str = "https://oidc.kind.example/cluster-1";
pub const SUBJECT: &str = "system:serviceaccount:identity:entra-cloud-operator";

/// The emulator's federated credential for [`SUBJECT`] of [`ISSUER`].
pub fn federated_credential() -> FederatedCredentialSpec {
    FederatedCredentialSpec {
        issuer: ISSUER.into(),
        subject: SUBJECT.into(),
        signing_key: Some(ISSUER_PUB.into()),
        ..FederatedCredentialSpec::default()
    }
}

/// A projected service-account token, as the cluster's OIDC issuer signs it.
pub fn service_account_token(subject: &str, key_pem: &str) -> String {
    let now = jiff::Timestamp::now().as_second();
    let header = json!({"alg": "RS256", "kid": "k1"});
    let claims = json!({"iss": ISSUER, "sub": subject, "aud": ["api://AzureADTokenExchange"],
                        "iat": now, "nbf": now, "exp": now + 3600});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let key = KeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
