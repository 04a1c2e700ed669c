//! Custom resource types (API group `cloudidentity.dev`, version `v1alpha1`) and the
//! condition helpers every resource shares.

pub mod active_directory;
pub mod common;
pub mod conditions;
pub mod group;
pub mod tenant;
pub mod user;

pub use group::{CloudGroupConversion, CloudGroupConversionSpec, CloudGroupConversionStatus};
pub use tenant::{TenantSyncPolicy, TenantSyncPolicySpec, TenantSyncPolicyStatus};
pub use user::{CloudUserConversion, CloudUserConversionSpec, CloudUserConversionStatus};

/// The API group of every resource of this operator.
pub const GROUP: &str = "cloudidentity.dev";
/// The only served version so far.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "cloudidentity.dev/v1alpha1";

/// Every CRD this operator serves, in the order `entra-cloud-operator crds` prints them.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        TenantSyncPolicy::crd(),
        CloudUserConversion::crd(),
        CloudGroupConversion::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream (what `crds/` holds).
pub fn crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
