//! Turning a `TenantSyncPolicy`'s credentials into a Graph client, outside a cluster:
//! Secrets come from the manifests given with `-f`, else from the environment
//! (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH,
//! AZURE_FEDERATED_TOKEN_FILE).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::TenantSyncPolicy;
use crate::api::tenant::CertificateCredential;
use crate::graph::pacing::Quota;
use crate::graph::{
    ClientCertificate, Credential, GraphClient, GraphConfig, RetryPolicy, SecretString,
};

/// Why no client could be built. Messages name the Secret, key or variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// Environment variables the CLI honours (read once, passed in so tests control them).
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// AZURE_TENANT_ID
    pub tenant_id: Option<String>,
    /// AZURE_CLIENT_ID
    pub client_id: Option<String>,
    /// AZURE_CLIENT_SECRET
    pub client_secret: Option<SecretString>,
    /// AZURE_CLIENT_CERTIFICATE_PATH: a PEM file with the certificate and its private key
    /// (the Azure SDKs' convention; PKCS#12 is not supported).
    pub client_certificate_path: Option<String>,
    /// AZURE_FEDERATED_TOKEN_FILE
    pub federated_token_file: Option<String>,
    /// AD_BIND_PASSWORD: the Active Directory bind password when its Secret is not among the
    /// manifests.
    pub ad_bind_password: Option<SecretString>,
}

impl Env {
    /// Read the process environment.
    pub fn from_process() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Env {
            tenant_id: get("AZURE_TENANT_ID"),
            client_id: get("AZURE_CLIENT_ID"),
            client_secret: get("AZURE_CLIENT_SECRET").map(SecretString::new),
            client_certificate_path: get("AZURE_CLIENT_CERTIFICATE_PATH"),
            federated_token_file: get("AZURE_FEDERATED_TOKEN_FILE"),
            ad_bind_password: std::env::var("AD_BIND_PASSWORD")
                .ok()
                .filter(|v| !v.is_empty())
                .map(SecretString::new),
        }
    }
}

/// Endpoint overrides from the command line (`--graph-url`, `--login-url`).
#[derive(Clone, Debug, Default)]
pub struct EndpointOverrides {
    /// Graph root.
    pub graph: Option<String>,
    /// Token authority.
    pub login: Option<String>,
}

/// Resolve the credential of `tsp`.
pub fn resolve(
    tsp: &TenantSyncPolicy,
    secrets: &BTreeMap<(String, String), BTreeMap<String, SecretString>>,
    env: &Env,
) -> Result<Credential, CredentialError> {
    let spec = &tsp.spec;
    let ns = tsp
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    if let Some(t) = &env.tenant_id
        && !t.eq_ignore_ascii_case(&spec.tenant_id)
    {
        return Err(CredentialError(format!(
            "AZURE_TENANT_ID is {t} but spec.tenantId is {}; unset AZURE_TENANT_ID or fix spec.tenantId",
            spec.tenant_id
        )));
    }
    let c = &spec.credentials;
    if let Some(cs) = &c.client_secret {
        let r = &cs.secret_ref;
        if let Some(data) = secrets.get(&(ns.clone(), r.name.clone())) {
            let secret = data.get(&r.key).ok_or_else(|| {
                let keys: Vec<&str> = data.keys().map(String::as_str).collect();
                CredentialError(format!(
                    "Secret {ns}/{} has no key {:?} (keys: {}); fix spec.credentials.clientSecret.secretRef.key or the Secret",
                    r.name,
                    r.key,
                    keys.join(", ")
                ))
            })?;
            if secret.is_empty() {
                return Err(CredentialError(format!(
                    "Secret {ns}/{} key {:?} is empty; put the client secret value there",
                    r.name, r.key
                )));
            }
            return Ok(Credential::ClientSecret {
                client_id: cs.client_id.clone(),
                secret: secret.clone(),
            });
        }
        if let Some(secret) = &env.client_secret {
            if let Some(id) = &env.client_id
                && !id.eq_ignore_ascii_case(&cs.client_id)
            {
                return Err(CredentialError(format!(
                    "AZURE_CLIENT_ID is {id} but spec.credentials.clientSecret.clientId is {}; they must name the same application",
                    cs.client_id
                )));
            }
            return Ok(Credential::ClientSecret {
                client_id: cs.client_id.clone(),
                secret: secret.clone(),
            });
        }
        return Err(CredentialError(format!(
            "spec.credentials.clientSecret.secretRef.name: Secret {ns}/{} is not among the manifests and AZURE_CLIENT_SECRET is not set; add the Secret to the files given with -f, or export AZURE_CLIENT_SECRET",
            r.name
        )));
    }
    if let Some(wi) = &c.workload_identity {
        let client_id = wi.client_id.clone().or_else(|| env.client_id.clone()).ok_or_else(|| {
            CredentialError(
                "spec.credentials.workloadIdentity.clientId is not set and AZURE_CLIENT_ID is not in the environment".into(),
            )
        })?;
        let token_file = env.federated_token_file.clone().ok_or_else(|| {
            CredentialError(
                "workload identity needs AZURE_FEDERATED_TOKEN_FILE (injected by the azure-workload-identity webhook in a cluster)".into(),
            )
        })?;
        return Ok(Credential::WorkloadIdentity {
            client_id,
            token_file: token_file.into(),
        });
    }
    if let Some(cc) = &c.certificate {
        return certificate(&ns, cc, secrets, env);
    }
    Err(CredentialError(
        "spec.credentials: set exactly one of clientSecret, certificate, workloadIdentity".into(),
    ))
}

