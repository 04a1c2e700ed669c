#![allow(clippy::unwrap_used)]
use super::*;

fn tsp() -> TenantSyncPolicy {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
        "metadata": {"name": "contoso", "namespace": "identity"},
        "spec": {"tenantId": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
                 "credentials": {"clientSecret": {"clientId": "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e",
                                 "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}}}
    }))
    .unwrap()
}

fn secrets(key: &str, value: &str) -> BTreeMap<(String, String), BTreeMap<String, SecretString>> {
    let mut data = BTreeMap::new();
    data.insert(key.to_string(), SecretString::new(value));
    let mut m = BTreeMap::new();
    m.insert(
        ("identity".to_string(), "graph-credentials".to_string()),
        data,
    );
    m
}

#[test]
fn the_spec_turns_batching_off() {
    let credential = resolve(&tsp(), &secrets("clientSecret", "abc"), &Env::default()).unwrap();
    let batching = |tsp: &TenantSyncPolicy| {
        graph_client(
            tsp,
            (credential.clone(), &Secrets::new()),
            (&EndpointOverrides::default(), &Env::default()),
            1.0,
        )
        .unwrap()
        .batching()
    };
    assert!(batching(&tsp()), "batching by default");
    let mut off = tsp();
    off.spec.quota = Some(crate::api::tenant::QuotaSpec {
        batch: Some(false),
        ..Default::default()
    });
    assert!(!batching(&off));
}

#[test]
fn secret_from_manifests_then_env() {
    let c = resolve(&tsp(), &secrets("clientSecret", "abc"), &Env::default()).unwrap();
    assert!(matches!(c, Credential::ClientSecret { ref secret, .. } if secret.expose() == "abc"));
    let env = Env {
        client_secret: Some(SecretString::new("from-env")),
        ..Default::default()
    };
    let c = resolve(&tsp(), &BTreeMap::new(), &env).unwrap();
    assert!(
        matches!(c, Credential::ClientSecret { ref secret, .. } if secret.expose() == "from-env")
    );
}

#[test]
fn errors_name_what_to_fix_and_never_the_secret() {
    let e = resolve(&tsp(), &secrets("other", "abc"), &Env::default()).unwrap_err();
    assert!(
        e.0.contains("no key \"clientSecret\"") && e.0.contains("other") && !e.0.contains("abc"),
        "{e}"
    );
    let e = resolve(&tsp(), &secrets("clientSecret", "  "), &Env::default()).unwrap_err();
    assert!(e.0.contains("is empty"), "{e}");
    let e = resolve(&tsp(), &BTreeMap::new(), &Env::default()).unwrap_err();
    assert!(e.0.contains("AZURE_CLIENT_SECRET"), "{e}");
    let env = Env {
        tenant_id: Some("00000000-0000-0000-0000-000000000000".into()),
        ..Default::default()
    };
    assert!(
        resolve(&tsp(), &secrets("clientSecret", "abc"), &env)
            .unwrap_err()
            .0
            .contains("AZURE_TENANT_ID")
    );
}

const APP_CRT: &str = include_str!("../../tests/data/app.crt");
const APP_KEY: &str = include_str!("../../tests/data/app.key");
const OTHER_KEY: &str = include_str!("../../tests/data/other.key");

fn cert_tsp() -> TenantSyncPolicy {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
        "metadata": {"name": "contoso", "namespace": "identity"},
        "spec": {"tenantId": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
                 "credentials": {"certificate": {"clientId": "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e",
                                 "secretRef": {"name": "graph-cert"}}}}
    }))
    .unwrap()
}

fn tls(entries: &[(&str, &str)]) -> BTreeMap<(String, String), BTreeMap<String, SecretString>> {
    let data = entries
        .iter()
        .map(|(k, v)| ((*k).to_string(), SecretString::new(*v)))
        .collect();
    BTreeMap::from([(("identity".to_string(), "graph-cert".to_string()), data)])
}

#[test]
fn certificate_from_a_tls_secret_or_the_environment() {
    let c = resolve(
        &cert_tsp(),
        &tls(&[("tls.crt", APP_CRT), ("tls.key", APP_KEY)]),
        &Env::default(),
    )
    .unwrap();
    assert!(matches!(c, Credential::Certificate { .. }));
    let file = std::env::temp_dir().join(format!("eco-cert-{}.pem", fastrand::u64(..)));
    std::fs::write(&file, format!("{APP_CRT}{APP_KEY}")).unwrap();
    let env = Env {
        client_certificate_path: Some(file.to_string_lossy().into_owned()),
        ..Default::default()
    };
    let c = resolve(&cert_tsp(), &BTreeMap::new(), &env).unwrap();
    assert!(matches!(c, Credential::Certificate { .. }));
    let _ = std::fs::remove_file(&file);
}

#[test]
fn certificate_errors_name_the_key_and_the_fix_never_the_key() {
    let key_line = APP_KEY.lines().nth(1).unwrap();
    let cases = [
        (tls(&[("tls.key", APP_KEY)]), "no key \"tls.crt\""),
        (tls(&[("tls.crt", APP_CRT)]), "secretRef.privateKeyKey"),
        (
            tls(&[("tls.crt", "x"), ("tls.key", APP_KEY)]),
            "key \"tls.crt\": the certificate is not PEM",
        ),
        (
            tls(&[("tls.crt", APP_CRT), ("tls.key", OTHER_KEY)]),
            "does not belong to the certificate",
        ),
        (BTreeMap::new(), "AZURE_CLIENT_CERTIFICATE_PATH is not set"),
    ];
    for (secrets, wanted) in cases {
        let e = resolve(&cert_tsp(), &secrets, &Env::default()).unwrap_err();
        assert!(e.0.contains(wanted), "{wanted}: {e}");
        assert!(!e.0.contains(key_line), "the key leaked: {e}");
    }
    let env = Env {
        client_certificate_path: Some("/nonexistent/cert.pem".into()),
        ..Default::default()
    };
    let e = resolve(&cert_tsp(), &BTreeMap::new(), &env).unwrap_err();
    assert!(
        e.0.contains("cannot read AZURE_CLIENT_CERTIFICATE_PATH"),
        "{e}"
    );
}
