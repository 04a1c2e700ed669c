//! Control endpoints under `/_emulator/` (no authentication; JSON; camelCase): read the
//! state, reseed, re-enable sync as an admin, move time, inject faults, change grants; and
//! (`control/sync.rs`) move AD objects in and out of scope, run a sync cycle, set the sync
//! features as an admin, list the deleted items; (`control/apps.rs`) register applications and
//! change their grants; (`control/delta.rs`) invalidate delta tokens; (`control/contacts.rs`)
//! list organizational contacts and move them in and out of the sync scope;
//! (`control/directory.rs`) the link to a real Active Directory; (`control/lag.rs`) the read
//! lag.

mod apps;
mod contacts;
mod delta;
mod directory;
mod lag;
mod privileged;
mod quotas;
mod sync;

use std::collections::BTreeMap;
use std::sync::{Arc, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::clock::rfc3339;
use super::faults::{FaultSpec, Faults};
use super::latency::LatencyProfile;
use super::model::{Kind, SyncInfo, Writes};
use super::routes::organization::PENDING_DISABLE;
use super::shared::{Shared, Tenancy};
use super::state::{Counts, SyncState};
use super::tenant_file::{self, TenantFile};

type AppState = State<Arc<Shared>>;

/// Seeding limits (memory: about 2 KiB per user).
const MAX_USERS: usize = 1_000_000;
const MAX_GROUPS: usize = 100_000;
/// At most a century per step, so emulated time stays representable.
const MAX_ADVANCE: f64 = 100.0 * 365.25 * 86_400.0;

/// The control routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/state", get(state))
        .route("/users", get(users))
        .route("/groups", get(groups))
        .route("/seed", post(seed))
        .route("/load", post(load))
        .route("/dump", get(dump))
        .route("/sync/enable", post(enable_sync))
        .route("/time/advance", post(advance))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/permissions", put(set_permissions).get(permissions))
        .route("/latency", put(set_latency).get(latency))
        .merge(apps::router())
        .route("/domains", post(set_domain))
        .merge(sync::router())
        .merge(delta::router())
        .merge(contacts::router())
        .merge(directory::router())
        .merge(privileged::router())
        .merge(quotas::router())
        .merge(lag::router())
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "code": code, "message": message.into() } });
    (status, axum::Json(body)).into_response()
}

/// Parses a JSON body (an empty body reads as `{}`); the error is a ready 400 answer.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| format!("invalid request body: {e}"))
}

fn bad_body(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// Locks the tenancy and applies the flips, cycles and purges due now.
fn current(shared: &Shared) -> MutexGuard<'_, Tenancy> {
    let mut t = shared.tenancy();
    t.apply_due();
    t
}

fn counts_json(c: Counts, with_anchor: bool) -> Value {
    let mut v = json!({
        "total": c.total,
        "synced": c.synced,
        "formerlySynced": c.formerly_synced,
        "cloudOnly": c.cloud_only,
        "cloudManaged": c.cloud_managed,
    });
    if let (true, Some(obj)) = (with_anchor, v.as_object_mut()) {
        obj.insert("withImmutableId".into(), json!(c.with_immutable_id));
    }
    v
}

/// The `GET /_emulator/state` document.
pub fn state_json(shared: &Shared, t: &Tenancy) -> Value {
    let tenant = &t.tenant;
    let (requested, completes) = match tenant.sync {
        SyncState::PendingDisable {
            requested,
            completes,
        } => (Some(rfc3339(requested)), Some(rfc3339(completes))),
        _ => (None, None),
    };
    // Each taken and let go in turn (see the lock order in `shared.rs`).
    let s = shared.stats().clone();
    let injected = shared.faults().injected().clone();
    let permissions = shared.apps().default_app().permissions.clone();
    let by_status: BTreeMap<String, u64> = s
        .by_status
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    json!({
        "tenantId": tenant.org.id,
        "now": rfc3339(t.clock.now()),
        "timeScale": t.clock.scale(),
        "organization": {
            "onPremisesSyncEnabled": tenant.org_sync_enabled(),
            "syncState": tenant.sync.name(),
            "disableRequestedAt": requested,
            "disableCompletesAt": completes,
        },
        "users": counts_json(tenant.user_counts(), true),
        "groups": counts_json(tenant.group_counts(), false),
        "contacts": counts_json(tenant.contact_counts(), false),
        "deleted": {
            "users": tenant.deleted_users.len(),
            "groups": tenant.deleted_groups.len(),
        },
        "directorySync": {
            "syncIntervalSeconds": tenant.behaviour.sync_interval.as_secs_f64(),
            "lastSyncAt": tenant.org.last_sync.map(rfc3339),
            "nextCycleAt": tenant.next_cycle().map(rfc3339),
            "features": tenant.features.to_json(),
            "accidentalDeleteThreshold": tenant.behaviour.accidental_delete_threshold,
            "export": match tenant.export_stopped {
                Some(s) => json!({"status": "stopped-deletion-threshold-exceeded",
                                  "pendingDeletes": s.deletes, "threshold": s.threshold}),
                None => json!({"status": "success"}),
            },
        },
        "writes": {
            "accepted": s.writes_accepted,
            "refused": s.writes_refused,
            "throttled": s.writes_throttled,
            "byOperation": s.writes_by_operation,
        },
        "requests": {
            "total": s.requests,
            "throttled": s.throttled,
            "faulted": s.faulted,
            "faultsInjected": injected,
            "byStatus": by_status,
            "batches": s.batches,
            "batchItems": s.batch_items,
        },
        "tokens": {
            "issued": s.tokens_issued,
            "refused": s.tokens_refused,
            "faulted": s.tokens_faulted,
        },
        "permissions": permissions,
    })
}

