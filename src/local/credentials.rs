//! Turning a `TenantSyncPolicy`'s credentials into a Graph client, outside a cluster:
//! Secrets come from the manifests given with `-f`, else from the environment
//! (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH,
//! AZURE_FEDERATED_TOKEN_FILE).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::TenantSyncPolicy;
use crate::api::tenant::CertificateCredential;
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
    /// Not a variable: `--allow-endpoint-override`. Without it, hosts named by the manifests
    /// (an endpoint override, a domain controller) never receive this environment's
    /// credentials, so `plan -f` over an untrusted pull request cannot send them elsewhere.
    pub allow_endpoint_override: bool,
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
            allow_endpoint_override: false,
        }
    }
}

/// Endpoint settings from the command line (`--graph-url`, `--login-url`, `--ca-bundle`).
#[derive(Clone, Debug, Default)]
pub struct EndpointOverrides {
    /// Graph root.
    pub graph: Option<String>,
    /// Token authority.
    pub login: Option<String>,
    /// CA certificates (PEM) to trust besides the web roots (`--ca-bundle`'s content).
    pub ca_bundle: Option<String>,
}

/// Secrets among the manifests: (namespace, name) → key → value.
pub type Secrets = BTreeMap<(String, String), BTreeMap<String, SecretString>>;

/// The CA certificates of `spec.endpoints.caBundle`: inline, or from a Secret among the
/// manifests.
fn manifest_ca(
    tsp: &TenantSyncPolicy,
    ca: &crate::api::active_directory::CaBundle,
    secrets: &Secrets,
) -> Result<String, CredentialError> {
    if let Some(pem) = &ca.pem {
        return Ok(pem.clone());
    }
    let ns = tsp.metadata.namespace.as_deref().unwrap_or("default");
    let r = ca
        .secret_ref
        .as_ref()
        .ok_or_else(|| CredentialError("spec.endpoints.caBundle: give pem or secretRef".into()))?;
    secrets
        .get(&(ns.to_string(), r.name.clone()))
        .and_then(|d| d.get(&r.key))
        .map(|v| v.expose().to_string())
        .ok_or_else(|| {
            CredentialError(format!(
                "spec.endpoints.caBundle.secretRef: Secret {ns}/{} with key {:?} is not among the manifests; add it to the files given with -f, or pass --ca-bundle FILE",
                r.name, r.key
            ))
        })
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
/// Manifest endpoints that the command line does not replace are honoured only with
/// `--allow-endpoint-override` (`env.allow_endpoint_override`) when they leave Microsoft's hosts.
pub fn graph_client(
    tsp: &TenantSyncPolicy,
    (credential, secrets): (Credential, &Secrets),
    (overrides, env): (&EndpointOverrides, &Env),
    time_scale: f64,
) -> Result<GraphClient, CredentialError> {
    let spec = &tsp.spec;
    let mut ep = spec.endpoints.clone().unwrap_or_default();
    // What the command line says replaces the manifests' value.
    if overrides.graph.is_some() {
        ep.graph = None;
    }
    if overrides.login.is_some() {
        ep.login = None;
    }
    if !env.allow_endpoint_override {
        let from_manifests = crate::api::tenant::TenantSyncPolicySpec {
            endpoints: Some(ep.clone()),
            ..spec.clone()
        };
        if let Some(m) = crate::endpoints::refusal(
            &from_manifests,
            "pass --allow-endpoint-override (only for manifests you trust) or --graph-url/--login-url",
        ) {
            return Err(CredentialError(m));
        }
    }
    let ca_bundle = match (&overrides.ca_bundle, &ep.ca_bundle) {
        (Some(pem), _) => Some(pem.clone()),
        (None, None) => None,
        (None, Some(ca)) => Some(manifest_ca(tsp, ca, secrets)?),
    };
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
        pacing: Some(spec.pacing().map_err(CredentialError)?.scaled(time_scale)),
        ca_bundle,
    };
    let client =
        GraphClient::new(config, credential).map_err(|e| CredentialError(e.to_string()))?;
    client.set_batching(spec.batching());
    client.set_time_scale(time_scale);
    Ok(client)
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
