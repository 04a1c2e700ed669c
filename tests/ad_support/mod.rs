//! The operator's side of the AD tests: a user conversion driven pass by pass with the tenant's
//! `activeDirectory` pointing at the machine's Samba DC (`tests/common/samba.rs`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use entra_cloud_operator::api::{CloudUserConversion, TenantSyncPolicySpec};
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::graph::SecretString;
use entra_cloud_operator::reconcile::DirectoryConnection;
use serde_json::{Value, json};

use super::common::samba::{SambaDc, TestOus};
use super::common::*;

/// The `activeDirectory` block for `dc` with these OUs (LDAPS, the harness's CA inline).
pub fn ad_spec(dc: &SambaDc, ous: &TestOus) -> Value {
    json!({
        "url": dc.ldaps_url,
        "bindDn": dc.bind_dn,
        "passwordSecretRef": {"name": "ad-bind", "key": "password"},
        "caBundle": {"pem": std::fs::read_to_string(&dc.ca_pem).unwrap()},
        "baseDn": dc.base_dn,
        "syncedOus": [ous.synced],
        "unsyncedOu": ous.unsynced
    })
}

/// The tenant policy of `common::policy` with `activeDirectory`.
pub fn tenant_with_ad(ad: Value) -> TenantSyncPolicySpec {
    let mut tsp = serde_json::to_value(policy("Unmanaged", false, "Report")).unwrap();
    tsp["spec"]["activeDirectory"] = ad;
    serde_json::from_value::<entra_cloud_operator::api::TenantSyncPolicy>(tsp)
        .unwrap()
        .spec
}

/// The resolved connection with `password` as the bind password.
pub fn connection(tenant: &TenantSyncPolicySpec, password: &str) -> DirectoryConnection {
    entra_cloud_operator::ad::settings::resolve(tenant.active_directory.as_ref().unwrap(), |_| {
        Ok(Some(SecretString::new(password)))
    })
}

pub fn cuc(spec: Value) -> CloudUserConversion {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "ad-wave", "namespace": "identity", "generation": 1},
        "spec": spec
    }))
    .unwrap()
}

/// A user conversion driven pass by pass, acting for `tenant` (with `activeDirectory`) whose
/// directory the shell resolved to `ad`.
pub fn ad_harness(
    emu: &Emulator,
    obj: CloudUserConversion,
    tenant: TenantSyncPolicySpec,
    ad: DirectoryConnection,
) -> Harness<CloudUserConversion> {
    Harness {
        tenant,
        ad: Some(ad),
        ..Harness::new(emu, obj)
    }
}
