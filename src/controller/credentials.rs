//! Credentials in a cluster: a client secret from the referenced Secret, or workload identity
//! from the azure-workload-identity webhook's environment.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::api::TenantSyncPolicy;
use crate::graph::{
    Credential, GraphClient, GraphConfig, RequestObserver, RetryPolicy, SecretString,
};

/// Why no client could be built: either the resource must stall with a reason and message
/// naming the fix, or the API server failed transiently.
#[derive(Debug)]
pub enum CredentialProblem {
    /// Stall the resource.
    Stall(&'static str, String),
    /// Retry later.
    Transient(kube::Error),
}

/// The workload identity environment (read once at start; the token file itself is re-read on
/// every token request).
#[derive(Clone, Debug, Default)]
pub struct WorkloadIdentityEnv {
    /// AZURE_CLIENT_ID
    pub client_id: Option<String>,
    /// AZURE_FEDERATED_TOKEN_FILE
    pub token_file: Option<String>,
    /// AZURE_AUTHORITY_HOST
    pub authority_host: Option<String>,
}

impl WorkloadIdentityEnv {
    /// Read the process environment.
    pub fn from_process() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        WorkloadIdentityEnv {
            client_id: get("AZURE_CLIENT_ID"),
            token_file: get("AZURE_FEDERATED_TOKEN_FILE"),
            authority_host: get("AZURE_AUTHORITY_HOST"),
        }
    }
}

/// A fingerprint of everything a client depends on, to reuse clients (and their cached
/// tokens) across passes and rebuild them when the Secret or the spec changes.
pub fn fingerprint(tsp: &TenantSyncPolicy, secret_version: Option<&str>) -> String {
    format!(
        "{}|{:?}|{:?}|{:?}|{}",
        tsp.spec.tenant_id,
        tsp.spec.cloud,
        tsp.spec.endpoints,
        tsp.spec.credentials,
        secret_version.unwrap_or("")
    )
}

/// Resolve the credential of `tsp`, returning it with the Secret's resourceVersion.
pub async fn resolve(
    client: &Client,
    tsp: &TenantSyncPolicy,
    wi: &WorkloadIdentityEnv,
) -> Result<(Credential, Option<String>), CredentialProblem> {
    let ns = tsp
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let c = &tsp.spec.credentials;
    if let Some(cs) = &c.client_secret {
        let r = &cs.secret_ref;
        let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let secret = match api.get(&r.name).await {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(CredentialProblem::Stall(
                    "SecretNotFound",
                    format!(
                        "Secret {ns}/{} does not exist; create it with `kubectl -n {ns} create secret generic {} --from-literal={}=<client secret value>`",
                        r.name, r.name, r.key
                    ),
                ));
            }
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(CredentialProblem::Stall(
                    "SecretForbidden",
                    format!(
                        "the operator may not read Secret {ns}/{}: grant its ServiceAccount get on secrets in {ns} (the Helm chart does)",
                        r.name
                    ),
                ));
            }
            Err(e) => return Err(CredentialProblem::Transient(e)),
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&r.key))
                    .cloned()
            });
        let Some(value) = value else {
            return Err(CredentialProblem::Stall(
                "SecretKeyMissing",
                format!(
                    "Secret {ns}/{} has no key {:?}; fix spec.credentials.clientSecret.secretRef.key or the Secret",
                    r.name, r.key
                ),
            ));
        };
        let value = SecretString::new(value.trim());
        if value.is_empty() {
            return Err(CredentialProblem::Stall(
                "SecretKeyEmpty",
                format!(
                    "Secret {ns}/{} key {:?} is empty; put the client secret value there",
                    r.name, r.key
                ),
            ));
        }
        return Ok((
            Credential::ClientSecret {
                client_id: cs.client_id.clone(),
                secret: value,
            },
            secret.metadata.resource_version,
        ));
    }
    if let Some(w) = &c.workload_identity {
        let client_id = w.client_id.clone().or_else(|| wi.client_id.clone()).ok_or_else(|| {
            CredentialProblem::Stall(
                "WorkloadIdentityUnavailable",
                "spec.credentials.workloadIdentity.clientId is not set and AZURE_CLIENT_ID is not in the operator's environment; label the pod azure.workload.identity/use=true and annotate its ServiceAccount with azure.workload.identity/client-id".into(),
            )
        })?;
        let token_file = wi.token_file.clone().ok_or_else(|| {
            CredentialProblem::Stall(
                "WorkloadIdentityUnavailable",
                "AZURE_FEDERATED_TOKEN_FILE is not set: the azure-workload-identity webhook did not inject the projected token; label the pod azure.workload.identity/use=true".into(),
            )
        })?;
        return Ok((
            Credential::WorkloadIdentity {
                client_id,
                token_file: token_file.into(),
            },
            None,
        ));
    }
    Err(CredentialProblem::Stall(
        "CredentialsUnsupported",
        "certificate credentials are not supported by this release yet; use clientSecret or workloadIdentity".into(),
    ))
}

/// Build the client: the cloud's endpoints unless the spec overrides them (or, for workload
/// identity, AZURE_AUTHORITY_HOST names the authority); the scope is always the cloud's.
pub fn graph_client(
    tsp: &TenantSyncPolicy,
    credential: Credential,
    wi: &WorkloadIdentityEnv,
    observer: std::sync::Arc<dyn RequestObserver>,
) -> Result<GraphClient, CredentialProblem> {
    let spec = &tsp.spec;
    let ep = spec.endpoints.clone().unwrap_or_default();
    let authority = match &credential {
        Credential::WorkloadIdentity { .. } => wi.authority_host.clone(),
        _ => None,
    };
    let config = GraphConfig {
        graph_root: ep
            .graph
            .unwrap_or_else(|| spec.cloud.graph_root().to_string()),
        login_root: ep
            .login
            .or(authority)
            .unwrap_or_else(|| spec.cloud.login_root().to_string()),
        scope: format!("{}/.default", spec.cloud.graph_root()),
        tenant_id: spec.tenant_id.clone(),
        retry: RetryPolicy::default(),
        timeout: Duration::from_secs(60),
        observer: Some(observer),
        ca_bundle: None,
    };
    GraphClient::new(config, credential)
        .map_err(|e| CredentialProblem::Stall("InvalidSpec", e.to_string()))
}
