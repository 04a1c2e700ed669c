//! One run of a flow: a fresh emulator, the tenant set up with every permission, then the
//! flow's resource reconciled with the permissions under test until it is Ready or Stalled,
//! every Graph call the operator made recorded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::graph::{
    Credential, GraphClient, GraphConfig, Operation, RequestObserver, SecretString,
};
use entra_cloud_operator::journal::{FileJournal, ResourceKey};
use entra_cloud_operator::reconcile::RevertOutcome;
use entra_cloud_operator::reconcile::{Context, group, tenant, user};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::{Value, json};

use crate::common::*;
use crate::flows::{Fixture, Flow, Kind, Setup, group_spec, tenant_spec, user_spec};

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

fn key(kind: Kind) -> ResourceKey {
    let (kind, name) = match kind {
        Kind::Tenant => ("TenantSyncPolicy", "contoso"),
        Kind::Users | Kind::UserRevert => ("CloudUserConversion", "wave"),
        Kind::Groups | Kind::GroupRevert => ("CloudGroupConversion", "groups"),
    };
    ResourceKey {
        kind: kind.into(),
        namespace: "identity".into(),
        name: name.into(),
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

/// Reconciles `kind`'s resource (`spec`) until it settles; a tenant stays guarded for two
/// more passes once Ready (delta rounds). Emulated time moves on between passes, so a
/// tenant-wide disable propagates.
async fn reconcile(
    emu: &Emulator,
    kind: Kind,
    spec: &Value,
    graph: &GraphClient,
    journal: &FileJournal,
) -> (&'static str, String, String) {
    let guard = tenant::guard::GuardCache::default();
    let (mut tsp, mut cuc, mut cgc) = (None, None, None);
    let tenant_of = policy("Unmanaged", false, "Report").spec;
    let mut guarded = 0;
    for _ in 0..MAX_PASSES {
        let ctx = Context {
            graph,
            journal,
            resource: key(kind),
            concurrency: 4,
            now: jiff::Timestamp::now(),
            guard: &guard,
            ad: None,
        };
        let conditions = match kind {
            Kind::Tenant => {
                let s = tenant_spec(spec);
                let input = tenant::Input {
                    spec: &s,
                    generation: Some(1),
                    status: tsp.as_ref(),
                };
                let out = tenant::reconcile(input, &ctx).await;
                tsp = Some(out.expect("no transient failure").status);
                tsp.as_ref().unwrap().conditions.clone()
            }
            Kind::Users | Kind::UserRevert => {
                let s = user_spec(spec);
                let input = user::Input {
                    spec: &s,
                    generation: Some(1),
                    status: cuc.as_ref(),
                    tenant: &tenant_of,
                };
                cuc = Some(user::reconcile(input, &ctx).await.unwrap().status);
                cuc.as_ref().unwrap().conditions.clone()
            }
            Kind::Groups | Kind::GroupRevert => {
                let s = group_spec(spec);
                let input = group::Input {
                    spec: &s,
                    generation: Some(1),
                    status: cgc.as_ref(),
                    tenant: &tenant_of,
                };
                cgc = Some(group::reconcile(input, &ctx).await.unwrap().status);
                cgc.as_ref().unwrap().conditions.clone()
            }
        };
        match settled(&conditions) {
            Some(s) if s.0 == cond::READY && kind == Kind::Tenant && guarded < 2 => guarded += 1,
            Some(s) => return s,
            None => advance(emu, 4000.0).await,
        }
    }
    panic!("{kind:?} did not settle in {MAX_PASSES} passes: {tsp:#?} {cuc:#?} {cgc:#?}");
}

/// Undo the conversion recorded in `journal`.
async fn revert(kind: Kind, graph: &GraphClient, journal: &FileJournal) -> RevertOutcome {
    let guard = tenant::guard::GuardCache::default();
    let ctx = Context {
        graph,
        journal,
        resource: key(kind),
        concurrency: 4,
        now: jiff::Timestamp::now(),
        guard: &guard,
        ad: None,
    };
    let outcome = match kind {
        Kind::UserRevert => user::revert::revert(&ctx, TENANT).await,
        _ => group::revert::revert(&ctx, TENANT).await,
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
    let journal = FileJournal::open(temp_dir("least-privilege").join("journal.jsonl")).unwrap();
    let fixture = set_up(&emu, flow, &journal).await;
    let spec = (flow.spec)(&fixture);
    let before = writes(&state(&emu).await);

    control_put(&emu, "permissions", json!({ "permissions": permissions })).await;
    let calls = Arc::new(Calls::default());
    let client = graph(&emu, Some(calls.clone()));
    let settled = match flow.kind {
        Kind::UserRevert | Kind::GroupRevert => match revert(flow.kind, &client, &journal).await {
            RevertOutcome::Done(n) => {
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
