//! Control endpoints of the simulated sync client and the deleted items:
//! - `POST /_emulator/users/{id}/scope`, `POST /_emulator/groups/{id}/scope`
//!   `{"inScope": bool}` → `{"id","inScope","state":"active|softDeleted|gone"}`: moves the AD
//!   twin into or out of a synchronised OU; the next cycle acts on it;
//! - `POST /_emulator/sync/cycle` → the cycle's report: runs one cycle now (the schedule is
//!   unchanged); 409 while directory sync is not enabled. With a real directory linked it
//!   reads it first (the report's `directory` says what the import did), and a failed read
//!   answers 503 `DirectoryUnreachable` with nothing changed;
//! - `POST /_emulator/sync/allow-deletes` → `{"allowDeletesOnce": true, "exportStopped": …}`: an
//!   administrator lets the next export through the accidental-delete threshold (Connect's
//!   one export with the threshold disabled);
//! - `POST /_emulator/directory/features` `{"blockCloudObjectTakeoverThroughHardMatchEnabled":
//!   bool, …}` → `{"features":{…}}`: an admin sets sync features;
//! - `GET /_emulator/deleted` → `{"value":[…]}`: the soft-deleted objects.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{AppState, annotate, bad_body, current, error, parse};
use crate::emulator::clock::rfc3339;
use crate::emulator::model::{Kind, SyncInfo, Writes};
use crate::emulator::shared::Shared;
use crate::emulator::state::{Deleted, Features, ObjectKind, ScopeError, SyncState};

/// The routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/users/{id}/scope", post(user_scope))
        .route("/groups/{id}/scope", post(group_scope))
        .route("/sync/cycle", post(cycle))
        .route("/sync/allow-deletes", post(allow_deletes))
        .route("/directory/features", post(features))
        .route("/deleted", get(deleted))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Scope {
    in_scope: bool,
}

async fn user_scope(state: AppState, Path(id): Path<String>, body: Bytes) -> Response {
    scope(state, ObjectKind::User, id, body)
}

async fn group_scope(state: AppState, Path(id): Path<String>, body: Bytes) -> Response {
    scope(state, ObjectKind::Group, id, body)
}

fn scope(State(shared): AppState, kind: ObjectKind, id: String, body: Bytes) -> Response {
    let request: Scope = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let mut t = current(&shared);
    match t.tenant.set_scope(kind, &id, request.in_scope) {
        Ok(state) => {
            tracing::info!(id, in_scope = request.in_scope, "AD object moved");
            axum::Json(json!({ "id": id, "inScope": request.in_scope, "state": state.name() }))
                .into_response()
        }
        Err(ScopeError::NotFound) => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no object '{id}' (live, deleted or remembered)"),
        ),
        Err(ScopeError::NoAdObject) => error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("'{id}' is cloud-only: it has no AD object to move"),
        ),
    }
}

async fn cycle(State(shared): AppState) -> Response {
    // With a real directory linked, the cycle imports a fresh read of it first (outside the
    // lock: LDAP is async).
    let read = match &shared.directory {
        Some(source) => Some(source.read().await),
        None => None,
    };
    let mut t = current(&shared);
    if t.tenant.sync != SyncState::Enabled {
        return error(
            StatusCode::CONFLICT,
            "SyncNotEnabled",
            "directory sync is not enabled for the tenant: the sync client cannot export",
        );
    }
    let now = t.clock.now();
    let imported = match read {
        None => None,
        Some(Ok(users)) => Some(t.tenant.import_directory(&users, now)),
        Some(Err(e)) => {
            t.tenant.directory_failed(e.to_string());
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "DirectoryUnreachable",
                format!("the cycle changed nothing: {e}"),
            );
        }
    };
    let mut report = t.tenant.run_cycle(now);
    report.directory = imported;
    let mut body = match serde_json::to_value(&report) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    body.insert("ranAt".into(), json!(rfc3339(now)));
    body.insert(
        "nextCycleAt".into(),
        json!(t.tenant.next_cycle().map(rfc3339)),
    );
    axum::Json(Value::Object(body)).into_response()
}

async fn features(State(shared): AppState, body: Bytes) -> Response {
    let request: Map<String, Value> = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let mut changes = Vec::new();
    for (name, value) in &request {
        match value {
            Value::Bool(b) if Features::knows(name) => changes.push((name.clone(), *b)),
            Value::Bool(_) => return bad_body(format!("unknown feature '{name}'")),
            _ => return bad_body(format!("feature '{name}' must be true or false")),
        }
    }
    let mut t = current(&shared);
    for (name, value) in changes {
        let _ = t.tenant.features.set(&name, value);
    }
    axum::Json(json!({ "features": t.tenant.features.to_json() })).into_response()
}

fn deleted_json<T>(
    d: &Deleted<T>,
    obj: Map<String, Value>,
    ty: &str,
    sync: &SyncInfo,
    kind: Kind,
    writes: Writes,
) -> Value {
    let mut obj = d.with_deleted_time(obj);
    annotate(&mut obj, kind, sync, writes);
    obj.insert("type".into(), json!(ty));
    obj.insert("purgeAt".into(), json!(rfc3339(d.purge_at())));
    obj.insert("memberOf".into(), json!(d.member_of));
    obj.insert("ownerOf".into(), json!(d.owner_of));
    Value::Object(obj)
}

async fn deleted(State(shared): AppState) -> Response {
    let value: Vec<Value> = {
        let t = current(&shared);
        let t = &t.tenant;
        let users = t.deleted_users.values().map(|d| {
            let u = &d.object;
            deleted_json(d, u.to_json(), "user", &u.sync, u.kind, u.writes)
        });
        let groups = t.deleted_groups.values().map(|d| {
            let g = &d.object;
            deleted_json(d, g.to_json(), "group", &g.sync, g.kind, g.writes)
        });
        users.chain(groups).collect()
    };
    axum::Json(json!({ "value": value })).into_response()
}

async fn allow_deletes(State(shared): AppState) -> Response {
    let mut t = current(&shared);
    t.tenant.allow_deletes_once = true;
    tracing::info!(stopped = ?t.tenant.export_stopped, "the next export may exceed the deletion threshold");
    axum::Json(json!({
        "allowDeletesOnce": true,
        "exportStopped": t.tenant.export_stopped,
    }))
    .into_response()
}
