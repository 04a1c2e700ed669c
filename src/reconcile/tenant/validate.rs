//! Checks of the spec that need no I/O. The CRD schema enforces the same rules in a
//! cluster; the local runner has no API server, so the reconciler checks them itself and
//! stalls, naming the field, before any Graph call.

use url::Url;

use crate::api::common::is_uuid;
use crate::api::tenant::{DirectorySyncMode, TenantSyncPolicySpec};

use crate::reconcile::validate::{SpecError, err};

/// Validate `spec`.
pub fn validate(spec: &TenantSyncPolicySpec) -> Result<(), SpecError> {
    if !is_uuid(&spec.tenant_id) {
        return Err(err(
            "tenantId",
            format!(
                "{:?} is not a GUID; use the Directory (tenant) ID shown in the Entra admin center",
                spec.tenant_id
            ),
        ));
    }
    if let Some(plan) = &spec.approved_plan
        && super::approval::PlanDigest::parse(plan).is_none()
    {
        return Err(err(
            "approvedPlan",
            format!(
                "{plan:?} is not a plan: copy the digest `plan` prints (or status.plan.digest), e.g. disable:users=420,groups=37:9f2c4e0a1b3d5f67"
            ),
        ));
    }
    if spec
        .plan_tolerance
        .is_some_and(|t| !(0..=1_000_000).contains(&t))
    {
        return Err(err(
            "planTolerance",
            "must be between 0 and 1000000 objects",
        ));
    }
    let c = &spec.credentials;
    let set = [
        c.client_secret.is_some(),
        c.certificate.is_some(),
        c.workload_identity.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if set != 1 {
        return Err(err(
            "credentials",
            format!("set exactly one of clientSecret, certificate, workloadIdentity ({set} set)"),
        ));
    }
    if let Some(cs) = &c.client_secret {
        if !is_uuid(&cs.client_id) {
            return Err(err(
                "credentials.clientSecret.clientId",
                format!(
                    "{:?} is not a GUID; use the Application (client) ID of the app registration",
                    cs.client_id
                ),
            ));
        }
        if cs.secret_ref.name.is_empty() || cs.secret_ref.key.is_empty() {
            return Err(err(
                "credentials.clientSecret.secretRef",
                "name and key are required",
            ));
        }
    }
    if let Some(cert) = &c.certificate
        && !is_uuid(&cert.client_id)
    {
        return Err(err(
            "credentials.certificate.clientId",
            format!(
                "{:?} is not a GUID; use the Application (client) ID of the app registration",
                cert.client_id
            ),
        ));
    }
    if let Some(wi) = &c.workload_identity
        && let Some(id) = &wi.client_id
        && !is_uuid(id)
    {
        return Err(err(
            "credentials.workloadIdentity.clientId",
            format!(
                "{id:?} is not a GUID; use the Application (client) ID of the app registration"
            ),
        ));
    }
    if let Some(ep) = &spec.endpoints {
        for (field, value) in [
            ("endpoints.graph", &ep.graph),
            ("endpoints.login", &ep.login),
        ] {
            if let Some(v) = value {
                check_url(field, v)?;
            }
        }
        if let Some(ca) = &ep.ca_bundle {
            check_ca_bundle(
                ("endpoints.caBundle", "endpoints.caBundle.pem"),
                ca,
                "the CA that signed the proxy's or the emulator's certificate",
            )?;
        }
    }
    if let Some(Err((field, message))) = spec.quota.as_ref().map(|q| q.quota()) {
        return Err(err(field, message));
    }
    if let Some(ad) = &spec.active_directory {
        check_active_directory(ad)?;
    }
    if spec.clear_immutable_ids && spec.directory_sync != DirectorySyncMode::Disabled {
        return Err(err(
            "clearImmutableIds",
            "true requires directorySync: Disabled (ImmutableIDs can only be cleared once synchronisation is off)",
        ));
    }
    Ok(())
}

/// `spec.activeDirectory`: the checks the LDAP client makes before connecting, plus the
/// Secret references and the CA bundle's shape.
fn check_active_directory(
    ad: &crate::api::active_directory::ActiveDirectoryConnection,
) -> Result<(), SpecError> {
    use crate::ad::AdError;
    if let Err(AdError::Config { field, message }) = crate::ad::settings::check(ad) {
        let field = match field {
            "url" => "activeDirectory.url",
            "startTls" => "activeDirectory.startTls",
            "baseDn" => "activeDirectory.baseDn",
            "syncedOus" => "activeDirectory.syncedOus",
            "unsyncedOu" => "activeDirectory.unsyncedOu",
            _ => "activeDirectory",
        };
        return Err(err(field, message));
    }
    if ad.bind_dn.trim().is_empty() || ad.bind_dn.contains(['\0', '\n', '\r']) {
        return Err(err(
            "activeDirectory.bindDn",
            "give the DN (or user@domain) of the account the operator binds as",
        ));
    }
    let r = &ad.password_secret_ref;
    if r.name.is_empty() || r.key.is_empty() {
        return Err(err(
            "activeDirectory.passwordSecretRef",
            "name and key of the Secret holding the bind password are required",
        ));
    }
    if let Some(ca) = &ad.ca_bundle {
        check_ca_bundle(
            ("activeDirectory.caBundle", "activeDirectory.caBundle.pem"),
            ca,
            "the CA that signed the domain controller's certificate",
        )?;
    }
    Ok(())
}

/// A `caBundle`: exactly one of a PEM text holding a certificate and a Secret reference.
fn check_ca_bundle(
    (field, pem_field): (&'static str, &'static str),
    ca: &crate::api::active_directory::CaBundle,
    what: &str,
) -> Result<(), SpecError> {
    match (&ca.pem, &ca.secret_ref) {
        (Some(pem), None) if pem.contains("-----BEGIN CERTIFICATE-----") => Ok(()),
        (Some(_), None) => Err(err(
            pem_field,
            format!("holds no -----BEGIN CERTIFICATE----- block; paste {what}"),
        )),
        (None, Some(r)) if !r.name.is_empty() && !r.key.is_empty() => Ok(()),
        _ => Err(err(field, "give pem or secretRef (name and key), not both")),
    }
}

fn check_url(field: &'static str, value: &str) -> Result<(), SpecError> {
    match Url::parse(value) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.query().is_none() =>
        {
            Ok(())
        }
        Ok(_) => Err(err(
            field,
            format!("{value:?} must be an http(s) URL with a host and no query"),
        )),
        Err(e) => Err(err(field, format!("{value:?} is not a URL ({e})"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::tenant::{Endpoints, WorkloadIdentityCredential};

    fn good() -> TenantSyncPolicySpec {
        serde_json::from_value(serde_json::json!({
            "tenantId": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
            "credentials": {"clientSecret": {"clientId": "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e",
                                             "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
            "directorySync": "Disabled",
            "clearImmutableIds": true
        }))
        .unwrap()
    }

    #[test]
    fn accepts_the_documented_example() {
        assert_eq!(validate(&good()), Ok(()));
    }

    #[test]
    fn names_the_field() {
        let mut s = good();
        s.tenant_id = "contoso.com".into();
        assert_eq!(validate(&s).unwrap_err().field, "tenantId");

        let mut s = good();
        s.credentials.workload_identity = Some(WorkloadIdentityCredential::default());
        assert_eq!(validate(&s).unwrap_err().field, "credentials");

        let mut s = good();
        s.credentials.client_secret.as_mut().unwrap().client_id = "x".into();
        assert_eq!(
            validate(&s).unwrap_err().field,
            "credentials.clientSecret.clientId"
        );

        let mut s = good();
        s.endpoints = Some(Endpoints {
            graph: Some("ftp://x".into()),
            ..Endpoints::default()
        });
        assert_eq!(validate(&s).unwrap_err().field, "endpoints.graph");
        for (ca, field) in [
            (
                crate::api::active_directory::CaBundle {
                    pem: Some("not a certificate".into()),
                    secret_ref: None,
                },
                "endpoints.caBundle.pem",
            ),
            (
                crate::api::active_directory::CaBundle::default(),
                "endpoints.caBundle",
            ),
        ] {
            let mut s = good();
            s.endpoints = Some(Endpoints {
                ca_bundle: Some(ca),
                ..Endpoints::default()
            });
            assert_eq!(validate(&s).unwrap_err().field, field);
        }

        let mut s = good();
        s.directory_sync = DirectorySyncMode::Unmanaged;
        let e = validate(&s).unwrap_err();
        assert_eq!(e.field, "clearImmutableIds");
        assert!(e.to_string().starts_with("spec.clearImmutableIds: "));
    }

    #[test]
    fn a_bad_quota_names_its_field() {
        let mut spec = good();
        spec.quota = Some(crate::api::tenant::QuotaSpec {
            write_window: Some("soon".into()),
            ..Default::default()
        });
        let e = validate(&spec).unwrap_err();
        assert_eq!(e.field, "quota.writeWindow");
        assert!(e.message.contains("not a positive duration"), "{e}");
        spec.quota = Some(crate::api::tenant::QuotaSpec {
            headroom_percent: Some(120),
            ..Default::default()
        });
        assert_eq!(validate(&spec).unwrap_err().field, "quota.headroomPercent");
        spec.quota = Some(crate::api::tenant::QuotaSpec {
            tenant_size: crate::api::tenant::TenantSize::Large,
            writes: Some(6_000),
            write_window: Some("5m".into()),
            ..Default::default()
        });
        assert!(validate(&spec).is_ok());
        let q = spec.pacing().unwrap();
        assert_eq!((q.writes, q.resource_units), (6_000.0, 8_000.0));
        assert_eq!(q.write_window.as_secs(), 300);
    }
}
