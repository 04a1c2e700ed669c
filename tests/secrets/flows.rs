//! Every reconciler flow with one kind of credential, the token endpoint behind the tap: user
//! conversions (Source of Authority with the ImmutableID cleared, then undone; the legacy
//! restore; ClearImmutableId after a tenant-wide disable), group conversion with owners (then
//! undone), the tenant-wide cutover and its drift, and the refusals (a missing permission, a
//! wrong credential, a token endpoint outage). Returns every status, Event, error and journal
//! line, for the caller to search.

use std::time::Duration;

use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion, TenantSyncPolicy};
use entra_cloud_operator::emulator::{Emulator, EmulatorConfig, FederatedCredentialSpec};
use entra_cloud_operator::graph::{
    ClientCertificate, Credential, GraphClient, GraphConfig, SecretString,
};
use entra_cloud_operator::journal::FileJournal;
use entra_cloud_operator::reconcile::resource::Reconciled;
use entra_cloud_operator::reconcile::tenant::guard::GuardCache;
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

/// The last status of each resource, by name.
type States = std::collections::HashMap<String, Value>;

/// Reconciles `obj` (journal under its name) from its last status until Ready or Stalled, at
/// most 12 passes, moving emulated time on between them; appends its statuses, Events and
/// errors to `out`. Returns the final conditions (none after an error).
async fn settle<R: Reconciled + serde::de::DeserializeOwned>(
    emu: &Emulator,
    graph: &GraphClient,
    journal: &FileJournal,
    obj: &R,
    states: &mut States,
    out: &mut String,
) -> Vec<Condition>
where
    R::Status: std::fmt::Debug + serde::de::DeserializeOwned,
{
    let guard = GuardCache::default();
    let tenant_spec = policy("Unmanaged", false, "Report").spec;
    let name = obj.object_meta().name.clone().unwrap();
    let mut obj = obj.clone();
    if let Some(last) = states.get(&name) {
        // The last status of `name`, if it is of this resource's kind.
        if let Ok(status) = serde_json::from_value(last.clone()) {
            obj.set_status(status);
        }
    }
    for _ in 0..12 {
        let ctx = harness::context(harness::key::<R>(&name), graph, journal, &guard);
        match harness::pass(&mut obj, &tenant_spec, &ctx).await {
            Ok(o) => out.push_str(&format!(
                "{:?} {} {:?}",
                o.status,
                serde_json::to_string(&o.status).unwrap(),
                o.events
            )),
            Err(e) => {
                out.push_str(&format!("{e} {e:?}"));
                return Vec::new();
            }
        }
        // A disable waiting for approval is approved, as its operator would.
        if harness::approve_if_asked(&mut obj) {
            continue;
        }
        let status = obj.status().unwrap();
        let conditions = R::conditions(status).to_vec();
        if cond::is_true(&conditions, cond::READY) || cond::is_true(&conditions, cond::STALLED) {
            states.insert(name, serde_json::to_value(status).unwrap());
            return conditions;
        }
        advance(emu, 4000.0).await;
    }
    panic!("{name} did not settle");
}

/// `onDelete: Revert` of `obj`, from the journal; appends the outcome to `out`.
async fn undo<R: Reconciled + serde::de::DeserializeOwned>(
    graph: &GraphClient,
    journal: &FileJournal,
    obj: &R,
    out: &mut String,
) {
    let guard = GuardCache::default();
    let key = harness::key::<R>(obj.object_meta().name.as_deref().unwrap());
    let outcome = R::revert(&harness::context(key, graph, journal, &guard), TENANT).await;
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
    let journal = FileJournal::open(
        &journal_path,
        entra_cloud_operator::journal::default_key(std::path::Path::new(&&journal_path)).unwrap(),
    )
    .unwrap();
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
    let soa: CloudUserConversion = harness::resource(
        "soa",
        apply(json!({"clearImmutableId": true,
        "selector": {"userPrincipalNames": synced[..3]}})),
    );
    ready(
        &settle(&emu, &g, &journal, &soa, &mut states, &mut out).await,
        "soa",
    );
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    undo(&g, &journal, &soa, &mut out).await;

    // Groups with owners, then undone.
    let groups: CloudGroupConversion = harness::resource(
        "groups",
        apply(json!({"owners": ["admin@contoso.onmicrosoft.com"],
        "selector": {"filter": "startswith(displayName,'SG ')"}})),
    );
    ready(
        &settle(&emu, &g, &journal, &groups, &mut states, &mut out).await,
        "groups",
    );
    undo(&g, &journal, &groups, &mut out).await;

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
    let restore: CloudUserConversion = harness::resource(
        "restore",
        apply(json!({"method": "RestoreDeleted",
        "selector": {"userPrincipalNames": synced[3..5]}})),
    );
    ready(
        &settle(&emu, &g, &journal, &restore, &mut states, &mut out).await,
        "restore",
    );

    // A missing permission: Stalled, naming it.
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.Read.All", "User.Read.All"]}),
    )
    .await;
    let plan: CloudUserConversion = harness::resource(
        "denied",
        apply(json!({"selector": {"domains": ["contoso.com"]}})),
    );
    stalled(
        &settle(&emu, &g, &journal, &plan, &mut states, &mut out).await,
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
    let cutover: TenantSyncPolicy = harness::resource(
        "cutover",
        serde_json::to_value(policy("Disabled", false, "Report").spec).unwrap(),
    );
    ready(
        &settle(&emu, &g, &journal, &cutover, &mut states, &mut out).await,
        "cutover",
    );
    let clear: CloudUserConversion = harness::resource(
        "clear",
        apply(json!({"method": "ClearImmutableId",
        "selector": {"domains": ["contoso.com"]}})),
    );
    ready(
        &settle(&emu, &g, &journal, &clear, &mut states, &mut out).await,
        "clear",
    );
    control_post(&emu, "sync/enable", json!({})).await;
    settle(&emu, &g, &journal, &cutover, &mut states, &mut out).await;

    // A wrong credential: Stalled, naming the fix, never the value.
    let wrong = graph(&emu, &login, credential(cred, true, &dir));
    let observe: TenantSyncPolicy = harness::resource(
        "wrong",
        serde_json::to_value(policy("Unmanaged", false, "Report").spec).unwrap(),
    );
    stalled(
        &settle(&emu, &wrong, &journal, &observe, &mut states, &mut out).await,
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