async fn state(State(shared): AppState) -> Response {
    let body = state_json(&shared, &current(&shared));
    axum::Json(body).into_response()
}

/// Adds what tests assert on to an object's Graph JSON: `kind`, `isCloudManaged`, `inScope`
/// (its AD twin is in the sync scope), `joined`, `writes` (accepted writes) and
/// `writeCounts` (by kind).
pub fn annotate(obj: &mut Map<String, Value>, kind: Kind, sync: &SyncInfo, writes: Writes) {
    obj.insert("kind".into(), json!(kind));
    obj.insert("isCloudManaged".into(), json!(sync.cloud_managed));
    obj.insert(
        "inScope".into(),
        json!(sync.ad_twin.is_some() && sync.in_scope),
    );
    obj.insert("joined".into(), json!(sync.joined));
    obj.insert("writes".into(), json!(writes.total()));
    obj.insert("writeCounts".into(), json!(writes));
}

async fn users(State(shared): AppState) -> Response {
    let value: Vec<Value> = {
        let t = current(&shared);
        t.tenant
            .users
            .values()
            .map(|u| {
                let mut obj = u.to_json();
                annotate(&mut obj, u.kind, &u.sync, u.writes);
                Value::Object(obj)
            })
            .collect()
    };
    axum::Json(json!({ "value": value })).into_response()
}

async fn groups(State(shared): AppState) -> Response {
    let value: Vec<Value> = {
        let t = current(&shared);
        t.tenant
            .groups
            .values()
            .map(|g| {
                let mut obj = g.to_json();
                annotate(&mut obj, g.kind, &g.sync, g.writes);
                obj.insert("members".into(), json!(g.members));
                obj.insert("owners".into(), json!(g.owners));
                Value::Object(obj)
            })
            .collect()
    };
    axum::Json(json!({ "value": value })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedRequest {
    users: Option<usize>,
    groups: Option<usize>,
    seed: Option<u64>,
}

async fn seed(State(shared): AppState, body: Bytes) -> Response {
    let request: SeedRequest = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let config = &shared.config;
    let users = request.users.unwrap_or(config.users);
    let groups = request.groups.unwrap_or(config.groups);
    let seed = request.seed.unwrap_or(config.seed);
    if users > MAX_USERS || groups > MAX_GROUPS {
        let message = format!("at most {MAX_USERS} users and {MAX_GROUPS} groups");
        return error(StatusCode::BAD_REQUEST, "BadRequest", message);
    }
    // Seed without holding the lock: a large tenant takes a moment.
    let clock = shared.tenancy().clock.clone();
    let config = config.clone();
    let seeded =
        tokio::task::spawn_blocking(move || Tenancy::seed(&config, &clock, users, groups, seed))
            .await;
    let Ok(tenant) = seeded else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "seeding failed",
        );
    };
    let mut t = shared.tenancy();
    shared.install(&mut t, tenant);
    tracing::info!(users, groups, seed, "tenant reseeded");
    axum::Json(state_json(&shared, &t)).into_response()
}

/// `POST /_emulator/load` with a tenant file (YAML or JSON): replaces the tenant, as
/// `/seed` does, with the one the file describes.
async fn load(State(shared): AppState, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let file = match TenantFile::parse(&text) {
        Ok(f) => f,
        Err(e) => return bad_body(e.to_string()),
    };
    let (config, clock) = (shared.config.clone(), shared.tenancy().clock.clone());
    let apps = file.apps.clone();
    let built = tokio::task::spawn_blocking(move || Tenancy::load(&config, &clock, &file)).await;
    let tenant = match built {
        Ok(Ok(tenant)) => tenant,
        Ok(Err(e)) => return bad_body(e.to_string()),
        Err(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                "loading failed",
            );
        }
    };
    let mut t = shared.tenancy();
    let registered = shared.apps().load(&apps);
    if let Err(e) = registered {
        return bad_body(format!("tenant file: {e}"));
    }
    shared.install(&mut t, tenant);
    tracing::info!(
        users = t.tenant.users.len(),
        groups = t.tenant.groups.len(),
        "tenant loaded"
    );
    axum::Json(state_json(&shared, &t)).into_response()
}

