//! Every reconciler flow with one kind of credential, the token endpoint behind the tap: user
//! conversions (Source of Authority with the ImmutableID cleared, then undone; the legacy
//! restore; ClearImmutableId after a tenant-wide disable), group conversion with owners (then
//! undone), the tenant-wide cutover and its drift, and the refusals (a missing permission, a
//! wrong credential, a token endpoint outage). Returns every status, Event, error and journal
//! line, for the caller to search.

use std::time::Duration;

use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::emulator::{Emulator, EmulatorConfig, FederatedCredentialSpec};
use entra_cloud_operator::graph::{
    ClientCertificate, Credential, GraphClient, GraphConfig, SecretString,
};
use entra_cloud_operator::journal::{FileJournal, ResourceKey};
use entra_cloud_operator::reconcile::{Context, group, tenant, user};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::{Value, json};

use crate::common::*;
use crate::{APP_CRT, APP_KEY, Cred, ISSUER, OTHER_CRT, OTHER_KEY, SUBJECT, WRONG, sa_token, tap};

const EVERY_PERMISSION: &[&str] = &[
    "Organization.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
];

/// An emulator that accepts all three credentials of the default application.
pub async fn emulator() -> Emulator {
    let emu = start(EmulatorConfig {
        certificates: vec![APP_CRT.into()],
        federated_credentials: vec![FederatedCredentialSpec {
            issuer: ISSUER.into(),
            subject: SUBJECT.into(),
            ..FederatedCredentialSpec::default()
        }],
        ..config(12, 6)
    })
    .await;
    control_put(
        &emu,
        "permissions",
        json!({ "permissions": EVERY_PERMISSION }),
    )
    .await;
    emu
}

/// The credential of `cred`, right or `wrong`. A workload identity's token file is written
/// into `dir`.
pub fn credential(cred: Cred, wrong: bool, dir: &std::path::Path) -> Credential {
    match cred {
        Cred::ClientSecret => Credential::ClientSecret {
            client_id: CLIENT.into(),
            secret: SecretString::new(if wrong { WRONG } else { SECRET }),
        },
        Cred::Certificate => {
            let (crt, key) = if wrong {
                (OTHER_CRT, OTHER_KEY)
            } else {
                (APP_CRT, APP_KEY)
            };
            Credential::Certificate {
                client_id: CLIENT.into(),
                certificate: ClientCertificate::from_pem(crt, &SecretString::new(key)).unwrap(),
            }
        }
        Cred::WorkloadIdentity => {
            let file = dir.join(if wrong { "wrong-token" } else { "token" });
            let subject = if wrong {
                "system:serviceaccount:identity:other"
            } else {
                SUBJECT
            };
            std::fs::write(&file, sa_token(subject)).unwrap();
            Credential::WorkloadIdentity {
                client_id: CLIENT.into(),
                token_file: file,
            }
        }
    }
}

fn graph(emu: &Emulator, login: &str, credential: Credential) -> GraphClient {
    GraphClient::new(
        GraphConfig {
            graph_root: emu.url(),
            login_root: login.to_string(),
            scope: "https://graph.microsoft.com/.default".into(),
            tenant_id: TENANT.into(),
            retry: retry(),
            timeout: Duration::from_secs(30),
            observer: None,
            pacing: None,
            ca_bundle: None,
        },
        credential,
    )
    .unwrap()
}

/// One resource of a flow.
enum Res {
    Tenant(Value),
    Users(Value),
    Groups(Value),
}

/// The last status of each resource, by name.
type States = std::collections::HashMap<String, Value>;

