//! The tenant's Active Directory outside a cluster: its bind password and CA bundle from the
//! manifests (or the environment), and the link audit for `plan` (reads only, every finding
//! kept).

use std::collections::{BTreeMap, BTreeSet};

use crate::ad::AdClient;
use crate::api::TenantSyncPolicy;
use crate::api::active_directory::LinkAudit;
use crate::graph::{GraphClient, SecretString};
use crate::reconcile::DirectoryConnection;
use crate::reconcile::link_audit::{self, AuditError};

/// Bind and audit; the error is the plan's problem, naming what to fix.
pub async fn plan_audit(
    graph: &GraphClient,
    ad: DirectoryConnection,
    scope: Option<&BTreeSet<String>>,
) -> Result<LinkAudit, String> {
    let settings = ad.map_err(|e| e.stall_message())?;
    let client = AdClient::connect(&settings)
        .await
        .map_err(|e| e.stall_message())?;
    let report = link_audit::run(graph, &client, scope)
        .await
        .map_err(|e| match e {
            AuditError::Ad(e) => format!("link audit: {}", e.stall_message()),
            AuditError::Graph(e) => format!("link audit: {e}"),
        })?;
    client.close().await;
    Ok(LinkAudit {
        findings: report.findings,
        ..report.summary
    })
}

/// The LDAP settings of `tsp`'s `activeDirectory` (none without one): the bind password and
/// a CA bundle's Secret come from the manifests given with `-f`, else the bind password from
/// AD_BIND_PASSWORD.
pub fn active_directory(
    tsp: &TenantSyncPolicy,
    secrets: &BTreeMap<(String, String), BTreeMap<String, SecretString>>,
    env: &super::credentials::Env,
) -> Option<Result<crate::ad::AdSettings, crate::ad::AdError>> {
    let ad = tsp.spec.active_directory.as_ref()?;
    let ns = tsp.metadata.namespace.as_deref().unwrap_or("default");
    let from_env = env.ad_bind_password.clone();
    Some(crate::ad::settings::resolve(ad, |r| {
        match secrets.get(&(ns.to_string(), r.name.clone())) {
            Some(data) => Ok(data.get(&r.key).cloned()).and_then(|v| {
                v.map(Some).ok_or_else(|| {
                    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
                    format!(
                        "Secret {ns}/{} has no key {:?} (keys: {}); fix the key or the Secret",
                        r.name,
                        r.key,
                        keys.join(", ")
                    )
                })
            }),
            None if r == &ad.password_secret_ref
                && from_env.is_some()
                && !env.allow_endpoint_override =>
            {
                Err(format!(
                    "Secret {ns}/{} is not among the manifests, and AD_BIND_PASSWORD comes from the environment while spec.activeDirectory.url comes from the manifests: pass --allow-endpoint-override to send it there (only for manifests you trust), or add the Secret to the files given with -f",
                    r.name
                ))
            }
            None if r == &ad.password_secret_ref && from_env.is_some() => Ok(from_env.clone()),
            None => Err(format!(
                "Secret {ns}/{} is not among the manifests; add it to the files given with -f{}",
                r.name,
                if r == &ad.password_secret_ref {
                    ", or export AD_BIND_PASSWORD"
                } else {
                    ""
                }
            )),
        }
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::local::credentials::Env;

    fn tsp(ca_secret: bool) -> TenantSyncPolicy {
        let mut ad = serde_json::json!({
            "url": "ldaps://dc1.corp.example:636",
            "bindDn": "svc@corp.example",
            "passwordSecretRef": {"name": "ad-bind", "key": "password"},
            "baseDn": "DC=corp,DC=example",
            "syncedOus": ["OU=Staff,DC=corp,DC=example"],
            "unsyncedOu": "OU=Gone,DC=corp,DC=example"
        });
        if ca_secret {
            ad["caBundle"] = serde_json::json!({"secretRef": {"name": "ad-ca", "key": "ca.crt"}});
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
            "metadata": {"name": "t", "namespace": "identity"},
            "spec": {"tenantId": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
                "credentials": {"clientSecret": {"clientId": "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e",
                    "secretRef": {"name": "g", "key": "k"}}},
                "activeDirectory": ad}
        }))
        .unwrap()
    }

    fn secrets(
        entries: &[(&str, &str, &str)],
    ) -> BTreeMap<(String, String), BTreeMap<String, SecretString>> {
        let mut m: BTreeMap<(String, String), BTreeMap<String, SecretString>> = BTreeMap::new();
        for (name, key, value) in entries {
            m.entry(("identity".into(), name.to_string()))
                .or_default()
                .insert(key.to_string(), SecretString::new(*value));
        }
        m
    }

    #[test]
    fn the_bind_password_from_the_manifests_then_the_environment() {
        let none = TenantSyncPolicy {
            spec: crate::api::TenantSyncPolicySpec::default(),
            ..tsp(false)
        };
        assert!(active_directory(&none, &BTreeMap::new(), &Env::default()).is_none());
        let s = active_directory(
            &tsp(false),
            &secrets(&[("ad-bind", "password", "Pw-1")]),
            &Env::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.password.expose(), "Pw-1");
        let mut env = Env {
            ad_bind_password: Some(SecretString::new("Pw-env")),
            ..Default::default()
        };
        // The environment's password goes to a host the manifests name only with the opt-in.
        let e = active_directory(&tsp(false), &BTreeMap::new(), &env)
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--allow-endpoint-override") && !e.contains("Pw-env"),
            "{e}"
        );
        env.allow_endpoint_override = true;
        let s = active_directory(&tsp(false), &BTreeMap::new(), &env)
            .unwrap()
            .unwrap();
        assert_eq!(s.password.expose(), "Pw-env");
    }

    #[test]
    fn missing_secrets_and_keys_name_the_field_never_the_value() {
        let e = active_directory(&tsp(false), &BTreeMap::new(), &Env::default())
            .unwrap()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.activeDirectory.passwordSecretRef"),
            "{e}"
        );
        assert!(e.to_string().contains("AD_BIND_PASSWORD"), "{e}");
        let e = active_directory(
            &tsp(false),
            &secrets(&[("ad-bind", "pw", "Pw-2")]),
            &Env::default(),
        )
        .unwrap()
        .unwrap_err();
        assert!(
            e.to_string().contains("no key \"password\" (keys: pw)"),
            "{e}"
        );
        assert!(!e.to_string().contains("Pw-2"));
        let e = active_directory(
            &tsp(true),
            &secrets(&[("ad-bind", "password", "Pw-3")]),
            &Env::default(),
        )
        .unwrap()
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.activeDirectory.caBundle.secretRef"),
            "{e}"
        );
    }
}