/// `GET /_emulator/dump`: the tenant as a tenant file (JSON), for `/load` or `--tenant-file`.
async fn dump(State(shared): AppState) -> Response {
    let t = current(&shared);
    axum::Json(tenant_file::dump(&t.tenant)).into_response()
}

async fn enable_sync(State(shared): AppState) -> Response {
    let mut t = current(&shared);
    let now = t.clock.now();
    match t.tenant.enable(now) {
        Ok(()) => axum::Json(state_json(&shared, &t)).into_response(),
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            PENDING_DISABLE,
        ),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

async fn advance(State(shared): AppState, body: Bytes) -> Response {
    let request: Advance = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    if !(0.0..=MAX_ADVANCE).contains(&request.seconds) {
        let message = format!("seconds must be a number from 0 to {MAX_ADVANCE}");
        return error(StatusCode::BAD_REQUEST, "BadRequest", message);
    }
    let mut t = shared.tenancy();
    t.clock.advance(request.seconds);
    t.apply_due();
    axum::Json(state_json(&shared, &t)).into_response()
}

fn faults_json(faults: &mut Faults) -> Response {
    axum::Json(json!({
        "faults": faults.pending(),
        "injected": faults.injected(),
    }))
    .into_response()
}

async fn list_faults(State(shared): AppState) -> Response {
    faults_json(&mut shared.faults())
}

async fn add_fault(State(shared): AppState, body: Bytes) -> Response {
    let spec: FaultSpec = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let mut faults = shared.faults();
    match faults.add(spec) {
        Ok(()) => faults_json(&mut faults),
        Err(message) => error(StatusCode::BAD_REQUEST, "BadRequest", message),
    }
}

async fn clear_faults(State(shared): AppState) -> StatusCode {
    shared.faults().clear();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Latency {
    latency: LatencyProfile,
}

fn latency_json(profile: LatencyProfile) -> Response {
    axum::Json(json!({ "latency": profile })).into_response()
}

/// `GET /_emulator/latency`: the latency profile, as `--latency` takes it.
async fn latency(State(shared): AppState) -> Response {
    latency_json(shared.latency())
}

/// `PUT /_emulator/latency` `{"latency": "read=50ms,write=lognormal:80ms/500ms,spike=5%:3s"}`:
/// changes the latency of every answer from the next request on (a spike storm mid-run).
async fn set_latency(State(shared): AppState, body: Bytes) -> Response {
    let request: Latency = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    shared.set_latency(request.latency);
    latency_json(request.latency)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Permissions {
    permissions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainType {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `POST /_emulator/domains` `{"name", "type": "Managed"|"Federated"}`: federate a verified
/// domain (as an AD FS setup would) or make it managed again.
async fn set_domain(State(shared): AppState, body: Bytes) -> Response {
    let request: DomainType = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let federated = match request.kind.as_str() {
        "Federated" => true,
        "Managed" => false,
        other => return bad_body(format!("type must be Managed or Federated, not {other:?}")),
    };
    let mut t = shared.tenancy();
    let Some(d) = t
        .tenant
        .org
        .domains
        .iter_mut()
        .find(|d| d.name.eq_ignore_ascii_case(&request.name))
    else {
        return bad_body(format!(
            "{} is not a verified domain of the tenant",
            request.name
        ));
    };
    d.federated = federated;
    let domains: Vec<Value> = t.tenant.org.domains.iter().map(|d| d.to_json()).collect();
    axum::Json(json!({ "verifiedDomains": domains })).into_response()
}

async fn permissions(State(shared): AppState) -> Response {
    let apps = shared.apps();
    axum::Json(json!({ "permissions": apps.default_app().permissions })).into_response()
}

/// `PUT /_emulator/permissions`: replaces the default application's grants.
async fn set_permissions(State(shared): AppState, body: Bytes) -> Response {
    let request: Permissions = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let mut apps = shared.apps();
    let app = apps.default_app_mut();
    tracing::info!(client_id = %app.client_id, permissions = ?request.permissions, "app permissions replaced");
    app.permissions = request.permissions;
    axum::Json(json!({ "permissions": app.permissions })).into_response()
}