/// The last status of `name`, if it is of this resource's kind.
fn last<T: serde::de::DeserializeOwned>(states: &States, name: &str, _: &Res) -> Option<T> {
    states
        .get(name)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// Reconciles `res` (journal under `name`) from its last status until Ready or Stalled, at
/// most 12 passes, moving emulated time on between them; appends its statuses, Events and
/// errors to `out`. Returns the final conditions.
async fn settle(
    emu: &Emulator,
    graph: &GraphClient,
    journal: &FileJournal,
    (name, res): (&str, &Res),
    states: &mut States,
    out: &mut String,
) -> Vec<Condition> {
    let guard = tenant::guard::GuardCache::default();
    let tenant_spec = policy("Unmanaged", false, "Report").spec;
    let (mut tsp, mut cuc, mut cgc) = (
        last(states, name, res),
        last(states, name, res),
        last(states, name, res),
    );
    for _ in 0..12 {
        let ctx = Context {
            graph,
            journal,
            resource: ResourceKey {
                kind: "Resource".into(),
                namespace: "identity".into(),
                name: name.into(),
            },
            concurrency: 4,
            now: jiff::Timestamp::now(),
            guard: &guard,
            ad: None,
        };
        let conditions = match res {
            Res::Tenant(spec) => {
                let spec = serde_json::from_value(spec.clone()).unwrap();
                let input = tenant::Input {
                    spec: &spec,
                    generation: Some(1),
                    status: tsp.as_ref(),
                };
                match tenant::reconcile(input, &ctx).await {
                    Ok(o) => {
                        out.push_str(&format!("{:?} {:?}", o.status, o.events));
                        tsp = Some(o.status);
                        tsp.as_ref().unwrap().conditions.clone()
                    }
                    Err(e) => {
                        out.push_str(&format!("{e} {e:?}"));
                        return Vec::new();
                    }
                }
            }
            Res::Users(spec) => {
                let spec = serde_json::from_value(spec.clone()).unwrap();
                let input = user::Input {
                    spec: &spec,
                    generation: Some(1),
                    status: cuc.as_ref(),
                    tenant: &tenant_spec,
                };
                let o = user::reconcile(input, &ctx).await.unwrap();
                out.push_str(&format!(
                    "{} {:?}",
                    serde_json::to_string(&o.status).unwrap(),
                    o.events
                ));
                cuc = Some(o.status);
                cuc.as_ref().unwrap().conditions.clone()
            }
            Res::Groups(spec) => {
                let spec = serde_json::from_value(spec.clone()).unwrap();
                let input = group::Input {
                    spec: &spec,
                    generation: Some(1),
                    status: cgc.as_ref(),
                    tenant: &tenant_spec,
                };
                let o = group::reconcile(input, &ctx).await.unwrap();
                out.push_str(&format!(
                    "{} {:?}",
                    serde_json::to_string(&o.status).unwrap(),
                    o.events
                ));
                cgc = Some(o.status);
                cgc.as_ref().unwrap().conditions.clone()
            }
        };
        if cond::is_true(&conditions, cond::READY) || cond::is_true(&conditions, cond::STALLED) {
            let status = match res {
                Res::Tenant(_) => serde_json::to_value(tsp.as_ref().unwrap()),
                Res::Users(_) => serde_json::to_value(cuc.as_ref().unwrap()),
                Res::Groups(_) => serde_json::to_value(cgc.as_ref().unwrap()),
            };
            states.insert(name.to_string(), status.unwrap());
            return conditions;
        }
        advance(emu, 4000.0).await;
    }
    panic!("{name} did not settle");
}

async fn undo(
    graph: &GraphClient,
    journal: &FileJournal,
    name: &str,
    users: bool,
    out: &mut String,
) {
    let guard = tenant::guard::GuardCache::default();
    let ctx = Context {
        graph,
        journal,
        resource: ResourceKey {
            kind: "Resource".into(),
            namespace: "identity".into(),
            name: name.into(),
        },
        concurrency: 4,
        now: jiff::Timestamp::now(),
        guard: &guard,
        ad: None,
    };
    let outcome = if users {
        user::revert::revert(&ctx, TENANT).await
    } else {
        group::revert::revert(&ctx, TENANT).await
    };
    out.push_str(&format!("{outcome:?}"));
}

fn ready(c: &[Condition], what: &str) {
    assert!(cond::is_true(c, cond::READY), "{what}: {c:#?}");
}

fn stalled(c: &[Condition], reason: &str, what: &str) {
    assert!(
        cond::get(c, cond::STALLED).is_some_and(|s| s.status == "True" && s.reason == reason),
        "{what}: {c:#?}"
    );
}

/// Every flow with `cred`; returns what they produced.
pub async fn every_flow(cred: Cred, seen: &tap::Seen) -> String {
    let emu = emulator().await;
    let login = tap::start(&emu.url(), seen.clone()).await;
    let dir = temp_dir("secrets-flows");
    let journal_path = dir.join("journal.jsonl");
    let journal = FileJournal::open(&journal_path).unwrap();
    let g = graph(&emu, &login, credential(cred, false, &dir));
    let mut out = String::new();
    let mut states = States::new();
    let synced: Vec<String> = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_string())
        .collect();
    let apply = |extra: Value| {
        let mut spec = json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
                              "rollout": {"maxObjects": 100, "waveSize": 2}});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };

    // Users: Source of Authority with the ImmutableID cleared, then undone.
    let soa = Res::Users(apply(json!({"clearImmutableId": true,
        "selector": {"userPrincipalNames": synced[..3]}})));
    ready(
        &settle(&emu, &g, &journal, ("soa", &soa), &mut states, &mut out).await,
        "soa",
    );
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    undo(&g, &journal, "soa", true, &mut out).await;

    // Groups with owners, then undone.
    let groups = Res::Groups(apply(json!({"owners": ["admin@contoso.onmicrosoft.com"],
        "selector": {"filter": "startswith(displayName,'SG ')"}})));
    ready(
        &settle(
            &emu,
            &g,
            &journal,
            ("groups", &groups),
            &mut states,
            &mut out,
        )
        .await,
        "groups",
    );
    undo(&g, &journal, "groups", false, &mut out).await;

    // The legacy restore of users whose AD object left sync scope.
    for u in users(&emu)
        .await
        .iter()
        .filter(|u| synced[3..5].contains(&u["userPrincipalName"].as_str().unwrap().to_string()))
    {
        let path = format!("users/{}/scope", u["id"].as_str().unwrap());
        control_post(&emu, &path, json!({"inScope": false})).await;
    }
    control_post(&emu, "sync/cycle", json!({})).await;
    let restore = Res::Users(apply(json!({"method": "RestoreDeleted",
        "selector": {"userPrincipalNames": synced[3..5]}})));
    ready(
        &settle(
            &emu,
            &g,
            &journal,
            ("restore", &restore),
            &mut states,
            &mut out,
        )
        .await,
        "restore",
    );

    // A missing permission: Stalled, naming it.
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.Read.All", "User.Read.All"]}),
    )
    .await;
    let plan = Res::Users(apply(json!({"selector": {"domains": ["contoso.com"]}})));
    stalled(
        &settle(&emu, &g, &journal, ("denied", &plan), &mut states, &mut out).await,
        "MissingPermission",
        "denied",
    );
    control_put(
        &emu,
        "permissions",
        json!({ "permissions": EVERY_PERMISSION }),
    )
    .await;

    // The tenant-wide cutover, with 5xx faults so retries are logged; then drift.
    control_post(&emu, "faults", json!({"status": 503, "count": 3})).await;
    let cutover =
        Res::Tenant(serde_json::to_value(policy("Disabled", false, "Report").spec).unwrap());
    ready(
        &settle(
            &emu,
            &g,
            &journal,
            ("cutover", &cutover),
            &mut states,
            &mut out,
        )
        .await,
        "cutover",
    );
    let clear = Res::Users(apply(json!({"method": "ClearImmutableId",
        "selector": {"domains": ["contoso.com"]}})));
    ready(
        &settle(&emu, &g, &journal, ("clear", &clear), &mut states, &mut out).await,
        "clear",
    );
    control_post(&emu, "sync/enable", json!({})).await;
    settle(
        &emu,
        &g,
        &journal,
        ("cutover", &cutover),
        &mut states,
        &mut out,
    )
    .await;

    // A wrong credential: Stalled, naming the fix, never the value.
    let wrong = graph(&emu, &login, credential(cred, true, &dir));
    let observe =
        Res::Tenant(serde_json::to_value(policy("Unmanaged", false, "Report").spec).unwrap());
    stalled(
        &settle(
            &emu,
            &wrong,
            &journal,
            ("wrong", &observe),
            &mut states,
            &mut out,
        )
        .await,
        "InvalidCredentials",
        "wrong",
    );
    let err = wrong.organization().await.unwrap_err();
    out.push_str(&format!("{err} {err:?}"));

    // A token endpoint outage: the error is returned, never the credential.
    control_post(
        &emu,
        "faults",
        json!({"status": 503, "count": 100, "target": "token"}),
    )
    .await;
    let fresh = graph(&emu, &login, credential(cred, false, &dir));
    let err = fresh.organization().await.unwrap_err();
    out.push_str(&format!("{err} {err:?}"));

    out.push_str(&std::fs::read_to_string(&journal_path).unwrap());
    emu.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    out
}
