//! The group conversion under test (`common::Harness`), and views of the emulator's groups.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{CloudGroupConversion, CloudGroupConversionStatus};
use entra_cloud_operator::emulator::Emulator;
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

/// A group conversion acting for `policy("Unmanaged", false, "Report")`.
pub type GroupHarness = Harness<CloudGroupConversion>;

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