/// The certificate credential of `cc`: from its Secret among the manifests, else from
/// AZURE_CLIENT_CERTIFICATE_PATH.
fn certificate(
    ns: &str,
    cc: &CertificateCredential,
    secrets: &BTreeMap<(String, String), BTreeMap<String, SecretString>>,
    env: &Env,
) -> Result<Credential, CredentialError> {
    let r = &cc.secret_ref;
    let (cert_key, key_key) = (&r.certificate_key, &r.private_key_key);
    let loaded = |cert: &str, key: &SecretString, origin: &dyn Fn(bool) -> String| {
        ClientCertificate::from_pem(cert, key)
            .map(|certificate| Credential::Certificate {
                client_id: cc.client_id.clone(),
                certificate,
            })
            .map_err(|e| {
                let cert_side = matches!(
                    e,
                    crate::graph::CertificateError::CertificateNotPem
                        | crate::graph::CertificateError::CertificateInvalid
                );
                CredentialError(format!("{}: {e}; {}", origin(cert_side), e.hint()))
            })
    };
    if let Some(data) = secrets.get(&(ns.to_string(), r.name.clone())) {
        let get = |key: &String, what: &str, field: &str| {
            data.get(key).ok_or_else(|| {
                let keys: Vec<&str> = data.keys().map(String::as_str).collect();
                CredentialError(format!(
                    "Secret {ns}/{} has no key {key:?} ({what}; keys: {}); fix spec.credentials.certificate.secretRef.{field} or the Secret",
                    r.name,
                    keys.join(", ")
                ))
            })
        };
        let cert = get(cert_key, "the PEM certificate", "certificateKey")?;
        let key = get(key_key, "the PEM private key", "privateKeyKey")?;
        let origin = |cert_side: bool| {
            let key = if cert_side { cert_key } else { key_key };
            format!("Secret {ns}/{} key {key:?}", r.name)
        };
        return loaded(cert.expose(), key, &origin);
    }
    if let Some(path) = &env.client_certificate_path {
        if let Some(id) = &env.client_id
            && !id.eq_ignore_ascii_case(&cc.client_id)
        {
            return Err(CredentialError(format!(
                "AZURE_CLIENT_ID is {id} but spec.credentials.certificate.clientId is {}; they must name the same application",
                cc.client_id
            )));
        }
        let pem = std::fs::read_to_string(path)
            .map(SecretString::new)
            .map_err(|e| {
                CredentialError(format!(
                    "cannot read AZURE_CLIENT_CERTIFICATE_PATH {path}: {e}"
                ))
            })?;
        let origin = |_| format!("AZURE_CLIENT_CERTIFICATE_PATH {path}");
        return loaded(pem.expose(), &pem, &origin);
    }
    Err(CredentialError(format!(
        "spec.credentials.certificate.secretRef.name: Secret {ns}/{} is not among the manifests and AZURE_CLIENT_CERTIFICATE_PATH is not set; add the Secret (keys {cert_key:?} and {key_key:?}) to the files given with -f, or export AZURE_CLIENT_CERTIFICATE_PATH (a PEM file with the certificate and its private key)",
        r.name
    )))
}

/// Build the Graph client of `tsp`: the cloud's endpoints unless the spec or the command
/// line override them; the scope is always the cloud's own.
/// `time_scale` (tenant seconds per real second, above 1 against a fast emulator) shortens
/// the quota windows the client paces to, as the emulator's own quotas are.
pub fn graph_client(
    tsp: &TenantSyncPolicy,
    credential: Credential,
    overrides: &EndpointOverrides,
    time_scale: f64,
) -> Result<GraphClient, CredentialError> {
    let spec = &tsp.spec;
    let ep = spec.endpoints.clone().unwrap_or_default();
    let graph_root = overrides
        .graph
        .clone()
        .or(ep.graph)
        .unwrap_or_else(|| spec.cloud.graph_root().to_string());
    let login_root = overrides
        .login
        .clone()
        .or(ep.login)
        .unwrap_or_else(|| spec.cloud.login_root().to_string());
    let config = GraphConfig {
        graph_root,
        login_root,
        scope: format!("{}/.default", spec.cloud.graph_root()),
        tenant_id: spec.tenant_id.clone(),
        retry: RetryPolicy::default(),
        timeout: Duration::from_secs(60),
        observer: None,
        pacing: Some(scaled(spec.pacing().map_err(CredentialError)?, time_scale)),
        ca_bundle: None,
    };
    let client =
        GraphClient::new(config, credential).map_err(|e| CredentialError(e.to_string()))?;
    client.set_batching(spec.batching());
    Ok(client)
}

/// The quota with its windows shortened by `time_scale` (ignored unless finite and positive).
fn scaled(quota: Quota, time_scale: f64) -> Quota {
    if !(time_scale.is_finite() && time_scale > 0.0) {
        return quota;
    }
    let shrink = |w: Duration| {
        Duration::try_from_secs_f64(w.as_secs_f64() / time_scale).unwrap_or(Duration::MAX)
    };
    Quota {
        write_window: shrink(quota.write_window),
        ru_window: shrink(quota.ru_window),
        ..quota
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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

    fn secrets(
        key: &str,
        value: &str,
    ) -> BTreeMap<(String, String), BTreeMap<String, SecretString>> {
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
            graph_client(tsp, credential.clone(), &EndpointOverrides::default(), 1.0)
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
        assert!(
            matches!(c, Credential::ClientSecret { ref secret, .. } if secret.expose() == "abc")
        );
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
            e.0.contains("no key \"clientSecret\"")
                && e.0.contains("other")
                && !e.0.contains("abc"),
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
}
