//! Credentials in a cluster: a client secret or a certificate with its private key from the
//! referenced Secret, or workload identity from the azure-workload-identity webhook's
//! environment.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::api::TenantSyncPolicy;
use crate::api::tenant::CertificateCredential;
use crate::graph::{
    CertificateError, ClientCertificate, Credential, GraphClient, GraphConfig, RequestObserver,
    RetryPolicy, SecretString,
};
use crate::reconcile::Stall;

use super::grants::{Grants, Request};

/// Why no client could be built: either the resource must stall with a reason and message
/// naming the fix, or the API server failed transiently.
#[derive(Debug)]
pub enum CredentialProblem {
    /// Stall the resource.
    Stall(Stall),
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

impl CredentialProblem {
    /// A credential problem fixable outside the resource (a Secret, the pod's identity):
    /// looked at again every 5 minutes.
    fn fixable(reason: &'static str, message: String) -> Self {
        CredentialProblem::Stall(Stall::fixable(reason, message))
    }
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

/// A fingerprint of everything a client depends on (endpoints, credentials, the quota it paces
/// to and whether it batches), to reuse clients (and their cached tokens) across passes and
/// rebuild them when the Secret or the spec changes.
pub fn fingerprint(tsp: &TenantSyncPolicy, secret_version: Option<&str>) -> String {
    format!(
        "{}|{:?}|{:?}|{:?}|{:?}|{}",
        tsp.spec.tenant_id,
        tsp.spec.cloud,
        tsp.spec.endpoints,
        tsp.spec.credentials,
        tsp.spec.quota,
        secret_version.unwrap_or("")
    )
}

/// Reads Secret `ns/name`, named by spec field `field`; `create` is the command that would
/// create it, for the 404 message.
pub(super) async fn read_secret(
    client: &Client,
    ns: &str,
    (field, name): (&str, &str),
    create: &str,
) -> Result<Secret, CredentialProblem> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get(name).await {
        Ok(s) => Ok(s),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(CredentialProblem::fixable(
            "SecretNotFound",
            format!("{field}: Secret {ns}/{name} does not exist; create it with `{create}`"),
        )),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(CredentialProblem::fixable(
            "SecretForbidden",
            format!(
                "the operator may not read Secret {ns}/{name}: grant its ServiceAccount get on secrets in {ns} (the Helm chart does)"
            ),
        )),
        Err(e) => Err(CredentialProblem::Transient(e)),
    }
}

/// The value of `key` in a Secret (`data`, else `stringData`).
pub(super) fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .cloned()
        })
}

/// The certificate credential held by `secret` (`ns/name` per `cc`), or why it is unusable;
/// messages name the Secret key and the field to fix, never the key material.
pub fn certificate_credential(
    ns: &str,
    cc: &CertificateCredential,
    secret: &Secret,
) -> Result<Credential, CredentialProblem> {
    let r = &cc.secret_ref;
    let (cert_key, key_key) = (&r.certificate_key, &r.private_key_key);
    let missing = |key: &str, what: &str, field: &str| {
        CredentialProblem::fixable(
            "SecretKeyMissing",
            format!(
                "Secret {ns}/{} has no key {key:?} ({what}); fix spec.credentials.certificate.secretRef.{field} or the Secret",
                r.name
            ),
        )
    };
    let certificate = secret_value(secret, cert_key)
        .ok_or_else(|| missing(cert_key, "the PEM certificate", "certificateKey"))?;
    let private_key = SecretString::new(
        secret_value(secret, key_key)
            .ok_or_else(|| missing(key_key, "the PEM private key", "privateKeyKey"))?,
    );
    let certificate = ClientCertificate::from_pem(&certificate, &private_key).map_err(|e| {
        let key = match e {
            CertificateError::CertificateNotPem | CertificateError::CertificateInvalid => cert_key,
            _ => key_key,
        };
        CredentialProblem::fixable(
            "CertificateInvalid",
            format!(
                "Secret {ns}/{} key {key:?}: {e}; {} (spec.credentials.certificate.secretRef names keys {cert_key:?} and {key_key:?})",
                r.name,
                e.hint()
            ),
        )
    })?;
    Ok(Credential::Certificate {
        client_id: cc.client_id.clone(),
        certificate,
    })
}

