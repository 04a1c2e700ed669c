//! The tenant's Active Directory in a cluster: the bind password and CA bundle read from
//! Secrets in the tenant policy's namespace, each pass (a rotated password takes effect at once).

use kube::Client;

use super::credentials::{CredentialProblem, read_secret, secret_value};
use crate::api::TenantSyncPolicy;
use crate::graph::SecretString;

/// The LDAP settings of `tsp`'s `activeDirectory` (`None` without one): the bind password
/// and a CA bundle's Secret read from `tsp`'s namespace. A missing or unusable Secret is an
/// unusable connection (the resource stalls naming the field); the API server failing is
/// transient.
pub async fn active_directory(
    client: &Client,
    tsp: &TenantSyncPolicy,
) -> Result<Option<crate::reconcile::DirectoryConnection>, kube::Error> {
    let Some(ad) = &tsp.spec.active_directory else {
        return Ok(None);
    };
    let ns = tsp.metadata.namespace.as_deref().unwrap_or("default");
    let mut read = std::collections::BTreeMap::new();
    let refs = std::iter::once(("passwordSecretRef", &ad.password_secret_ref)).chain(
        ad.ca_bundle
            .as_ref()
            .and_then(|c| c.secret_ref.as_ref())
            .map(|r| ("caBundle.secretRef", r)),
    );
    for (field, r) in refs {
        let create = format!(
            "kubectl -n {ns} create secret generic {} --from-literal={}=...",
            r.name, r.key
        );
        let shown = format!("spec.activeDirectory.{field}");
        match read_secret(client, ns, (&shown, &r.name), &create).await {
            Ok(secret) => {
                read.insert(
                    (r.name.clone(), r.key.clone()),
                    secret_value(&secret, &r.key).map(SecretString::new),
                );
            }
            Err(CredentialProblem::Transient(e)) => return Err(e),
            Err(CredentialProblem::Stall(crate::reconcile::Stall { message, .. })) => {
                return Ok(Some(Err(crate::ad::AdError::Config { field, message })));
            }
        }
    }
    Ok(Some(crate::ad::settings::resolve(ad, |r| {
        Ok(read
            .get(&(r.name.clone(), r.key.clone()))
            .cloned()
            .flatten())
    })))
}
