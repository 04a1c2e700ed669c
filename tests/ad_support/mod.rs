//! The operator's side of the AD tests: a user conversion driven pass by pass with the tenant's
//! `activeDirectory` pointing at the machine's Samba DC (`tests/common/samba.rs`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{
    CloudUserConversion, CloudUserConversionStatus, TenantSyncPolicySpec,
};
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::graph::{GraphClient, SecretString};
use entra_cloud_operator::journal::{FileJournal, ResourceKey};
use entra_cloud_operator::reconcile::user::{self, Input};
use entra_cloud_operator::reconcile::{
    Context, DirectoryConnection, Outcome, ReconcileError, ReconcileEvent,
};
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

/// A user conversion driven pass by pass.
pub struct AdHarness {
    pub obj: CloudUserConversion,
    pub tenant: TenantSyncPolicySpec,
    pub ad: DirectoryConnection,
    pub graph: GraphClient,
    pub journal: FileJournal,
    pub journal_path: std::path::PathBuf,
    pub events: Vec<ReconcileEvent>,
    guard: entra_cloud_operator::reconcile::tenant::guard::GuardCache,
}

impl AdHarness {
    pub fn new(
        emu: &Emulator,
        obj: CloudUserConversion,
        tenant: TenantSyncPolicySpec,
        ad: DirectoryConnection,
    ) -> Self {
        let journal_path = temp_dir("ad-cuc").join("journal.jsonl");
        AdHarness {
            obj,
            tenant,
            ad,
            graph: client(emu, SECRET),
            journal: FileJournal::open(&journal_path).unwrap(),
            journal_path,
            events: Vec::new(),
            guard: Default::default(),
        }
    }

    pub fn key() -> ResourceKey {
        ResourceKey {
            kind: "CloudUserConversion".into(),
            namespace: "identity".into(),
            name: "ad-wave".into(),
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            graph: &self.graph,
            journal: &self.journal,
            resource: Self::key(),
            concurrency: 4,
            now: jiff::Timestamp::now(),
            guard: &self.guard,
            ad: Some(&self.ad),
        }
    }

    pub async fn pass(&mut self) -> Result<Outcome<CloudUserConversionStatus>, ReconcileError> {
        let ctx = self.ctx();
        let outcome = user::reconcile(
            Input {
                spec: &self.obj.spec,
                generation: self.obj.metadata.generation,
                status: self.obj.status.as_ref(),
                tenant: &self.tenant,
            },
            &ctx,
        )
        .await?;
        cond::check_kstatus(
            &outcome.status.conditions,
            outcome.status.observed_generation,
            self.obj.metadata.generation,
        )
        .unwrap_or_else(|e| panic!("kstatus: {e}\n{:#?}", outcome.status));
        self.obj.status = Some(outcome.status.clone());
        self.events.extend(outcome.events.clone());
        Ok(outcome)
    }

    /// `onDelete: Revert`, as the controller runs it when the resource is deleted.
    pub async fn revert(&self) -> user::revert::RevertOutcome {
        let ctx = self.ctx();
        user::revert::revert(&ctx, TENANT).await.unwrap()
    }

    pub fn status(&self) -> CloudUserConversionStatus {
        self.obj.status.clone().unwrap_or_default()
    }

    pub fn condition(&self, t: &str) -> Option<(String, String, String)> {
        cond::get(&self.status().conditions, t)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    }

    pub fn journal_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.journal_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
