//! The reconciler under test with its journal, and views of the emulator's groups.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{
    CloudGroupConversion, CloudGroupConversionStatus, TenantSyncPolicySpec,
};
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::journal::{FileJournal, ResourceKey};
use entra_cloud_operator::reconcile::group::{self, Input};
use entra_cloud_operator::reconcile::{Context, Outcome, ReconcileError, ReconcileEvent};
use serde_json::{Value, json};

pub const PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
];
pub const ADMIN: &str = "admin@contoso.onmicrosoft.com";
/// Every seeded synced group (security groups `SG …`, distribution lists `DL …`), converted or
/// not: a filter on `onPremisesSyncEnabled` would lose the groups as they convert.
pub const SEEDED: &str = "startswith(displayName,'SG ') or startswith(displayName,'DL ')";

pub async fn grant(emu: &Emulator, perms: &[&str]) {
    control_put(emu, "permissions", json!({ "permissions": perms })).await;
}

pub fn cgc(spec: Value) -> CloudGroupConversion {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudGroupConversion",
        "metadata": {"name": "groups-1", "namespace": "identity", "generation": 1},
        "spec": spec
    }))
    .unwrap()
}

pub struct GroupHarness {
    pub obj: CloudGroupConversion,
    pub tenant: TenantSyncPolicySpec,
    pub graph: entra_cloud_operator::graph::GraphClient,
    pub journal: FileJournal,
    pub journal_path: std::path::PathBuf,
    pub events: Vec<ReconcileEvent>,
}

impl GroupHarness {
    pub fn new(emu: &Emulator, obj: CloudGroupConversion) -> Self {
        let journal_path = temp_dir("cgc").join("journal.jsonl");
        GroupHarness {
            obj,
            tenant: policy("Unmanaged", false, "Report").spec,
            graph: client(emu, SECRET),
            journal: FileJournal::open(&journal_path).unwrap(),
            journal_path,
            events: Vec::new(),
        }
    }

    pub async fn pass(&mut self) -> Result<Outcome<CloudGroupConversionStatus>, ReconcileError> {
        let ctx = Context {
            graph: &self.graph,
            journal: &self.journal,
            resource: ResourceKey {
                kind: "CloudGroupConversion".into(),
                namespace: "identity".into(),
                name: "groups-1".into(),
            },
            concurrency: 4,
            now: jiff::Timestamp::now(),
            guard: &Default::default(),
            ad: None,
        };
        let outcome = group::reconcile(
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

    pub fn status(&self) -> CloudGroupConversionStatus {
        self.obj.status.clone().unwrap_or_default()
    }

    pub fn reason(&self, t: &str) -> Option<String> {
        cond::get(&self.status().conditions, t).map(|c| c.reason.clone())
    }

    pub fn message(&self, t: &str) -> String {
        cond::get(&self.status().conditions, t)
            .map(|c| c.message.clone())
            .unwrap_or_default()
    }

    pub async fn until(&mut self, max: usize, done: impl Fn(&CloudGroupConversionStatus) -> bool) {
        for _ in 0..max {
            match self.pass().await {
                Ok(_) if done(&self.status()) => return,
                Ok(_) => {}
                Err(e) => eprintln!("transient: {e}"),
            }
        }
        panic!("not reached after {max} passes: {:#?}", self.status());
    }
}

pub fn ready(s: &CloudGroupConversionStatus) -> bool {
    cond::is_true(&s.conditions, cond::READY)
}

/// The emulator's groups by id.
pub async fn groups(emu: &Emulator) -> BTreeMap<String, Value> {
    control_get(emu, "groups").await["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|g| (g["id"].as_str().unwrap().to_string(), g))
        .collect()
}

pub fn synced(gs: &BTreeMap<String, Value>) -> BTreeSet<String> {
    gs.values()
        .filter(|g| g["kind"] == "synced")
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn nested_in(g: &Value, gs: &BTreeMap<String, Value>) -> Vec<String> {
    g["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| gs.contains_key(*m))
        .map(str::to_string)
        .collect()
}

/// Synced groups that contain groups and are in none: the tops of the seeded trees.
pub fn roots(gs: &BTreeMap<String, Value>) -> Vec<String> {
    let nested: BTreeSet<String> = gs.values().flat_map(|g| nested_in(g, gs)).collect();
    synced(gs)
        .into_iter()
        .filter(|id| !nested.contains(id) && !nested_in(&gs[id], gs).is_empty())
        .collect()
}

pub async fn user_id(emu: &Emulator, upn: &str) -> String {
    users(emu)
        .await
        .into_iter()
        .find(|u| u["userPrincipalName"] == upn)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}