/// Resolve the credential of `tsp`, returning it with the Secret's resourceVersion. The
/// operator's own workload identity only where `grants` cover the policy's namespace, tenant
/// and client id (and endpoint overrides, if any).
pub async fn resolve(
    client: &Client,
    tsp: &TenantSyncPolicy,
    wi: &WorkloadIdentityEnv,
    grants: &Grants,
) -> Result<(Credential, Option<String>), CredentialProblem> {
    let ns = tsp
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let c = &tsp.spec.credentials;
    if let Some(cs) = &c.client_secret {
        let r = &cs.secret_ref;
        let create = format!(
            "kubectl -n {ns} create secret generic {} --from-literal={}=<client secret value>",
            r.name, r.key
        );
        let field = "spec.credentials.clientSecret.secretRef.name";
        let secret = read_secret(client, &ns, (field, &r.name), &create).await?;
        let Some(value) = secret_value(&secret, &r.key) else {
            return Err(CredentialProblem::fixable(
                "SecretKeyMissing",
                format!(
                    "Secret {ns}/{} has no key {:?}; fix spec.credentials.clientSecret.secretRef.key or the Secret",
                    r.name, r.key
                ),
            ));
        };
        let value = SecretString::new(value.trim());
        if value.is_empty() {
            return Err(CredentialProblem::fixable(
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
    if let Some(cc) = &c.certificate {
        let create = format!(
            "kubectl -n {ns} create secret tls {} --cert=<certificate.pem> --key=<private-key.pem>",
            cc.secret_ref.name
        );
        let field = "spec.credentials.certificate.secretRef.name";
        let secret = read_secret(client, &ns, (field, &cc.secret_ref.name), &create).await?;
        let credential = certificate_credential(&ns, cc, &secret)?;
        return Ok((credential, secret.metadata.resource_version));
    }
    if let Some(w) = &c.workload_identity {
        let client_id = w.client_id.clone().or_else(|| wi.client_id.clone()).ok_or_else(|| {
            CredentialProblem::fixable(
                "WorkloadIdentityUnavailable",
                "spec.credentials.workloadIdentity.clientId is not set and AZURE_CLIENT_ID is not in the operator's environment; label the pod azure.workload.identity/use=true and annotate its ServiceAccount with azure.workload.identity/client-id".into(),
            )
        })?;
        grants
            .check(Request {
                namespace: &ns,
                tenant_id: &tsp.spec.tenant_id,
                client_id: &client_id,
                own_client_id: wi.client_id.as_deref(),
                endpoint_override: !crate::endpoints::overrides(&tsp.spec).is_empty(),
            })
            .map_err(|m| CredentialProblem::fixable(crate::reasons::CREDENTIAL_NOT_GRANTED, m))?;
        let token_file = wi.token_file.clone().ok_or_else(|| {
            CredentialProblem::fixable(
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
    Err(CredentialProblem::Stall(Stall::invalid_spec(
        "spec.credentials: set exactly one of clientSecret, certificate, workloadIdentity",
    )))
}

/// The CA certificates `spec.endpoints.caBundle` names (inline, or from a Secret of the
/// policy's namespace, with its resourceVersion), if any.
pub async fn ca_bundle(
    client: &Client,
    tsp: &TenantSyncPolicy,
) -> Result<(Option<String>, Option<String>), CredentialProblem> {
    let Some(ca) = tsp
        .spec
        .endpoints
        .as_ref()
        .and_then(|e| e.ca_bundle.as_ref())
    else {
        return Ok((None, None));
    };
    let Some(r) = &ca.secret_ref else {
        return Ok((ca.pem.clone(), None));
    };
    let ns = tsp.metadata.namespace.as_deref().unwrap_or("default");
    let create = format!(
        "kubectl -n {ns} create secret generic {} --from-file={}=<ca.pem>",
        r.name, r.key
    );
    let field = "spec.endpoints.caBundle.secretRef.name";
    let secret = read_secret(client, ns, (field, &r.name), &create).await?;
    let pem = secret_value(&secret, &r.key).ok_or_else(|| {
        CredentialProblem::fixable(
            "SecretKeyMissing",
            format!(
                "Secret {ns}/{} has no key {:?}; fix spec.endpoints.caBundle.secretRef.key or put the CA certificates (PEM) there",
                r.name, r.key
            ),
        )
    })?;
    Ok((Some(pem), secret.metadata.resource_version))
}

/// Build the client: the cloud's endpoints unless the spec overrides them (or, for workload
/// identity, AZURE_AUTHORITY_HOST names the authority); the scope is always the cloud's.
/// Overrides are checked before (`endpoints::refusal`, the grants).
pub fn graph_client(
    tsp: &TenantSyncPolicy,
    (credential, ca_bundle): (Credential, Option<String>),
    wi: &WorkloadIdentityEnv,
    observer: std::sync::Arc<dyn RequestObserver>,
    time_scale: f64,
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
        // Against an emulator running `--time-scale` times faster, its quotas are too.
        pacing: Some(
            spec.pacing()
                .map_err(|e| CredentialProblem::Stall(Stall::invalid_spec(e)))?
                .scaled(time_scale),
        ),
        ca_bundle,
    };
    let client = GraphClient::new(config, credential)
        .map_err(|e| CredentialProblem::Stall(Stall::invalid_spec(e.to_string())))?;
    client.set_batching(spec.batching());
    client.set_time_scale(time_scale);
    Ok(client)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::common::CertificateSecretRef;

    const APP_CRT: &str = include_str!("../../tests/data/app.crt");
    const APP_KEY: &str = include_str!("../../tests/data/app.key");
    const OTHER_KEY: &str = include_str!("../../tests/data/other.key");

    fn secret(entries: &[(&str, &str)]) -> Secret {
        let data: BTreeMap<String, k8s_openapi::ByteString> = entries
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_string(),
                    k8s_openapi::ByteString(v.as_bytes().to_vec()),
                )
            })
            .collect();
        Secret {
            data: Some(data),
            ..Secret::default()
        }
    }

    fn cc() -> CertificateCredential {
        CertificateCredential {
            client_id: "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e".into(),
            secret_ref: CertificateSecretRef {
                name: "graph-cert".into(),
                certificate_key: "tls.crt".into(),
                private_key_key: "tls.key".into(),
            },
        }
    }

    fn stall(r: Result<Credential, CredentialProblem>) -> (&'static str, String) {
        match r {
            Err(CredentialProblem::Stall(s)) => (s.reason, s.message),
            other => panic!("expected a stall, got {other:?}"),
        }
    }

    #[test]
    fn a_tls_secret_becomes_a_certificate_credential() {
        let s = secret(&[("tls.crt", APP_CRT), ("tls.key", APP_KEY)]);
        let c = certificate_credential("identity", &cc(), &s).unwrap();
        assert!(
            matches!(c, Credential::Certificate { ref client_id, .. } if client_id == "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e")
        );
    }

    #[test]
    fn unusable_secrets_stall_naming_the_key_and_the_fix() {
        let key_line = APP_KEY.lines().nth(1).unwrap();
        let cases = [
            (
                secret(&[("tls.key", APP_KEY)]),
                "SecretKeyMissing",
                "no key \"tls.crt\"",
            ),
            (
                secret(&[("tls.crt", APP_CRT)]),
                "SecretKeyMissing",
                "secretRef.privateKeyKey",
            ),
            (
                secret(&[("tls.crt", "x"), ("tls.key", APP_KEY)]),
                "CertificateInvalid",
                "key \"tls.crt\": the certificate is not PEM",
            ),
            (
                secret(&[("tls.crt", APP_CRT), ("tls.key", "x")]),
                "CertificateInvalid",
                "key \"tls.key\": the private key is not PEM",
            ),
            (
                secret(&[("tls.crt", APP_CRT), ("tls.key", OTHER_KEY)]),
                "CertificateInvalid",
                "does not belong to the certificate",
            ),
        ];
        for (s, reason, wanted) in cases {
            let (r, m) = stall(certificate_credential("identity", &cc(), &s));
            assert_eq!(r, reason, "{m}");
            assert!(
                m.contains(wanted) && m.contains("identity/graph-cert"),
                "{m}"
            );
            assert!(!m.contains(key_line), "the key leaked: {m}");
        }
    }
}
