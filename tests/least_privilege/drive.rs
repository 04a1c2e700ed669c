//! One run of a flow: a fresh emulator, the tenant set up with every permission, then the
//! flow's resource reconciled with the permissions under test until it is Ready or Stalled,
//! every Graph call the operator made recorded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion, TenantSyncPolicy};
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::graph::{
    Credential, GraphClient, GraphConfig, Operation, RequestObserver, SecretString,
};
use entra_cloud_operator::journal::FileJournal;
use entra_cloud_operator::reconcile::RevertOutcome;
use entra_cloud_operator::reconcile::resource::Reconciled;
use entra_cloud_operator::reconcile::tenant::guard::GuardCache;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::{Value, json};

use crate::common::*;
use crate::flows::{Fixture, Flow, Kind, Setup};

/// Passes before a flow must have settled (each wave, propagation step or guard pass is one).
const MAX_PASSES: usize = 12;

/// Every Graph request the operator made: operation and HTTP status (`None`: no answer).
#[derive(Default)]
pub struct Calls(Mutex<Vec<(Operation, Option<u16>)>>);

impl RequestObserver for Calls {
    fn observe(&self, op: Operation, status: Option<u16>, _: Duration, _: Option<f64>) {
        self.0.lock().unwrap().push((op, status));
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Run {
    /// `Ready` or `Stalled`, with reason and message (an undo: `Reverted` when done).
    pub settled: (&'static str, String, String),
    pub calls: Vec<(Operation, Option<u16>)>,
    /// Writes the emulator accepted during the run, by route.
    pub writes: BTreeMap<String, u64>,
    /// Writes Graph refused for lack of a permission.
    pub refused: usize,
}

fn graph(emu: &Emulator, calls: Option<Arc<Calls>>) -> GraphClient {
    GraphClient::new(
        GraphConfig {
            graph_root: emu.url(),
            login_root: emu.url(),
            scope: "https://graph.microsoft.com/.default".into(),
            tenant_id: TENANT.into(),
            retry: retry(),
            timeout: Duration::from_secs(30),
            observer: calls.map(|c| c as Arc<dyn RequestObserver>),
            pacing: None,
            ca_bundle: None,
        },
        Credential::ClientSecret {
            client_id: CLIENT.into(),
            secret: SecretString::new(SECRET),
        },
    )
    .unwrap()
}

/// The name of `kind`'s resource (its journal key's).
fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::Tenant => "contoso",
        Kind::Users | Kind::UserRevert => "wave",
        Kind::Groups | Kind::GroupRevert => "groups",
    }
}

/// Where a resource is: `Ready` or `Stalled` with reason and message, else `None`.
fn settled(conditions: &[Condition]) -> Option<(&'static str, String, String)> {
    [cond::STALLED, cond::READY].into_iter().find_map(|t| {
        cond::get(conditions, t)
            .filter(|c| c.status == "True")
            .map(|c| (t, c.reason.clone(), c.message.clone()))
    })
}

/// Reconciles `kind`'s resource (`spec`) until it settles ([`settle`]).
async fn reconcile(
    emu: &Emulator,
    kind: Kind,
    spec: &Value,
    graph: &GraphClient,
    journal: &FileJournal,
) -> (&'static str, String, String) {
    let spec = spec.clone();
    match kind {
        Kind::Tenant => {
            let obj: TenantSyncPolicy = harness::resource(name(kind), spec);
            settle(emu, obj, graph, journal).await
        }
        Kind::Users | Kind::UserRevert => {
            let obj: CloudUserConversion = harness::resource(name(kind), spec);
            settle(emu, obj, graph, journal).await
        }
        Kind::Groups | Kind::GroupRevert => {
            let obj: CloudGroupConversion = harness::resource(name(kind), spec);
            settle(emu, obj, graph, journal).await
        }
    }
}

/// Reconciles `obj` until it settles; a tenant stays guarded for two more passes once Ready
/// (delta rounds). Emulated time moves on between passes, so a tenant-wide disable
/// propagates.
async fn settle<R: Reconciled + serde::de::DeserializeOwned>(
    emu: &Emulator,
    mut obj: R,
    graph: &GraphClient,
    journal: &FileJournal,
) -> (&'static str, String, String)
where
    R::Status: std::fmt::Debug,
{
    let guard = GuardCache::default();
    let tenant = policy("Unmanaged", false, "Report").spec;
    let resource = harness::key::<R>(obj.object_meta().name.as_deref().unwrap());
    let mut guarded = 0;
    for _ in 0..MAX_PASSES {
        let ctx = harness::context(resource.clone(), graph, journal, &guard);
        harness::pass(&mut obj, &tenant, &ctx)
            .await
            .expect("no transient failure");
        // A disable waiting for approval is approved, as its operator would.
        if harness::approve_if_asked(&mut obj) {
            continue;
        }
        let status = obj.status().expect("a pass writes a status");
        match settled(R::conditions(status)) {
            Some(s) if s.0 == cond::READY && obj.as_tenant().is_some() && guarded < 2 => {
                guarded += 1
            }
            Some(s) => return s,
            None => advance(emu, 4000.0).await,
        }
    }
    panic!(
        "{} did not settle in {MAX_PASSES} passes: {:#?}",
        R::KIND,
        obj.status()
    );
}

/// Undo the conversion recorded in `journal`.
async fn revert(kind: Kind, graph: &GraphClient, journal: &FileJournal) -> RevertOutcome {
    let guard = GuardCache::default();
    let outcome = match kind {
        Kind::UserRevert => {
            let key = harness::key::<CloudUserConversion>(name(kind));
            CloudUserConversion::revert(&harness::context(key, graph, journal, &guard), TENANT)
                .await
        }
        _ => {
            let key = harness::key::<CloudGroupConversion>(name(kind));
            CloudGroupConversion::revert(&harness::context(key, graph, journal, &guard), TENANT)
                .await
        }
    };
    outcome.unwrap()
}

/// Every permission any flow needs, for setting the tenant up.
const EVERY_PERMISSION: &[&str] = &[
    "Organization.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
];

/// Makes the tenant `setup` asks for, with every permission; returns the values specs name.
async fn set_up(emu: &Emulator, flow: &Flow, journal: &FileJournal) -> Fixture {
    control_put(
        emu,
        "permissions",
        json!({ "permissions": EVERY_PERMISSION }),
    )
    .await;
    let groups = control_get(emu, "groups").await["value"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let group = groups
        .iter()
        .find(|g| g["kind"] == "synced" && !g["members"].as_array().unwrap().is_empty())
        .map(|g| g["displayName"].as_str().unwrap().to_string())
        .unwrap();
    let mut fixture = Fixture {
        group,
        out_of_scope: Vec::new(),
    };
    match flow.setup {
        Setup::Seeded => {}
        Setup::SyncDisabled => {
            let all = graph(emu, None);
            let done = reconcile(
                emu,
                Kind::Tenant,
                &serde_json::to_value(policy("Disabled", false, "Report").spec).unwrap(),
                &all,
                journal,
            )
            .await;
            assert_eq!(done.0, cond::READY, "{done:?}");
        }
        Setup::OutOfScope => {
            let moved: Vec<Value> = users(emu)
                .await
                .into_iter()
                .filter(|u| u["kind"] == "synced")
                .take(3)
                .collect();
            for u in &moved {
                let path = format!("users/{}/scope", u["id"].as_str().unwrap());
                control_post(emu, &path, json!({"inScope": false})).await;
                let upn = u["userPrincipalName"].as_str().unwrap();
                fixture.out_of_scope.push(upn.to_string());
            }
            control_post(emu, "sync/cycle", json!({})).await;
        }
        Setup::Converted => {
            let all = graph(emu, None);
            let kind = match flow.kind {
                Kind::UserRevert => Kind::Users,
                _ => Kind::Groups,
            };
            let done = reconcile(emu, kind, &(flow.spec)(&fixture), &all, journal).await;
            assert_eq!(done.0, cond::READY, "{done:?}");
            // A Global Administrator lets AD take users back (Microsoft's rollback steps).
            let features = json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false});
            control_post(emu, "directory/features", features).await;
        }
    }
    fixture
}

/// Writes the emulator accepted so far, by route.
fn writes(state: &Value) -> BTreeMap<String, u64> {
    state["writes"]["byOperation"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `flow` with exactly `permissions` granted to the operator's application.
pub async fn run(flow: &Flow, permissions: &[&str]) -> Run {
    let emu = start(config(12, 6)).await;
    let path = temp_dir("least-privilege").join("journal.jsonl");
    let journal = FileJournal::open(
        &path,
        entra_cloud_operator::journal::default_key(&path).unwrap(),
    )
    .unwrap();
    let fixture = set_up(&emu, flow, &journal).await;
    let spec = (flow.spec)(&fixture);
    let before = writes(&state(&emu).await);

    control_put(&emu, "permissions", json!({ "permissions": permissions })).await;
    let calls = Arc::new(Calls::default());
    let client = graph(&emu, Some(calls.clone()));
    let settled = match flow.kind {
        Kind::UserRevert | Kind::GroupRevert => match revert(flow.kind, &client, &journal).await {
            RevertOutcome::Done(n) | RevertOutcome::Kept(n, _) => {
                assert!(n > 0, "nothing to undo");
                ("Reverted", String::new(), format!("{n} reverted"))
            }
            other => {
                let stall = other.stall();
                (cond::STALLED, stall.reason.to_string(), stall.message)
            }
        },
        kind => reconcile(&emu, kind, &spec, &client, &journal).await,
    };

    let after = writes(&state(&emu).await);
    emu.shutdown().await;
    let calls = calls.0.lock().unwrap().clone();
    Run {
        settled,
        writes: after
            .into_iter()
            .map(|(k, v)| {
                let was = before.get(&k).copied().unwrap_or(0);
                (k, v - was)
            })
            .filter(|(_, n)| *n > 0)
            .collect(),
        refused: calls
            .iter()
            .filter(|(op, status)| op.is_write() && *status == Some(403))
            .count(),
        calls,
    }
}

/// The operation behind an emulator write route (`writes.byOperation`).
pub fn write_operation(route: &str) -> Operation {
    match route {
        "PATCH /organization" => Operation::UpdateOrganization,
        "PATCH /users" => Operation::UpdateUser,
        "PATCH /users/onPremisesSyncBehavior" => Operation::UpdateSyncBehavior,
        "PATCH /groups/onPremisesSyncBehavior" => Operation::UpdateGroupSyncBehavior,
        "POST /groups/owners/$ref" => Operation::AddGroupOwner,
        "DELETE /groups/owners/$ref" => Operation::RemoveGroupOwner,
        "POST /directory/deletedItems/restore" => Operation::RestoreDeletedUser,
        other => panic!("the operator made a write it never should: {other}"),
    }
}
